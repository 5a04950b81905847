package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
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
	tm := newTmux(t, []string{"KUBECONFIG=" + filepath.Join(t.TempDir(), "none")}, nil, 120, 40)
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
	tm.waitFor("hits for literal", 60*time.Second)
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

// TestTUIClusterReadonlyInTmux browses the real test cluster with --readonly: the pod list
// (live: a pod created while it is open appears), the filter, a pod's detail, and "c" refused;
// the API server's audit log then shows reads from the TUI's user agent and no mutating request.
func TestTUIClusterReadonlyInTmux(t *testing.T) {
	kc := testenv.Kubeconfig(t)
	ns := namespace(t, "e2e-tui")
	runPod(t, busyboxPod(ns, "victim", realNode, `while true; do sleep 1; done`, map[string]string{"app": "victim"}))
	runPod(t, busyboxPod(ns, "bystander", realNode, `while true; do sleep 1; done`, map[string]string{"app": "other"}))
	tm := newTmux(t, []string{"KUBECONFIG=" + kc}, []string{"--readonly"}, 140, 35)
	tm.waitFor("[readonly] ctx podsleuth-admin", 30*time.Second)
	tm.keys(":", "pods "+ns, "Enter")
	tm.waitFor("bystander", 30*time.Second)
	tm.waitFor("victim", 5*time.Second)
	// live: a pod created now appears without a refresh
	runPod(t, busyboxPod(ns, "latecomer", realNode, `while true; do sleep 1; done`, nil))
	tm.waitFor("latecomer", 30*time.Second)
	tm.keys("/", "-l app=victim", "Enter")
	tm.waitFor("1/1 of 3", 5*time.Second)
	tm.keys("Enter")
	screen := tm.waitFor("Containers", 10*time.Second)
	require.Contains(t, screen, "image "+testImage)
	require.Contains(t, screen, "app=victim")
	tm.keys("/", "^  app  image", "Enter", "c")
	tm.waitFor("refused: podsleuth runs read-only", 5*time.Second)
	// esc clears the detail's filter first, then goes back to the list, still filtered
	tm.keys("Escape")
	tm.waitFor("filter cleared", 5*time.Second)
	tm.keys("Escape")
	tm.waitFor("1/1 of 3", 5*time.Second)
	tm.keys("c")
	tm.waitFor("refused: podsleuth runs read-only", 5*time.Second)
	tm.keys("q")
	tm.waitExit(10 * time.Second)

	var reads, mutating []string
	require.Eventually(t, func() bool {
		reads, mutating = auditByAgent(t, tm.userAgent)
		return len(reads) > 0
	}, 10*time.Second, 200*time.Millisecond, "the TUI's reads must reach the audit log (positive control)")
	require.Empty(t, mutating, "no mutating request from the read-only TUI may reach the API server")
}

// tmux drives one podsleuth in a private tmux server.
type tmux struct {
	t         *testing.T
	bin       string
	socket    string
	userAgent string
}

