package report_test

import (
	"bytes"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/extension"
	"github.com/yuin/goldmark/renderer/html"
)

// TestMarkdownRendersAsGFM renders the real case report with goldmark (CommonMark + the GFM
// table extension, what GitHub and GitLab implement): every table in the source becomes an
// HTML table with every row as wide as its header, the <details> blocks survive, the process
// tree is a nested list, and nothing renders as a script.
func TestMarkdownRendersAsGFM(t *testing.T) {
	src := renderFixtureReport(t, "md")
	var out bytes.Buffer
	md := goldmark.New(goldmark.WithExtensions(extension.GFM), goldmark.WithRendererOptions(html.WithUnsafe()))
	require.NoError(t, md.Convert(src, &out))
	got := out.String()

	unescapedPipe := regexp.MustCompile(`(^|[^\\])\|`)
	tables, width := 0, 0
	for i, line := range strings.Split(string(src), "\n") {
		switch {
		case strings.HasPrefix(line, "|---"):
			tables++
		case strings.HasPrefix(line, "| "):
			n := len(unescapedPipe.FindAllString(line, -1))
			if width == 0 {
				width = n
			}
			require.Equal(t, width, n, "line %d has %d cell delimiters, its table %d: %s", i+1, n, width, line)
		default:
			width = 0
		}
	}
	require.Greater(t, tables, 10)
	require.Equal(t, tables, strings.Count(got, "<table>"), "every Markdown table renders as a table")
	require.Equal(t, strings.Count(string(src), "<details>"), strings.Count(got, "<details>"))
	require.Contains(t, got, "<ul>\n<li><strong>15732</strong>", "the process tree is a nested list")
	require.NotContains(t, got, "<script")
	require.Contains(t, got, "<h2>Findings</h2>")
}
