package local

import (
	"encoding/binary"
	"fmt"
	"runtime"
	"slices"

	"golang.org/x/net/bpf"
)

// The sandbox's seccomp filter (classic BPF, as CRIU stores it in seccomp.img). It allows every
// system call but those that reach beyond the sandbox or re-arrange it, which fail with EPERM:
// mounts and pivots (mount, umount2, pivot_root, chroot, the new mount API), namespaces
// (unshare, setns, clone with CLONE_NEW*; clone3 fails with ENOSYS so libc falls back to
// clone), kernel modules and kexec, bpf, perf_event_open, keyrings, userfaultfd, handle-based
// opens, swap, reboot, clock and time setting, iopl/ioperm, quotactl, acct, syslog. A system
// call of another ABI (i386, x32) kills the process. Docker's and runc's default profiles deny
// the same class.

const (
	auditArchX8664 = 0xc000003e
	x32SyscallBit  = 0x40000000
	retAllow       = 0x7fff0000
	retKillProcess = 0x80000000
	retErrno       = 0x00050000
	errnoEPERM     = 1
	errnoENOSYS    = 38
	// CLONE_NEWNS|CLONE_NEWCGROUP|CLONE_NEWUTS|CLONE_NEWIPC|CLONE_NEWUSER|CLONE_NEWPID|CLONE_NEWNET
	cloneNewMask = 0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000
	sysClone     = 56
	sysClone3    = 435
)

// deniedSyscalls are x86_64 system call numbers (arch/x86/entry/syscalls/syscall_64.tbl).
var deniedSyscalls = map[string]uint32{
	"syslog": 103, "vhangup": 153, "pivot_root": 155, "_sysctl": 156, "adjtimex": 159,
	"chroot": 161, "acct": 163, "settimeofday": 164, "mount": 165, "umount2": 166,
	"swapon": 167, "swapoff": 168, "reboot": 169, "iopl": 172, "ioperm": 173,
	"create_module": 174, "init_module": 175, "delete_module": 176, "quotactl": 179,
	"lookup_dcookie": 212, "clock_settime": 227, "kexec_load": 246, "add_key": 248,
	"request_key": 249, "keyctl": 250, "unshare": 272, "perf_event_open": 298,
	"name_to_handle_at": 303, "open_by_handle_at": 304, "clock_adjtime": 305, "setns": 308,
	"finit_module": 313, "kexec_file_load": 320, "bpf": 321, "userfaultfd": 323,
	"open_tree": 428, "move_mount": 429, "fsopen": 430, "fsconfig": 431, "fsmount": 432,
	"fspick": 433, "mount_setattr": 442,
}

// seccompFilter returns the filter as struct sock_filter[] bytes.
func seccompFilter() ([]byte, error) {
	if runtime.GOARCH != "amd64" {
		return nil, fmt.Errorf("the sandbox's seccomp filter is only written for x86_64, not %s", runtime.GOARCH)
	}
	ins := []bpf.Instruction{
		bpf.LoadAbsolute{Off: 4, Size: 4}, // seccomp_data.arch
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: auditArchX8664, SkipTrue: 1},
		bpf.RetConstant{Val: retKillProcess},
		bpf.LoadAbsolute{Off: 0, Size: 4}, // seccomp_data.nr
		bpf.JumpIf{Cond: bpf.JumpGreaterOrEqual, Val: x32SyscallBit, SkipFalse: 1},
		bpf.RetConstant{Val: retKillProcess},
	}
	for _, nr := range sortedSyscalls() {
		ins = append(ins, bpf.JumpIf{Cond: bpf.JumpEqual, Val: nr, SkipFalse: 1}, bpf.RetConstant{Val: retErrno | errnoEPERM})
	}
	ins = append(ins,
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: sysClone3, SkipFalse: 1},
		bpf.RetConstant{Val: retErrno | errnoENOSYS},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: sysClone, SkipFalse: 3},
		bpf.LoadAbsolute{Off: 16, Size: 4}, // low half of args[0] (clone flags)
		bpf.JumpIf{Cond: bpf.JumpBitsSet, Val: cloneNewMask, SkipFalse: 1},
		bpf.RetConstant{Val: retErrno | errnoEPERM},
		bpf.RetConstant{Val: retAllow},
	)
	raw, err := bpf.Assemble(ins)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, 8*len(raw))
	for _, r := range raw {
		out = binary.LittleEndian.AppendUint16(out, r.Op)
		out = append(out, r.Jt, r.Jf)
		out = binary.LittleEndian.AppendUint32(out, r.K)
	}
	return out, nil
}

func sortedSyscalls() []uint32 {
	out := make([]uint32, 0, len(deniedSyscalls))
	for _, nr := range deniedSyscalls {
		out = append(out, nr)
	}
	slices.Sort(out)
	return out
}

func sortedSyscallNames() []string {
	out := make([]string, 0, len(deniedSyscalls))
	for n := range deniedSyscalls {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}
