package ioc

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"math/big"
	"regexp"
	"strings"
	"sync"

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

var (
	walletOnce sync.Once
	reXMR      *regexp.Regexp
	reBTC      *regexp.Regexp
	reBech32   *regexp.Regexp
	reETH      *regexp.Regexp
)

const b58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"

func compileWallets() {
	walletOnce.Do(func() {
		reXMR = regexp.MustCompile(`(?:^|[^1-9A-HJ-NP-Za-km-z])([48][1-9A-HJ-NP-Za-km-z]{94}(?:[1-9A-HJ-NP-Za-km-z]{11})?)(?:[^1-9A-HJ-NP-Za-km-z]|$)`)
		reBTC = regexp.MustCompile(`(?:^|[^1-9A-HJ-NP-Za-km-z])([13][1-9A-HJ-NP-Za-km-z]{25,34})(?:[^1-9A-HJ-NP-Za-km-z]|$)`)
		reBech32 = regexp.MustCompile(`(?i)(?:^|[^0-9a-z])(bc1[02-9ac-hj-np-z]{11,71})(?:[^0-9a-z]|$)`)
		reETH = regexp.MustCompile(`(?:^|[^0-9A-Za-z])(0x[0-9a-fA-F]{40})(?:[^0-9A-Za-z]|$)`)
	})
}

// scanWallets finds wallet addresses whose checksums are valid (Monero: Keccak-256; Bitcoin:
// Base58Check or bech32/bech32m; Ethereum: EIP-55 when written in mixed case).
func scanWallets(text string, add func(t, v string, secret bool, s, e int)) {
	run := longestB58(text)
	if run < 14 {
		return // no address fits (the shortest, bech32, has 14 characters)
	}
	compileWallets()
	if run < 26 {
		goto bech
	}
	for _, m := range reXMR.FindAllStringSubmatchIndex(text, -1) {
		if v := text[m[2]:m[3]]; moneroValid(v) {
			add(TypeMonero, v, false, m[2], m[3])
		}
	}
	for _, m := range reBTC.FindAllStringSubmatchIndex(text, -1) {
		if v := text[m[2]:m[3]]; base58CheckValid(v) {
			add(TypeBitcoin, v, false, m[2], m[3])
		}
	}
bech:
	if strings.Contains(strings.ToLower(text), "bc1") {
		for _, m := range reBech32.FindAllStringSubmatchIndex(text, -1) {
			if v := text[m[2]:m[3]]; bech32Valid(v) {
				add(TypeBitcoin, strings.ToLower(v), false, m[2], m[3])
			}
		}
	}
	if strings.Contains(text, "0x") {
		for _, m := range reETH.FindAllStringSubmatchIndex(text, -1) {
			if v := text[m[2]:m[3]]; eip55Valid(v[2:]) {
				add(TypeEthereum, v, false, m[2], m[3])
			}
		}
	}
}

var alnum = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c], t[c-32] = true, true
	}
	return t
}()

// longestB58 returns the length of the longest run of letters and digits (every address is one).
func longestB58(s string) int {
	best, cur := 0, 0
	for i := 0; i < len(s); i++ {
		if alnum[s[i]] {
			cur++
			best = max(best, cur)
		} else {
			cur = 0
		}
	}
	return best
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
