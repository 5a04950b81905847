package ioc

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"math/big"
	"math/rand/v2"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/sha3"
)

// The wallet regular expressions scanWallets used before its tokenizer (wallet.go at e4781f5),
// kept as the oracle the tokenizer must agree with.
var (
	oreXMR    = regexp.MustCompile(`(?:^|[^1-9A-HJ-NP-Za-km-z])([48][1-9A-HJ-NP-Za-km-z]{94}(?:[1-9A-HJ-NP-Za-km-z]{11})?)(?:[^1-9A-HJ-NP-Za-km-z]|$)`)
	oreBTC    = regexp.MustCompile(`(?:^|[^1-9A-HJ-NP-Za-km-z])([13][1-9A-HJ-NP-Za-km-z]{25,34})(?:[^1-9A-HJ-NP-Za-km-z]|$)`)
	oreBech32 = regexp.MustCompile(`(?i)(?:^|[^0-9a-z])(bc1[02-9ac-hj-np-z]{11,71})(?:[^0-9a-z]|$)`)
	oreETH    = regexp.MustCompile(`(?:^|[^0-9A-Za-z])(0x[0-9a-fA-F]{40})(?:[^0-9A-Za-z]|$)`)
)

// walletsOracle is the regex scan (without its cheap gates, which only skipped texts where no
// expression could match). ends holds, per expression, where each of its raw matches ended: a
// match consumes the delimiter after the address, so the expression could not find an address
// starting right there (one delimiter after another address-shaped run).
func walletsOracle(text string) (out []Match, ends map[*regexp.Regexp]map[int]bool) {
	ends = map[*regexp.Regexp]map[int]bool{}
	for _, p := range []struct {
		re    *regexp.Regexp
		typ   string
		valid func(string) bool
		value func(string) string
	}{
		{oreXMR, TypeMonero, moneroValid, nil},
		{oreBTC, TypeBitcoin, base58CheckValid, nil},
		{oreBech32, TypeBitcoin, bech32Valid, strings.ToLower},
		{oreETH, TypeEthereum, func(v string) bool { return eip55Valid(v[2:]) }, nil},
	} {
		ends[p.re] = map[int]bool{}
		for _, m := range p.re.FindAllStringSubmatchIndex(text, -1) {
			ends[p.re][m[1]] = true
			if v := text[m[2]:m[3]]; p.valid(v) {
				if p.value != nil {
					v = p.value(v)
				}
				out = append(out, Match{Type: p.typ, Value: v, Start: m[2], End: m[3]})
			}
		}
	}
	slices.SortStableFunc(out, func(a, b Match) int { return a.Start - b.Start })
	return out, ends
}

func tokenizerWallets(text string) (out []Match) {
	scanWallets(text, func(t, v string, secret bool, s, e int) {
		out = append(out, Match{Type: t, Value: v, Secret: secret, Start: s, End: e})
	})
	slices.SortStableFunc(out, func(a, b Match) int { return a.Start - b.Start })
	return out
}

// checkWallets asserts the tokenizer finds every address the oracle finds and, beyond them,
// only addresses the oracle could not see because they start right where another raw match of
// the same expression ended. It returns how many such extras there were.
func checkWallets(t testing.TB, text string) (extra int) {
	want, ends := walletsOracle(text)
	got := tokenizerWallets(text)
	i := 0
	for _, g := range got {
		if i < len(want) && g == want[i] {
			i++
			continue
		}
		re := oreBTC
		switch {
		case g.Type == TypeMonero:
			re = oreXMR
		case g.Type == TypeEthereum:
			re = oreETH
		case strings.HasPrefix(g.Value, "bc1"):
			re = oreBech32
		}
		if !ends[re][g.Start] {
			t.Fatalf("%q: the tokenizer found %+v, the regex did not (oracle %+v, tokenizer %+v)", text, g, want, got)
		}
		extra++
	}
	if i != len(want) {
		t.Fatalf("%q: the regex found %+v, the tokenizer did not (tokenizer %+v)", text, want[i], got)
	}
	return extra
}

