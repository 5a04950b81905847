package ioc

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"math/big"
	"strings"
	"unicode/utf8"

	"golang.org/x/crypto/sha3"
)

// Cryptocurrency wallet address types (mining payouts, ransom).
const (
	TypeMonero   = "monero-address"
	TypeBitcoin  = "bitcoin-address"
	TypeEthereum = "ethereum-address"
)

// Types returns every indicator type (what `iocs --type` filters on).
func Types() []string {
	return []string{TypeIPv4, TypeIPv6, TypeURL, TypeDomain, TypeEmail, TypeAWSKeyID, TypeAWSSecret, TypeGCPAPIKey,
		TypeGCPSA, TypeAzureStorageKey, TypeJWT, TypePrivateKey, TypeBearer, TypeEnvSecret, TypeMonero, TypeBitcoin, TypeEthereum}
}

// Address shapes. Each address is a whole token: a maximal run of its alphabet's characters
// (base58 for Monero and legacy Bitcoin; letters and digits for bech32 and Ethereum), so the
// scan cuts the text into runs once and checks each run's length and prefix, then its checksum.
// This is what the earlier regular expressions meant (each required the address to be delimited
// by characters outside its alphabet), without their cost: their counted repetitions ({94},
// {25,34}) ran at a few MB/s over base64 text, whose runs are long, and base64 is common in
// memory. Unlike them, it also finds an address that follows another after one delimiter.
const (
	xmrLen, xmrIntegratedLen = 95, 106 // [48] + 94 (+ 11 for an integrated address)
	btcMin, btcMax           = 26, 35  // [13] + 25..34
	bechMin, bechMax         = 14, 74  // "bc1" + 11..71
	ethLen                   = 42      // "0x" + 40 hex digits
)

const b58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"

// Character classes of the tokenizer.
const (
	clB58   = 1 << iota // a base58 digit
	clAlnum             // an ASCII letter or digit
)

var walletClass = func() (t [256]uint8) {
	for c := '0'; c <= '9'; c++ {
		t[c] |= clAlnum
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] |= clAlnum
		t[c-32] |= clAlnum
	}
	for i := 0; i < len(b58); i++ {
		t[b58[i]] |= clB58
	}
	return t
}()

// scanWallets finds wallet addresses whose checksums are valid (Monero: Keccak-256; Bitcoin:
// Base58Check or bech32/bech32m; Ethereum: EIP-55 when written in mixed case).
func scanWallets(text string, add func(t, v string, secret bool, s, e int)) {
	if len(text) < bechMin {
		return // no address fits
	}
	bech, ascii := false, true
	for i := 0; i < len(text); {
		if walletClass[text[i]] == 0 {
			ascii = ascii && text[i] < 0x80
			i++
			continue
		}
		// a run of letters and digits [i, j), and within it the base58 runs
		j := i
		for j < len(text) && walletClass[text[j]]&clAlnum != 0 {
			j++
		}
		if n := j - i; n == ethLen && text[i] == '0' && text[i+1] == 'x' && isHexRun(text[i+2:j]) && eip55Valid(text[i+2:j]) {
			add(TypeEthereum, text[i:j], false, i, j)
		}
		if j-i >= 3 && text[i]|0x20 == 'b' && text[i+1]|0x20 == 'c' && text[i+2] == '1' {
			bech = true
		}
		if j-i >= btcMin {
			b58Runs(text, i, j, add)
		}
		i = j
	}
	if bech || !ascii {
		scanBech32(text, add)
	}
}

// b58Runs checks the maximal base58 runs inside the letters and digits [i, j) of text.
func b58Runs(text string, i, j int, add func(t, v string, secret bool, s, e int)) {
	for i < j {
		if walletClass[text[i]]&clB58 == 0 {
			i++
			continue
		}
		k := i
		for k < j && walletClass[text[k]]&clB58 != 0 {
			k++
		}
		switch n, v := k-i, text[i:k]; {
		case (n == xmrLen || n == xmrIntegratedLen) && (v[0] == '4' || v[0] == '8') && moneroValid(v):
			add(TypeMonero, v, false, i, k)
		case n >= btcMin && n <= btcMax && (v[0] == '1' || v[0] == '3') && base58CheckValid(v):
			add(TypeBitcoin, v, false, i, k)
		}
		i = k
	}
}

func isHexRun(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isHex(s[i]) {
			return false
		}
	}
	return true
}

// The bech32 run is matched without regard to case, as the earlier (?i) expression did, and
// Unicode case folding makes two non-ASCII letters part of a run: U+017F (long s, folds to s)
// and U+212A (Kelvin sign, folds to k). A run holding them never passes the checksum unless
// lower-casing makes it ASCII (the Kelvin sign), and then its value is that lower-case form.
const (
	longS  = "ſ"
	kelvin = "K"
)

