package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/podsleuth/podsleuth/forensics"
	"github.com/podsleuth/podsleuth/test/fixtures"
)

var crunTar = filepath.Join(fixtures.Dir(), "archives", "podman-crun.tar")

func TestMemsearchCount(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"heap marker", []string{"CRIU-FORENSIC-MARKER-7f3a9c"}, "1\ttarget\t17\n8\tkworker/0:1\t0\n9\tgrandchild\t0\n"},
		{"regex", []string{"--regex", "CRIU-FORENSIC-MARKER-[0-9a-f]{6}"}, "1\ttarget\t17\n8\tkworker/0:1\t0\n9\tgrandchild\t0\n"},
		{"case-insensitive", []string{"-i", "criu-forensic-marker-7F3A9C"}, "1\ttarget\t17\n8\tkworker/0:1\t0\n9\tgrandchild\t0\n"},
		{"env in every process", []string{"FORENSIC_SECRET=hunter2-env-marker"}, "1\ttarget\t1\n8\tkworker/0:1\t1\n9\tgrandchild\t1\n"},
		{"socket queue held by the child", []string{"unix-pair-data-from-parent"}, "1\ttarget\t0\n8\tkworker/0:1\t1\n9\tgrandchild\t0\n"},
		{"pipe held by main", []string{"pipe-data-marker", "--region", "pipe"}, "1\ttarget\t1\n8\tkworker/0:1\t0\n9\tgrandchild\t0\n"},
		{"tcp send queue", []string{"TCP-SENDQ-DATA--", "--region", "socket"}, "1\ttarget\t896\n8\tkworker/0:1\t0\n9\tgrandchild\t0\n"},
		{"hex in rwx", []string{"--hex", "90 90 ?? ?? 4d 5a", "--perm", "rwx"}, "1\ttarget\t1\n8\tkworker/0:1\t0\n9\tgrandchild\t0\n"},
		{"pid filter", []string{"CHILD-HEAP-MARKER-kw01", "--pid", "8"}, "8\tkworker/0:1\t1\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"memsearch", crunTar}, tt.args...)
			code, out, errOut := runCLI(t, t.TempDir(), append(args, "--count")...)
			require.Equal(t, 0, code, errOut)
			require.Equal(t, "PID\tCOMM\tHITS\n"+tt.want, out)
			code, out, errOut = runCLI(t, t.TempDir(), append(args, "--count", "--no-header")...)
			require.Equal(t, 0, code, errOut)
			require.Equal(t, tt.want, out)
		})
	}
}

// TestMemsearchExpressions: as with grep, -e gives a pattern that starts with '-' and several -e
// match any of them; a leading '-' without -e gets the hint, and -- works too.
func TestMemsearchExpressions(t *testing.T) {
	count := func(args ...string) (int, string, string) {
		return runCLI(t, t.TempDir(), append(append([]string{"memsearch", crunTar}, args...), "--count", "--no-header", "--pid", "1")...)
	}
	code, out, errOut := count("-e", "-FORENSIC-MARKER-7f3a9c")
	require.Equal(t, 0, code, errOut)
	require.Equal(t, "1\ttarget\t17\n", out, "the marker, found by a pattern that starts with '-'")
	code, out, errOut = count("-e", "CRIU-FORENSIC-MARKER-7f3a9c", "-e", "pipe-data-marker")
	require.Equal(t, 0, code, errOut)
	require.Equal(t, "1\ttarget\t18\n", out, "17 markers and the pipe's one")
	code, out, errOut = count("--regex", "-e", "MARKER-[0-9a-f]{6}", "-e", "pipe-data-m.rker")
	require.Equal(t, 0, code, errOut)
	require.Equal(t, "1\ttarget\t18\n", out)
	code, _, errOut = count("--hex", "-e", "90 90", "-e", "4d 5a")
	require.NotEqual(t, 0, code)
	require.Contains(t, errOut, "--hex takes one pattern")

	code, _, errOut = runCLI(t, t.TempDir(), "memsearch", crunTar, "-FORENSIC-MARKER")
	require.NotEqual(t, 0, code)
	require.Contains(t, errOut, "given with -e PATTERN, or after --")
	code, out, errOut = runCLI(t, t.TempDir(), "memsearch", crunTar, "--count", "--no-header", "--pid", "1", "--", "-FORENSIC-MARKER-7f3a9c")
	require.Equal(t, 0, code, errOut)
	require.Equal(t, "1\ttarget\t17\n", out)
}