// Valid addresses made from random bytes, with their checksums.
func b58encode(b []byte) string {
	v := new(big.Int).SetBytes(b)
	var out []byte
	for v.Sign() > 0 {
		m := new(big.Int)
		v.DivMod(v, big.NewInt(58), m)
		out = append(out, b58[m.Int64()])
	}
	for _, c := range b {
		if c != 0 {
			break
		}
		out = append(out, '1')
	}
	slices.Reverse(out)
	return string(out)
}

func genBTC(r *rand.Rand) string {
	b := make([]byte, 21, 25)
	b[0] = []byte{0x00, 0x05}[r.IntN(2)]
	for i := 1; i < 21; i++ {
		b[i] = byte(r.IntN(256))
	}
	if r.IntN(8) == 0 {
		b[1] = 0 // a leading zero byte: one more '1'
	}
	h := sha256Sum(sha256Sum(b))
	return b58encode(append(b, h[:4]...))
}

func genXMR(r *rand.Rand) string {
	n, net := 65, byte(0x12)
	if r.IntN(3) == 0 {
		n, net = 73, 0x13 // integrated: a payment id of 8 bytes more
	}
	b := make([]byte, n)
	b[0] = net
	for i := 1; i < n; i++ {
		b[i] = byte(r.IntN(256))
	}
	h := sha3.NewLegacyKeccak256()
	h.Write(b)
	b = h.Sum(b)[:n+4]
	var s strings.Builder
	for i := 0; i < len(b); i += 8 {
		blk := b[i:min(i+8, len(b))]
		width := map[int]int{8: 11, 5: 7}[len(blk)]
		enc := strings.TrimLeft(b58encode(blk), "1") // '1' is the digit 0: padded to the width
		s.WriteString(strings.Repeat("1", width-len(enc)) + enc)
	}
	return s.String()
}

func genBech32(r *rand.Rand) string {
	const charset = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
	vals := []int{3, 3, 0, 2, 3} // hrp "bc" expanded
	data := make([]int, 5+r.IntN(61))
	for i := range data {
		data[i] = r.IntN(32)
	}
	vals = append(append(vals, data...), 0, 0, 0, 0, 0, 0)
	gen := []int{0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3}
	chk := 1
	for _, v := range vals {
		b := chk >> 25
		chk = (chk&0x1ffffff)<<5 ^ v
		for i := 0; i < 5; i++ {
			if (b>>i)&1 == 1 {
				chk ^= gen[i]
			}
		}
	}
	chk ^= []int{1, 0x2bc830a3}[r.IntN(2)]
	s := []byte("bc1")
	for _, d := range data {
		s = append(s, charset[d])
	}
	for i := 0; i < 6; i++ {
		s = append(s, charset[(chk>>(5*(5-i)))&31])
	}
	if r.IntN(3) == 0 {
		return strings.ToUpper(string(s))
	}
	return string(s)
}

func genETH(r *rand.Rand) string {
	b := make([]byte, 20)
	for i := range b {
		b[i] = byte(r.IntN(256))
	}
	a := hex.EncodeToString(b)
	if r.IntN(3) == 0 {
		return "0x" + a
	}
	h := sha3.NewLegacyKeccak256()
	h.Write([]byte(a))
	sum := hex.EncodeToString(h.Sum(nil))
	out := []byte(a)
	for i := range out {
		if out[i] >= 'a' && sum[i] >= '8' {
			out[i] -= 32
		}
	}
	return "0x" + string(out)
}

// walletText is filler (base64, printable, any byte) with valid addresses and near misses
// (one character changed, one more or one fewer) planted in it.
func walletText(r *rand.Rand, n int) string {
	var b strings.Builder
	gens := []func(*rand.Rand) string{genBTC, genXMR, genBech32, genETH}
	kind := r.IntN(3)
	for b.Len() < n {
		filler := make([]byte, r.IntN(200))
		for i := range filler {
			filler[i] = byte(r.IntN(256))
			if kind < 2 {
				filler[i] = byte(0x20 + r.IntN(95))
			}
		}
		if kind == 0 {
			filler = []byte(base64.StdEncoding.EncodeToString(filler))
		}
		b.Write(filler)
		b.WriteString([]string{" ", "\x00", "=", "/", "0", "l", "+", "\u212a", "\u017f", "é"}[r.IntN(10)])
		a := []byte(gens[r.IntN(len(gens))](r))
		switch r.IntN(6) {
		case 0:
			a[r.IntN(len(a))] = b58[r.IntN(len(b58))]
		case 1:
			a = append(a, b58[r.IntN(len(b58))])
		case 2:
			a = a[1:]
		}
		b.Write(a)
		b.WriteString([]string{" ", "\n", "\x00", ",", "0", "O", "+", "\u212a", "x"}[r.IntN(9)])
	}
	return b.String()
}

