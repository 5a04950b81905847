package report_test

import (
	"bytes"
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/net/html"
)

// voidElements never have an end tag.
var voidElements = map[string]bool{"meta": true, "br": true, "img": true, "hr": true, "input": true, "link": true}

// TestHTMLWellFormed walks the real HTML report with an HTML tokenizer: every element the
// template opens is closed, in order (browsers repair mismatches silently, a reader of the file
// does not), there is no external reference of any kind, and the page carries its CSP.
func TestHTMLWellFormed(t *testing.T) {
	src := renderFixtureReport(t, "html")
	z := html.NewTokenizer(bytes.NewReader(src))
	var stack []string
	for {
		tt := z.Next()
		if tt == html.ErrorToken {
			require.ErrorIs(t, z.Err(), io.EOF)
			break
		}
		tok := z.Token()
		switch tt {
		case html.StartTagToken:
			for _, a := range tok.Attr {
				if a.Key == "src" || a.Key == "href" && !strings.HasPrefix(a.Val, "#") {
					t.Errorf("<%s %s=%q> refers outside the file", tok.Data, a.Key, a.Val)
				}
			}
			if !voidElements[tok.Data] {
				stack = append(stack, tok.Data)
			}
		case html.EndTagToken:
			require.NotEmpty(t, stack, "</%s> closes nothing", tok.Data)
			require.Equal(t, stack[len(stack)-1], tok.Data, "</%s> closes <%s> (open: %v)", tok.Data, stack[len(stack)-1], stack)
			stack = stack[:len(stack)-1]
		}
	}
	require.Empty(t, stack, "unclosed elements")
	require.Contains(t, string(src), `content="default-src 'none';`)
	require.NotContains(t, string(src), "@import")
	require.NotContains(t, string(src), "url(")
}
