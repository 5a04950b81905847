package memory

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// ErrEmptyPattern is returned for a pattern that could only match the empty string.
var ErrEmptyPattern = errors.New("empty search pattern")

// ErrBadPattern is returned for a pattern that cannot be parsed.
var ErrBadPattern = errors.New("bad search pattern")

// RegexWindow is the longest match a regular expression search reports in full: chunks overlap
// by this much, so a regex match that starts in one chunk and is longer than this is cut at the
// end of the overlap. Literal and hex patterns have no such limit (the overlap is their length).
const RegexWindow = 4096

// Pattern is a compiled search pattern. Regular expressions use Go's RE2 engine, which runs in
// time linear in the input: no pattern can be catastrophically slow. Memory is bytes, not text:
// a regex sees invalid UTF-8 as U+FFFD, so hex patterns (not regexes) are the way to find
// arbitrary bytes.
type Pattern struct {
	// Desc is the pattern as given, for output.
	Desc string
	// maxLen bounds a match's length (the chunk overlap is maxLen-1).
	maxLen int
	// find calls fn for each non-overlapping match in b that starts before limit, leftmost first.
	find func(b []byte, limit int, fn func(s, e int))
}

// MaxLen is the longest match the pattern can report.
func (p *Pattern) MaxLen() int { return p.maxLen }

// Find returns every non-overlapping match in b as [start, end) pairs.
func (p *Pattern) Find(b []byte) [][2]int {
	var out [][2]int
	p.find(b, len(b), func(s, e int) { out = append(out, [2]int{s, e}) })
	return out
}

// Literal compiles a byte string; fold makes ASCII letters match either case.
func Literal(lit string, fold bool) (*Pattern, error) {
	if lit == "" {
		return nil, ErrEmptyPattern
	}
	pat := []byte(lit)
	p := &Pattern{Desc: strconv.Quote(lit), maxLen: len(pat)}
	if !fold || !hasLetter(pat) {
		p.find = func(b []byte, limit int, fn func(s, e int)) {
			for i := 0; i < limit; {
				j := bytes.Index(b[i:], pat)
				if j < 0 || i+j >= limit {
					return
				}
				fn(i+j, i+j+len(pat))
				i += j + len(pat)
			}
		}
		return p, nil
	}
	// case-insensitive: anchor on a byte without case when there is one, else on the first
	// letter in both cases, then compare the rest folding ASCII.
	k := bytes.IndexFunc(pat, func(r rune) bool { return !isLetter(byte(r)) })
	if k < 0 || pat[k] >= 0x80 {
		k = 0
	}
	lo, up := lower(pat[k]), upper(pat[k])
	p.find = func(b []byte, limit int, fn func(s, e int)) {
		// next occurrence of each case of the anchor byte at or after i, cached so that a byte
		// that is rare in one case and absent in the other never makes the scan quadratic
		nextLo, nextUp := -1, -1
		next := func(c byte, cached *int, i int) int {
			if *cached >= i || *cached == len(b) {
				return *cached
			}
			if j := bytes.IndexByte(b[i:], c); j >= 0 {
				*cached = i + j
			} else {
				*cached = len(b)
			}
			return *cached
		}
		i := k // position of the anchor byte
		for i < len(b) {
			a := next(lo, &nextLo, i)
			if up != lo {
				a = min(a, next(up, &nextUp, i))
			}
			if a >= len(b) {
				return
			}
			s := a - k
			if s >= limit {
				return
			}
			if s+len(pat) <= len(b) && equalFoldASCII(b[s:s+len(pat)], pat) {
				fn(s, s+len(pat))
				i = s + len(pat) + k
				continue
			}
			i = a + 1
		}
	}
	return p, nil
}

func isLetter(c byte) bool { return c|0x20 >= 'a' && c|0x20 <= 'z' }
func hasLetter(b []byte) bool {
	for _, c := range b {
		if isLetter(c) {
			return true
		}
	}
	return false
}
func lower(c byte) byte {
	if isLetter(c) {
		return c | 0x20
	}
	return c
}
func upper(c byte) byte {
	if isLetter(c) {
		return c &^ 0x20
	}
	return c
}
func equalFoldASCII(a, b []byte) bool {
	for i := range a {
		if a[i] != b[i] && (!isLetter(a[i]) || a[i]|0x20 != b[i]|0x20) {
			return false
		}
	}
	return true
}

// Regex compiles a Go (RE2) regular expression; fold adds (?i). A regex that matches the empty
// string is refused (it would match at every byte).
func Regex(expr string, fold bool) (*Pattern, error) {
	if expr == "" {
		return nil, ErrEmptyPattern
	}
	src := expr
	if fold {
		src = "(?i)" + src
	}
	re, err := regexp.Compile(src)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadPattern, err)
	}
	if re.MatchString("") {
		return nil, fmt.Errorf("regex %q matches the empty string: %w", expr, ErrEmptyPattern)
	}
	p := &Pattern{Desc: "/" + expr + "/", maxLen: RegexWindow}
	p.find = func(b []byte, limit int, fn func(s, e int)) {
		// the leading literal prefix (if any) lets us skip quickly to candidates.
		for _, m := range re.FindAllIndex(b, -1) {
			if m[0] >= limit {
				return
			}
			fn(m[0], m[1])
		}
	}
	return p, nil
}

// Hex compiles a byte pattern such as "90 90 ?? 4d": two hex digits per byte, "??" for any
// byte; spaces are optional between bytes.
func Hex(spec string) (*Pattern, error) {
	s := strings.Join(strings.Fields(spec), "")
	if s == "" {
		return nil, ErrEmptyPattern
	}
	if len(s)%2 != 0 {
		return nil, fmt.Errorf("hex pattern %q: odd number of digits: %w", spec, ErrBadPattern)
	}
	n := len(s) / 2
	pat := make([]byte, n)
	wild := make([]bool, n)
	for i := 0; i < n; i++ {
		t := s[2*i : 2*i+2]
		if t == "??" {
			wild[i] = true
			continue
		}
		v, err := strconv.ParseUint(t, 16, 8)
		if err != nil {
			return nil, fmt.Errorf("hex pattern %q: %q is not a byte or ??: %w", spec, t, ErrBadPattern)
		}
		pat[i] = byte(v)
	}
	// anchor: the longest run of fixed bytes
	as, al := 0, 0
	for i := 0; i < n; {
		if wild[i] {
			i++
			continue
		}
		j := i
		for j < n && !wild[j] {
			j++
		}
		if j-i > al {
			as, al = i, j-i
		}
		i = j
	}
	if al == 0 {
		return nil, fmt.Errorf("hex pattern %q has only wildcards: %w", spec, ErrEmptyPattern)
	}
	anchor := pat[as : as+al]
	p := &Pattern{Desc: "hex:" + strings.Join(strings.Fields(spec), " "), maxLen: n}
	p.find = func(b []byte, limit int, fn func(s, e int)) {
		for i := as; i < len(b); {
			j := bytes.Index(b[i:], anchor)
			if j < 0 {
				return
			}
			st := i + j - as
			if st >= limit {
				return
			}
			if st+n <= len(b) && hexMatch(b[st:st+n], pat, wild) {
				fn(st, st+n)
				i = st + n + as
				continue
			}
			i += j + 1
		}
	}
	return p, nil
}

func hexMatch(b, pat []byte, wild []bool) bool {
	for i := range pat {
		if !wild[i] && b[i] != pat[i] {
			return false
		}
	}
	return true
}