func sha256Sum(b []byte) []byte {
	h := sha256.Sum256(b)
	return h[:]
}

// TestWalletTokenizerMatchesRegex: on text with valid addresses planted among base64,
// printable and binary filler, the tokenizer finds exactly what the regular expressions did,
// plus only the addresses they missed because another address-shaped run ended one delimiter
// before; every generated address shape is valid and found.
func TestWalletTokenizerMatchesRegex(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	for _, gen := range []func(*rand.Rand) string{genBTC, genXMR, genBech32, genETH} {
		for range 50 {
			a := gen(r)
			ms := tokenizerWallets("pay " + a + "\n")
			require.Len(t, ms, 1, "%s", a)
			require.Equal(t, strings.ToLower(a), strings.ToLower(ms[0].Value))
		}
	}
	found, extra := map[string]int{}, 0
	for range 300 {
		text := walletText(r, 4096)
		extra += checkWallets(t, text)
		for _, m := range tokenizerWallets(text) {
			found[m.Type]++
		}
	}
	for _, typ := range []string{TypeMonero, TypeBitcoin, TypeEthereum} {
		require.Greater(t, found[typ], 100, "%v", found)
	}
	t.Logf("found %v; %d more than the regex (after another address-shaped run)", found, extra)

	// two addresses one space apart: the regex saw only the first
	a, b := genBTC(r), genBTC(r)
	want, _ := walletsOracle(a + " " + b)
	require.Len(t, want, 1)
	require.Len(t, tokenizerWallets(a+" "+b), 2)
	// the Kelvin sign folds to k under (?i): part of a bech32 run, as for the expression
	up := ""
	for strings.LastIndexByte(up, 'K') <= 3 {
		up = strings.ToUpper(genBech32(r))
	}
	i := strings.LastIndexByte(up, 'K')
	text := "x " + up[:i] + kelvin + up[i+1:] + " " + kelvin + genBech32(r) + " y"
	checkWallets(t, text)
	require.Equal(t, []Match{{Type: TypeBitcoin, Value: strings.ToLower(up), Start: 2, End: 2 + len(up) + 2}}, tokenizerWallets(text))
}

// FuzzWalletTokenizerMatchesRegex: the same agreement on any text.
func FuzzWalletTokenizerMatchesRegex(f *testing.F) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, gen := range []func(*rand.Rand) string{genBTC, genXMR, genBech32, genETH} {
		f.Add("w=" + gen(r) + ";")
	}
	f.Add(walletText(r, 512))
	f.Add("bc1" + kelvin + "x")
	f.Fuzz(func(t *testing.T, s string) { checkWallets(t, s) })
}

// base64Text is 64 KiB strings of base64 (certificates, tokens, payloads held in memory).
func base64Text(n int) []string {
	r := rand.New(rand.NewPCG(3, 4))
	out := make([]string, n)
	for i := range out {
		b := make([]byte, 48<<10-1) // with padding, as most blobs have
		for j := range b {
			b[j] = byte(r.IntN(256))
		}
		out[i] = base64.StdEncoding.EncodeToString(b)
	}
	return out
}

// BenchmarkScanBase64: Scan, the wallet tokenizer and the former wallet regexes on 16 strings
// of 64 KiB of base64 (MB/s is per core).
func BenchmarkScanBase64(b *testing.B) {
	texts := base64Text(16)
	size := int64(0)
	for _, s := range texts {
		size += int64(len(s))
	}
	for _, bc := range []struct {
		name string
		fn   func(string)
	}{
		{"Scan", func(s string) { Scan(s) }},
		{"wallets", func(s string) { tokenizerWallets(s) }},
		{"wallets-regex", func(s string) { walletsOracle(s) }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(size)
			for b.Loop() {
				for _, s := range texts {
					bc.fn(s)
				}
			}
		})
	}
}
