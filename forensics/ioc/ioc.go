// Package ioc extracts indicators of compromise (addresses, URLs, domains, e-mail addresses,
// cloud keys, tokens, private keys, secrets in environment variables) from text: process
// memory strings, environment, command lines, socket and pipe buffers, rootfs files. Results
// are deduplicated by (type, value) with every place they were seen; secret values are
// redacted unless revealed.
//
// Domain rule (to avoid junk such as "libc.so" or "main.py"): a host name is reported when it
// is the host of a URL or the domain of an e-mail address, or, standing alone, when it has at
// least two labels, is written in lower case, stands alone (delimited by space, quotes or
// punctuation such as = : , ; brackets, not inside a path or identifier), and its top-level
// domain is in a short list of common generic, country and reserved TLDs (knownTLDs) that
// excludes TLDs that look like file extensions (so, py, sh, pl, rs, md, ...); under a two-letter
// country TLD a bare name needs three labels or a second-level label of 4+ letters. On 128 MiB
// of random bytes this rule reports no domain at all.
//
// It imports only the forensics model and forensics/memory; never k8s.io/... or charm.land/....
package ioc

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/podsleuth/podsleuth/forensics"
)

// IOC types.
const (
	TypeIPv4            = "ipv4"
	TypeIPv6            = "ipv6"
	TypeURL             = "url"
	TypeDomain          = "domain"
	TypeEmail           = "email"
	TypeAWSKeyID        = "aws-access-key-id"
	TypeAWSSecret       = "aws-secret-access-key"
	TypeGCPAPIKey       = "gcp-api-key"
	TypeGCPSA           = "gcp-service-account"
	TypeAzureStorageKey = "azure-storage-key"
	TypeJWT             = "jwt"
	TypePrivateKey      = "private-key"
	TypeBearer          = "bearer-token"
	TypeEnvSecret       = "env-secret"
)

// Match is one indicator found in a text, at byte offsets [Start, End).
type Match struct {
	Type   string
	Value  string
	Secret bool
	Start  int
	End    int
}

// The patterns are compiled on first use (compiling them costs milliseconds at every start of
// the binary otherwise).
var (
	compileOnce    sync.Once
	reIPv4         *regexp.Regexp
	reIPv6         *regexp.Regexp
	reURL          *regexp.Regexp
	reEmail        *regexp.Regexp
	reDomain       *regexp.Regexp
	reAWSSecretCtx *regexp.Regexp
	reAWSSecret    *regexp.Regexp
	reGCPKey       *regexp.Regexp
	reGCPSAEmail   *regexp.Regexp
	reGCPKeyID     *regexp.Regexp
	reAzureConn    *regexp.Regexp
	rePEM          *regexp.Regexp
	reBearer       *regexp.Regexp
	reEnvName      *regexp.Regexp
	reEnvAssign    *regexp.Regexp
)

