package ioc

import "strings"

// The cheap tests below gate the patterns in Scan. Each is implied by every match the pattern
// can report, so a text that fails it yields nothing from that pattern: they only spare the
// regular expressions the printable runs of binary memory, nearly all of which hold no indicator.
// The case-insensitive ones hold for ASCII text only: under (?i) Go's regexp also matches
// U+017F for s and U+212A for k, so text with other bytes is always scanned.

// Bytes whose presence gates patterns, as bits of a textFacts mask.
const (
	hasHigh  = 1 << iota // a byte >= 0x80 (not ASCII)
	hasDot               // .
	hasColon             // :
	hasAt                // @
	hasEq                // =
	hasQuote             // "
	hasDash              // -
	hasSpace             // \t \n \f \r or space: \s
)

var factBits = func() (t [256]uint8) {
	for c := 0x80; c < 0x100; c++ {
		t[c] = hasHigh
	}
	t['.'], t[':'], t['@'], t['='], t['"'], t['-'] = hasDot, hasColon, hasAt, hasEq, hasQuote, hasDash
	for _, c := range "\t\n\f\r " {
		t[c] = hasSpace
	}
	return t
}()

// textFacts says, in one pass, which of the gating bytes text holds.
func textFacts(text string) uint8 {
	var m uint8
	for i := 0; i < len(text); i++ {
		m |= factBits[text[i]]
	}
	return m
}

// lowerDotted reports whether ASCII text has a lower-case letter or digit, a dot and two
// lower-case letters in a row: the end of every bare domain Scan reports (no upper case, a TLD
// of 2+ letters).
func lowerDotted(text string) bool {
	for i := 1; i+2 < len(text); i++ {
		if text[i] == '.' && isLowerAlnum(text[i-1]) && isLower(text[i+1]) && isLower(text[i+2]) {
			return true
		}
	}
	return false
}

// dottedDigits counts the dots between two digits (an IPv4 address has three).
func dottedDigits(text string) int {
	n := 0
	for i := 1; i+1 < len(text); i++ {
		if text[i] == '.' && isDigit(text[i-1]) && isDigit(text[i+1]) {
			n++
		}
	}
	return n
}

// secretWords are in every name reEnvName accepts, in any case (the names reEnvAssign takes
// are ASCII).
var secretWords = []string{"pass", "secret", "token", "key", "credential", "authorization"}

// Words Scan looks for in any ASCII case, found together in one pass (foldWords).
const (
	wordSecret = 1 << iota // "secret": reAWSSecretCtx
	wordBearer             // "bearer": reBearer
	wordEnv                // one of secretWords: reEnvName
)

var foldWordList = append([]string{"bearer"}, secretWords...)

// trigram is the 15-bit key of three letters in any case (5 bits each; other bytes may share a
// key: a hit is then checked).
func trigram(a, b, c byte) int { return int(a&31)<<10 | int(b&31)<<5 | int(c&31) }

var foldTrigrams = func() (t [1 << 15 / 64]uint64) {
	for _, w := range foldWordList {
		k := trigram(w[0], w[1], w[2])
		t[k/64] |= 1 << (k % 64)
	}
	return t
}()

// foldWords returns which of the words in want (wordSecret, ...) text holds in any ASCII case.
// A rolling key of the last three bytes is tested against a bit set of the words' first three
// letters: no branch taken on ordinary bytes, so it runs the same on any text.
func foldWords(text string, want uint8) (found uint8) {
	k := 0
	for i := 0; i < len(text); i++ {
		k = (k<<5 | int(text[i]&31)) & (1<<15 - 1)
		if foldTrigrams[k/64]&(1<<(k%64)) == 0 || i < 2 {
			continue
		}
		for _, w := range foldWordList {
			if hasPrefixFoldASCII(text[i-2:], w) {
				switch w {
				case "bearer":
					found |= wordBearer
				case "secret":
					found |= wordSecret | wordEnv
				default:
					found |= wordEnv
				}
			}
		}
		if found&want == want {
			break
		}
	}
	return found & want
}

