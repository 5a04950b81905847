package forensics

import (
	"testing"
	"unicode"
	"unicode/utf8"
)

func TestPrintable(t *testing.T) {
	for in, want := range map[string]string{
		"/usr/bin/nginx":           "/usr/bin/nginx",
		"tab\there":                `tab\there`,
		"fake\nline":               `fake\nline`,
		"\x1b[2J\x1b]0;owned\x07":  `\x1b[2J\x1b]0;owned\a`,
		"\x1b]52;c;ZXZpbA==\x1b\\": `\x1b]52;c;ZXZpbA==\x1b\`,
		"c1\u009b31m":              `c1\u009b31m`,
		"bad\xffutf8":              `bad\xffutf8`,
		"évil.txt":                 "évil.txt",
		"invoice\u202egnp.exe":     `invoice\u202egnp.exe`,
		"zero\u200bwidth":          `zero\u200bwidth`,
		"日本語":                      "日本語",
		"del\x7f":                  `del\x7f`,
	} {
		if got := Printable(in); got != want {
			t.Errorf("Printable(%q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzPrintable: whatever the input, the output is valid UTF-8 with no control character (C0,
// DEL, C1) and no other non-printable rune, and printable ASCII passes unchanged.
func FuzzPrintable(f *testing.F) {
	for _, s := range []string{"", "/usr/bin/nginx", "\x1b]52;c;ZXZpbA==\x07", "a\u202eb", "\xff\xfe", "日本\u200b語", "\u009b2J"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := Printable(s)
		if !utf8.ValidString(out) {
			t.Fatalf("Printable(%q) = %q: invalid UTF-8", s, out)
		}
		for _, r := range out {
			if !unicode.IsPrint(r) {
				t.Fatalf("Printable(%q) = %q: holds %U", s, out, r)
			}
		}
		if isPlain(s) && out != s {
			t.Fatalf("printable ASCII changed: %q -> %q", s, out)
		}
	})
}