func compile() {
	compileOnce.Do(func() {
		reIPv4 = regexp.MustCompile(`(?:(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.){3}(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])`)
		reIPv6 = regexp.MustCompile(`(?i)[0-9a-f]{0,4}(?::[0-9a-f]{0,4}){2,7}`)
		reURL = regexp.MustCompile(`(?i)\b(?:https?|ftp|wss?|tcp|udp|stratum\+tcp|s3|gs)://[^\s"'<>\x60{}|\\^]+`)
		reEmail = regexp.MustCompile(`[A-Za-z0-9._%+-]{1,64}@((?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24})\b`)
		reDomain = regexp.MustCompile(`(?i)\b(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,24}\b`)
		// a 40-character AWS secret: only with context (a key id or the variable name just before)
		reAWSSecretCtx = regexp.MustCompile(`(?i)(?:aws_?secret_?access_?key|secretaccesskey|aws_?secret)["']?\s*[:=]\s*["']?([A-Za-z0-9/+]{40})(?:[^A-Za-z0-9/+=]|$)`)
		reAWSSecret = regexp.MustCompile(`(?:^|[^A-Za-z0-9/+=])([A-Za-z0-9/+]{40})(?:[^A-Za-z0-9/+=]|$)`)
		reGCPKey = regexp.MustCompile(`\bAIza[0-9A-Za-z_-]{35}\b`)
		reGCPSAEmail = regexp.MustCompile(`[a-z0-9-]{6,30}@[a-z0-9-]{6,30}\.iam\.gserviceaccount\.com`)
		reGCPKeyID = regexp.MustCompile(`"private_key_id"\s*:\s*"([0-9a-f]{40})"`)
		reAzureConn = regexp.MustCompile(`(?i)AccountKey=([A-Za-z0-9+/]{86}==)`)
		rePEM = regexp.MustCompile(`-----BEGIN ((?:RSA |EC |DSA |OPENSSH |ENCRYPTED )?PRIVATE KEY)-----[A-Za-z0-9+/=\s:,.-]+?-----END (?:RSA |EC |DSA |OPENSSH |ENCRYPTED )?PRIVATE KEY-----`)
		reBearer = regexp.MustCompile(`(?i)\bbearer\s+([A-Za-z0-9._~+/-]{16,}=*)`)
		reEnvName = regexp.MustCompile(`(?i)(PASS(WORD|WD)?|SECRET|TOKEN|API_?KEY|PRIVATE_?KEY|ACCESS_?KEY|CREDENTIAL|AUTHORIZATION|AUTH_?(KEY|PASS)|_KEY$|^KEY$)`)
		reEnvAssign = regexp.MustCompile(`^([A-Za-z_][A-Za-z0-9_]{0,127})=(.+)$`)
	})
}

// Characters that may stand before and after a bare host name.
const (
	leftDelims  = " \t\r\n\"'=:,;(<[{|"
	rightDelims = " \t\r\n\"':,;)>]}|"
)

// knownTLDs are the top-level domains a bare host name must end in to be reported.
var knownTLDs = map[string]bool{}

func init() {
	for _, t := range strings.Fields(`com net org info biz io co me xyz top online site club app dev cloud
		tech store shop live pro name mobi tv cc ws pw su ru cn tk ml ga cf gq ir kp
		uk de fr nl eu us ca au jp kr in br it es ch se no fi dk pl cz at be ua by kz tr
		vn id th hk tw sg za mx ar cl ro hu gr pt il ae sa
		example test invalid onion local internal localhost gov edu mil int arpa`) {
		knownTLDs[t] = true
	}
	// deliberately absent although they are TLDs: so py sh pl(kept: common ccTLD) rs md js ts go
	// are file extensions far more often than domains in memory.
}

