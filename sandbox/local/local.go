// Package local restores a checkpoint on this machine inside fresh Linux namespaces: a network
// namespace with only loopback (optionally one veth to a sinkhole), its own PID, mount, UTS and
// IPC namespaces, and private copy-on-write copies of every path the process held.
//
// Bare CRIU image directories are restored with the criu binary (`criu restore`, run inside the
// sandbox's namespaces through nsenter); container checkpoint archives with the OCI runtime's
// `runc restore`, which rebuilds the container's own namespaces and mounts from spec.dump.
//
// It must not import charm.land/..., tui or cmd.
package local

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/podsleuth/podsleuth/sandbox"
)

// Config configures the local backend.
type Config struct {
	// CRIU is the criu binary (>= 4.2); empty means "criu" from PATH.
	CRIU string
	// Runtime is the OCI runtime for container archives; empty means "runc" from PATH.
	Runtime string
	// StateDir holds one directory per sandbox.
	StateDir string
	// SinkholeCommand is the argv that runs the sinkhole server (ServeSinkhole) given the
	// sandbox directory as its last argument, e.g. {"/usr/bin/podsleuth", "sandbox",
	// "sinkhole-serve"}.
	SinkholeCommand []string
}

// Local is the local namespaces backend.
type Local struct {
	cfg    Config
	states sandbox.States
}

var _ sandbox.Restorer = (*Local)(nil)

// New returns the local backend.
func New(cfg Config) *Local {
	return &Local{cfg: cfg, states: sandbox.States{Root: cfg.StateDir}}
}

// MinCRIU is the oldest criu that restores the images podsleuth handles (4.2 writes the new
// pagemap encoding and is the first that dumps TCP sockets on kernels >= 6.16).
var MinCRIU = [2]int{4, 2}

// local-only state kept beside sandbox.Info in the state dir.
type localState struct {
	UnsharePID   int    `json:"unshare_pid"`
	UnshareStart uint64 `json:"unshare_start"`
	InitStart    uint64 `json:"init_start"`
	PIDNS        string `json:"pid_ns"`
	SinkStart    uint64 `json:"sink_start,omitempty"`
	// ForeignNet is set when the sandbox joined another process's netns (JoinNetPID): that
	// process is not podsleuth's to kill.
	ForeignNet bool `json:"foreign_net,omitempty"`
	// RuncRoot and ContainerID are set for container restores.
	RuncRoot    string `json:"runc_root,omitempty"`
	ContainerID string `json:"container_id,omitempty"`
	CgroupPath  string `json:"cgroup_path,omitempty"`
}

func (l *Local) criu() (string, error) {
	name := l.cfg.CRIU
	if name == "" {
		name = "criu"
	}
	p, err := exec.LookPath(name)
	if err != nil {
		return "", fmt.Errorf("%w: criu (>= %d.%d) not found (%s): install criu 4.2 or later, or set sandbox.criu / PODSLEUTH_SANDBOX_CRIU", sandbox.ErrPreflight, MinCRIU[0], MinCRIU[1], name)
	}
	return p, nil
}

var versionRe = regexp.MustCompile(`Version:\s*(\d+)\.(\d+)`)

// checkCRIU runs `criu --version` and refuses versions older than MinCRIU.
func checkCRIU(ctx context.Context, criu string) (string, error) {
	out, err := exec.CommandContext(ctx, criu, "--version").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("%w: %s --version failed: %v: %s", sandbox.ErrPreflight, criu, err, bytes.TrimSpace(out))
	}
	m := versionRe.FindSubmatch(out)
	if m == nil {
		return "", fmt.Errorf("%w: %s --version printed no version: %q", sandbox.ErrPreflight, criu, out)
	}
	maj, _ := strconv.Atoi(string(m[1]))
	mnr, _ := strconv.Atoi(string(m[2]))
	v := fmt.Sprintf("%d.%d", maj, mnr)
	if maj < MinCRIU[0] || maj == MinCRIU[0] && mnr < MinCRIU[1] {
		return v, fmt.Errorf("%w: %s is criu %s; restoring needs criu >= %d.%d (older ones cannot restore TCP sockets on kernels >= 6.16 and misread 4.2 images): install criu 4.2 or later and set sandbox.criu", sandbox.ErrPreflight, criu, v, MinCRIU[0], MinCRIU[1])
	}
	return v, nil
}

