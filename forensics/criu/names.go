package criu

import (
	"strconv"
	"strings"
)

// capNames are the Linux capability names by bit (include/uapi/linux/capability.h).
var capNames = [...]string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
	"CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE",
	"CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK",
	"CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE",
	"CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE", "CAP_SYS_RESOURCE",
	"CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE", "CAP_AUDIT_WRITE",
	"CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG",
	"CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF",
	"CAP_CHECKPOINT_RESTORE",
}

// CapNames turns CRIU's capability words (32 bits each, low word first) into names; unknown
// bits become "CAP_<n>".
func CapNames(words []uint32) []string {
	var out []string
	for w, v := range words {
		for b := 0; b < 32; b++ {
			if v&(1<<b) == 0 {
				continue
			}
			n := w*32 + b
			if n < len(capNames) {
				out = append(out, capNames[n])
			} else {
				out = append(out, "CAP_"+strconv.Itoa(n))
			}
		}
	}
	return out
}

// openFlags names the open(2) flags CRIU records for files (x86_64/arm64 values).
var openFlags = []struct {
	bit  uint32
	name string
}{
	{0o2000, "O_APPEND"}, {0o4000, "O_NONBLOCK"}, {0o10000, "O_DSYNC"}, {0o20000, "O_ASYNC"},
	{0o40000, "O_DIRECT"}, {0o200000, "O_DIRECTORY"}, {0o400000, "O_NOFOLLOW"},
	{0o1000000, "O_NOATIME"}, {0o2000000, "O_CLOEXEC"}, {0o4010000, "O_SYNC"}, {0o10000000, "O_PATH"},
	{0o20200000, "O_TMPFILE"},
}

// OpenFlags formats file status flags as "O_RDWR|O_APPEND"; cloexec adds O_CLOEXEC (CRIU keeps
// FD_CLOEXEC in the fd's own flags).
func OpenFlags(flags uint32, cloexec bool) string {
	var parts []string
	switch flags & 3 {
	case 0:
		parts = append(parts, "O_RDONLY")
	case 1:
		parts = append(parts, "O_WRONLY")
	case 2:
		parts = append(parts, "O_RDWR")
	default:
		parts = append(parts, "O_ACCMODE")
	}
	for _, f := range openFlags {
		if f.bit == 0o4010000 || f.bit == 0o20200000 {
			if flags&f.bit == f.bit {
				parts = append(parts, f.name)
			}
			continue
		}
		if flags&f.bit != 0 && !(f.bit == 0o10000 && flags&0o4010000 == 0o4010000) && !(f.bit == 0o200000 && flags&0o20200000 == 0o20200000) {
			parts = append(parts, f.name)
		}
	}
	if cloexec && flags&0o2000000 == 0 {
		parts = append(parts, "O_CLOEXEC")
	}
	return strings.Join(parts, "|")
}

// tcpStates by kernel number (include/net/tcp_states.h).
var tcpStates = map[uint32]string{
	1: "ESTABLISHED", 2: "SYN_SENT", 3: "SYN_RECV", 4: "FIN_WAIT1", 5: "FIN_WAIT2",
	6: "TIME_WAIT", 7: "CLOSE", 8: "CLOSE_WAIT", 9: "LAST_ACK", 10: "LISTEN", 11: "CLOSING",
	12: "NEW_SYN_RECV",
}

// TCPState names a TCP state number.
func TCPState(s uint32) string {
	if n, ok := tcpStates[s]; ok {
		return n
	}
	return "STATE_" + strconv.Itoa(int(s))
}

// SockType names a socket type.
func SockType(t uint32) string {
	switch t {
	case 1:
		return "stream"
	case 2:
		return "dgram"
	case 3:
		return "raw"
	case 4:
		return "rdm"
	case 5:
		return "seqpacket"
	case 10:
		return "packet"
	}
	return strconv.Itoa(int(t))
}