// Scan returns the indicators in text, in order of position. Overlapping indicators of
// different types are all reported (a URL and its host domain, a JWT inside a bearer header).
func Scan(text string) []Match {
	compile()
	var out []Match
	add := func(t, v string, secret bool, s, e int) {
		out = append(out, Match{Type: t, Value: v, Secret: secret, Start: s, End: e})
	}
	if len(text) >= 26 {
		scanWallets(text, add)
	}
	facts := textFacts(text)
	if facts&hasColon != 0 && strings.Contains(text, "://") {
		for _, m := range reURL.FindAllStringIndex(text, -1) {
			u := strings.TrimRight(text[m[0]:m[1]], ".,;:)]'\"")
			if len(u) <= strings.Index(u, "://")+3 {
				continue
			}
			add(TypeURL, u, false, m[0], m[0]+len(u))
			// the host: a name is reported as a domain whatever its TLD (a URL says it is one);
			// an address is found by the IPv4/IPv6 scans below.
			if h := urlHost(u); h != "" && strings.Contains(h, ".") {
				if _, err := netip.ParseAddr(strings.Trim(h, "[]")); err != nil {
					add(TypeDomain, strings.ToLower(h), false, m[0], m[0]+len(u))
				}
			}
		}
	}
	if facts&hasAt != 0 {
		for _, m := range reEmail.FindAllStringSubmatchIndex(text, -1) {
			dom := strings.ToLower(text[m[2]:m[3]])
			if !knownTLDs[dom[strings.LastIndexByte(dom, '.')+1:]] || !plausibleHost(dom) || m[2]-m[0] < 3 ||
				m[0] > 0 && !strings.ContainsRune(leftDelims, rune(text[m[0]-1])) ||
				m[1] < len(text) && !strings.ContainsRune(rightDelims+".", rune(text[m[1]])) {
				continue
			}
			add(TypeEmail, strings.ToLower(text[m[0]:m[1]]), false, m[0], m[1])
			add(TypeDomain, dom, false, m[2], m[3])
		}
	}
	ascii := facts&hasHigh == 0
	if !ascii || facts&hasDot != 0 && lowerDotted(text) {
		for _, m := range reDomain.FindAllStringIndex(text, -1) {
			d := text[m[0]:m[1]]
			// a bare name: lower case (as names are written), a known TLD, and standing alone
			// (delimited like a word in text), which random bytes rarely are.
			if hasUpper(d) || !knownTLDs[d[strings.LastIndexByte(d, '.')+1:]] || !plausibleHost(d) {
				continue
			}
			if m[0] > 0 && !strings.ContainsRune(leftDelims, rune(text[m[0]-1])) || m[1] < len(text) && !strings.ContainsRune(rightDelims, rune(text[m[1]])) {
				continue // inside a path, an identifier, an e-mail address or a URL: not a bare host
			}
			add(TypeDomain, d, false, m[0], m[1])
		}
	}
	if facts&hasDot != 0 && dottedDigits(text) >= 3 {
		for _, m := range reIPv4.FindAllStringIndex(text, -1) {
			if m[0] > 0 && (isDigit(text[m[0]-1]) || text[m[0]-1] == '.') || m[1] < len(text) && (isDigit(text[m[1]]) || text[m[1]] == '.' && m[1]+1 < len(text) && isDigit(text[m[1]+1])) {
				continue // part of a longer dotted number (a version string)
			}
			if versionBefore(text, m[0]) {
				continue // "SOCAT_VERSION=1.7.4.4", "version 1.2.3.4", "v1.2.3.4"
			}
			a, err := netip.ParseAddr(text[m[0]:m[1]])
			if err != nil || a.IsUnspecified() {
				continue
			}
			add(TypeIPv4, a.String(), false, m[0], m[1])
		}
	}
	if facts&hasColon != 0 && strings.Count(text, ":") >= 2 {
		for _, m := range reIPv6.FindAllStringIndex(text, -1) {
			s := text[m[0]:m[1]]
			if !strings.Contains(s, "::") && strings.Count(s, ":") != 7 || !strings.ContainsAny(s, "0123456789") || len(s) < 6 {
				continue
			}
			if m[0] > 0 && (isHex(text[m[0]-1]) || text[m[0]-1] == ':') || m[1] < len(text) && (isHex(text[m[1]]) || text[m[1]] == ':') {
				continue
			}
			a, err := netip.ParseAddr(s)
			if err != nil || !a.Is6() || a.IsUnspecified() || a.Is4In6() {
				continue
			}
			add(TypeIPv6, a.String(), false, m[0], m[1])
		}
	}
	var awsIDEnd = -1
	var words uint8 // the words the gates below need, found in one pass
	if want := wordMask(len(text), ascii, facts); want != 0 {
		words = foldWords(text, want)
	}
	ids, aiza := awsIDs(text)
	for _, m := range ids {
		add(TypeAWSKeyID, text[m[0]:m[1]], false, m[0], m[1])
		awsIDEnd = m[1]
	}
	// every name reAWSSecretCtx knows has "secret"; the shortest match is 50 bytes
	if len(text) >= 50 && (!ascii || words&wordSecret != 0) {
		for _, m := range reAWSSecretCtx.FindAllStringSubmatchIndex(text, -1) {
			add(TypeAWSSecret, text[m[2]:m[3]], true, m[2], m[3])
		}
	}
	if awsIDEnd >= 0 {
		// a bare 40-character secret right after a key id (within 256 bytes): the usual layout of
		// a credentials structure in memory.
		for _, m := range reAWSSecret.FindAllStringSubmatchIndex(text, -1) {
			if m[2] >= awsIDEnd && m[2]-awsIDEnd <= 256 && awsSecretShape(text[m[2]:m[3]]) {
				add(TypeAWSSecret, text[m[2]:m[3]], true, m[2], m[3])
			}
		}
	}
	if aiza {
		for _, m := range reGCPKey.FindAllStringIndex(text, -1) {
			add(TypeGCPAPIKey, text[m[0]:m[1]], true, m[0], m[1])
		}
	}
	if facts&hasAt != 0 && strings.Contains(text, "gserviceaccount") {
		for _, m := range reGCPSAEmail.FindAllStringIndex(text, -1) {
			add(TypeGCPSA, text[m[0]:m[1]], false, m[0], m[1])
		}
	}
	if facts&(hasQuote|hasColon) == hasQuote|hasColon && strings.Contains(text, "private_key_id") {
		for _, m := range reGCPKeyID.FindAllStringSubmatchIndex(text, -1) {
			add(TypeGCPSA, "private_key_id:"+text[m[2]:m[3]], true, m[2], m[3])
		}
	}
	if facts&hasEq != 0 && afterEq(text, "ccountKey") {
		for _, m := range reAzureConn.FindAllStringSubmatchIndex(text, -1) {
			add(TypeAzureStorageKey, text[m[2]:m[3]], true, m[2], m[3])
		}
	}
	if facts&hasDot != 0 {
		for _, m := range jwts(text) {
			add(TypeJWT, text[m[0]:m[1]], true, m[0], m[1])
		}
	}
	if facts&hasDash != 0 && strings.Contains(text, "PRIVATE KEY-----") {
		for _, m := range rePEM.FindAllStringIndex(text, -1) {
			add(TypePrivateKey, text[m[0]:m[1]], true, m[0], m[1])
		}
	}
	if words&wordBearer != 0 {
		for _, m := range reBearer.FindAllStringSubmatchIndex(text, -1) {
			add(TypeBearer, text[m[2]:m[3]], true, m[2], m[3])
		}
	}
	if words&wordEnv == 0 {
		sort.SliceStable(out, func(i, j int) bool { return out[i].Start < out[j].Start })
		return out
	}
	// NAME=VALUE: the whole string (an environment entry) or each line of a text (.env files,
	// shell scripts: "export NAME=VALUE")
	for pos := 0; pos < len(text); {
		line, next := text[pos:], len(text)
		if i := strings.IndexByte(line, '\n'); i >= 0 {
			line, next = line[:i], pos+i+1
		}
		at := pos
		if t := strings.TrimLeft(line, " \t"); strings.HasPrefix(t, "export ") {
			rest := strings.TrimLeft(t[len("export "):], " ")
			at += len(line) - len(rest)
			line = rest
		}
		line = strings.TrimRight(line, "\r")
		if m := reEnvAssign.FindStringSubmatchIndex(line); m != nil && reEnvName.MatchString(line[m[2]:m[3]]) {
			add(TypeEnvSecret, line[m[0]:m[1]], true, at+m[0], at+m[1])
		}
		pos = next
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Start < out[j].Start })
	return out
}

