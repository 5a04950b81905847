package report_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/require"
)

// browser is a headless Chromium driven over the DevTools protocol: a minimal client (commands
// with ids, events collected in order) that is enough to load a page, watch its console and
// network, click and take screenshots.
type browser struct {
	t       testing.TB
	cmd     *exec.Cmd
	conn    *websocket.Conn
	session string

	mu      sync.Mutex
	nextID  int64
	pending map[int64]chan cdpMessage
	events  []cdpMessage
	notify  chan struct{}
}

type cdpMessage struct {
	ID        int64           `json:"id,omitempty"`
	Method    string          `json:"method,omitempty"`
	Params    json.RawMessage `json:"params,omitempty"`
	Result    json.RawMessage `json:"result,omitempty"`
	Error     *cdpError       `json:"error,omitempty"`
	SessionID string          `json:"sessionId,omitempty"`
}

type cdpError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

var devtoolsURL = regexp.MustCompile(`DevTools listening on (ws://\S+)`)

// startBrowser starts chromium with a private profile, no background networking and no name
// resolution (every host name fails), and attaches to its first page.
func startBrowser(ctx context.Context, t testing.TB, bin string) *browser {
	t.Helper()
	profile := t.TempDir()
	cmd := exec.CommandContext(ctx, bin, "--headless", "--no-sandbox", "--disable-gpu",
		"--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run",
		"--disable-default-apps", "--disable-extensions", "--no-default-browser-check", "--mute-audio",
		"--host-resolver-rules=MAP * ~NOTFOUND", "--user-data-dir="+profile, "--remote-debugging-port=0",
		"--window-size=1280,900", "about:blank")
	// its own process group: the renderer, GPU and crashpad children go with it, and none of
	// them still writes into the profile when the test's TempDir is removed
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stderr, err := cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	b := &browser{t: t, cmd: cmd, pending: map[int64]chan cdpMessage{}, notify: make(chan struct{}, 1)}
	t.Cleanup(func() {
		if b.conn != nil {
			b.conn.Close(websocket.StatusNormalClosure, "")
		}
		pgid := cmd.Process.Pid
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		_ = cmd.Wait()
		for i := 0; i < 100 && syscall.Kill(-pgid, 0) == nil; i++ {
			time.Sleep(50 * time.Millisecond)
		}
	})
	urlc := make(chan string, 1)
	var logMu sync.Mutex
	var log strings.Builder
	go func() {
		sc := bufio.NewScanner(stderr)
		sent := false
		for sc.Scan() {
			line := sc.Text()
			logMu.Lock()
			log.WriteString(line + "\n")
			logMu.Unlock()
			if m := devtoolsURL.FindStringSubmatch(line); m != nil && !sent {
				urlc <- m[1]
				sent = true
			}
		}
	}()
	var wsURL string
	select {
	case wsURL = <-urlc:
	case <-time.After(60 * time.Second):
		logMu.Lock()
		defer logMu.Unlock()
		t.Fatalf("chromium did not start its DevTools endpoint within 60s; stderr:\n%s", log.String())
	}
	require.Regexp(t, `^ws://127\.0\.0\.1:\d+/`, wsURL, "DevTools must listen on loopback only")
	conn, _, err := websocket.Dial(ctx, wsURL, nil)
	require.NoError(t, err)
	conn.SetReadLimit(64 << 20)
	b.conn = conn
	go b.readLoop(ctx)

	var targets struct {
		TargetInfos []struct {
			TargetID string `json:"targetId"`
			Type     string `json:"type"`
		} `json:"targetInfos"`
	}
	b.call(ctx, "Target.getTargets", nil, &targets)
	page := ""
	for _, ti := range targets.TargetInfos {
		if ti.Type == "page" {
			page = ti.TargetID
			break
		}
	}
	require.NotEmpty(t, page, "chromium has no page target")
	var att struct {
		SessionID string `json:"sessionId"`
	}
	b.call(ctx, "Target.attachToTarget", map[string]any{"targetId": page, "flatten": true}, &att)
	b.session = att.SessionID
	return b
}

func (b *browser) readLoop(ctx context.Context) {
	for {
		_, data, err := b.conn.Read(ctx)
		if err != nil {
			b.mu.Lock()
			for id, ch := range b.pending {
				close(ch)
				delete(b.pending, id)
			}
			b.mu.Unlock()
			return
		}
		var m cdpMessage
		if json.Unmarshal(data, &m) != nil {
			continue
		}
		b.mu.Lock()
		if m.ID != 0 {
			if ch, ok := b.pending[m.ID]; ok {
				ch <- m
				delete(b.pending, m.ID)
			}
		} else if m.Method != "" {
			b.events = append(b.events, m)
			select {
			case b.notify <- struct{}{}:
			default:
			}
		}
		b.mu.Unlock()
	}
}

