package ioc

import (
	"context"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/podsleuth/podsleuth/forensics"
	"github.com/podsleuth/podsleuth/forensics/archive"
	"github.com/podsleuth/podsleuth/forensics/criu"
	"github.com/podsleuth/podsleuth/forensics/memory"
	"github.com/podsleuth/podsleuth/test/fixtures"
)

// seeds hold every indicator type, near misses of each gate (case, non-ASCII folds, digits,
// delimiters) and the layouts Extract pairs across strings.
var seeds = []string{
	"connect to 203.0.113.66:4444 now", "libfoo 1.2.3.4.5 and 10.0.0.256", "9.8.7.6", "0.0.0.0", "1.2.3.",
	"peer 2001:db8::66 port", "fe80:0:0:0:202:b3ff:fe1e:8329", "std::vector::size", "[::1]:80", "2465::",
	"beacon=http://c2.evil.example:8443/beacon, ok", "wget http://198.51.100.7/x.sh", "https://[2001:db8::7]/a",
	"stratum+tcp://pool.minexmr.com:4444", "GS://bucket.example/o", "ftp://user:pw@files.example.org/x",
	"mail ops@evil.example today", "OPS@EVIL.EXAMPLE", "x@y.co", "exfil-bot@victim-proj-123.iam.gserviceaccount.com",
	"resolve exfil.attacker.com please", "ping victim-corp.de and mail.bbc.co.uk", "x jm9.hu 6q.kr y",
	"Abc.com/x foo_bar.com", "EXFIL.ATTACKER.COM", "libc.so.6 main.py run.sh config.yaml", "a.b.c.d.io",
	"xK.com", "visit site1.com now", "\"kelvin\u212a.com\"", "(s.\u212ao)", "=9z.io;",
	"id=AKIAIOSFODNN7EXAMPLE;", "ASIAZZZZZZZZZZZZZZZZ", "AKIAIOSFODNN7EXAMPLE wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
	"aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "AWS_SECRET: \"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\"",
	"aws_\u017fecret=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "secretaccesskey:wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "awssecret=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
	"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "AKIAIOSFODNN7EXAMPLE\x00\x01wJzlrXUtnFEMI/K7MDENG/cPxRfiCYEXZMPLEKEY\x00",
	"  Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MGFiY2RlZmdo  ",
	`key: "AIzaSyD-fakefakefakefakefakefakefake123"`, "AIzaSyD-fakefakefakefakefakefakefake12",
	`"private_key_id": "0123456789abcdef0123456789abcdef01234567"`,
	"DefaultEndpointsProtocol=https;AccountName=evilstore;AccountKey=" + strings.Repeat("Ab3+", 21) + "xy==;EndpointSuffix=core.windows.net",
	"token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJlLXh4eA ok",
	"a-eyJhbGci.eyJzdWIi.c2lnbmF0-eyJhbGci.eyJzdWIi.c2lnbmF0dXJl", "xeyJhbGci.eyJzdWIi.c2lnbmF0dXJl", "eyJhb.eyJzdWIi.c2lnbmF0dXJl",
	"eyJhbGci-eyJhbGci.eyJzdWIi.c2lnbmF0dXJl.eyJx", "_AKIAIOSFODNN7EXAMPLE", "AKIAIOSFODNN7EXAMPLEAKIAIOSFODNN7EXAMPLE", "-AKIAIOSFODNN7EXAMPL3-",
	"-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIBkg4LVWM9nuwNSk3yByxZpYRTBnVJk5oRQ8lNGJaP3EoAoGCCqGSM49\n-----END EC PRIVATE KEY-----",
	"-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----",
	"Authorization: Bearer pdsl_fake_token_4f2a9b7c1d3e5f60718293a4b5c6d7e8", "BEARER abcdefghijklmnop",
	"DB_PASSWORD=s3cr3t-db-pass", "PATH=/usr/bin:/bin", "export API_TOKEN=abcdef123456\nHOME=/root\n",
	"my_paſſwd=x", "\u212aEY=v", "KEY=v", "X_KEY=v", "MONKEY=banana", "Credentials=x", "AUTHORIZATION=Basic x",
	"FORENSIC_SECRET=hunter2-env-marker", "AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
}

// seeded returns random bytes with the seeds planted, printableOnly making every byte printable
// ASCII (long strings, cheap tests active) or any byte (short strings, non-ASCII).
func seeded(r *rand.Rand, n int, printableOnly bool) []byte {
	b := make([]byte, 0, n+256)
	for len(b) < n {
		gap := r.IntN(300)
		for range gap {
			switch {
			case printableOnly && r.IntN(30) == 0:
				b = append(b, "\n\t \"'=:.@/"[r.IntN(10)])
			case printableOnly:
				b = append(b, byte(0x20+r.IntN(95)))
			case r.IntN(3) == 0:
				b = append(b, 0)
			default:
				b = append(b, byte(r.IntN(256)))
			}
		}
		s := []byte(seeds[r.IntN(len(seeds))])
		if r.IntN(4) == 0 { // a near miss: one byte changed
			s[r.IntN(len(s))] = byte(0x20 + r.IntN(95))
		}
		b = append(b, s...)
	}
	return b
}