// tools every local sandbox needs from the host (util-linux, iproute2).
var tools = []string{"unshare", "nsenter", "mount", "ip", "pivot_root"}

// Preflight checks everything a restore needs without changing anything.
func (l *Local) Preflight(ctx context.Context, r sandbox.Request) error {
	_, err := l.preflight(ctx, r)
	return err
}

type prepared struct {
	criu    string
	runtime string
	plan    *Plan
	held    []HeldPath
}

func (l *Local) preflight(ctx context.Context, r sandbox.Request) (*prepared, error) {
	if os.Geteuid() != 0 {
		return nil, fmt.Errorf("%w: restoring needs root (CRIU and namespaces): run podsleuth as root", sandbox.ErrPreflight)
	}
	if l.cfg.StateDir == "" || !filepath.IsAbs(l.cfg.StateDir) {
		return nil, fmt.Errorf("%w: sandbox.state_dir must be an absolute path, got %q", sandbox.ErrPreflight, l.cfg.StateDir)
	}
	p := &prepared{}
	var err error
	if p.criu, err = l.criu(); err != nil {
		return nil, err
	}
	if _, err := checkCRIU(ctx, p.criu); err != nil {
		return nil, err
	}
	need := tools
	if r.Sinkhole {
		need = append(append([]string{}, tools...), "nft")
		if len(l.cfg.SinkholeCommand) == 0 {
			return nil, fmt.Errorf("%w: no sinkhole server command configured", sandbox.ErrPreflight)
		}
	}
	for _, t := range need {
		if _, err := exec.LookPath(t); err != nil {
			return nil, fmt.Errorf("%w: %s not found on PATH: install util-linux, iproute2 and nftables", sandbox.ErrPreflight, t)
		}
	}
	if err := overlaySupported(); err != nil {
		return nil, err
	}
	if st, err := os.Stat(filepath.Join(r.Images, "inventory.img")); err != nil || st.IsDir() {
		return nil, fmt.Errorf("%w: %s holds no CRIU images (no inventory.img)", sandbox.ErrPreflight, r.Images)
	}
	if r.Bundle != "" {
		return p, l.preflightContainer(ctx, r, p)
	}
	if r.JoinNetPID > 0 {
		return nil, fmt.Errorf("%w: joining another network namespace is only for container archives", sandbox.ErrPreflight)
	}
	if p.held, err = HeldPaths(r.Images); err != nil {
		return nil, fmt.Errorf("%w: %v", sandbox.ErrPreflight, err)
	}
	if p.plan, err = MakePlan(p.held, r.Files); err != nil {
		return nil, fmt.Errorf("%w: %v", sandbox.ErrPreflight, err)
	}
	return p, nil
}

func overlaySupported() error {
	b, err := os.ReadFile("/proc/filesystems")
	if err != nil || !bytes.Contains(b, []byte("\toverlay\n")) {
		return fmt.Errorf("%w: the kernel has no overlay file system (needed for private copies of held paths): modprobe overlay", sandbox.ErrPreflight)
	}
	return nil
}

