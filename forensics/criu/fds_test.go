package criu

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/podsleuth/podsleuth/forensics"
	"github.com/podsleuth/podsleuth/test/fixtures"
)

// procFD is one fd of images/fds.proc.txt: the target of /proc/PID/fd/N and every line of
// /proc/PID/fdinfo/N, as gen.sh captured them on the live process just before the dump.
type procFD struct {
	link  string
	lines []string
}

// field returns the value of the fdinfo line "key:<spaces>value".
func (p procFD) field(t *testing.T, key string) string {
	t.Helper()
	for _, l := range p.lines {
		if v, ok := strings.CutPrefix(l, key+":"); ok {
			return strings.TrimSpace(v)
		}
	}
	t.Fatalf("fdinfo of %s has no %q line", p.link, key)
	return ""
}

// fdsProc parses test/fixtures/images/fds.proc.txt: the fdinfo sections before and after the
// dump (fd number -> fd) and the watched paths by inode number with their "major:minor".
type fdsProc struct {
	pid         int
	before      map[int]procFD
	after       map[int]procFD
	paths, devs map[uint64]string
}

func readFdsProc(t *testing.T) fdsProc {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(fixtures.Dir(), "images", "fds.proc.txt"))
	require.NoError(t, err)
	out := fdsProc{before: map[int]procFD{}, after: map[int]procFD{}, paths: map[uint64]string{}, devs: map[uint64]string{}}
	var section string
	var cur map[int]procFD
	n := -1
	header := regexp.MustCompile(`^--- fdinfo (\d+) -> (.*)$`)
	stat := regexp.MustCompile(`^(/\S+)  ino (\d+)  dev (\d+:\d+)$`)
	pid := regexp.MustCompile(`^======== pid (\d+) `)
	for _, l := range strings.Split(string(b), "\n") {
		if m := pid.FindStringSubmatch(l); m != nil {
			out.pid, _ = strconv.Atoi(m[1])
		}
		if strings.HasPrefix(l, "======== ") {
			section, n = l, -1
			switch {
			case strings.HasPrefix(l, "======== fdinfo before the dump"):
				cur = out.before
			case strings.HasPrefix(l, "======== fdinfo after the dump"):
				cur = out.after
			default:
				cur = nil
			}
			continue
		}
		if m := header.FindStringSubmatch(l); m != nil && cur != nil {
			n, _ = strconv.Atoi(m[1])
			cur[n] = procFD{link: m[2]}
			continue
		}
		if cur != nil && n >= 0 && l != "" {
			f := cur[n]
			f.lines = append(f.lines, l)
			cur[n] = f
		}
		if m := stat.FindStringSubmatch(l); m != nil && strings.HasPrefix(section, "======== watched inodes") {
			ino, err := strconv.ParseUint(m[2], 10, 64)
			require.NoError(t, err)
			out.paths[ino], out.devs[ino] = m[1], m[3]
		}
	}
	require.NotZero(t, out.pid, "fds.proc.txt names the process")
	require.Len(t, out.before, 10, "fds 0-9 before the dump")
	require.Contains(t, out.after, 4, "the timerfd after the dump")
	require.Len(t, out.paths, 2, "the two watched inodes")
	return out
}

func hexU64(t *testing.T, s string) uint64 {
	t.Helper()
	v, err := strconv.ParseUint(strings.TrimSpace(s), 16, 64)
	require.NoError(t, err, "hex %q", s)
	return v
}

func octU32(t *testing.T, s string) uint32 {
	t.Helper()
	v, err := strconv.ParseUint(strings.TrimSpace(s), 8, 32)
	require.NoError(t, err, "octal %q", s)
	return uint32(v)
}

// itimer parses fdinfo's "(sec, nsec)".
func itimer(t *testing.T, s string) time.Duration {
	t.Helper()
	var sec, nsec int64
	_, err := fmt.Sscanf(s, "(%d, %d)", &sec, &nsec)
	require.NoError(t, err, "timer %q", s)
	return time.Duration(sec)*time.Second + time.Duration(nsec)
}