// runs returns the printable runs of at least minLen bytes of b, as memory.Strings cuts them.
func runs(b []byte, minLen int) (out [][2]int) {
	start := -1
	for i := 0; i <= len(b); i++ {
		if i < len(b) && (b[i] >= 0x20 && b[i] < 0x7f || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
			if start < 0 {
				start = i
			}
			continue
		}
		if start >= 0 && i-start >= minLen {
			out = append(out, [2]int{start, i})
		}
		start = -1
	}
	return out
}

func TestScanMatchesOracle(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	var texts []string
	texts = append(texts, seeds...)
	for _, printableOnly := range []bool{false, true} {
		b := seeded(r, 1<<20, printableOnly)
		for _, run := range runs(b, 1) {
			texts = append(texts, string(b[run[0]:run[1]]))
		}
		for i := 0; i < len(b); i += 4096 { // whole windows, whatever the bytes
			texts = append(texts, string(b[i:min(len(b), i+4096+r.IntN(512))]))
		}
	}
	found := map[string]int{}
	for _, text := range texts {
		want := scanOracle(text)
		require.Equal(t, want, Scan(text), "%q", text)
		for _, m := range want {
			found[m.Type]++
		}
	}
	for _, typ := range []string{TypeIPv4, TypeIPv6, TypeURL, TypeDomain, TypeEmail, TypeAWSKeyID, TypeAWSSecret, TypeGCPAPIKey, TypeGCPSA, TypeAzureStorageKey, TypeJWT, TypePrivateKey, TypeBearer, TypeEnvSecret} {
		require.Greater(t, found[typ], 20, "the corpus exercises %s: %v", typ, found)
	}
}

// FuzzScanMatchesOracle: the gated Scan finds exactly what the ungated one did.
func FuzzScanMatchesOracle(f *testing.F) {
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if want, got := scanOracle(s), Scan(s); len(want) != len(got) || len(want) > 0 && !matchesEqual(want, got) {
			t.Fatalf("%q: oracle %+v, Scan %+v", s, want, got)
		}
	})
}

func matchesEqual(a, b []Match) bool {
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// bufStrings serves the printable runs of b as strings of one process's memory at base,
// concurrently like memory.Strings.
type bufStrings struct {
	b    []byte
	base uint64
}

func (s bufStrings) Strings(ctx context.Context, f memory.Filter, minLen int, fn func(memory.Hit) error) error {
	rs := runs(s.b, minLen)
	errs := make(chan error, 2)
	for w := range 2 {
		go func() {
			for i := w; i < len(rs); i += 2 {
				h := memory.Hit{Kind: memory.KindMemory, PID: 7, Comm: "victim", Addr: s.base + uint64(rs[i][0]), Region: "heap", Match: s.b[rs[i][0]:rs[i][1]]}
				if err := fn(h); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	return errorsJoin(<-errs, <-errs)
}

func errorsJoin(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// TestExtractMatchesOracle: Extract reports exactly what it did before its scan was gated and
// its unmatched strings stopped taking the lock, on every committed fixture (all options that
// change the scan) and on memory seeded with every indicator type.
func TestExtractMatchesOracle(t *testing.T) {
	ctx := context.Background()
	for _, path := range []string{"images/full", "images/full-t2", "images/criu41", "images/fds", "archives/podman-crun.tar", "archives/podman-runc.tar", "archives/containerd-busybox.tar"} {
		t.Run(path, func(t *testing.T) {
			a, err := archive.Open(ctx, filepath.Join(fixtures.Dir(), path), archive.DefaultLimits(), t.TempDir())
			require.NoError(t, err)
			t.Cleanup(func() { _ = a.Close() })
			cp, err := criu.Decode(ctx, a)
			require.NoError(t, err)
			m, err := memory.Open(ctx, a, cp)
			require.NoError(t, err)
			for i, opt := range []Options{
				{Members: a},
				{Members: a, Reveal: true},
				{Types: []string{TypeAWSSecret, TypeDomain}},
				{Filter: memory.Filter{PIDs: []int{cp.Processes[0].PID}}},
			} {
				want, werr := extractOracle(ctx, cp, m, opt)
				got, gerr := Extract(ctx, cp, m, opt)
				require.Equal(t, werr, gerr)
				if i == 0 {
					require.NotEmpty(t, want)
				}
				require.Equal(t, want, got, "%+v", opt)
			}
		})
	}
	r := rand.New(rand.NewPCG(8, 9))
	for _, printableOnly := range []bool{false, true} {
		mem := bufStrings{seeded(r, 1<<20, printableOnly), 0x7f0000000000}
		cp := &forensics.Checkpoint{Processes: []forensics.Process{{PID: 7, Comm: "victim"}}}
		for _, opt := range []Options{{}, {Reveal: true}} {
			want, err := extractOracle(ctx, cp, mem, opt)
			require.NoError(t, err)
			got, err := Extract(ctx, cp, mem, opt)
			require.NoError(t, err)
			types := map[string]bool{}
			for _, i := range want {
				types[i.Type] = true
			}
			require.Len(t, types, 14, "every type found in the seeded memory: %v", types)
			require.Equal(t, want, got)
		}
	}
}
