package local

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/podsleuth/podsleuth/sandbox"
)

const localFile = "local.json"

func saveLocal(dir string, ls *localState) error {
	b, err := json.MarshalIndent(ls, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, localFile), b, 0o600)
}

func loadLocal(dir string) (*localState, error) {
	b, err := os.ReadFile(filepath.Join(dir, localFile))
	if err != nil {
		return nil, err
	}
	ls := &localState{}
	return ls, json.Unmarshal(b, ls)
}

func (l *Local) load(id string) (*sandbox.Info, *localState, error) {
	info, err := l.states.Load(id)
	if err != nil {
		return nil, nil, err
	}
	if info.Backend != sandbox.BackendLocal {
		return nil, nil, fmt.Errorf("%w: %s is a %s sandbox", sandbox.ErrNotFound, id, info.Backend)
	}
	ls, err := loadLocal(info.Dir)
	if err != nil {
		ls = &localState{}
	}
	l.refresh(info, ls)
	return info, ls, nil
}

// refresh sets info.State from what is running now.
func (l *Local) refresh(info *sandbox.Info, ls *localState) {
	if info.State == "restoring" && alive(ls.UnsharePID, ls.UnshareStart) {
		return
	}
	if !alive(info.InitPID, ls.InitStart) && !(ls.ForeignNet && info.RootPID > 0 && alive(info.RootPID, 0)) {
		info.State = "dead"
		return
	}
	procs := l.restored(info, ls)
	if len(procs) == 0 {
		info.State = "empty"
		return
	}
	stopped := true
	for _, p := range procs {
		if st, err := readStatus(p); err == nil && !strings.HasPrefix(st.State, "T") && !strings.HasPrefix(st.State, "t") && !strings.HasPrefix(st.State, "Z") {
			stopped = false
		}
	}
	if stopped {
		info.State = "stopped"
	} else {
		info.State = "running"
	}
}

// restored returns the host PIDs of the sandbox's restored processes: everything in its PID
// namespace but the holder (criu restores); for containers, everything in the container's.
func (l *Local) restored(info *sandbox.Info, ls *localState) []int {
	ns := ls.PIDNS
	exclude := info.InitPID
	if info.Kind == "container" {
		ns = nsInode(info.RootPID, "pid")
		exclude = 0
		if ns == "" {
			return nil
		}
	}
	var out []int
	for _, p := range pidsInNS(ns) {
		if p != exclude {
			out = append(out, p)
		}
	}
	return out
}

// List returns the local sandboxes.
func (l *Local) List(ctx context.Context) ([]sandbox.Info, error) {
	all, err := l.states.List(sandbox.BackendLocal)
	if err != nil {
		return nil, err
	}
	for i := range all {
		ls, err := loadLocal(all[i].Dir)
		if err != nil {
			ls = &localState{}
		}
		l.refresh(&all[i], ls)
	}
	return all, nil
}

// Get returns one sandbox with its current state.
func (l *Local) Get(ctx context.Context, id string) (*sandbox.Info, error) {
	info, _, err := l.load(id)
	return info, err
}

// Ps lists the sandbox's processes, the holder included (Restored false).
func (l *Local) Ps(ctx context.Context, id string) ([]sandbox.Process, error) {
	info, ls, err := l.load(id)
	if err != nil {
		return nil, err
	}
	if info.State == "dead" {
		return nil, fmt.Errorf("%w: %s", sandbox.ErrGone, id)
	}
	pids := pidsInNS(ls.PIDNS)
	if info.Kind == "container" {
		pids = append(pids, l.restored(info, ls)...)
	}
	seen := map[int]bool{}
	var out []sandbox.Process
	for _, pid := range pids {
		if seen[pid] {
			continue
		}
		seen[pid] = true
		st, err := readStatus(pid)
		if err != nil {
			continue
		}
		nspid := pid
		if len(st.NSpid) > 0 {
			nspid = st.NSpid[len(st.NSpid)-1]
		}
		out = append(out, sandbox.Process{HostPID: pid, NSPID: nspid, PPID: st.PPid, State: st.State,
			Comm: st.Name, Cmdline: cmdline(pid), Restored: pid != info.InitPID})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].HostPID < out[j].HostPID })
	return out, nil
}

