package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/podsleuth/podsleuth/forensics"
	"github.com/podsleuth/podsleuth/test/fixtures"
	"github.com/podsleuth/podsleuth/test/hostile"
)

func fixture(name string) string { return filepath.Join(fixtures.Dir(), name) }

// inspectCLI runs `podsleuth inspect` with a private cache dir and returns status and output.
func inspectCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	cache := t.TempDir()
	t.Setenv("PODSLEUTH_CACHE_DIR", cache)
	code, out, errOut := runCLI(t, t.TempDir(), append([]string{"inspect"}, args...)...)
	ents, err := os.ReadDir(cache)
	require.NoError(t, err)
	require.Empty(t, ents, "inspect leaves nothing in the cache dir")
	return code, out, errOut
}

func TestInspectText(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		want    []string
		notWant []string
	}{
		{"default summary and tree", []string{fixture("archives/podman-crun.tar")},
			[]string{"fx-crun", "Engine: Podman", "Runtime: crun", "Process tree (3 processes)", "[1]  target  2 threads", "[8]  kworker/0:1", "[9]  grandchild", "Pagemap encoding: nr_pages"},
			[]string{"Open files", "Memory maps", "Environment variables"}},
		{"all sections", []string{"--all", fixture("archives/podman-crun.tar.zst")},
			[]string{"Command line: /target --workdir /work --mode full", "Threads: 1, 7", "FORENSIC_SECRET=hunter2-env-marker", "[3]  MEMFD     memfd:payload",
				"/work/deleted-evidence.bin (deleted)", "inet/stream (tcp) 127.0.0.1:47777 LISTEN", "send-q 12288", `unread 16 B: "pipe-data-marker"`,
				"rwxp anon", "Mounts (28)", "/tmp/.x/miner", "executable", "deleted           file     /var/log/auth.log", "added or modified file     /tmp/.x/miner", "SHA-256: 301dcd3be94f71ecaeaca692d3a6754d2f301d915ca86dd03aca28f47bd15ec4"},
			nil},
		{"one pid", []string{"--pid", "8", "--files", fixture("archives/podman-crun.tar")},
			[]string{"[8]  kworker/0:1", "Open files (4)"}, []string{"[1]  target", "grandchild"}},
		{"bare image dir, old pagemap", []string{"--cmdline", fixture("images/criu41")},
			[]string{"Pagemap encoding: compat_nr_pages", "Command line: [kworker/0:1]", "--mode notcp"}, []string{"Engine:"}},
		{"eventfd, timerfd, signalfd, inotify, epoll and pty details", []string{"--files", fixture("images/fds")},
			[]string{"[3]  EVENTFD   anon_inode:[eventfd]  O_RDWR|O_NONBLOCK|O_CLOEXEC  counter 7",
				"[4]  TIMERFD   anon_inode:[timerfd]  O_RDWR|O_NONBLOCK|O_CLOEXEC  CLOCK_MONOTONIC, next in 59m59.",
				"s, every 5s\n",
				"[5]  SIGNALFD  anon_inode:[signalfd]  O_RDWR|O_NONBLOCK|O_CLOEXEC  signals SIGHUP|SIGUSR2",
				"[6]  INOTIFY   anon_inode:inotify  O_RDONLY|O_NONBLOCK|O_CLOEXEC  2 watches",
				"watch 1  /tmp/podsleuth-fx-fds/watched.txt (inode ", ")  IN_MODIFY|IN_CLOSE_WRITE\n",
				"watch 2  /tmp/podsleuth-fx-fds (inode ", ")  IN_MOVED_TO|IN_CREATE|IN_DELETE\n",
				"[7]  EVENTPOLL anon_inode:[eventpoll]  O_RDWR|O_CLOEXEC  2 targets",
				"target fd 3 (EVENTFD anon_inode:[eventfd])  EPOLLIN|EPOLLERR|EPOLLHUP|EPOLLET  data 0xfeed0003",
				"target fd 6 (INOTIFY anon_inode:inotify)  EPOLLIN|EPOLLERR|EPOLLHUP  data 0xfeed0006",
				"[8]  TTY       /dev/ptmx  O_RDWR  PTY master, pts ", "[9]  TTY       /dev/pts/", "  O_RDWR  PTY slave, pts ",
				", window 40 rows x 132 cols\n"},
			nil},
		{"rootfs of a bare dir", []string{"--rootfs", fixture("images/full")},
			[]string{"none recorded (bare CRIU image directory)"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := inspectCLI(t, tt.args...)
			require.Equal(t, 0, code, errOut)
			for _, w := range tt.want {
				require.Contains(t, out, w)
			}
			for _, w := range tt.notWant {
				require.NotContains(t, out, w)
			}
			require.NotContains(t, out, "\x1b[", "no colours")
		})
	}
}

