package forensics

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Printable renders a string from a checkpoint for a one-line display on a terminal: printable
// characters as they are; control characters (escape sequences, newlines, C1 controls), invalid
// UTF-8 and other non-printable runes (e.g. bidirectional overrides) escaped Go-style. A hostile
// file or process name can then neither move the cursor, rewrite the terminal's title or
// clipboard, nor fake a line. JSON output keeps strings exactly as decoded; text, TUI and
// report views use this.
func Printable(s string) string {
	if isPlain(s) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b.WriteString(`\x`)
			b.WriteString(strconv.FormatUint(uint64(s[i])>>4, 16))
			b.WriteString(strconv.FormatUint(uint64(s[i])&0xf, 16))
		case unicode.IsPrint(r):
			b.WriteRune(r)
		default:
			q := strconv.QuoteRune(r)
			b.WriteString(q[1 : len(q)-1])
		}
		i += size
	}
	return b.String()
}

// isPlain: printable ASCII only (the common case, no allocation).
func isPlain(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] >= 0x7f {
			return false
		}
	}
	return true
}