// wordMask says which words foldWords must look for: those whose patterns the bytes of text
// do not already rule out (reAWSSecretCtx needs [:=], reBearer \s, NAME=VALUE '=').
func wordMask(n int, ascii bool, facts uint8) (want uint8) {
	if n >= 50 && ascii && facts&(hasColon|hasEq) != 0 {
		want |= wordSecret
	}
	if facts&hasSpace != 0 {
		want |= wordBearer
	}
	if facts&hasEq != 0 {
		want |= wordEnv
	}
	return want
}

// EnvSecret reports whether an environment entry NAME=VALUE has a name that says it holds a
// secret (*PASSWORD*, *SECRET*, *TOKEN*, *KEY*, ...) and a non-empty value.
func EnvSecret(kv string) bool {
	compile()
	m := reEnvAssign.FindStringSubmatch(kv)
	return m != nil && reEnvName.MatchString(m[1])
}

func hasUpper(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 'A' && s[i] <= 'Z' {
			return true
		}
	}
	return false
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
func isHex(c byte) bool   { return isDigit(c) || c|0x20 >= 'a' && c|0x20 <= 'f' }

// awsSecretShape: mixed case and a digit, as a random 40-character base64 secret has.
func awsSecretShape(s string) bool {
	var up, lo, dig bool
	for i := 0; i < len(s); i++ {
		c := s[i]
		up = up || c >= 'A' && c <= 'Z'
		lo = lo || c >= 'a' && c <= 'z'
		dig = dig || isDigit(c)
	}
	return up && lo && dig
}

