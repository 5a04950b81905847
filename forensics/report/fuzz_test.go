package report

import (
	"regexp"
	"strings"
	"testing"
)

var unescapedPipe = regexp.MustCompile(`(^|[^\\])(\\\\)*\|`)

// FuzzMarkdownCell: whatever a process calls itself, a Markdown cell stays one cell on one line
// with no raw HTML, and a <code> cell has no raw pipe, backtick, angle bracket or newline.
func FuzzMarkdownCell(f *testing.F) {
	for _, s := range []string{"a|b", "`x`", "<script>", "\\|", "\\\\|", "line\nbreak", "*_~#[]", "\x00\x1b[31m", "é|ü"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, out := range []string{md(s), code(s)} {
			if strings.ContainsAny(out, "<>\n\r") && !strings.HasPrefix(out, "<code>") {
				t.Fatalf("raw HTML or newline in %q -> %q", s, out)
			}
			inner := strings.TrimSuffix(strings.TrimPrefix(out, "<code>"), "</code>")
			if strings.ContainsAny(inner, "<>\n\r") {
				t.Fatalf("raw HTML or newline in %q -> %q", s, out)
			}
			if unescapedPipe.MatchString(inner) {
				t.Fatalf("unescaped pipe in %q -> %q", s, out)
			}
		}
		if strings.Contains(strings.TrimSuffix(strings.TrimPrefix(code(s), "<code>"), "</code>"), "`") {
			t.Fatalf("backtick in code cell of %q", s)
		}
	})
}

// FuzzRedactorText: redaction never panics on any text and never grows a secret back.
func FuzzRedactorText(f *testing.F) {
	for _, s := range []string{"Authorization: Bearer abcdefghijklmnopqrstuvwxyz", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.c2lnbmF0dXJlX2hlcmU",
		"-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\n-----END RSA PRIVATE KEY-----", "DB_PASSWORD=x", "--token", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		x := Redactor{}
		_ = x.Text(s)
		_ = x.Env(s)
		_ = x.Args(strings.Fields(s))
		if out := x.Text(s); strings.Contains(s, "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.c2lnbmF0dXJlX2hlcmU") &&
			strings.Contains(out, "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.c2lnbmF0dXJlX2hlcmU") {
			t.Fatalf("a JWT survived redaction: %q", out)
		}
	})
}
