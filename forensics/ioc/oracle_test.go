package ioc

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"sort"
	"strings"
	"sync"

	"github.com/podsleuth/podsleuth/forensics"
	"github.com/podsleuth/podsleuth/forensics/memory"
)

// The expressions Scan replaced by hand-written scans (gates.go).
var (
	oreAWSID = regexp.MustCompile(`\b(?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AROA|AIPA|ANPA|ANVA|APKA)[A-Z0-9]{16}\b`)
	oreJWT   = regexp.MustCompile(`\beyJ[A-Za-z0-9_-]{4,}\.eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{8,}`)
)

// scanOracle is Scan before its patterns were gated by cheap tests (ioc.go at a9f7b42),
// kept as the reference the gated one must agree with exactly.
func scanOracle(text string) []Match {
	compile()
	var out []Match
	add := func(t, v string, secret bool, s, e int) {
		out = append(out, Match{Type: t, Value: v, Secret: secret, Start: s, End: e})
	}
	if strings.Contains(text, "://") {
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
	if strings.IndexByte(text, '@') >= 0 {
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
	if strings.IndexByte(text, '.') >= 0 {
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
	if strings.IndexByte(text, '.') >= 0 {
		for _, m := range reIPv4.FindAllStringIndex(text, -1) {
			if m[0] > 0 && (isDigit(text[m[0]-1]) || text[m[0]-1] == '.') || m[1] < len(text) && (isDigit(text[m[1]]) || text[m[1]] == '.' && m[1]+1 < len(text) && isDigit(text[m[1]+1])) {
				continue // part of a longer dotted number (a version string)
			}
			if versionBefore(text, m[0]) {
				continue // labelled as a version
			}
			a, err := netip.ParseAddr(text[m[0]:m[1]])
			if err != nil || a.IsUnspecified() {
				continue
			}
			add(TypeIPv4, a.String(), false, m[0], m[1])
		}
	}
	if strings.Count(text, ":") >= 2 {
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
	for _, m := range oreAWSID.FindAllStringIndex(text, -1) {
		add(TypeAWSKeyID, text[m[0]:m[1]], false, m[0], m[1])
		awsIDEnd = m[1]
	}
	for _, m := range reAWSSecretCtx.FindAllStringSubmatchIndex(text, -1) {
		add(TypeAWSSecret, text[m[2]:m[3]], true, m[2], m[3])
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
	for _, m := range reGCPKey.FindAllStringIndex(text, -1) {
		add(TypeGCPAPIKey, text[m[0]:m[1]], true, m[0], m[1])
	}
	if strings.Contains(text, "gserviceaccount") {
		for _, m := range reGCPSAEmail.FindAllStringIndex(text, -1) {
			add(TypeGCPSA, text[m[0]:m[1]], false, m[0], m[1])
		}
	}
	if strings.Contains(text, "private_key_id") {
		for _, m := range reGCPKeyID.FindAllStringSubmatchIndex(text, -1) {
			add(TypeGCPSA, "private_key_id:"+text[m[2]:m[3]], true, m[2], m[3])
		}
	}
	if strings.Contains(text, "ccountKey=") {
		for _, m := range reAzureConn.FindAllStringSubmatchIndex(text, -1) {
			add(TypeAzureStorageKey, text[m[2]:m[3]], true, m[2], m[3])
		}
	}
	if strings.Contains(text, "eyJ") {
		for _, m := range oreJWT.FindAllStringIndex(text, -1) {
			add(TypeJWT, text[m[0]:m[1]], true, m[0], m[1])
		}
	}
	if strings.Contains(text, "PRIVATE KEY-----") {
		for _, m := range rePEM.FindAllStringIndex(text, -1) {
			add(TypePrivateKey, text[m[0]:m[1]], true, m[0], m[1])
		}
	}
	if containsFoldASCII(text, "bearer") {
		for _, m := range reBearer.FindAllStringSubmatchIndex(text, -1) {
			add(TypeBearer, text[m[2]:m[3]], true, m[2], m[3])
		}
	}
	if strings.IndexByte(text, '=') < 0 {
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

// extractOracle is Extract as it was at a9f7b42 (every string of memory scanned and locked for),
// with scanOracle, kept as the reference Extract must agree with exactly.
func extractOracle(ctx context.Context, cp *forensics.Checkpoint, mem Strings, opt Options) ([]forensics.IOC, error) {
	compile()
	c := NewCollector(opt.Reveal)
	want := func(t string) bool {
		if len(opt.Types) == 0 {
			return true
		}
		for _, x := range opt.Types {
			if x == t {
				return true
			}
		}
		return false
	}
	add := func(text string, loc forensics.Location) {
		for _, m := range scanOracle(text) {
			if want(m.Type) {
				c.Add(m, loc)
			}
		}
	}
	wantPID := func(pid int) bool {
		if len(opt.Filter.PIDs) == 0 {
			return true
		}
		for _, p := range opt.Filter.PIDs {
			if p == pid {
				return true
			}
		}
		return false
	}
	for _, p := range cp.Processes {
		if !wantPID(p.PID) {
			continue
		}
		for _, e := range p.Environ {
			add(e, forensics.Location{Kind: "env", PID: p.PID, Comm: p.Comm})
		}
		for _, a := range p.Cmdline {
			add(a, forensics.Location{Kind: "cmdline", PID: p.PID, Comm: p.Comm})
		}
	}
	// the remote ends of connections (loopback and unspecified addresses are not indicators)
	for _, s := range cp.Sockets {
		if s.RemoteAddr == "" || len(opt.Filter.PIDs) > 0 && !anyPID(s.Owners, wantPID) {
			continue
		}
		a, err := netip.ParseAddr(s.RemoteAddr)
		if err != nil || a.IsUnspecified() || a.Unmap().IsLoopback() {
			continue
		}
		a = a.Unmap()
		t := TypeIPv6
		if a.Is4() {
			t = TypeIPv4
		}
		if !want(t) {
			continue
		}
		loc := forensics.Location{Kind: "socket", Socket: fmt.Sprintf("socket:[%d] %s %s:%d -> %s:%d %s", s.Ino, s.Protocol, s.LocalAddr, s.LocalPort, s.RemoteAddr, s.RemotePort, s.State)}
		if len(s.Owners) > 0 {
			loc.PID = s.Owners[0]
			if p := cp.Process(loc.PID); p != nil {
				loc.Comm = p.Comm
			}
		}
		c.Add(Match{Type: t, Value: a.String()}, loc)
	}
	if cp.Container != nil && len(opt.Filter.PIDs) == 0 {
		for _, e := range cp.Container.Env {
			add(e, forensics.Location{Kind: "env", Path: "config.dump"})
		}
		for _, a := range cp.Container.Args {
			add(a, forensics.Location{Kind: "cmdline", Path: "config.dump"})
		}
	}
	var rootErr error
	if opt.Members != nil && len(opt.Filter.PIDs) == 0 {
		rootErr = scanRootfs(ctx, opt.Members, func(text, path string) {
			add(text, forensics.Location{Kind: "rootfs", Path: path})
		})
	}
	if mem == nil {
		return c.Result(), rootErr
	}
	type segKey struct {
		kind   string
		pid    int
		object string
	}
	// the AWS pairing (a lone 40-character secret shortly after a key id) is decided after the
	// scan, because strings arrive from several goroutines in no particular order
	type candidate struct {
		key  segKey
		addr uint64
		val  string
		loc  forensics.Location
	}
	var (
		mu      sync.Mutex
		keyEnds = map[segKey][]uint64{}
		lone    []candidate
	)
	err := mem.Strings(ctx, opt.Filter, MinString, func(h memory.Hit) error {
		text := string(h.Match)
		ms := scanOracle(text) // outside the lock: this is the expensive part
		loc := HitLocation(h)
		base := h.Addr
		if h.Kind != memory.KindMemory {
			base = h.Offset
		}
		k := segKey{h.Kind, h.PID, h.Object}
		mu.Lock()
		defer mu.Unlock()
		for _, m := range ms {
			l := loc
			if l.Addr != 0 || h.Kind == memory.KindMemory {
				l.Addr += uint64(m.Start)
			}
			if m.Type == TypeAWSKeyID {
				keyEnds[k] = append(keyEnds[k], base+uint64(m.End))
			}
			if want(m.Type) {
				c.Add(m, l)
			}
		}
		if t := strings.TrimSpace(text); len(t) == 40 && want(TypeAWSSecret) && reAWSSecret.MatchString(t) && awsSecretShape(t) {
			lone = append(lone, candidate{k, base, t, loc})
		}
		return nil
	})
	for _, cd := range lone {
		for _, end := range keyEnds[cd.key] {
			if cd.addr >= end && cd.addr-end <= 256 {
				c.Add(Match{Type: TypeAWSSecret, Value: cd.val, Secret: true}, cd.loc)
				break
			}
		}
	}
	if err != nil {
		return c.Result(), errors.Join(fmt.Errorf("scan memory: %w", err), rootErr)
	}
	return c.Result(), rootErr
}

// containsFoldASCII reports whether s contains lower-case word w in any ASCII case, without
// allocating.
func containsFoldASCII(s, w string) bool {
	for i := 0; i+len(w) <= len(s); i++ {
		if s[i]|0x20 != w[0] {
			continue
		}
		j := 1
		for j < len(w) && s[i+j]|0x20 == w[j] {
			j++
		}
		if j == len(w) {
			return true
		}
	}
	return false
}
