package config

import (
	"fmt"
	"time"

	"github.com/spf13/viper"
)

// Cluster holds the settings of everything done against a cluster.
type Cluster struct {
	// CollectorNamespace is where short-lived collector pods run.
	CollectorNamespace string `mapstructure:"collector_namespace"`
	// CollectorImage is the image of the collector pod, pinned by digest (docs/rbac.yaml's
	// admission policy admits only the images it lists); it needs sh, cat, tail, stat and sha256sum.
	CollectorImage string `mapstructure:"collector_image"`
	// CheckpointTimeout is passed to the kubelet as ?timeout= (seconds granularity).
	CheckpointTimeout time.Duration `mapstructure:"checkpoint_timeout"`
	// Concurrency bounds parallel checkpoints for label selectors.
	Concurrency int `mapstructure:"concurrency"`
	// KubeletCheckpointDir is the kubelet's checkpoint directory on nodes.
	KubeletCheckpointDir string `mapstructure:"kubelet_checkpoint_dir"`
	// DeleteFromNode removes the archive from the node after a verified pull.
	DeleteFromNode bool `mapstructure:"delete_from_node"`
	// ConnectTimeout bounds the first contact with the API server.
	ConnectTimeout time.Duration `mapstructure:"connect_timeout"`
	// PodContext acquires, with each archive, the pod's object, its events and the container's
	// logs as the API server has them at the time (evidence artifacts).
	PodContext bool `mapstructure:"pod_context"`
	// LogLimitBytes bounds each container log acquired with an archive.
	LogLimitBytes int64 `mapstructure:"log_limit_bytes"`
}

// DefaultBusybox is the default collector and helper image: Docker Hub's busybox 1.37, pinned by
// digest (docs/rbac.yaml lists the same).
const DefaultBusybox = "docker.io/library/busybox:1.37@sha256:9db7b59979c38555a39def84a31fb98b5296952f9e3afd4f6f11f05b07adfab0"

func clusterDefaults(v *viper.Viper) {
	v.SetDefault("cluster.collector_namespace", "podsleuth-system")
	v.SetDefault("cluster.collector_image", DefaultBusybox)
	v.SetDefault("cluster.checkpoint_timeout", 2*time.Minute)
	v.SetDefault("cluster.concurrency", 4)
	v.SetDefault("cluster.kubelet_checkpoint_dir", "/var/lib/kubelet/checkpoints")
	v.SetDefault("cluster.delete_from_node", false)
	v.SetDefault("cluster.connect_timeout", 3*time.Second)
	v.SetDefault("cluster.pod_context", true)
	v.SetDefault("cluster.log_limit_bytes", 16<<20)
}

func (c Cluster) validate() error {
	if c.Concurrency < 1 {
		return fmt.Errorf("cluster.concurrency must be >= 1, got %d", c.Concurrency)
	}
	if c.LogLimitBytes < 1 {
		return fmt.Errorf("cluster.log_limit_bytes must be >= 1, got %d", c.LogLimitBytes)
	}
	if c.CheckpointTimeout < time.Second {
		return fmt.Errorf("cluster.checkpoint_timeout must be >= 1s, got %s", c.CheckpointTimeout)
	}
	return nil
}