// IPProto names an IP protocol number.
func IPProto(p uint32) string {
	switch p {
	case 0:
		return "ip"
	case 1:
		return "icmp"
	case 6:
		return "tcp"
	case 17:
		return "udp"
	case 58:
		return "icmpv6"
	case 132:
		return "sctp"
	case 136:
		return "udplite"
	case 255:
		return "raw"
	}
	return strconv.Itoa(int(p))
}

// netlinkProtos names netlink protocols (include/uapi/linux/netlink.h).
var netlinkProtos = map[uint32]string{
	0: "route", 2: "usersock", 3: "firewall", 4: "sock_diag", 5: "nflog", 6: "xfrm",
	7: "selinux", 8: "iscsi", 9: "audit", 10: "fib_lookup", 11: "connector", 12: "netfilter",
	13: "ip6_fw", 14: "dnrtmsg", 15: "kobject_uevent", 16: "generic", 18: "scsitransport",
	19: "ecryptfs", 20: "rdma", 21: "crypto", 22: "smc",
}

// NetlinkProto names a netlink protocol.
func NetlinkProto(p uint32) string {
	if n, ok := netlinkProtos[p]; ok {
		return n
	}
	return strconv.Itoa(int(p))
}

// taskStates by CRIU's number (compel/include/uapi/task-state.h).
func taskState(s uint32) string {
	switch s {
	case 1:
		return "alive"
	case 2:
		return "dead"
	case 3:
		return "stopped"
	case 6:
		return "zombie"
	}
	return "unknown(" + strconv.Itoa(int(s)) + ")"
}

func seccompMode(m int32) string {
	switch m {
	case 0:
		return "disabled"
	case 1:
		return "strict"
	case 2:
		return "filter"
	}
	return strconv.Itoa(int(m))
}

// bitName names one flag bit.
type bitName struct {
	bit  uint64
	name string
}

// bitNames joins the names of the set bits of v with "|", in table order; bits no entry names
// are appended in hex.
func bitNames(v uint64, table []bitName) string {
	var parts []string
	for _, b := range table {
		if v&b.bit != 0 {
			parts = append(parts, b.name)
			v &^= b.bit
		}
	}
	if v != 0 {
		parts = append(parts, "0x"+strconv.FormatUint(v, 16))
	}
	return strings.Join(parts, "|")
}

// inotifyMasks names the inotify watch mask bits (include/uapi/linux/inotify.h). The kernel's
// fdinfo, which CRIU copies, shows the user's mask without its internal FS_EVENT_ON_CHILD.
var inotifyMasks = []bitName{
	{0x1, "IN_ACCESS"}, {0x2, "IN_MODIFY"}, {0x4, "IN_ATTRIB"}, {0x8, "IN_CLOSE_WRITE"},
	{0x10, "IN_CLOSE_NOWRITE"}, {0x20, "IN_OPEN"}, {0x40, "IN_MOVED_FROM"}, {0x80, "IN_MOVED_TO"},
	{0x100, "IN_CREATE"}, {0x200, "IN_DELETE"}, {0x400, "IN_DELETE_SELF"}, {0x800, "IN_MOVE_SELF"},
	{0x2000, "IN_UNMOUNT"}, {0x4000, "IN_Q_OVERFLOW"}, {0x8000, "IN_IGNORED"},
	{0x01000000, "IN_ONLYDIR"}, {0x02000000, "IN_DONT_FOLLOW"}, {0x04000000, "IN_EXCL_UNLINK"},
	{0x08000000, "FS_EVENT_ON_CHILD"}, {0x10000000, "IN_MASK_CREATE"}, {0x20000000, "IN_MASK_ADD"},
	{0x40000000, "IN_ISDIR"}, {0x80000000, "IN_ONESHOT"},
}

// InotifyMask names an inotify watch mask, "IN_MODIFY|IN_CREATE".
func InotifyMask(m uint32) string { return bitNames(uint64(m), inotifyMasks) }