// Restore creates the sandbox and restores into it. When it fails (or ctx is cancelled),
// everything it made is removed before it returns.
func (l *Local) Restore(ctx context.Context, r sandbox.Request) (info *sandbox.Info, err error) {
	p, err := l.preflight(ctx, r)
	if err != nil {
		return nil, err
	}
	id := sandbox.NewID()
	dir := l.states.Dir(id)
	var undo sandbox.Cleanup
	defer func() {
		if err != nil {
			if cerr := undo.Run(); cerr != nil {
				err = fmt.Errorf("%w (and cleaning up failed: %v)", err, cerr)
			}
		}
	}()
	if err := os.MkdirAll(l.cfg.StateDir, 0o700); err != nil {
		return nil, err
	}
	if err := os.Mkdir(dir, 0o700); err != nil {
		return nil, fmt.Errorf("%w: %v", sandbox.ErrRestore, err)
	}
	undo.Push(func() error { return os.RemoveAll(dir) })
	info = &sandbox.Info{
		ID: id, Backend: sandbox.BackendLocal, Created: time.Now().UTC(), Source: r.Source,
		Kind: "criu-images", CaseID: r.CaseID, EvidenceID: r.EvidenceID, EvidenceSHA256: r.EvidenceSHA256,
		Dir: dir, State: "restoring",
	}
	if r.Bundle != "" {
		info.Kind = "container"
	}
	if err := l.states.Save(info); err != nil {
		return nil, err
	}
	ls := &localState{}
	if r.JoinNetPID > 0 {
		if err := l.joinNet(ctx, r, info, ls, &undo); err != nil {
			return nil, fmt.Errorf("%w: %v", sandbox.ErrRestore, err)
		}
	} else if err := l.startHolder(ctx, info, ls, &undo); err != nil {
		return nil, fmt.Errorf("%w: %v", sandbox.ErrRestore, err)
	}
	if err := saveLocal(dir, ls); err != nil {
		return nil, err
	}
	sinkhole := func(netPID int) error {
		if err := l.startSinkhole(ctx, info, ls, &undo, netPID); err != nil {
			return fmt.Errorf("%w: sinkhole: %v", sandbox.ErrRestore, err)
		}
		if err := l.states.Save(info); err != nil {
			return err
		}
		return saveLocal(dir, ls)
	}
	if r.Sinkhole && r.Bundle == "" {
		// before the restore: the restored tree finds its route at once
		if err := sinkhole(info.InitPID); err != nil {
			return nil, err
		}
	}
	t0 := time.Now()
	if r.Bundle != "" {
		err = l.restoreContainer(ctx, r, p, info, ls, &undo)
	} else {
		err = l.restoreImages(ctx, r, p, info, ls)
	}
	if err != nil {
		return nil, err
	}
	info.RestoreSeconds = time.Since(t0).Seconds()
	if r.Sinkhole && r.Bundle != "" {
		// into the container's netns (the sandbox's, or the one CRIU restored); the tree is
		// still stopped
		if err := sinkhole(info.RootPID); err != nil {
			return nil, err
		}
	}
	info.State = "stopped"
	if r.Run {
		if err := l.signalAll(info, ls, syscall.SIGCONT); err != nil {
			return nil, err
		}
		info.State = "running"
	}
	if err := saveLocal(dir, ls); err != nil {
		return nil, err
	}
	if err := l.states.Save(info); err != nil {
		return nil, err
	}
	return info, nil
}

// startHolder starts the namespace holder: `unshare` with fresh net, pid, mount, uts and ipc
// namespaces whose forked child (PID 1 of the new PID namespace) just sleeps, so the
// namespaces live until destroy. Everything else enters them with nsenter.
func (l *Local) startHolder(ctx context.Context, info *sandbox.Info, ls *localState, undo *sandbox.Cleanup) error {
	cmd := exec.Command("unshare", "--net", "--pid", "--mount", "--uts", "--ipc", "--fork",
		"--mount-proc", "--propagation", "private", "--kill-child", "--", "sleep", "infinity")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	cmd.Dir = "/"
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start namespace holder: %w", err)
	}
	go func() { _ = cmd.Wait() }() // reap it when it ends (tests live longer than one sandbox)
	ls.UnsharePID = cmd.Process.Pid
	ls.UnshareStart, _ = startTime(ls.UnsharePID)
	undo.Push(func() error { return killWait(ls.UnsharePID, ls.UnshareStart, 5*time.Second) })
	init, err := childPID(ls.UnsharePID, 5*time.Second)
	if err != nil {
		return err
	}
	info.InitPID = init
	ls.InitStart, _ = startTime(init)
	undo.Push(func() error { return killWait(init, ls.InitStart, 5*time.Second) })
	// wait until the child is in its own pid namespace (unshare forks, then execs sleep)
	deadline := time.Now().Add(5 * time.Second)
	for {
		if ns := nsInode(init, "pid"); ns != "" && ns != nsInode(os.Getpid(), "pid") {
			if strings.HasSuffix(cmdline(init), "sleep infinity") {
				break
			}
		}
		if time.Now().After(deadline) {
			return errors.New("namespace holder did not start")
		}
		time.Sleep(10 * time.Millisecond)
	}
	ls.PIDNS = nsInode(init, "pid")
	info.Namespaces = map[string]string{}
	for _, t := range []string{"net", "pid", "mnt", "uts", "ipc"} {
		info.Namespaces[t] = nsInode(init, t)
		if info.Namespaces[t] == nsInode(os.Getpid(), t) {
			return fmt.Errorf("namespace holder shares the %s namespace with the host", t)
		}
	}
	hostname := "podsleuth-" + info.ID
	return l.nsRun(ctx, info.InitPID, "-n -u", "sh", "-c", "ip link set lo up && hostname "+hostname)
}

