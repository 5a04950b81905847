package cluster

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/podsleuth/podsleuth/forensics/hunt"
)

// TestAnalyzerJobShape: the analyzer's Job holds the shape the admission policy admits and the
// issue asks for; a change that loosens it fails here before the e2e run.
func TestAnalyzerJobShape(t *testing.T) {
	cfg := &HuntConfig{Image: "r/podsleuth-analyzer@sha256:" + sha256Hex([]byte("x")), AgentPath: "/usr/bin/podsleuth",
		CheckpointDir: "/var/lib/kubelet/checkpoints", TimeoutPerArchive: 2 * time.Minute, CheckpointTimeout: time.Minute,
		CPU: resource.MustParse("500m"), Memory: resource.MustParse("1Gi"), Scratch: resource.MustParse("4Gi")}
	j := analyzerJob("podsleuth-system", "hunt-20261204T200030Z-d8421767", "node-7", cfg, 3)
	require.Regexp(t, `^podsleuth-analyzer-d8421767-[0-9a-f]{8}$`, j.Name)
	require.Equal(t, AnalyzerName, j.Spec.Template.Labels[LabelName], "the policy's analyzer role")
	require.Equal(t, "hunt-20261204T200030Z-d8421767", j.Spec.Template.Labels[LabelHunt])
	require.EqualValues(t, 2, *j.Spec.BackoffLimit)
	require.EqualValues(t, 3*(2*60+60+60)+600, *j.Spec.ActiveDeadlineSeconds)
	require.NotNil(t, j.Spec.TTLSecondsAfterFinished)
	ps := j.Spec.Template.Spec
	require.Equal(t, "node-7", ps.NodeName)
	require.False(t, *ps.AutomountServiceAccountToken)
	require.False(t, ps.HostNetwork || ps.HostPID || ps.HostIPC)
	require.Len(t, ps.Containers, 1)
	c := ps.Containers[0]
	require.Equal(t, cfg.Image, c.Image)
	require.Equal(t, []string{"/usr/bin/podsleuth", "hunt-agent", "serve", "--dir", "/checkpoints", "--cache", "/tmp", "--idle", "22m0s"}, c.Command)
	sc := c.SecurityContext
	require.True(t, *sc.ReadOnlyRootFilesystem)
	require.False(t, *sc.AllowPrivilegeEscalation)
	require.False(t, *sc.Privileged)
	require.Equal(t, []corev1.Capability{"ALL"}, sc.Capabilities.Drop)
	require.Empty(t, sc.Capabilities.Add)
	require.EqualValues(t, 0, *sc.RunAsUser, "archives are 0600 root: read as their owner, no capability")
	require.Equal(t, "500m", c.Resources.Limits.Cpu().String())
	require.Equal(t, "1Gi", c.Resources.Limits.Memory().String())
	require.Equal(t, corev1.EnvVar{Name: "GOMEMLIMIT", Value: "912680550"}, c.Env[0])
	require.Len(t, ps.Volumes, 2)
	hp := ps.Volumes[0].HostPath
	require.Equal(t, "/var/lib/kubelet/checkpoints", hp.Path)
	require.Equal(t, corev1.HostPathDirectory, *hp.Type)
	require.True(t, c.VolumeMounts[0].ReadOnly, "the checkpoint directory is read-only")
	require.Equal(t, "4Gi", ps.Volumes[1].EmptyDir.SizeLimit.String())
}

// TestHuntConfigRefuses: what the hunt must not start with is refused by name.
func TestHuntConfigRefuses(t *testing.T) {
	plan := &HuntPlan{Nodes: []HuntNode{{Name: "n", Targets: []Target{{"ns", "p", "c"}}}}}
	ok := func() HuntConfig {
		return HuntConfig{Plan: plan, Image: "r/a@sha256:" + sha256Hex(nil), Namespace: "podsleuth-system", CollectorImage: "busybox@sha256:00",
			CheckpointDir: "/var/lib/kubelet/checkpoints", CPU: resource.MustParse("1"), Memory: resource.MustParse("1Gi")}
	}
	c := ok()
	require.NoError(t, c.validate())
	require.Equal(t, 1, c.PerNode)
	require.Equal(t, hunt.DefaultTimeout, c.TimeoutPerArchive)
	tests := []struct {
		name string
		mod  func(*HuntConfig)
		want string
	}{
		{"no plan", func(c *HuntConfig) { c.Plan = &HuntPlan{} }, "nothing to hunt"},
		{"tag, not digest", func(c *HuntConfig) { c.Image = "r/a:latest" }, "not pinned by digest"},
		{"relative dir", func(c *HuntConfig) { c.CheckpointDir = "checkpoints" }, "clean absolute path"},
		{"dotdot dir", func(c *HuntConfig) { c.CheckpointDir = "/var/lib/kubelet/../x" }, "clean absolute path"},
		{"no limits", func(c *HuntConfig) { c.Memory = resource.Quantity{} }, "CPU and memory limits"},
		{"bad pattern", func(c *HuntConfig) { c.Patterns = []hunt.Pattern{{Kind: "regex", Expr: "("}} }, "bad hunt request"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := ok()
			tc.mod(&c)
			require.ErrorContains(t, c.validate(), tc.want)
		})
	}
	_, _, err := HuntLimits("0", "1Gi")
	require.ErrorContains(t, err, "--cpu")
	_, _, err = HuntLimits("1", "10Mi")
	require.ErrorContains(t, err, "--memory")
}