func TestInspectJSON(t *testing.T) {
	code, out, errOut := inspectCLI(t, "-o", "json", fixture("archives/podman-runc.tar"))
	require.Equal(t, 0, code, errOut)
	var cp forensics.Checkpoint
	require.NoError(t, json.Unmarshal([]byte(out), &cp))
	require.Equal(t, forensics.SchemaVersion, cp.SchemaVersion)
	require.Len(t, cp.Processes, 3)
	require.Equal(t, "fx-runc", cp.Container.Name)
	require.True(t, strings.HasPrefix(out, "{\n  \"schema_version\""), "indented object")

	code, out, errOut = inspectCLI(t, "-o", "json", "--pid", "16", fixture("archives/podman-runc.tar"), fixture("images/full"))
	require.NotEqual(t, 0, code, "pid 16 is not in images/full")
	require.Contains(t, errOut, "no process with PID 16")

	code, out, errOut = inspectCLI(t, "-o", "json", fixture("archives/podman-runc.tar"), fixture("images/full"))
	require.Equal(t, 0, code, errOut)
	var many []forensics.Checkpoint
	require.NoError(t, json.Unmarshal([]byte(out), &many))
	require.Len(t, many, 2)
	require.Equal(t, "dir", many[1].Source.Format)
}

func TestInspectErrors(t *testing.T) {
	dir := t.TempDir()
	notTar := filepath.Join(dir, "notes.txt")
	require.NoError(t, os.WriteFile(notTar, []byte("hello"), 0o644))
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"missing file", []string{filepath.Join(dir, "nope.tar")}, "no such file"},
		{"not an archive", []string{notTar}, "not a checkpoint archive"},
		{"bad output", []string{"-o", "yaml", fixture("images/full")}, "--output must be text or json"},
		{"no args", nil, "requires at least 1 arg"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, errOut := inspectCLI(t, tt.args...)
			require.Equal(t, 1, code)
			require.Contains(t, errOut, tt.want)
			require.Equal(t, 1, strings.Count(strings.TrimSpace(errOut), "\n")+1, "one line: %q", errOut)
			require.True(t, strings.HasPrefix(errOut, "podsleuth: error: "))
		})
	}
}

func TestQuote(t *testing.T) {
	tests := []struct{ in, want string }{
		{`sh -c "echo $@"`, `sh -c "echo $@"`},
		{"a\nb\x1b[31m", `a\nb\x1b[31m`},
		{"bad\xffbyte", `bad\xffbyte`},
		{"héllo", "héllo"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			require.Equal(t, tt.want, quote(tt.in))
		})
	}
}

// TestInspectHostile: a hostile archive ends in one line naming the member and the problem.
func TestInspectHostile(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, hostile.Write(dir, hostile.Build()))
	tests := []struct{ file, want string }{
		{"traversal.tar", "checkpoint/../../evil: path traversal"},
		{"symlink.tar", "checkpoint/core-1.img: link member refused"},
		{"truncated.tar.zst", "(zstd stream): truncated"},
		{"absurd-length.tar", "pstree.img: bad CRIU image"},
		{"missing-pstree.tar", "pstree.img: missing CRIU image"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			code, out, errOut := inspectCLI(t, filepath.Join(dir, tt.file))
			require.Equal(t, 1, code)
			require.Empty(t, out)
			require.Contains(t, errOut, tt.want)
			require.Equal(t, 1, strings.Count(errOut, "\n"), "one line: %q", errOut)
			require.NotContains(t, errOut, "goroutine")
		})
	}
}

// TestInspectEvidenceID: an evidence ID (or unique prefix) stands for the stored archive.
func TestInspectEvidenceID(t *testing.T) {
	data := t.TempDir()
	t.Setenv("PODSLEUTH_CACHE_DIR", t.TempDir())
	code, out, errOut := runCLI(t, data, "evidence", "add", fixture("archives/podman-crun.tar"), "-o", "json")
	require.Equal(t, 0, code, errOut)
	var added struct{ ID string }
	require.NoError(t, json.Unmarshal([]byte(out), &added))
	code, out, errOut = runCLI(t, data, "inspect", added.ID)
	require.Equal(t, 0, code, errOut)
	require.Contains(t, out, "fx-crun")
	require.Contains(t, out, "[8]  kworker/0:1")
	code, _, errOut = runCLI(t, data, "inspect", "no-such-id")
	require.Equal(t, 1, code)
	require.Contains(t, errOut, "no-such-id: no such file, and not an evidence ID")
}