func newTmux(t *testing.T, env, args []string, w, h int) *tmux {
	t.Helper()
	bin := testenv.Tool(t, "tmux")
	dir := t.TempDir()
	exe := filepath.Join(dir, "podsleuth")
	version := "e2e-tui-" + randSuffix()
	build := exec.Command("go", "build", "-ldflags", "-X main.version="+version, "-o", exe, "./cmd/podsleuth")
	build.Dir = testenv.Root()
	out, err := build.CombinedOutput()
	require.NoError(t, err, "%s", out)
	tm := &tmux{t: t, bin: bin, socket: filepath.Join(dir, "tmux.sock"), userAgent: "podsleuth/" + version}
	envs := append([]string{"XDG_DATA_HOME=" + filepath.Join(dir, "data"), "XDG_CACHE_HOME=" + filepath.Join(dir, "cache"),
		"XDG_STATE_HOME=" + filepath.Join(dir, "state"), "XDG_CONFIG_HOME=" + filepath.Join(dir, "config"), "TERM=xterm-256color"}, env...)
	shell := "env " + strings.Join(envs, " ") + " " + exe + " " + strings.Join(args, " ") + "; echo PODSLEUTH-EXITED-$?; sleep 30"
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
		case "Escape":
			tm.run("send-keys", "-t", "ps", k)
			// a key right after ESC would arrive as alt+key: let the escape timeout pass
			time.Sleep(150 * time.Millisecond)
		case "Enter", "Left", "Right", "Up", "Down", "Tab", "BTab":
			tm.run("send-keys", "-t", "ps", k)
		default:
			tm.run("send-keys", "-t", "ps", "-l", "--", k)
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

// TestTUICheckpointFromBrowserInTmux is the responder's path on the real test cluster: pod
// list, c, the confirmation that says the container is not told, the progress view, and the
// decoded checkpoint opening with the container's real process tree; the evidence view then
// lists the new item.
func TestTUICheckpointFromBrowserInTmux(t *testing.T) {
	testenv.RequireRoot(t)
	kc := testenv.Kubeconfig(t)
	ns := namespace(t, "e2e-tuicp")
	runPod(t, busyboxPod(ns, "suspect", realNode, `echo TUI-E2E-MARKER > /tmp/m.txt; echo TUI-LOG-MARKER; i=0; while true; do i=$((i+1)); echo tick-$i TUI-LOG-MARKER; sleep 1; done`, nil))
	tm := newTmux(t, []string{"KUBECONFIG=" + kc}, nil, 140, 40)
	tm.waitFor("ctx podsleuth-admin", 30*time.Second)
	tm.keys(":", "pods "+ns, "Enter")
	tm.waitFor("suspect", 30*time.Second)
	// through the pod's detail: select the container line, c, confirm
	tm.keys("Enter")
	tm.waitFor("Containers", 10*time.Second)
	tm.keys("/", "^  app  image", "Enter")
	tm.waitFor("1/1 of", 5*time.Second)
	// its log first (L), followed live: the last line there now, then a later one, then back
	tm.keys("L")
	// every line carries the marker: on a loaded machine the first one may have scrolled away
	tm.waitFor("TUI-LOG-MARKER", 10*time.Second)
	ticks := regexp.MustCompile(`tick-(\d+)`)
	last := func() int {
		n := 0
		for _, m := range ticks.FindAllStringSubmatch(tm.capture(), -1) {
			v, _ := strconv.Atoi(m[1])
			n = max(n, v)
		}
		return n
	}
	seen := last()
	tm.waitFor("tick-"+strconv.Itoa(seen+2), 10*time.Second)
	tm.keys("Escape")
	tm.waitFor("app  image", 5*time.Second) // the detail, still filtered to the container line
	tm.keys("c")
	tm.waitFor("Checkpoint "+ns+"/suspect container app?", 5*time.Second)
	tm.waitFor("keeps running and is not told", 5*time.Second)
	tm.keys("y")
	tm.waitFor("Checkpoint and pull "+ns+"/suspect/app", 10*time.Second)
	screen := tm.waitFor("1 Summary", 120*time.Second)
	require.Contains(t, screen, ns+"/suspect container app")
	tm.keys("2")
	tm.waitFor("sleep", 5*time.Second)
	tm.keys("6")
	tm.waitFor("/tmp/m.txt", 5*time.Second)
	tm.keys("Escape")
	tm.waitFor("suspect", 5*time.Second)
	tm.keys(":", "evidence", "Enter")
	tm.waitFor("node "+realNode+": "+ns+"/suspect/app", 10*time.Second)
	// what was acquired with it: the pod, its events, its log
	tm.keys("/", "suspect", "Enter")
	tm.keys("a")
	tm.waitFor("logs-app.txt", 5*time.Second)
	tm.waitFor("pod.json", 5*time.Second)
	tm.keys("/", "logs-app", "Enter")
	tm.keys("Enter")
	tm.waitFor("TUI-LOG-MARKER", 5*time.Second)
	tm.keys("q")
	tm.waitExit(10 * time.Second)
}

// TestTUIContextSwitchAndRBACErrorInTmux lists the kubeconfig's contexts, switches to the one
// without permissions and checks the pod list says so in words, with the fix.
func TestTUIContextSwitchAndRBACErrorInTmux(t *testing.T) {
	kc := testenv.Kubeconfig(t)
	tm := newTmux(t, []string{"KUBECONFIG=" + kc}, []string{"--readonly"}, 160, 30)
	tm.waitFor("ctx podsleuth-admin", 30*time.Second)
	tm.keys(":", "ctx", "Enter")
	tm.waitFor("podsleuth-responder", 10*time.Second)
	tm.waitFor("podsleuth-nobody", 5*time.Second)
	tm.keys("/", "nobody", "Enter", "Enter")
	tm.waitFor("ctx podsleuth-nobody", 30*time.Second)
	screen := tm.waitFor("permission denied", 30*time.Second)
	require.Contains(t, screen, "RBAC")
	tm.keys("q")
	tm.waitExit(10 * time.Second)
}

// TestTUICheckpointCancelInTmux presses esc right after confirming: the view says the
// acquisition was cancelled, no collector pod is left and nothing enters the evidence store.
func TestTUICheckpointCancelInTmux(t *testing.T) {
	testenv.RequireRoot(t)
	kc := testenv.Kubeconfig(t)
	ns := namespace(t, "e2e-tuicancel")
	// ~48 MiB of resident memory, so the dump and the pull take long enough to be cancelled
	runPod(t, busyboxPod(ns, "heavy", realNode, `x=$(head -c 50000000 /dev/zero | tr '\0' a); while true; do sleep 1; done`, nil))
	cfgDir := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(cfgDir, "podsleuth"), 0o700))
	require.NoError(t, os.WriteFile(filepath.Join(cfgDir, "podsleuth", "config.yaml"),
		[]byte("cluster:\n  collector_namespace: "+ns+"\n  collector_image: "+testImage+"\n"), 0o600))
	tm := newTmux(t, []string{"KUBECONFIG=" + kc, "XDG_CONFIG_HOME=" + cfgDir}, nil, 140, 30)
	tm.waitFor("ctx podsleuth-admin", 30*time.Second)
	tm.keys(":", "pods "+ns, "Enter")
	tm.waitFor("heavy", 30*time.Second)
	tm.keys("c")
	tm.waitFor("keeps running and is not told", 5*time.Second)
	tm.keys("y")
	tm.waitFor("Checkpoint and pull", 5*time.Second)
	tm.keys("Escape")
	tm.waitFor("nothing was added to the evidence store", 60*time.Second)
	noCollectors(t, ns)
	tm.keys("Escape")
	tm.keys(":", "evidence", "Enter")
	screen := tm.waitFor("images/full", 10*time.Second)
	require.NotContains(t, screen, "node "+realNode+": "+ns, "a cancelled acquisition adds nothing to the store")
	tm.keys("q")
	tm.waitExit(10 * time.Second)
}
