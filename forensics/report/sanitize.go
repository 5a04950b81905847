package report

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// unsafeRune reports the characters the human-readable formats never emit as they are: C0
// controls other than newline and tab (ESC, BEL, CR, ...), DEL, C1 controls (U+0080-U+009F,
// CSI among them), format characters (bidirectional overrides and isolates such as U+202E,
// zero-width characters, the BOM, soft hyphen, tag characters) and the line and paragraph
// separators. A hostile process or file name could otherwise drive a terminal that shows the
// report, or make it read differently from what it says.
func unsafeRune(r rune) bool {
	if r < 0x80 {
		return r < 0x20 && r != '\n' && r != '\t' || r == 0x7f
	}
	return unicode.IsControl(r) || unicode.In(r, unicode.Cf, unicode.Zl, unicode.Zp)
}

// escapeRune writes the visible form of an unsafe rune: \x1b for C0 and DEL, \u202e otherwise.
func escapeRune(b []byte, r rune) []byte {
	if r < 0x80 {
		return fmt.Appendf(b, `\x%02x`, r)
	}
	return fmt.Appendf(b, `\u%04x`, r)
}

// printable makes unsafe characters and invalid UTF-8 visible ("\x1b", "\u202e", "\xff")
// for the human-readable formats; JSON keeps strings exactly as decoded.
func printable(s string) string {
	if !needsEscape(s) {
		return s
	}
	var b []byte
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = fmt.Appendf(b, `\x%02x`, s[i])
		case unsafeRune(r):
			b = escapeRune(b, r)
		default:
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return string(b)
}

func needsEscape(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 && c != '\n' && c != '\t' || c >= 0x7f {
			if c < 0x80 {
				return true
			}
			return strings.ContainsFunc(s[i:], unsafeRune) || !utf8.ValidString(s[i:])
		}
	}
	return false
}

// safeWriter is the last stage of the Markdown and HTML writers: it makes any unsafe
// character that reached the output visible (whatever field it came from, so a template
// that forgets a "show" cannot leak one) and stops at the first write after ctx is done, so
// a long render honours Ctrl-C at once.
type safeWriter struct {
	ctx   context.Context
	w     io.Writer
	carry []byte // an incomplete UTF-8 sequence at the end of the last write
	out   []byte
}

func newSafeWriter(ctx context.Context, w io.Writer) *safeWriter {
	return &safeWriter{ctx: ctx, w: w}
}

func (s *safeWriter) Write(p []byte) (int, error) {
	if err := s.ctx.Err(); err != nil {
		return 0, err
	}
	n := len(p)
	if len(s.carry) > 0 {
		p = append(s.carry, p...)
		s.carry = nil
	}
	out := s.out[:0]
	start := 0 // start of the pending run of bytes that pass unchanged
	for i := 0; i < len(p); {
		c := p[i]
		if c >= 0x20 && c < 0x7f || c == '\n' || c == '\t' {
			i++
			continue
		}
		if c >= 0x80 && !utf8.FullRune(p[i:]) && len(p)-i < utf8.UTFMax {
			// may complete in the next write
			out = append(out, p[start:i]...)
			s.carry = append([]byte(nil), p[i:]...)
			start = len(p)
			break
		}
		r, size := utf8.DecodeRune(p[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			out = append(out, p[start:i]...)
			out = append(out, `\x`...)
			out = append(out, hex2(c)...)
		case unsafeRune(r):
			out = append(out, p[start:i]...)
			out = escapeRune(out, r)
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	if start < len(p) {
		out = append(out, p[start:]...)
	}
	s.out = out
	if _, err := s.w.Write(out); err != nil {
		return 0, err
	}
	return n, nil
}

// Close writes an incomplete sequence left at the end, escaped.
func (s *safeWriter) Close() error {
	if len(s.carry) == 0 {
		return nil
	}
	var b []byte
	for _, c := range s.carry {
		b = append(b, `\x`+hex2(c)...)
	}
	s.carry = nil
	_, err := s.w.Write(b)
	return err
}

func hex2(c byte) string {
	h := strconv.FormatUint(uint64(c), 16)
	if len(h) == 1 {
		return "0" + h
	}
	return h
}
