package forensics

import "testing"

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
