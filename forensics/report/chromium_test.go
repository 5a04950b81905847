package report_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/podsleuth/podsleuth/test/testenv"
)

// TestHTMLInChromium opens the HTML report of the real fixtures in headless Chromium and checks
// what a reader relies on: no console errors or exceptions, no network request other than the
// file itself (the page's Content-Security-Policy would turn any into a console error too), the
// process tree expands on a real mouse click, tables sort on a header click, and it prints. The
// screenshot and PDF are written to -artifacts (or the test's temp dir) for a human to look at.
func TestHTMLInChromium(t *testing.T) {
	bin := testenv.Tool(t, "chromium")
	dir := artifactsDir(t)
	page := filepath.Join(dir, "report.html")
	require.NoError(t, os.WriteFile(page, renderFixtureReport(t, "html"), 0o600))

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	b := startBrowser(ctx, t, bin)
	for _, domain := range []string{"Runtime", "Log", "Network", "Page"} {
		b.call(ctx, domain+".enable", nil, nil)
	}
	b.call(ctx, "Emulation.setDeviceMetricsOverride", map[string]any{"width": 1280, "height": 900, "deviceScaleFactor": 1, "mobile": false}, nil)
	loaded := b.mark()
	b.call(ctx, "Page.navigate", map[string]any{"url": "file://" + page}, nil)
	b.waitEvent("Page.loadEventFired", loaded, time.Minute)

	var title string
	b.eval(ctx, `document.title`, &title)
	require.Equal(t, "Forensic report: IR-2024-0042", title)

	// the process tree: the root's children are hidden until its summary is clicked
	type treeState struct {
		Open         bool
		ChildVisible bool
		Children     int
	}
	const probe = `(() => { const d = document.querySelector("ul.tree > li > details");
		const kids = d.querySelectorAll(":scope > ul > li");
		return {Open: d.open, Children: kids.length, ChildVisible: kids[0].checkVisibility()}; })()`
	var before, after treeState
	b.eval(ctx, probe, &before)
	require.False(t, before.Open, "the tree starts collapsed")
	require.Positive(t, before.Children, "the root process has children in the fixture")
	require.False(t, before.ChildVisible, "collapsed children are not rendered")
	b.click(ctx, "ul.tree > li > details > summary")
	b.eval(ctx, probe, &after)
	require.True(t, after.Open, "clicking the root's summary expands it")
	require.True(t, after.ChildVisible, "expanded children are visible")

	// sortable tables: two clicks on PID sort the process table descending
	pids := `Array.from(document.querySelector("table.processes").tBodies[0].rows).map(r => parseInt(r.cells[0].textContent, 10))`
	b.click(ctx, "table.processes thead th")
	b.click(ctx, "table.processes thead th")
	var sorted []int
	b.eval(ctx, pids, &sorted)
	require.Greater(t, len(sorted), 1)
	for i := 1; i < len(sorted); i++ {
		require.GreaterOrEqual(t, sorted[i-1], sorted[i], "PID column sorted descending after two clicks: %v", sorted)
	}

	// screenshot of the top of the report, with the tree expanded
	b.eval(ctx, `window.scrollTo(0, 0); true`, nil)
	var shot struct {
		Data string `json:"data"`
	}
	b.call(ctx, "Page.captureScreenshot", map[string]any{"format": "png"}, &shot)
	png, err := base64.StdEncoding.DecodeString(shot.Data)
	require.NoError(t, err)
	require.Greater(t, len(png), 10_000, "a real screenshot, not a blank one")
	require.Equal(t, "\x89PNG", string(png[:4]))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "report.png"), png, 0o600))
	var tree struct {
		Data string `json:"data"`
	}
	b.click(ctx, `[data-tree-open]`)
	b.eval(ctx, `document.querySelector("#tree-E1").scrollIntoView(); true`, nil)
	b.call(ctx, "Page.captureScreenshot", map[string]any{"format": "png"}, &tree)
	png, err = base64.StdEncoding.DecodeString(tree.Data)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "report-tree.png"), png, 0o600))

	// screenshots of the sections a reader jumps to: indicators, the container checkpoint
	// (container metadata, rootfs changes) and the changes between the two dumps
	for _, sec := range []struct{ id, file string }{{"iocs", "report-iocs.png"}, {"E3", "report-container.png"}, {"diff", "report-diff.png"}} {
		var shot struct {
			Data string `json:"data"`
		}
		b.eval(ctx, fmt.Sprintf(`document.getElementById(%q).scrollIntoView(); true`, sec.id), nil)
		b.call(ctx, "Page.captureScreenshot", map[string]any{"format": "png"}, &shot)
		png, err := base64.StdEncoding.DecodeString(shot.Data)
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dir, sec.file), png, 0o600))
	}

	// printable: the print path works and opens every collapsed section
	var pdf struct {
		Data string `json:"data"`
	}
	b.call(ctx, "Page.printToPDF", map[string]any{"printBackground": true}, &pdf)
	pdfBytes, err := base64.StdEncoding.DecodeString(pdf.Data)
	require.NoError(t, err)
	require.Equal(t, "%PDF", string(pdfBytes[:4]))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "report.pdf"), pdfBytes, 0o600))

	// print media: navigation and buttons are hidden and every collapsed section is open
	b.call(ctx, "Emulation.setEmulatedMedia", map[string]any{"media": "print"}, nil)
	var printed struct {
		NavHidden  bool
		AllOpen    bool
		DetailsCnt int
	}
	b.eval(ctx, `(() => ({NavHidden: getComputedStyle(document.querySelector("nav")).display === "none",
		AllOpen: Array.from(document.querySelectorAll("details")).every(d => d.open),
		DetailsCnt: document.querySelectorAll("details").length}))()`, &printed)
	require.True(t, printed.NavHidden, "@media print hides the navigation")
	require.True(t, printed.AllOpen, "printing opened all %d <details>", printed.DetailsCnt)
	var printShot struct {
		Data string `json:"data"`
	}
	b.call(ctx, "Page.captureScreenshot", map[string]any{"format": "png"}, &printShot)
	png, err = base64.StdEncoding.DecodeString(printShot.Data)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "report-print.png"), png, 0o600))

	// nothing but the file itself was requested
	reqs := b.eventsOf("Network.requestWillBeSent")
	require.NotEmpty(t, reqs, "the network domain saw the page load")
	for _, e := range reqs {
		var p struct {
			Request struct {
				URL string `json:"url"`
			} `json:"request"`
		}
		require.NoError(t, json.Unmarshal(e.Params, &p))
		u := p.Request.URL
		require.True(t, strings.HasPrefix(u, "file:") || strings.HasPrefix(u, "data:"), "the report made a network request to %s", u)
	}
	// no console errors, no exceptions, no CSP violations
	for _, e := range b.eventsOf("Runtime.exceptionThrown") {
		t.Errorf("page exception: %s", e.Params)
	}
	for _, e := range b.eventsOf("Runtime.consoleAPICalled") {
		var p struct {
			Type string `json:"type"`
		}
		require.NoError(t, json.Unmarshal(e.Params, &p))
		require.NotContains(t, []string{"error", "assert", "warning"}, p.Type, "console message: %s", e.Params)
	}
	for _, e := range b.eventsOf("Log.entryAdded") {
		var p struct {
			Entry struct {
				Level string `json:"level"`
				Text  string `json:"text"`
			} `json:"entry"`
		}
		require.NoError(t, json.Unmarshal(e.Params, &p))
		require.NotEqual(t, "error", p.Entry.Level, "browser log error: %s", p.Entry.Text)
	}
	t.Logf("artifacts: %s (report.html, report.png, report-tree.png, report-iocs.png, report-container.png, report-diff.png, report-print.png, report.pdf)", dir)
}
