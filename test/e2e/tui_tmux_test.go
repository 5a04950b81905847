package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/podsleuth/podsleuth/test/testenv"
)

// TestTUIBundledCheckpointInTmux runs the real binary in tmux with no cluster: it starts in the
// evidence view with the bundled samples, opens images/full, walks the process tree and finds
// the planted marker in memory.
func TestTUIBundledCheckpointInTmux(t *testing.T) {
	tm := newTmux(t, []string{"KUBECONFIG=" + filepath.Join(t.TempDir(), "none")}, 120, 40)
	tm.waitFor("bundled sample checkpoints", 20*time.Second)
	tm.waitFor("images/full", 5*time.Second)
	tm.keys("/", "images/full  bare", "Enter")
	tm.waitFor("1/1 of", 5*time.Second)
	tm.keys("Enter")
	tm.waitFor("decoded", 60*time.Second)
	tm.keys("2")
	tm.waitFor("grandchild", 5*time.Second)
	tm.keys("Left")
	tm.waitFor("(+2)", 5*time.Second)
	tm.keys("Right")
	tm.waitFor("grandchild", 5*time.Second)
	tm.keys("7", "/", "CRIU-FORENSIC-MARKER", "Enter")
	tm.waitFor("hit(s) for literal", 60*time.Second)
	screen := tm.waitFor("CRIU-FORENSIC-MARKER-7f3a9c", 5*time.Second)
	require.Contains(t, screen, "target")
	tm.keys("Enter")
	tm.waitFor("|CRIU-FORENSIC-MA", 10*time.Second)
	tm.keys("Escape")
	tm.waitFor("enter hexdump", 5*time.Second)
	tm.keys("Escape")
	tm.waitFor("bundled sample checkpoints", 5*time.Second)
	tm.keys("q")
	tm.waitExit(10 * time.Second)
}

// tmux drives one podsleuth in a private tmux server.
type tmux struct {
	t      *testing.T
	bin    string
	socket string
}

func newTmux(t *testing.T, env []string, w, h int) *tmux {
	t.Helper()
	bin := testenv.Tool(t, "tmux")
	dir := t.TempDir()
	exe := filepath.Join(dir, "podsleuth")
	build := exec.Command("go", "build", "-o", exe, "./cmd/podsleuth")
	build.Dir = testenv.Root()
	out, err := build.CombinedOutput()
	require.NoError(t, err, "%s", out)
	tm := &tmux{t: t, bin: bin, socket: filepath.Join(dir, "tmux.sock")}
	envs := append([]string{"XDG_DATA_HOME=" + filepath.Join(dir, "data"), "XDG_CACHE_HOME=" + filepath.Join(dir, "cache"),
		"XDG_STATE_HOME=" + filepath.Join(dir, "state"), "XDG_CONFIG_HOME=" + filepath.Join(dir, "config"), "TERM=xterm-256color"}, env...)
	shell := "env " + strings.Join(envs, " ") + " " + exe + "; echo PODSLEUTH-EXITED-$?; sleep 30"
	tm.run("new-session", "-d", "-s", "ps", "-x", itoa(w), "-y", itoa(h), shell)
	t.Cleanup(func() { _ = exec.Command(bin, "-S", tm.socket, "kill-server").Run() })
	return tm
}

func itoa(i int) string { return strconv.Itoa(i) }

func (tm *tmux) run(args ...string) string {
	tm.t.Helper()
	out, err := exec.Command(tm.bin, append([]string{"-S", tm.socket}, args...)...).CombinedOutput()
	require.NoError(tm.t, err, "tmux %v: %s", args, out)
	return string(out)
}

// keys sends tmux key names ("Enter", "Escape", "Left") and literal text.
func (tm *tmux) keys(ks ...string) {
	tm.t.Helper()
	for _, k := range ks {
		switch k {
		case "Enter", "Escape", "Left", "Right", "Up", "Down", "Tab", "BTab":
			tm.run("send-keys", "-t", "ps", k)
		default:
			tm.run("send-keys", "-t", "ps", "-l", k)
		}
	}
}

func (tm *tmux) capture() string { return tm.run("capture-pane", "-p", "-t", "ps") }

// waitFor polls the screen until it contains s.
func (tm *tmux) waitFor(s string, d time.Duration) string {
	tm.t.Helper()
	deadline := time.Now().Add(d)
	var screen string
	for time.Now().Before(deadline) {
		screen = tm.capture()
		if strings.Contains(screen, s) {
			return screen
		}
		time.Sleep(100 * time.Millisecond)
	}
	tm.t.Fatalf("%q did not appear within %s; screen:\n%s", s, d, screen)
	return ""
}

func (tm *tmux) waitExit(d time.Duration) {
	tm.t.Helper()
	s := tm.waitFor("PODSLEUTH-EXITED-", d)
	require.Contains(tm.t, s, "PODSLEUTH-EXITED-0")
	_ = os.Remove(tm.socket)
}
