//go:build yara

package analysis_test

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/podsleuth/podsleuth/config"
	"github.com/podsleuth/podsleuth/forensics"
	"github.com/podsleuth/podsleuth/forensics/analysis"
	"github.com/podsleuth/podsleuth/forensics/yara"
)

// TestRunYara: rules configured in yara.rules join the analysis: their hits are findings in the
// result and the model, sorted with the others by severity; without rules nothing runs.
func TestRunYara(t *testing.T) {
	ctx := context.Background()
	a, cp, m := open(t, "images/implant")
	require.Nil(t, yara.FromConfig(config.Yara{}, t.TempDir(), a, cp))
	req := yara.FromConfig(config.Yara{Rules: []string{"default"}, Timeout: 60e9, MaxHitsPerRule: 10}, t.TempDir(), a, cp)
	res, err := analysis.Run(ctx, cp, m, analysis.Options{NoIndicators: true, Yara: req})
	require.NoError(t, err)
	require.NoError(t, res.YaraErr)
	require.Len(t, res.Yara.Hits, 10)
	var y []forensics.Finding
	for i, f := range res.Findings {
		if i > 0 {
			require.GreaterOrEqual(t, res.Findings[i-1].Severity, f.Severity, "most severe first")
		}
		if strings.HasPrefix(f.Rule, yara.RulePrefix) {
			y = append(y, f)
		}
	}
	require.Len(t, y, 10)
	require.Equal(t, res.Findings, cp.Findings)
	php := y[slicesIndex(y, "yara:webshell_php_eval")]
	require.Equal(t, forensics.SeverityCritical, php.Severity)
	require.Equal(t, "file", php.Location.Kind)
	require.Equal(t, "/tmp/podsleuth-fx-implant/upload.php", php.Location.Path)
	require.Equal(t, 4, php.Location.FD)
	require.Contains(t, php.Reason, "ATT&CK T1505.003")

	res, err = analysis.Run(ctx, cp, nil, analysis.Options{NoIndicators: true, Yara: req})
	require.NoError(t, err)
	require.ErrorContains(t, res.YaraErr, "memory index")
}

func slicesIndex(fs []forensics.Finding, rule string) int {
	for i, f := range fs {
		if f.Rule == rule {
			return i
		}
	}
	return -1
}