// nsRun runs argv inside the sandbox namespaces named by flags (nsenter flags, e.g. "-m -n").
func (l *Local) nsRun(ctx context.Context, init int, flags string, argv ...string) error {
	args := append([]string{"-t", strconv.Itoa(init)}, strings.Fields(flags)...)
	args = append(append(args, "--"), argv...)
	out, err := exec.CommandContext(ctx, "nsenter", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("nsenter %s: %w: %s", strings.Join(argv, " "), err, bytes.TrimSpace(out))
	}
	return nil
}

// restoreImages restores a bare CRIU image directory with criu inside the sandbox, in its
// private root (root.go).
func (l *Local) restoreImages(ctx context.Context, r sandbox.Request, p *prepared, info *sandbox.Info, ls *localState) error {
	dir := info.Dir
	work := filepath.Join(dir, "criu")
	b := &rootBuild{ID: info.ID, Root: filepath.Join(dir, "root"), Storage: filepath.Join(dir, "fs"), Plan: p.plan,
		Images: filepath.Join(dir, "images"), Orig: r.Images, Work: work, Hostname: "podsleuth-" + info.ID, Sinkhole: r.Sinkhole}
	// credentials, no_new_privs and seccomp from the allow-list, not from the archive
	if err := SandboxImages(r.Images, b.Images, stagingDir+"/orig"); err != nil {
		return fmt.Errorf("%w: %v", sandbox.ErrRestore, err)
	}
	info.Isolation = append(info.Isolation, credsIsolation)
	var err error
	if b.CRIU, err = filepath.EvalSymlinks(p.criu); err != nil {
		return err
	}
	for _, d := range []string{b.Root, b.Storage, work} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return err
		}
	}
	script, err := b.script()
	if err != nil {
		return err
	}
	if err := l.nsRun(ctx, info.InitPID, "-m -p", "sh", "-c", script); err != nil {
		return fmt.Errorf("%w: private root: %v", sandbox.ErrRestore, err)
	}
	info.PrivatePaths = append(info.PrivatePaths, p.plan.Overlays...)
	for _, h := range p.plan.Create {
		info.Recreated = append(info.Recreated, h.Path)
	}
	for _, dst := range sortedKeys(p.plan.Binds) {
		info.Warnings = append(info.Warnings, "held file "+dst+" supplied from "+p.plan.Binds[dst])
	}
	info.Isolation = append(info.Isolation, rootIsolation)
	pidfile := filepath.Join(work, "restored.pid")
	in := stagingDir + "/work"
	// --leave-stopped: every restored task gets SIGSTOP before it runs an instruction.
	// --network-lock skip: the netns is new and empty, nothing can interfere with the
	// TCP repair (and the host may lack iptables).
	args := []string{"restore", "-D", stagingDir + "/images", "-W", in, "-o", "restore.log", "-v4",
		"--tcp-established", "--ext-unix-sk", "--file-locks",
		"--network-lock", "skip", "--leave-stopped", "-d", "--pidfile", in + "/restored.pid"}
	if err := l.nsRun(ctx, info.InitPID, "-m -n -p -u -i", append([]string{b.CRIU}, args...)...); err != nil {
		return fmt.Errorf("%w: criu restore: %v%s", sandbox.ErrRestore, err, logErrors(filepath.Join(work, "restore.log")))
	}
	if err := l.nsRun(ctx, info.InitPID, "-m", "sh", "-c", b.unstage()); err != nil {
		return fmt.Errorf("%w: removing the restore's own mounts from the sandbox: %v", sandbox.ErrRestore, err)
	}
	b2, err := os.ReadFile(pidfile)
	if err != nil {
		return fmt.Errorf("%w: criu wrote no pidfile: %v", sandbox.ErrRestore, err)
	}
	nspid, err := strconv.Atoi(strings.TrimSpace(string(b2)))
	if err != nil {
		return fmt.Errorf("%w: pidfile %s: %v", sandbox.ErrRestore, pidfile, err)
	}
	for _, pid := range pidsInNS(ls.PIDNS) {
		if st, err := readStatus(pid); err == nil && len(st.NSpid) > 1 && st.NSpid[len(st.NSpid)-1] == nspid {
			info.RootPID = pid
		}
	}
	if info.RootPID == 0 {
		return fmt.Errorf("%w: restored root (pid %d in the sandbox) not found", sandbox.ErrRestore, nspid)
	}
	return nil
}