// plausibleHost refuses names made only of digits, a one-letter second-level label, and short
// random-looking names under two-letter country TLDs.
func plausibleHost(d string) bool {
	labels := strings.Split(d, ".")
	if len(labels) < 2 || len(labels[len(labels)-2]) < 2 {
		return false
	}
	if !strings.ContainsFunc(d[:len(d)-len(labels[len(labels)-1])], func(r rune) bool { return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' }) {
		return false
	}
	// under a two-letter country TLD, two short or unpronounceable labels ("jm9.hu",
	// "qzpvhp.ae") are what random bytes make: want three labels, or a second-level label of
	// 4+ letters (and hyphens) with a vowel and no run of 5 consonants.
	sld := strings.ToLower(labels[len(labels)-2])
	if len(labels[len(labels)-1]) == 2 && len(labels) == 2 {
		return len(sld) >= 4 && !strings.ContainsFunc(sld, func(r rune) bool { return (r < 'a' || r > 'z') && r != '-' }) && pronounceable(sld)
	}
	return true
}

func pronounceable(s string) bool {
	run, vowel := 0, false
	for _, c := range s {
		if strings.ContainsRune("aeiouy-", c) {
			vowel = vowel || c != '-'
			run = 0
			continue
		}
		if run++; run >= 5 {
			return false
		}
	}
	return vowel
}

func urlHost(u string) string {
	h := u[strings.Index(u, "://")+3:]
	if i := strings.IndexAny(h, "/?#"); i >= 0 {
		h = h[:i]
	}
	if i := strings.LastIndexByte(h, '@'); i >= 0 {
		h = h[i+1:]
	}
	if strings.HasPrefix(h, "[") {
		if i := strings.IndexByte(h, ']'); i >= 0 {
			return h[:i+1]
		}
	}
	if i := strings.LastIndexByte(h, ':'); i >= 0 {
		h = h[:i]
	}
	return h
}

// Hash is the short hex SHA-256 used to correlate redacted values.
func Hash(v string) string {
	s := sha256.Sum256([]byte(v))
	return hex.EncodeToString(s[:])
}

// Redact shows the first and last two characters of a secret and a short hash of it:
// "wJ…EY sha256:1a2b3c4d". Values of 8 characters or fewer show no characters. For an
// environment secret NAME=VALUE only the value is redacted.
func Redact(typ, v string) string {
	if typ == TypePrivateKey {
		// keep the armour line: the key type is what an analyst needs, the body is the secret
		head, _, _ := strings.Cut(v, "\n")
		if i := strings.Index(head[min(5, len(head)):], "-----"); i >= 0 {
			head = head[:i+10]
		}
		return fmt.Sprintf("%s … (%d bytes) sha256:%s", head, len(v), Hash(v)[:8])
	}
	if typ == TypeEnvSecret {
		if i := strings.IndexByte(v, '='); i >= 0 {
			return v[:i+1] + redact(v[i+1:], v)
		}
	}
	return redact(v, v)
}

func redact(v, whole string) string {
	h := Hash(whole)[:8]
	if len(v) <= 8 {
		return "… sha256:" + h
	}
	return v[:2] + "…" + v[len(v)-2:] + " sha256:" + h
}

// MaxWhere caps the locations kept per indicator; Count keeps the total.
const MaxWhere = 64

// Collector deduplicates indicators by (type, value) and records where each was seen.
type Collector struct {
	reveal bool
	m      map[[2]string]*forensics.IOC
	seen   map[[2]string]map[string]bool
}

// NewCollector returns a collector; reveal keeps secret values unredacted.
func NewCollector(reveal bool) *Collector {
	return &Collector{reveal: reveal, m: map[[2]string]*forensics.IOC{}, seen: map[[2]string]map[string]bool{}}
}

// Add records one sighting.
func (c *Collector) Add(m Match, loc forensics.Location) {
	k := [2]string{m.Type, m.Value}
	ioc := c.m[k]
	if ioc == nil {
		ioc = &forensics.IOC{Type: m.Type, Value: m.Value, Secret: m.Secret, SHA256: Hash(m.Value)}
		if m.Secret && !c.reveal {
			ioc.Value, ioc.Redacted = Redact(m.Type, m.Value), true
		}
		c.m[k] = ioc
		c.seen[k] = map[string]bool{}
	}
	key := locKey(loc)
	if c.seen[k][key] {
		return
	}
	c.seen[k][key] = true
	ioc.Count++
	// keep the first MaxWhere locations in a fixed order, so the result does not depend on the
	// order in which parallel scans report them
	i := sort.Search(len(ioc.Where), func(i int) bool { return locLess(loc, ioc.Where[i]) })
	if i >= MaxWhere {
		return
	}
	ioc.Where = slices.Insert(ioc.Where, i, loc)
	if len(ioc.Where) > MaxWhere {
		ioc.Where = ioc.Where[:MaxWhere]
	}
}

// kindRank orders locations: what the process was given, then its memory, then the rest.
var kindRank = map[string]int{"env": 0, "cmdline": 1, "memory": 2, "shmem": 3, "pipe": 4, "socket": 5, "rootfs": 6}

func locLess(a, b forensics.Location) bool {
	ra, ok := kindRank[a.Kind]
	if !ok {
		ra = 9
	}
	rb, ok := kindRank[b.Kind]
	if !ok {
		rb = 9
	}
	if ra != rb {
		return ra < rb
	}
	if a.PID != b.PID {
		return a.PID < b.PID
	}
	if a.Addr != b.Addr {
		return a.Addr < b.Addr
	}
	return locKey(a) < locKey(b)
}

func locKey(l forensics.Location) string {
	return strings.Join([]string{l.Kind, strconv.Itoa(l.PID), strconv.FormatUint(l.Addr, 16), l.Path, l.Socket, l.Region, strconv.Itoa(l.FD)}, "\x00")
}

// typeOrder puts secrets and network indicators first.
var typeOrder = map[string]int{
	TypePrivateKey: 0, TypeAWSKeyID: 1, TypeAWSSecret: 2, TypeGCPSA: 3, TypeGCPAPIKey: 4, TypeAzureStorageKey: 5,
	TypeJWT: 6, TypeBearer: 7, TypeEnvSecret: 8, TypeURL: 9, TypeIPv4: 10, TypeIPv6: 11, TypeDomain: 12, TypeEmail: 13,
}

// Result returns the indicators sorted by type (secrets first) and value.
func (c *Collector) Result() []forensics.IOC {
	out := make([]forensics.IOC, 0, len(c.m))
	for _, v := range c.m {
		out = append(out, *v)
	}
	sort.Slice(out, func(i, j int) bool {
		if a, b := typeOrder[out[i].Type], typeOrder[out[j].Type]; a != b {
			return a < b
		}
		return out[i].Value < out[j].Value
	})
	return out
}

// versionBefore says whether the dotted number at i is labelled as a version: "v" right before
// it, or "version" (any case) ending at most two characters before it ("X_VERSION=", "version ",
// "Version: ").
func versionBefore(text string, i int) bool {
	if i > 0 && (text[i-1] == 'v' || text[i-1] == 'V') && (i == 1 || !isAlnum(text[i-2])) {
		return true
	}
	lo := max(0, i-9)
	w := strings.ToLower(text[lo:i])
	j := strings.LastIndex(w, "version")
	return j >= 0 && len(w)-(j+len("version")) <= 2
}

func isAlnum(c byte) bool { return isDigit(c) || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
