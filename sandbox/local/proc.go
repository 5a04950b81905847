package local

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// nsInode returns the namespace link of pid ("net:[4026532...]"), empty when pid is gone.
func nsInode(pid int, typ string) string {
	l, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/%s", pid, typ))
	if err != nil {
		return ""
	}
	return l
}

// startTime returns a process's start time in clock ticks since boot (/proc/PID/stat field
// 22): with the PID it identifies a process across PID reuse.
func startTime(pid int) (uint64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 20 {
		return 0, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	return strconv.ParseUint(f[19], 10, 64)
}

// procStatus holds the fields of /proc/PID/status podsleuth uses.
type procStatus struct {
	Name  string
	State string
	PPid  int
	NSpid []int
}

func readStatus(pid int) (*procStatus, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st := &procStatus{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		v = strings.TrimSpace(v)
		switch k {
		case "Name":
			st.Name = v
		case "State":
			st.State = v
		case "PPid":
			st.PPid, _ = strconv.Atoi(v)
		case "NSpid":
			for _, x := range strings.Fields(v) {
				n, _ := strconv.Atoi(x)
				st.NSpid = append(st.NSpid, n)
			}
		}
	}
	return st, sc.Err()
}

// pidsInNS returns the host PIDs of every process whose PID namespace is ns.
func pidsInNS(ns string) []int {
	if ns == "" {
		return nil
	}
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var out []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if nsInode(pid, "pid") == ns {
			out = append(out, pid)
		}
	}
	return out
}

// childPID waits for the first child of pid to appear (unshare --fork's child).
func childPID(pid int, timeout time.Duration) (int, error) {
	deadline := time.Now().Add(timeout)
	for {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
		if err != nil {
			return 0, fmt.Errorf("namespace holder %d exited: %w", pid, err)
		}
		if f := strings.Fields(string(b)); len(f) > 0 {
			return strconv.Atoi(f[0])
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("namespace holder %d started no child within %s", pid, timeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// alive reports whether pid exists with the recorded start time.
func alive(pid int, start uint64) bool {
	if pid <= 0 {
		return false
	}
	st, err := startTime(pid)
	return err == nil && (start == 0 || st == start)
}

// killWait SIGKILLs pid (when it is still the recorded process) and waits for it to go.
func killWait(pid int, start uint64, timeout time.Duration) error {
	if !alive(pid, start) {
		return nil
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("kill %d: %w", pid, err)
	}
	deadline := time.Now().Add(timeout)
	for alive(pid, start) {
		// a zombie child of ours: reap it
		var ws syscall.WaitStatus
		_, _ = syscall.Wait4(pid, &ws, syscall.WNOHANG, nil)
		if st, err := readStatus(pid); err == nil && strings.HasPrefix(st.State, "Z") && st.PPid != os.Getpid() {
			return nil // zombie of another parent: gone for every purpose but its PID
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("process %d did not exit within %s", pid, timeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return nil
}

// cmdline returns a process's argv joined by spaces.
func cmdline(pid int) string {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	return strings.TrimSpace(strings.ReplaceAll(string(b), "\x00", " "))
}

// mountsUnder lists the mount points of the host mount namespace at or below dir.
func mountsUnder(dir string) ([]string, error) {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	dir = filepath.Clean(dir)
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 5 {
			continue
		}
		mp := unescapeMount(f[4])
		if within(mp, dir) {
			out = append(out, mp)
		}
	}
	return out, nil
}

func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