// bechRune returns the width of the rune at text[i] when it is a letter or digit under case
// folding (0 otherwise) and whether it is in bech32's data alphabet.
func bechRune(text string, i int) (width int, data bool) {
	c := text[i]
	switch {
	case c < 0x80 && walletClass[c]&clAlnum != 0:
		l := c | 0x20
		return 1, isDigit(c) && c != '1' || l >= 'a' && l <= 'z' && l != 'b' && l != 'i' && l != 'o'
	case strings.HasPrefix(text[i:], longS):
		return len(longS), true
	case strings.HasPrefix(text[i:], kelvin):
		return len(kelvin), true
	}
	return 0, false
}

// scanBech32 finds the runs "bc1" + 11..71 bech32 characters (any case) that are whole.
func scanBech32(text string, add func(t, v string, secret bool, s, e int)) {
	prev := 0 // the width of the rune before i when it continues a run (0: i starts one)
	for i := 0; i < len(text); {
		w, _ := bechRune(text, i)
		if w == 0 {
			prev = 0
			_, sz := utf8.DecodeRuneInString(text[i:])
			i += sz
			continue
		}
		start := prev == 0
		prev = w
		if !start || i+3 > len(text) || text[i]|0x20 != 'b' || text[i+1]|0x20 != 'c' || text[i+2] != '1' {
			i += w
			continue
		}
		// a run starting with bc1: read it whole, counting its runes
		j, n, ok := i+3, 3, true
		for j < len(text) {
			w, data := bechRune(text, j)
			if w == 0 {
				break
			}
			ok = ok && data
			j += w
			n++
		}
		if v := text[i:j]; ok && n >= bechMin && n <= bechMax && bech32Valid(v) {
			add(TypeBitcoin, strings.ToLower(v), false, i, j)
		}
		i, prev = j, 0
	}
}

func b58digit(c byte) int { return strings.IndexByte(b58, c) }

// moneroValid decodes Monero's block base58 (11 characters -> 8 bytes, the last partial block
// of 7 -> 5) and checks the Keccak-256 checksum.
func moneroValid(s string) bool {
	sizes := map[int]int{0: 0, 2: 1, 3: 2, 5: 3, 6: 4, 7: 5, 9: 6, 10: 7, 11: 8}
	var out []byte
	for i := 0; i < len(s); i += 11 {
		blk := s[i:min(i+11, len(s))]
		n, ok := sizes[len(blk)]
		if !ok {
			return false
		}
		v := new(big.Int)
		for j := 0; j < len(blk); j++ {
			d := b58digit(blk[j])
			if d < 0 {
				return false
			}
			v.Mul(v, big.NewInt(58)).Add(v, big.NewInt(int64(d)))
		}
		b := v.Bytes()
		if len(b) > n {
			return false
		}
		out = append(out, make([]byte, n-len(b))...)
		out = append(out, b...)
	}
	if len(out) < 5 {
		return false
	}
	h := sha3.NewLegacyKeccak256()
	h.Write(out[:len(out)-4])
	return bytes.Equal(h.Sum(nil)[:4], out[len(out)-4:])
}

func base58CheckValid(s string) bool {
	v := new(big.Int)
	for i := 0; i < len(s); i++ {
		d := b58digit(s[i])
		if d < 0 {
			return false
		}
		v.Mul(v, big.NewInt(58)).Add(v, big.NewInt(int64(d)))
	}
	b := v.Bytes()
	for i := 0; i < len(s) && s[i] == '1'; i++ {
		b = append([]byte{0}, b...)
	}
	if len(b) != 25 || b[0] != 0x00 && b[0] != 0x05 {
		return false
	}
	h := sha256.Sum256(b[:21])
	h = sha256.Sum256(h[:])
	return bytes.Equal(h[:4], b[21:])
}

func bech32Valid(s string) bool {
	if strings.ToLower(s) != s && strings.ToUpper(s) != s {
		return false
	}
	s = strings.ToLower(s)
	const charset = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
	pos := strings.LastIndexByte(s, '1')
	if pos < 1 || pos+7 > len(s) {
		return false
	}
	hrp, data := s[:pos], s[pos+1:]
	var vals []int
	for _, c := range hrp {
		vals = append(vals, int(c)>>5)
	}
	vals = append(vals, 0)
	for _, c := range hrp {
		vals = append(vals, int(c)&31)
	}
	for i := 0; i < len(data); i++ {
		d := strings.IndexByte(charset, data[i])
		if d < 0 {
			return false
		}
		vals = append(vals, d)
	}
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
	return chk == 1 || chk == 0x2bc830a3 // bech32, bech32m
}

// eip55Valid accepts an all-lower or all-upper address (no checksum to check) or a mixed-case
// one whose case encodes its Keccak-256 (EIP-55).
func eip55Valid(addr string) bool {
	if strings.ToLower(addr) == addr || strings.ToUpper(addr) == addr {
		// a plain hex string of 40 digits: accept it only if it is not all one digit
		return strings.Count(addr, addr[:1]) != len(addr)
	}
	h := sha3.NewLegacyKeccak256()
	h.Write([]byte(strings.ToLower(addr)))
	sum := hex.EncodeToString(h.Sum(nil))
	for i := 0; i < len(addr); i++ {
		c := addr[i]
		if c >= 'a' && c <= 'f' && sum[i] >= '8' || c >= 'A' && c <= 'F' && sum[i] < '8' {
			return false
		}
	}
	return true
}