// Signal sends sig to every restored process of the sandbox.
func (l *Local) Signal(ctx context.Context, id string, sig syscall.Signal) error {
	info, ls, err := l.load(id)
	if err != nil {
		return err
	}
	if info.State == "dead" {
		return fmt.Errorf("%w: %s", sandbox.ErrGone, id)
	}
	if err := l.signalAll(info, ls, sig); err != nil {
		return err
	}
	l.refresh(info, ls)
	return l.states.Save(info)
}

func (l *Local) signalAll(info *sandbox.Info, ls *localState, sig syscall.Signal) error {
	procs := l.restored(info, ls)
	if len(procs) == 0 {
		return fmt.Errorf("%w: %s has no restored processes left", sandbox.ErrGone, info.ID)
	}
	var errs []error
	for _, p := range procs {
		if err := syscall.Kill(p, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
			errs = append(errs, fmt.Errorf("signal %d: %w", p, err))
		}
	}
	return errors.Join(errs...)
}

// EnterCommand returns the nsenter argv that runs argv (a shell when empty) in every
// namespace of the sandbox (for containers: of the restored container).
func (l *Local) EnterCommand(ctx context.Context, id string, argv []string) ([]string, error) {
	info, _, err := l.load(id)
	if err != nil {
		return nil, err
	}
	if info.State == "dead" {
		return nil, fmt.Errorf("%w: %s", sandbox.ErrGone, id)
	}
	target := info.InitPID
	if info.Kind == "container" && info.RootPID > 0 {
		target = info.RootPID
	}
	if len(argv) == 0 {
		argv = []string{"/bin/sh"}
	}
	args := []string{"nsenter", "-t", strconv.Itoa(target), "-m", "-n", "-p", "-u", "-i"}
	if info.Kind == "container" {
		args = append(args, "-r", "-w")
	}
	return append(append(args, "--"), argv...), nil
}

// Destroy kills every process of the sandbox and its sinkhole, and removes its state
// directory. Its namespaces and overlay mounts go with their last process.
func (l *Local) Destroy(ctx context.Context, id string) error {
	info, ls, err := l.load(id)
	if err != nil {
		return err
	}
	var errs []error
	if info.Kind == "container" {
		errs = append(errs, l.destroyContainer(ctx, info, ls))
	}
	if info.Sinkhole != nil {
		errs = append(errs, killWait(info.Sinkhole.PID, ls.SinkStart, 5*time.Second))
	}
	// SIGKILL of a PID namespace's init kills every process in it (pid_namespaces(7)).
	if !ls.ForeignNet {
		errs = append(errs, killWait(info.InitPID, ls.InitStart, 5*time.Second))
		errs = append(errs, killWait(ls.UnsharePID, ls.UnshareStart, 5*time.Second))
	}
	if ls.PIDNS != "" {
		deadline := time.Now().Add(5 * time.Second)
		for len(pidsInNS(ls.PIDNS)) > 0 {
			if time.Now().After(deadline) {
				errs = append(errs, fmt.Errorf("processes still in the sandbox's pid namespace: %v", pidsInNS(ls.PIDNS)))
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("destroy %s: %w", id, err)
	}
	if m, _ := mountsUnder(info.Dir); len(m) > 0 {
		return fmt.Errorf("destroy %s: mounts remain under %s: %v", id, info.Dir, m)
	}
	if err := os.RemoveAll(info.Dir); err != nil {
		return fmt.Errorf("destroy %s: %w", id, err)
	}
	return nil
}

// execLook runs a command and returns its combined output as an error message on failure.
func execLook(ctx context.Context, name string, args ...string) error {
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}