// hasPrefixFoldASCII reports whether s starts with lower-case word w in any ASCII case.
func hasPrefixFoldASCII(s, w string) bool {
	if len(s) < len(w) {
		return false
	}
	for j := 0; j < len(w); j++ {
		if s[j]|0x20 != w[j] {
			return false
		}
	}
	return true
}

// afterEq reports whether text holds word followed by '=' (looking only at the '=' bytes).
func afterEq(text, word string) bool {
	for i := len(word); i < len(text); {
		k := strings.IndexByte(text[i:], '=')
		if k < 0 {
			return false
		}
		if p := i + k; text[p-len(word):p] == word {
			return true
		}
		i += k + 1
	}
	return false
}

func isLower(c byte) bool      { return c >= 'a' && c <= 'z' }
func isLowerAlnum(c byte) bool { return isLower(c) || isDigit(c) }

// Two patterns are matched by hand: Go's regexp runs an expression that opens with \b over the
// whole text (no literal prefix to skip to), at ~30 MB/s, and base64 text (certificates, tokens,
// payloads in memory) holds their prefixes often. Both have a fixed structure that makes the
// match at a position deterministic, so the scans below report exactly what the expressions
// did (oracle_test.go keeps them).

// awsIDs finds `\b(?:AKIA|ASIA|...)[A-Z0-9]{16}\b`: 20 characters that are word characters, so
// matches never overlap. It also says whether text holds "AIza" (a GCP API key's start: no
// such key can overlap an AWS key id, whose \b needs a non-word character after it).
func awsIDs(text string) (out [][2]int, aiza bool) {
	for i := 0; i < len(text); {
		k := strings.IndexByte(text[i:], 'A')
		if k < 0 {
			break
		}
		p := i + k
		aiza = aiza || strings.HasPrefix(text[p:], "AIza")
		if p+20 <= len(text) && (p == 0 || !isWord(text[p-1])) && awsPrefix(text[p:p+4]) && upperDigits(text[p+4:p+20]) && (p+20 == len(text) || !isWord(text[p+20])) {
			out = append(out, [2]int{p, p + 20})
			i = p + 20
			continue
		}
		i = p + 1
	}
	return out, aiza
}

func awsPrefix(s string) bool {
	switch s {
	case "AKIA", "ASIA", "ABIA", "ACCA", "AGPA", "AIDA", "AROA", "AIPA", "ANPA", "ANVA", "APKA":
		return true
	}
	return false
}

func upperDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !isDigit(c) && (c < 'A' || c > 'Z') {
			return false
		}
	}
	return true
}

// isWord is \w (ASCII letters, digits, underscore), what \b tests.
func isWord(c byte) bool { return isAlnum(c) || c == '_' }

func isB64URL(c byte) bool { return isAlnum(c) || c == '_' || c == '-' }

// b64URLEnd returns the end of the run of base64url characters starting at i.
func b64URLEnd(text string, i int) int {
	for i < len(text) && isB64URL(text[i]) {
		i++
	}
	return i
}

// jwts finds `\beyJ[A-Za-z0-9_-]{4,}\.eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{8,}`. Each part is a
// whole run of base64url characters ('.' is not one), so at a given start the match, if any, is
// fixed; when a start fails, every later "eyJ" in the same run fails too (a shorter first part,
// the same rest), which keeps the scan linear.
func jwts(text string) (out [][2]int) {
	for i := 0; i < len(text); {
		k := strings.Index(text[i:], "eyJ")
		if k < 0 {
			break
		}
		p := i + k
		if p > 0 && isWord(text[p-1]) {
			i = p + 1
			continue
		}
		e1 := b64URLEnd(text, p+3)
		if e1-p-3 >= 4 && strings.HasPrefix(text[e1:], ".eyJ") {
			e2 := b64URLEnd(text, e1+4)
			if e2-e1-4 >= 4 && e2 < len(text) && text[e2] == '.' {
				if e3 := b64URLEnd(text, e2+1); e3-e2-1 >= 8 {
					out = append(out, [2]int{p, e3})
					i = e3
					continue
				}
			}
		}
		i = e1
	}
	return out
}
