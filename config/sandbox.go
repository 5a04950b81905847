package config

import (
	"fmt"
	"strings"

	"github.com/spf13/viper"
)

// Sandbox holds the settings of restores into isolation.
type Sandbox struct {
	// CRIU is the criu binary (>= 4.2); empty means "criu" from PATH.
	CRIU string `mapstructure:"criu"`
	// Runtime is the OCI runtime binary (runc or crun); empty means "runc" from PATH.
	Runtime string `mapstructure:"runtime"`
	// StateDir holds the sandboxes' state (default under the cache dir).
	StateDir string `mapstructure:"state_dir"`
	// HelperImage is the image of the cluster sandbox's placeholder and node-helper pods: it
	// needs sh, sleep, cat, nc and nsenter (busybox).
	HelperImage string `mapstructure:"helper_image"`
	// NodeCRIU and NodeRuntime are criu (>= 4.2) and runc as the node helper finds them on
	// the node; empty means "criu"/"runc" from the node's PATH.
	NodeCRIU    string `mapstructure:"node_criu"`
	NodeRuntime string `mapstructure:"node_runtime"`
	// NodeDir is where the node helper keeps a sandbox's files on the node.
	NodeDir string `mapstructure:"node_dir"`
}

func sandboxDefaults(v *viper.Viper) {
	v.SetDefault("sandbox.criu", "")
	v.SetDefault("sandbox.runtime", "")
	v.SetDefault("sandbox.state_dir", "")
	v.SetDefault("sandbox.helper_image", DefaultBusybox)
	v.SetDefault("sandbox.node_criu", "")
	v.SetDefault("sandbox.node_runtime", "")
	v.SetDefault("sandbox.node_dir", "/var/lib/podsleuth/sandboxes")
}

func (s Sandbox) validate() error {
	if s.NodeDir != "" && (!strings.HasPrefix(s.NodeDir, "/") || s.NodeDir == "/") {
		return fmt.Errorf("sandbox.node_dir must be an absolute path below /, got %q", s.NodeDir)
	}
	return nil
}