type jsonHit struct {
	Kind   string         `json:"kind"`
	PID    int            `json:"pid"`
	Comm   string         `json:"comm"`
	Addr   uint64         `json:"addr"`
	Offset uint64         `json:"offset"`
	Region string         `json:"region"`
	VMA    *forensics.VMA `json:"vma"`
	Object string         `json:"object"`
	Match  string         `json:"match"`
	Hex    string         `json:"match_hex"`
	Before string         `json:"before"`
}

func searchJSON(t *testing.T, args ...string) []jsonHit {
	t.Helper()
	code, out, errOut := runCLI(t, t.TempDir(), append([]string{"memsearch", crunTar, "-o", "json"}, args...)...)
	require.Equal(t, 0, code, errOut)
	var res struct {
		Pattern string    `json:"pattern"`
		Hits    []jsonHit `json:"hits"`
		Total   int       `json:"total"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &res), out)
	require.Len(t, res.Hits, res.Total)
	return res.Hits
}

func TestMemsearchJSONAndText(t *testing.T) {
	hits := searchJSON(t, "CRIU-FORENSIC-MARKER-7f3a9c", "--context", "4")
	require.Len(t, hits, 17)
	for _, h := range hits {
		require.Equal(t, "memory", h.Kind)
		require.Equal(t, 1, h.PID)
		require.Equal(t, "heap", h.VMA.Kind)
		require.Equal(t, "CRIU-FORENSIC-MARKER-7f3a9c", h.Match)
		require.Len(t, h.Before, 4)
	}
	require.Equal(t, uint64(0x3e8a7ff5), hits[16].Addr, "the README's straddling copy")

	shm := searchJSON(t, "SHMEM-MARKER-5e1f")
	require.Len(t, shm, 1)
	require.Equal(t, "shmem", shm[0].Kind)
	require.Equal(t, uint64(256), shm[0].Offset)
	require.NotZero(t, shm[0].Addr)

	code, out, errOut := runCLI(t, t.TempDir(), "memsearch", crunTar, "MEMFD-PAYLOAD-MARKER-9b2e")
	require.Equal(t, 0, code, errOut)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.Len(t, lines, 2)
	require.Equal(t, "PID\tCOMM\tADDRESS\tREGION\tMATCH", lines[0])
	require.Regexp(t, `^1\ttarget\t0x[0-9a-f]{16}\tmemfd:payload mapped r-xs \+0x40 held by pid 1 @0x[0-9a-f]+, 1 fd 3\t"MEMFD-PAYLOAD-MARKER-9b2e"$`, lines[1])
	require.Contains(t, errOut, "1 hit(s)")
}

func TestMemsearchBadInput(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"empty literal", []string{""}, "empty search pattern"},
		{"empty-matching regex", []string{"--regex", "x*"}, "matches the empty string"},
		{"bad regex", []string{"--regex", "("}, "bad search pattern"},
		{"bad hex", []string{"--hex", "9g"}, "not a byte"},
		{"bad perm", []string{"x", "--perm", "q"}, "bad filter"},
		{"bad region", []string{"x", "--region", "kernel"}, "bad filter"},
		{"bad range", []string{"x", "--addr-range", "0x10"}, "0xSTART-0xEND"},
		{"unknown pid", []string{"x", "--pid", "4242"}, "no such process"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, errOut := runCLI(t, t.TempDir(), append([]string{"memsearch", crunTar}, tt.args...)...)
			require.Equal(t, 1, code)
			require.Contains(t, errOut, tt.want)
		})
	}
}

func TestMemdump(t *testing.T) {
	hit := searchJSON(t, "RWX-SHELLCODE-MARKER")[0]
	start := hit.VMA.Start
	t.Run("hexdump", func(t *testing.T) {
		code, out, errOut := runCLI(t, t.TempDir(), "memdump", crunTar, "--pid", "1", "--addr", fmt.Sprintf("0x%x", start), "--len", "64")
		require.Equal(t, 0, code, errOut)
		lines := strings.Split(strings.TrimSpace(out), "\n")
		require.Len(t, lines, 5)
		require.Equal(t, fmt.Sprintf("# pid 1 (target) VMA %016x-%016x rwxp anon", start, start+4096), lines[0])
		require.Equal(t, fmt.Sprintf("%016x  90 90 90 90 90 90 90 90  90 90 90 90 90 90 90 90  |................|", start), lines[1])
		require.Equal(t, fmt.Sprintf("%016x  4d 5a 52 57 58 2d 53 48  45 4c 4c 43 4f 44 45 2d  |MZRWX-SHELLCODE-|", start+32), lines[3])
	})
	t.Run("raw to a file", func(t *testing.T) {
		f := filepath.Join(t.TempDir(), "out.bin")
		code, _, errOut := runCLI(t, t.TempDir(), "memdump", crunTar, "--pid", "1", "--addr", fmt.Sprintf("0x%x", hit.Addr), "--len", "20", "-o", "raw", "--out", f)
		require.Equal(t, 0, code, errOut)
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		require.Equal(t, "RWX-SHELLCODE-MARKER", string(b))
	})
	t.Run("raw refuses what the checkpoint does not hold", func(t *testing.T) {
		code, _, errOut := runCLI(t, t.TempDir(), "memdump", crunTar, "--pid", "1", "--addr", fmt.Sprintf("0x%x", start+4096-8), "--len", "64", "-o", "raw")
		require.Equal(t, 1, code)
		require.Contains(t, errOut, "not in this checkpoint")
	})
	t.Run("text shows gaps with the reason", func(t *testing.T) {
		code, out, errOut := runCLI(t, t.TempDir(), "memdump", crunTar, "--pid", "1", "--addr", fmt.Sprintf("0x%x", start+4096-16), "--len", "32")
		require.Equal(t, 0, code, errOut)
		require.Contains(t, out, "not in this checkpoint: not dumped")
	})
	t.Run("json", func(t *testing.T) {
		code, out, errOut := runCLI(t, t.TempDir(), "memdump", crunTar, "--pid", "1", "--addr", fmt.Sprintf("%d", hit.Addr), "--len", "20", "-o", "json")
		require.Equal(t, 0, code, errOut)
		var d dumpJSON
		require.NoError(t, json.Unmarshal([]byte(out), &d))
		require.Len(t, d.Pieces, 1)
		require.Equal(t, "5257582d5348454c4c434f44452d4d41524b4552", d.Pieces[0].Hex)
		require.Equal(t, "anon", d.Pieces[0].Region)
	})
	t.Run("maps", func(t *testing.T) {
		code, out, errOut := runCLI(t, t.TempDir(), "memdump", crunTar, "--maps", "--pid", "1", "-o", "json")
		require.Equal(t, 0, code, errOut)
		var maps []mapsEntry
		require.NoError(t, json.Unmarshal([]byte(out), &maps))
		require.Len(t, maps, 1)
		require.Equal(t, "nr_pages", maps[0].Format)
		var rwx *forensics.VMA
		for i := range maps[0].Maps {
			if maps[0].Maps[i].Prot == "rwxp" {
				rwx = &maps[0].Maps[i]
			}
		}
		require.NotNil(t, rwx)
		require.Equal(t, uint64(4096), rwx.ResidentBytes)
	})
}

func TestIOCsAndFindingsCommands(t *testing.T) {
	code, out, errOut := runCLI(t, t.TempDir(), "iocs", crunTar, "-o", "json")
	require.Equal(t, 0, code, errOut)
	var iocs []forensics.IOC
	require.NoError(t, json.Unmarshal([]byte(out), &iocs))
	byType := map[string]forensics.IOC{}
	for _, i := range iocs {
		byType[i.Type] = i
	}
	require.Equal(t, "AKIAIOSFODNN7EXAMPLE", byType["aws-access-key-id"].Value)
	require.True(t, byType["aws-secret-access-key"].Redacted)
	require.NotContains(t, out, "wJalrXUtnFEMI")

	code, out, errOut = runCLI(t, t.TempDir(), "iocs", crunTar, "--reveal", "--type", "aws-secret-access-key")
	require.Equal(t, 0, code, errOut)
	require.Contains(t, out, "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
	require.NotContains(t, out, "AKIAIOSFODNN7EXAMPLE\t")

	code, out, errOut = runCLI(t, t.TempDir(), "findings", crunTar, "-o", "json", "--min-severity", "high")
	require.Equal(t, 0, code, errOut)
	var fj struct {
		Findings []forensics.Finding `json:"findings"`
		Hidden   int                 `json:"hidden"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &fj))
	require.Positive(t, fj.Hidden, "the findings below high are counted")
	rules := map[string]bool{}
	for _, f := range fj.Findings {
		require.GreaterOrEqual(t, f.Severity, forensics.SeverityHigh)
		rules[f.Rule] = true
	}
	require.True(t, rules["anon-rwx-mapping"] && rules["memfd-exec-mapping"] && rules["fake-kernel-thread"] && rules["rootfs-new-executable"], "%v", rules)
}
