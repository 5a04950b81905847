package content

import "unicode/utf8"

// LooksText reports whether b (the first bytes of a content) reads as text: valid UTF-8 (a
// multi-byte rune may be cut at the end of the sample) with few control characters. The CLI's
// files cat and the TUI's content views choose text or a hexdump by it.
func LooksText(b []byte) bool {
	if !utf8.Valid(b) && (len(b) < utf8.UTFMax || !utf8.Valid(b[:len(b)-utf8.UTFMax])) {
		return false
	}
	ctl := 0
	for _, c := range b {
		if c < 0x20 && c != '\n' && c != '\r' && c != '\t' || c == 0x7f {
			ctl++
		}
	}
	return ctl*20 <= len(b)
}
