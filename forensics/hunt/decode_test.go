package hunt

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/podsleuth/podsleuth/forensics"
)

const goodResult = `{"v":1,"archive":"checkpoint-web_prod-app-2026-12-04T19:00:00Z.tar","size":4096,"sha256":"` +
	`e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855","severity":"high","findings":[{"rule":"mining-stratum","severity":"high","title":"t"}],"processes":1,"memory_bytes":10,"timings":{"open_ns":1,"analysis_ns":1,"search_ns":0,"total_ns":2},"peak_rss":1}`

// TestDecodeResultRefusesWhatANodeMustNotSend: a compromised node controls its output; every
// malformed result is refused by name.
func TestDecodeResultRefusesWhatANodeMustNotSend(t *testing.T) {
	r, err := DecodeResult([]byte(goodResult + "\n"))
	require.NoError(t, err)
	require.True(t, r.Reaches(forensics.SeverityHigh))
	require.False(t, r.Reaches(forensics.SeverityCritical))
	tests := []struct{ name, line, want string }{
		{"empty", "", "empty"},
		{"not json", "podsleuth: exec format error", "invalid character"},
		{"two values", goodResult + " {}", "more than one"},
		{"unknown field", strings.Replace(goodResult, `"v":1`, `"v":1,"extra":true`, 1), "unknown field"},
		{"version", strings.Replace(goodResult, `"v":1`, `"v":2`, 1), "version 2"},
		{"traversal", strings.Replace(goodResult, `checkpoint-web`, `../../etc/checkpoint-web`, 1), "not a file name"},
		{"bad sha", strings.Replace(goodResult, `"sha256":"e3`, `"sha256":"zz`, 1), "sha256"},
		{"bad severity", strings.Replace(goodResult, `"severity":"high","findings"`, `"severity":"apocalyptic","findings"`, 1), "severity"},
		{"negative", strings.Replace(goodResult, `"size":4096`, `"size":-1`, 1), "negative"},
		{"huge", `{"v":1,"archive":"a.tar","warnings":["` + strings.Repeat("x", MaxResultBytes) + `"]}`, "bytes (at most"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeResult([]byte(tc.line))
			require.ErrorIs(t, err, ErrBadResult)
			require.Contains(t, err.Error(), tc.want)
		})
	}
}

func TestDecodeRequest(t *testing.T) {
	req := Request{Archive: "checkpoint-a_b-c-1.tar", Rules: []Rule{{Name: "r.yar", Source: "rule r { condition: true }"}},
		Patterns: []Pattern{{Kind: "regex", Expr: "stratum\\+tcp://[a-z.]+", Severity: "high"}}}
	b, err := json.Marshal(req)
	require.NoError(t, err)
	got, err := DecodeRequest(bytes.NewReader(b))
	require.NoError(t, err)
	require.Equal(t, req, *got)
	for _, bad := range []string{
		`{"archive":"../x"}`, `{"archive":"a.tar","patterns":[{"kind":"regex","expr":"("}]}`,
		`{"archive":"a.tar","patterns":[{"kind":"glob","expr":"x"}]}`, `{"archive":"a.tar","rules":[{"name":"x","source":"  "}]}`,
		`{"archive":"a.tar","timeout_ns":-1}`, `{"archive":"a.tar","patterns":[{"expr":"x","severity":"nope"}]}`, `[]`,
	} {
		_, err := DecodeRequest(strings.NewReader(bad))
		require.ErrorIs(t, err, ErrBadRequest, bad)
	}
	p, err := ParsePattern("iregex:stratum\\+tcp")
	require.NoError(t, err)
	require.Equal(t, Pattern{Kind: "regex", Expr: "stratum\\+tcp", Fold: true}, p)
	_, err = ParsePattern("hex:9")
	require.Error(t, err)
}

func FuzzDecodeResult(f *testing.F) {
	f.Add([]byte(goodResult))
	f.Add([]byte(`{"v":1,"archive":"a.tar","severity":"","error":"x","stage":"open"}`))
	f.Add([]byte(`{"v":1}`))
	f.Add([]byte("\x00\xff{"))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := DecodeResult(b)
		if err != nil {
			require.ErrorIs(t, err, ErrBadResult)
			return
		}
		require.NoError(t, ValidArchiveName(r.Archive))
		_, _ = r.Level()
	})
}

func FuzzDecodeRequest(f *testing.F) {
	f.Add([]byte(`{"archive":"checkpoint-a_b-c-1.tar","patterns":[{"kind":"hex","expr":"90 ?? 4d"}],"rules":[{"name":"r","source":"rule r { condition: true }"}]}`))
	f.Add([]byte(`{"archive":"a.tar","patterns":[{"kind":"regex","expr":"a+b","fold":true}]}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := DecodeRequest(bytes.NewReader(b))
		if err != nil {
			return
		}
		require.NoError(t, r.Validate())
	})
}
