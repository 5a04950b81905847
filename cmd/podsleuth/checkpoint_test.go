package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestSplitNamespacedName(t *testing.T) {
	tests := []struct{ in, ns, name string }{
		{"shop/web", "shop", "web"},
		{"web", "default", "web"},
		{"a/b/c", "", ""},
		{"/web", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			ns, name := splitNamespacedName(tt.in, "default")
			require.Equal(t, tt.ns, ns)
			require.Equal(t, tt.name, name)
		})
	}
}

// TestClusterCommandsValidate: bad invocations fail with a message naming the problem, before
// any cluster is contacted.
func TestClusterCommandsValidate(t *testing.T) {
	kc := filepath.Join(t.TempDir(), "kubeconfig")
	require.NoError(t, os.WriteFile(kc, []byte(`apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: ctx-x, context: {cluster: c, user: u, namespace: shop}}, {name: ctx-y, context: {cluster: c, user: u}}]
current-context: ctx-x
`), 0o600))
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no target", []string{"checkpoint"}, 1, "name a pod ([NAMESPACE/]POD) or a label selector (-l)"},
		{"pod and selector", []string{"checkpoint", "web", "-l", "app=web"}, 1, "either a pod or -l SELECTOR"},
		{"-c and --all-containers", []string{"checkpoint", "web", "-c", "a", "--all-containers"}, 1, "exclude each other"},
		{"bad pod", []string{"checkpoint", "a/b/c"}, 1, `invalid pod "a/b/c"`},
		{"bad output", []string{"checkpoint", "web", "-o", "yaml"}, 1, `unknown output "yaml"`},
		{"unreachable", []string{"checkpoint", "web", "--request-timeout", "1s"}, 1, "cluster unreachable: https://127.0.0.1:1 (context \"ctx-x\")"},
		{"unreachable preflight", []string{"preflight", "shop/web"}, 1, "cluster unreachable"},
		{"preflight: bad output before connecting", []string{"preflight", "shop/web", "-o", "yaml"}, 1, `--output must be text or json, not "yaml"`},
		{"preflight: bad pod", []string{"preflight", "a/b/c"}, 1, `invalid pod "a/b/c"`},
		{"contexts: bad output", []string{"contexts", "-o", "yaml"}, 1, `--output must be text or json, not "yaml"`},
		{"logs: bad tail before connecting", []string{"logs", "shop/web", "--tail", "-1"}, 1, "--tail must be 0 (all) or more, not -1"},
		{"unreachable logs", []string{"logs", "shop/web", "--request-timeout", "1s"}, 1, "cluster unreachable"},
		{"readonly: the connection check still comes first", []string{"checkpoint", "web", "--readonly"}, 1, "cluster unreachable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, errOut := runCLI(t, t.TempDir(), append(tt.args, "--kubeconfig", kc)...)
			require.Equal(t, tt.code, code, errOut)
			require.Contains(t, errOut, tt.want)
		})
	}
	t.Run("contexts", func(t *testing.T) {
		code, out, errOut := runCLI(t, t.TempDir(), "contexts", "--kubeconfig", kc)
		require.Equal(t, 0, code, errOut)
		require.Regexp(t, `\*\s+ctx-x\s+c\s+https://127\.0\.0\.1:1\s+u\s+shop`, out)
		require.Regexp(t, `\n\s+ctx-y\s+c\s+https://127\.0\.0\.1:1\s+u`, out)
	})
}
