package report_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

type bytesBuffer = bytes.Buffer

// TestGolden renders the case report of the real fixtures in every format and compares it with
// testdata/case.{json,md,html}; `make golden` (go test -update) rewrites them.
func TestGolden(t *testing.T) {
	tests := []struct {
		name, format, file string
	}{
		{"json", "json", "case.json"},
		{"markdown", "md", "case.md"},
		{"html", "html", "case.html"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := renderFixtureReport(t, tt.format)
			golden := filepath.Join("testdata", tt.file)
			if *update {
				require.NoError(t, os.WriteFile(golden, got, 0o644))
			}
			want, err := os.ReadFile(golden)
			require.NoError(t, err, "missing golden: run `make golden`")
			require.Equal(t, string(want), string(got), "%s differs from the golden; review and run `make golden`", golden)
		})
	}
}