// call sends a command (to the attached page once there is one) and decodes its result.
func (b *browser) call(ctx context.Context, method string, params any, result any) {
	b.t.Helper()
	b.mu.Lock()
	b.nextID++
	id := b.nextID
	ch := make(chan cdpMessage, 1)
	b.pending[id] = ch
	b.mu.Unlock()
	msg := map[string]any{"id": id, "method": method}
	if params != nil {
		msg["params"] = params
	}
	if b.session != "" {
		msg["sessionId"] = b.session
	}
	data, err := json.Marshal(msg)
	require.NoError(b.t, err)
	require.NoError(b.t, b.conn.Write(ctx, websocket.MessageText, data), method)
	select {
	case m, ok := <-ch:
		require.True(b.t, ok, "%s: connection to chromium closed", method)
		require.Nil(b.t, m.Error, "%s failed", method)
		if result != nil {
			require.NoError(b.t, json.Unmarshal(m.Result, result), method)
		}
	case <-time.After(60 * time.Second):
		b.t.Fatalf("%s: no reply from chromium within 60s", method)
	}
}

// mark returns the number of events received so far, for waitEvent.
func (b *browser) mark() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.events)
}

// waitEvent waits until an event with the method has arrived after the mark.
func (b *browser) waitEvent(method string, after int, timeout time.Duration) cdpMessage {
	b.t.Helper()
	deadline := time.After(timeout)
	for {
		b.mu.Lock()
		for _, e := range b.events[after:] {
			if e.Method == method {
				b.mu.Unlock()
				return e
			}
		}
		b.mu.Unlock()
		select {
		case <-b.notify:
		case <-deadline:
			b.t.Fatalf("no %s event within %s", method, timeout)
		}
	}
}

// eventsOf returns the collected events with the method.
func (b *browser) eventsOf(method string) []cdpMessage {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []cdpMessage
	for _, e := range b.events {
		if e.Method == method {
			out = append(out, e)
		}
	}
	return out
}

// eval evaluates a JavaScript expression in the page and decodes its value.
func (b *browser) eval(ctx context.Context, expr string, out any) {
	b.t.Helper()
	var res struct {
		Result struct {
			Value json.RawMessage `json:"value"`
		} `json:"result"`
		ExceptionDetails *struct {
			Text      string `json:"text"`
			Exception struct {
				Description string `json:"description"`
			} `json:"exception"`
		} `json:"exceptionDetails"`
	}
	b.call(ctx, "Runtime.evaluate", map[string]any{"expression": expr, "returnByValue": true, "awaitPromise": true}, &res)
	if res.ExceptionDetails != nil {
		b.t.Fatalf("evaluate %q: %s %s", expr, res.ExceptionDetails.Text, res.ExceptionDetails.Exception.Description)
	}
	if out != nil {
		require.NoError(b.t, json.Unmarshal(res.Result.Value, out), "evaluate %q returned %s", expr, res.Result.Value)
	}
}

// click dispatches a real left mouse click at the centre of the first element matching the CSS
// selector, after scrolling it into view.
func (b *browser) click(ctx context.Context, selector string) {
	b.t.Helper()
	var pt struct {
		X, Y  float64
		Found bool
	}
	b.eval(ctx, fmt.Sprintf(`(() => { const e = document.querySelector(%q); if (!e) return {Found: false, X: 0, Y: 0};
		e.scrollIntoView({block: "center"}); const r = e.getBoundingClientRect();
		return {Found: true, X: r.left + Math.min(r.width / 2, 40), Y: r.top + r.height / 2}; })()`, selector), &pt)
	require.True(b.t, pt.Found, "no element matches %s", selector)
	b.call(ctx, "Input.dispatchMouseEvent", map[string]any{"type": "mouseMoved", "x": pt.X, "y": pt.Y}, nil)
	for _, typ := range []string{"mousePressed", "mouseReleased"} {
		b.call(ctx, "Input.dispatchMouseEvent", map[string]any{"type": typ, "x": pt.X, "y": pt.Y, "button": "left", "clickCount": 1}, nil)
	}
}