// TestDecodeFdsFixture checks every fd of images/fds (test/fixtures/src/fds.c) against what the
// program set up (the literals below, documented in fds.c) and what the kernel showed in
// /proc/PID/fdinfo at dump time (fds.proc.txt).
func TestDecodeFdsFixture(t *testing.T) {
	proc := readFdsProc(t)
	cp := decodeFixture(t, "images/fds")
	require.Empty(t, cp.Warnings)
	require.Len(t, cp.Processes, 1)
	p := cp.Process(proc.pid)
	require.NotNil(t, p)
	require.Equal(t, "fds", p.Comm)
	require.Len(t, p.FDs, len(proc.before), "one decoded fd per /proc/PID/fd entry")

	// every fd: number, kind (from its /proc link), path and open flags as the kernel showed them
	kinds := map[string]string{
		"anon_inode:[eventfd]": forensics.FDEventFD, "anon_inode:[timerfd]": forensics.FDTimerFD,
		"anon_inode:[signalfd]": forensics.FDSignalFD, "anon_inode:inotify": forensics.FDInotify,
		"anon_inode:[eventpoll]": forensics.FDEventPoll, "/dev/ptmx": forensics.FDTTY, "/dev/null": forensics.FDRegular,
	}
	for n, want := range proc.before {
		f := fdByNum(p, n)
		require.NotNil(t, f, "fd %d", n)
		kind, ok := kinds[want.link]
		if strings.HasPrefix(want.link, "/dev/pts/") {
			kind, ok = forensics.FDTTY, true
		}
		require.True(t, ok, "fd %d: unexpected %s in fds.proc.txt", n, want.link)
		require.Equal(t, kind, f.Type, "fd %d", n)
		require.Equal(t, want.link, f.Path, "fd %d", n)
		require.Equal(t, OpenFlags(octU32(t, want.field(t, "flags")), false), f.Flags, "fd %d", n)
	}
	require.Equal(t, "O_RDWR|O_NONBLOCK|O_CLOEXEC", fdByNum(p, 3).Flags, "eventfd(7, EFD_NONBLOCK|EFD_CLOEXEC)")

	t.Run("eventfd", func(t *testing.T) {
		f := fdByNum(p, 3)
		require.NotNil(t, f.EventFD)
		require.EqualValues(t, 7, f.EventFD.Counter, "eventfd(7, ...)")
		require.Equal(t, hexU64(t, proc.before[3].field(t, "eventfd-count")), f.EventFD.Counter)
		require.Equal(t, "0", proc.before[3].field(t, "eventfd-semaphore"), "not a semaphore (CRIU would not say)")
		require.Nil(t, f.TimerFD)
		require.Nil(t, f.Epoll)
	})

	t.Run("timerfd", func(t *testing.T) {
		f, before, after := fdByNum(p, 4), proc.before[4], proc.after[4]
		require.NotNil(t, f.TimerFD)
		require.Equal(t, "1", before.field(t, "clockid"))
		require.Equal(t, "CLOCK_MONOTONIC", f.TimerFD.Clock)
		require.Equal(t, 5*time.Second, itimer(t, before.field(t, "it_interval")))
		require.Equal(t, 5*time.Second, f.TimerFD.Interval)
		require.Equal(t, "0", before.field(t, "ticks"))
		require.Zero(t, f.TimerFD.Ticks)
		require.Equal(t, "00", before.field(t, "settime flags"))
		require.False(t, f.TimerFD.Abstime)
		// the timer counted down while criu ran: CRIU read it between the two readings
		require.LessOrEqual(t, f.TimerFD.Value, itimer(t, before.field(t, "it_value")))
		require.GreaterOrEqual(t, f.TimerFD.Value, itimer(t, after.field(t, "it_value")))
		require.Less(t, f.TimerFD.Value, time.Hour, "armed for 3600 s before the dump")
	})

	t.Run("signalfd", func(t *testing.T) {
		f := fdByNum(p, 5)
		require.NotNil(t, f.SignalFD)
		require.Equal(t, "SIGHUP|SIGUSR2", f.SignalFD.Signals, "signalfd(-1, {SIGHUP, SIGUSR2}, ...)")
		require.Equal(t, SignalMask(hexU64(t, proc.before[5].field(t, "sigmask"))), f.SignalFD.Signals)
	})

	t.Run("inotify", func(t *testing.T) {
		f := fdByNum(p, 6)
		require.NotNil(t, f.Inotify)
		// "inotify wd:2 ino:9ea049 sdev:fe00000 mask:380 ignored_mask:0 fhandle-bytes:8 ..."
		re := regexp.MustCompile(`^inotify wd:([0-9a-f]+) ino:([0-9a-f]+) sdev:([0-9a-f]+) mask:([0-9a-f]+) `)
		var want []forensics.InotifyWatch
		for _, l := range proc.before[6].lines {
			m := re.FindStringSubmatch(l)
			if m == nil {
				continue
			}
			ino := hexU64(t, m[2])
			require.Equal(t, proc.devs[ino], kernelDev(uint32(hexU64(t, m[3]))), "fdinfo's sdev is stat's st_dev")
			want = append(want, forensics.InotifyWatch{
				WD: int32(hexU64(t, m[1])), Path: proc.paths[ino], Ino: ino, Dev: proc.devs[ino],
				Mask: InotifyMask(uint32(hexU64(t, m[4]))),
			})
		}
		require.Len(t, want, 2)
		if want[0].WD > want[1].WD {
			want[0], want[1] = want[1], want[0]
		}
		require.Equal(t, want, f.Inotify.Watches)
		// as fds.c set them up
		workdir := filepath.Dir(want[0].Path)
		require.Equal(t, workdir+"/watched.txt", want[0].Path)
		require.Equal(t, "IN_MODIFY|IN_CLOSE_WRITE", f.Inotify.Watches[0].Mask)
		require.Equal(t, workdir, want[1].Path)
		require.Equal(t, "IN_MOVED_TO|IN_CREATE|IN_DELETE", f.Inotify.Watches[1].Mask)
	})

	t.Run("epoll", func(t *testing.T) {
		f := fdByNum(p, 7)
		require.NotNil(t, f.Epoll)
		// "tfd:        6 events:       19 data:         feed0006  pos:0 ino:1a sdev:10"
		re := regexp.MustCompile(`^tfd:\s+(\d+) events:\s+([0-9a-f]+) data:\s+([0-9a-f]+) `)
		var want []forensics.EpollTarget
		for _, l := range proc.before[7].lines {
			m := re.FindStringSubmatch(l)
			if m == nil {
				continue
			}
			n, err := strconv.Atoi(m[1])
			require.NoError(t, err)
			want = append(want, forensics.EpollTarget{FD: n, Events: EpollEvents(uint32(hexU64(t, m[2]))), Data: "0x" + m[3]})
		}
		require.Len(t, want, 2)
		if want[0].FD > want[1].FD {
			want[0], want[1] = want[1], want[0]
		}
		require.Equal(t, want, f.Epoll.Targets)
		// as fds.c set them up (the kernel adds EPOLLERR|EPOLLHUP)
		require.Equal(t, []forensics.EpollTarget{
			{FD: 3, Events: "EPOLLIN|EPOLLERR|EPOLLHUP|EPOLLET", Data: "0xfeed0003"},
			{FD: 6, Events: "EPOLLIN|EPOLLERR|EPOLLHUP", Data: "0xfeed0006"},
		}, f.Epoll.Targets)
	})

	t.Run("pty", func(t *testing.T) {
		master, slave := fdByNum(p, 8), fdByNum(p, 9)
		idx, err := strconv.ParseUint(proc.before[8].field(t, "tty-index"), 10, 32)
		require.NoError(t, err)
		require.Equal(t, "/dev/pts/"+strconv.FormatUint(idx, 10), proc.before[9].link, "the slave of the master")
		// Unix98 slaves are majors 136-143, 256 per major (Documentation/admin-guide/devices.txt)
		slaveRdev := strconv.FormatUint(136+idx/256, 10) + ":" + strconv.FormatUint(idx%256, 10)
		require.Equal(t, &forensics.TTY{Type: "PTY", Master: true, Index: uint32(idx), Rdev: "5:2", Rows: 40, Cols: 132}, master.TTY)
		require.Equal(t, &forensics.TTY{Type: "PTY", Index: uint32(idx), Rdev: slaveRdev, Rows: 40, Cols: 132}, slave.TTY)
	})
}
