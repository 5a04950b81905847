// Package testenv finds the real components tests run against (criu, the Kubernetes test
// cluster, checkpointctl, tmux, chromium). A missing component skips the test with the reason,
// or fails it when CI=true or PODSLEUTH_REQUIRE_REAL=1, so CI never passes by skipping.
package testenv

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
)

// strict reports whether missing components must fail tests instead of skipping them.
func strict() bool { return os.Getenv("CI") == "true" || os.Getenv("PODSLEUTH_REQUIRE_REAL") == "1" }

// Missing skips (or, in CI, fails) the test because a component is not there.
func Missing(t testing.TB, what, fix string) {
	t.Helper()
	if strict() {
		t.Fatalf("%s is required here (CI=true) but missing: %s", what, fix)
	}
	t.Skipf("SKIP: %s is missing (%s)", what, fix)
}

// Root returns the repository's root directory.
func Root() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// executable returns the path named by env (or found as name on PATH) if it is executable.
func executable(env, name string) string {
	if p := os.Getenv(env); p != "" {
		if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return p
		}
		return ""
	}
	if name == "" {
		return ""
	}
	p, err := exec.LookPath(name)
	if err != nil {
		return ""
	}
	return p
}

// CRIU returns a criu >= 4.2 binary (PODSLEUTH_CRIU, installed by `make setup`).
func CRIU(t testing.TB) string {
	t.Helper()
	p := executable("PODSLEUTH_CRIU", "")
	if p == "" {
		Missing(t, "criu 4.2.1", "run `make setup` or set PODSLEUTH_CRIU")
	}
	return p
}

// Root user is needed for CRIU dumps/restores and network namespaces.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		Missing(t, "root", "run the tests as root")
	}
}

// K8sBin returns the directory of the test cluster's binaries (PODSLEUTH_K8S_BIN).
func K8sBin(t testing.TB) string {
	t.Helper()
	d := os.Getenv("PODSLEUTH_K8S_BIN")
	if d == "" {
		Missing(t, "Kubernetes test binaries", "run `make setup` or set PODSLEUTH_K8S_BIN")
	}
	if _, err := os.Stat(filepath.Join(d, "kube-apiserver")); err != nil {
		Missing(t, "kube-apiserver in "+d, "run `make setup`")
	}
	return d
}

// Kubeconfig returns the kubeconfig of the running test cluster (PODSLEUTH_TEST_KUBECONFIG,
// exported by test/run-tests.sh after test/e2e/cluster.sh up).
func Kubeconfig(t testing.TB) string {
	t.Helper()
	p := os.Getenv("PODSLEUTH_TEST_KUBECONFIG")
	if p == "" {
		Missing(t, "the test cluster", "run through `make test`/`make test-e2e`, which start it")
	}
	if _, err := os.Stat(p); err != nil {
		Missing(t, "the test cluster's kubeconfig "+p, "run `test/e2e/cluster.sh up`")
	}
	return p
}

// Checkpointctl returns checkpointctl v1.6.0, the reference decoder.
func Checkpointctl(t testing.TB) string {
	t.Helper()
	p := executable("PODSLEUTH_CHECKPOINTCTL", "")
	if p == "" {
		Missing(t, "checkpointctl v1.6.0", "run `make setup` or set PODSLEUTH_CHECKPOINTCTL")
	}
	return p
}

// Tool returns a program from PATH (tmux, chromium, ip, nft, ...).
func Tool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		Missing(t, name, "run `make setup` (installs it with apt)")
	}
	return p
}

// ClusterTool returns a program of the test cluster's binaries (PODSLEUTH_K8S_BIN: runc,
// busybox, ...), else the one on PATH.
func ClusterTool(t testing.TB, name string) string {
	t.Helper()
	if d := os.Getenv("PODSLEUTH_K8S_BIN"); d != "" {
		p := filepath.Join(d, name)
		if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return p
		}
	}
	return Tool(t, name)
}