// rootIsolation is what sandbox show lists for a bare-image sandbox's file system.
const rootIsolation = "private root (pivot_root): a tmpfs with the host's /usr, /bin, /sbin, /lib* read-only (nosuid, nodev), its own /dev, /proc (masked and read-only paths), read-only /sys, private /etc; held directories as overlays with private upper layers; nothing else of the host"

// logErrors returns the last "Error" lines of a CRIU log, to put in the error message.
func logErrors(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	var errs []string
	for _, line := range strings.Split(string(b), "\n") {
		if strings.Contains(line, "Error") {
			errs = append(errs, strings.TrimSpace(line))
		}
	}
	if len(errs) > 5 {
		errs = errs[len(errs)-5:]
	}
	if len(errs) == 0 {
		return " (log: " + path + ")"
	}
	return "; " + strings.Join(errs, "; ") + " (log: " + path + ")"
}

// shq quotes s for sh.
func shq(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// escOverlay escapes the characters overlayfs treats specially in layer paths.
func escOverlay(s string) string {
	return strings.NewReplacer(`\`, `\\`, `,`, `\,`, `:`, `\:`).Replace(s)
}

// quarantineRules drop every packet that does not use loopback, in both directions, in the
// network namespace they are loaded into (a placeholder pod's, whose CNI may ignore
// NetworkPolicy). Priority -400 puts them before anything else.
const quarantineRules = `table inet podsleuth_quarantine {
	chain in {
		type filter hook prerouting priority -400; policy drop;
		iifname "lo" accept
	}
	chain out {
		type filter hook output priority -400; policy drop;
		oifname "lo" accept
	}
}
`

// joinNet makes the sandbox use the network namespace of r.JoinNetPID, quarantined.
func (l *Local) joinNet(ctx context.Context, r sandbox.Request, info *sandbox.Info, ls *localState, undo *sandbox.Cleanup) error {
	if r.Bundle == "" {
		return errors.New("joining a network namespace is only for container archives")
	}
	if _, err := exec.LookPath("nft"); err != nil {
		return fmt.Errorf("nft not found: the quarantine of the joined network namespace needs nftables")
	}
	pid := r.JoinNetPID
	ns := nsInode(pid, "net")
	if ns == "" || ns == nsInode(os.Getpid(), "net") {
		return fmt.Errorf("process %d has no network namespace of its own", pid)
	}
	info.InitPID = pid
	ls.InitStart, _ = startTime(pid)
	ls.ForeignNet = true
	info.Namespaces = map[string]string{"net": ns}
	c := exec.CommandContext(ctx, "nsenter", "-t", strconv.Itoa(pid), "-n", "--", "nft", "-f", "-")
	c.Stdin = strings.NewReader(quarantineRules)
	if out, err := c.CombinedOutput(); err != nil {
		return fmt.Errorf("quarantine nftables in the network namespace of %d: %w: %s", pid, err, bytes.TrimSpace(out))
	}
	info.Isolation = append(info.Isolation, "nftables in the sandbox network namespace: every packet not on loopback dropped (table inet podsleuth_quarantine)")
	return nil
}