// epollEvents names the epoll event bits (include/uapi/linux/eventpoll.h, asm-generic/poll.h).
var epollEvents = []bitName{
	{0x1, "EPOLLIN"}, {0x2, "EPOLLPRI"}, {0x4, "EPOLLOUT"}, {0x8, "EPOLLERR"}, {0x10, "EPOLLHUP"},
	{0x20, "EPOLLNVAL"}, {0x40, "EPOLLRDNORM"}, {0x80, "EPOLLRDBAND"}, {0x100, "EPOLLWRNORM"},
	{0x200, "EPOLLWRBAND"}, {0x400, "EPOLLMSG"}, {0x2000, "EPOLLRDHUP"},
	{1 << 28, "EPOLLEXCLUSIVE"}, {1 << 29, "EPOLLWAKEUP"}, {1 << 30, "EPOLLONESHOT"}, {1 << 31, "EPOLLET"},
}

// EpollEvents names an epoll event mask, "EPOLLIN|EPOLLET".
func EpollEvents(e uint32) string { return bitNames(uint64(e), epollEvents) }

// signalNames are the x86_64/arm64 signal names by number (include/uapi/asm-generic/signal.h).
var signalNames = [...]string{1: "SIGHUP", "SIGINT", "SIGQUIT", "SIGILL", "SIGTRAP", "SIGABRT", "SIGBUS",
	"SIGFPE", "SIGKILL", "SIGUSR1", "SIGSEGV", "SIGUSR2", "SIGPIPE", "SIGALRM", "SIGTERM",
	"SIGSTKFLT", "SIGCHLD", "SIGCONT", "SIGSTOP", "SIGTSTP", "SIGTTIN", "SIGTTOU", "SIGURG",
	"SIGXCPU", "SIGXFSZ", "SIGVTALRM", "SIGPROF", "SIGWINCH", "SIGIO", "SIGPWR", "SIGSYS"}

// SignalName names signal n: "SIGHUP"; 32 and 33 (glibc's own) are "SIG32" and "SIG33", 34 to 64
// "SIGRTMIN", "SIGRTMIN+1", ... as kill -l names them.
func SignalName(n int) string {
	switch {
	case n > 0 && n < len(signalNames):
		return signalNames[n]
	case n == 34:
		return "SIGRTMIN"
	case n > 34 && n <= 64:
		return "SIGRTMIN+" + strconv.Itoa(n-34)
	}
	return "SIG" + strconv.Itoa(n)
}

// SignalMask names the signals of a kernel sigset (bit n-1 is signal n), "SIGHUP|SIGUSR2".
func SignalMask(m uint64) string {
	var parts []string
	for b := range 64 {
		if m&(1<<b) != 0 {
			parts = append(parts, SignalName(b+1))
		}
	}
	return strings.Join(parts, "|")
}

// ClockName names a POSIX clock id (include/uapi/linux/time.h).
func ClockName(id uint32) string {
	switch id {
	case 0:
		return "CLOCK_REALTIME"
	case 1:
		return "CLOCK_MONOTONIC"
	case 7:
		return "CLOCK_BOOTTIME"
	case 8:
		return "CLOCK_REALTIME_ALARM"
	case 9:
		return "CLOCK_BOOTTIME_ALARM"
	}
	return "CLOCK_" + strconv.FormatUint(uint64(id), 10)
}

// kernelDev formats a device number in the kernel's internal encoding (MINORBITS 20), as
// /proc/PID/fdinfo shows it and CRIU stores it for inotify and fanotify marks.
func kernelDev(d uint32) string {
	return strconv.FormatUint(uint64(d>>20), 10) + ":" + strconv.FormatUint(uint64(d&0xfffff), 10)
}

// userDev formats a device number in the 32-bit form of glibc's makedev (st_dev, st_rdev), as
// CRIU stores a tty's rdev.
func userDev(d uint32) string {
	major := (d >> 8) & 0xfff
	minor := (d & 0xff) | ((d >> 12) & 0xfff00)
	return strconv.FormatUint(uint64(major), 10) + ":" + strconv.FormatUint(uint64(minor), 10)
}
