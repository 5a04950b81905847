package restore

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/podsleuth/podsleuth/cluster"
	"github.com/podsleuth/podsleuth/config"
	"github.com/podsleuth/podsleuth/forensics/archive"
	"github.com/podsleuth/podsleuth/forensics/evidence"
	"github.com/podsleuth/podsleuth/forensics/open"
	"github.com/podsleuth/podsleuth/sandbox"
	"github.com/podsleuth/podsleuth/sandbox/kube"
	"github.com/podsleuth/podsleuth/sandbox/local"
)

// Config is one restore.
type Config struct {
	// Settings are podsleuth's settings: evidence store, cache, limits, case, sandbox tools.
	Settings *config.Config
	// Arg is the checkpoint: an archive, a CRIU image directory, or an evidence ID (prefix).
	Arg string
	// Cluster, when set, restores into a quarantine namespace of that cluster; otherwise the
	// restore is local (fresh Linux namespaces on this machine).
	Cluster *cluster.Conn
	// Node is the cluster node to restore on (default: the node the evidence came from).
	Node string
	// AllowNodeHelper lets the cluster backend run a short-lived privileged helper pod.
	AllowNodeHelper bool
	// Run resumes the restored tree (default: restored stopped); Sinkhole connects a local
	// sandbox to a logging sinkhole.
	Run, Sinkhole bool
	// Rootfs is the base root filesystem (directory or tar) of a container checkpoint.
	Rootfs string
	// Files supplies held files from elsewhere: absolute held path -> local copy.
	Files map[string]string
	// JoinNetPID restores into that process's network namespace, quarantined (node helper).
	JoinNetPID int
	// Force restores store evidence that failed its verification (see Run).
	Force bool
}

// ErrRootfsForBareImages refuses --rootfs for a bare CRIU image directory.
var ErrRootfsForBareImages = errors.New("--rootfs applies to container checkpoint archives only; this is a bare CRIU image directory")

// Run restores the checkpoint into an isolated sandbox and records the outcome ("restored", or
// "restore-refused" with the error) in the evidence's custody log. Whatever it unpacked is
// removed when it returns; the sandbox keeps what it needs.
//
// Store evidence is re-checked first (archive, artifacts, custody chain and signatures, as on
// every opening). Unlike the read-only analysis, which shows altered evidence with a banner, a
// restore of an item that fails the check is refused (an error wrapping open.ErrMismatch,
// recorded with verification=MISMATCH): a restore runs the evidence's code and leaves a sandbox
// that others take for the acquired container, so what runs must be what was acquired. Force
// restores it anyway; the outcome is recorded with verification=MISMATCH and forced=true, and
// Info.Warnings says so.
func Run(ctx context.Context, cfg Config) (*sandbox.Info, error) {
	c := cfg.Settings
	if c == nil {
		return nil, errors.New("restore: no settings")
	}
	if cfg.Cluster != nil && cfg.Sinkhole {
		return nil, errors.New("--sinkhole is for --local sandboxes; a cluster sandbox has no network but loopback")
	}
	if cfg.Cluster != nil && cfg.Cluster.Readonly {
		return nil, fmt.Errorf("restore --cluster: %w: it creates namespaces and pods (drop --readonly)", cluster.ErrReadonly)
	}
	req := sandbox.Request{Source: cfg.Arg, Run: cfg.Run, Sinkhole: cfg.Sinkhole, CaseID: c.Case.ID, JoinNetPID: cfg.JoinNetPID}
	for held, loc := range cfg.Files {
		if !filepath.IsAbs(held) || loc == "" {
			return nil, fmt.Errorf("file %q=%q: want an absolute held path and a local copy", held, loc)
		}
		abs, err := filepath.Abs(loc)
		if err != nil {
			return nil, err
		}
		if req.Files == nil {
			req.Files = map[string]string{}
		}
		req.Files[filepath.Clean(held)] = abs
	}
	if cfg.Rootfs != "" {
		abs, err := filepath.Abs(cfg.Rootfs)
		if err != nil {
			return nil, err
		}
		req.Rootfs = abs
	}
	// the argument: a path, or the ID of an item in the evidence store
	t, err := open.Resolve(open.FromConfig(c, cfg.Arg, ""))
	if err != nil {
		return nil, err
	}
	path, err := filepath.Abs(t.Path)
	if err != nil {
		return nil, err
	}
	node := cfg.Node
	var verification map[string]string // recorded with the outcome
	if it := t.Item; it != nil {
		req.EvidenceID, req.EvidenceSHA256, req.Custody = it.ID, it.Manifest.LocalSHA256, t.Store
		if verification, err = verify(ctx, t.Store, it.ID, cfg.Force); err != nil {
			_ = sandbox.LogCustody(req.Custody, req.EvidenceID, "restore-refused", merge(verification, map[string]string{"error": err.Error()}))
			return nil, err
		}
		if req.CaseID == "" {
			req.CaseID = it.Manifest.CaseID
		}
		if node == "" {
			node = it.Manifest.Node
		}
	}
	req.Archive = path
	cleanup, err := prepare(ctx, c, path, &req)
	defer cleanup()
	if err != nil {
		return nil, err
	}
	if req.Bundle == "" && req.Rootfs != "" {
		return nil, ErrRootfsForBareImages
	}
	var backend sandbox.Restorer = Local(c)
	if cfg.Cluster != nil {
		backend = Cluster(c, cfg.Cluster, node, cfg.AllowNodeHelper)
	}
	info, err := backend.Restore(ctx, req)
	if err != nil {
		_ = sandbox.LogCustody(req.Custody, req.EvidenceID, "restore-refused", merge(verification, map[string]string{"error": err.Error()}))
		return nil, err
	}
	info.EvidenceVerification = verification["verification"]
	if verification["verification"] == open.StateMismatch {
		info.Warnings = append(info.Warnings, "evidence "+req.EvidenceID+" failed verification and was restored with --force: "+verification["problems"])
	}
	if err := sandbox.LogCustody(req.Custody, req.EvidenceID, "restored", merge(verification, map[string]string{
		"sandbox": info.ID, "backend": info.Backend, "state": info.State, "dir": info.Dir,
		"net_ns": info.Namespaces["net"], "pid_ns": info.Namespaces["pid"], "sinkhole": fmt.Sprint(info.Sinkhole != nil),
	})); err != nil {
		return info, fmt.Errorf("sandbox %s restored, but writing the custody log failed: %w", info.ID, err)
	}
	return info, nil
}

// verify re-checks store evidence before it is restored: the details to record with the
// outcome, and an error wrapping open.ErrMismatch for evidence that failed the check (unless
// force) or could not be checked.
func verify(ctx context.Context, st *evidence.Store, id string, force bool) (map[string]string, error) {
	res, err := st.Check(ctx, id)
	if res == nil {
		return map[string]string{"verification": open.StateFailed}, fmt.Errorf("restore %s: %w: it could not be verified: %v", id, open.ErrMismatch, err)
	}
	d := map[string]string{"verification": open.StateVerified, "sha256": res.Actual}
	if res.OK {
		return d, nil
	}
	d["verification"], d["problems"] = open.StateMismatch, strings.Join(res.Problems, "; ")
	if force {
		d["forced"] = "true"
		return d, nil
	}
	return d, fmt.Errorf("restore %s refused: %w: %s (a restore runs the evidence's code: --force restores it anyway, recorded in its custody log)",
		id, open.ErrMismatch, d["problems"])
}

// merge returns the details of a and b in one map (b wins).
func merge(a, b map[string]string) map[string]string {
	m := make(map[string]string, len(a)+len(b))
	for k, v := range a {
		m[k] = v
	}
	for k, v := range b {
		m[k] = v
	}
	return m
}

// prepare sets Images/Bundle: a bare image dir is used in place; an archive is unpacked
// (through forensics/archive, which refuses traversal, links and bombs) into a temporary
// directory under the cache that the returned cleanup removes.
func prepare(ctx context.Context, c *config.Config, path string, req *sandbox.Request) (func(), error) {
	none := func() {}
	st, err := os.Stat(path)
	if err != nil {
		return none, err
	}
	if st.IsDir() {
		if _, err := os.Stat(filepath.Join(path, "checkpoint", "inventory.img")); err == nil {
			req.Bundle, req.Images = path, filepath.Join(path, "checkpoint")
			return none, nil
		}
		req.Images = path
		return none, nil
	}
	cache := open.CacheDir(c.CacheDir)
	ar, err := archive.Open(ctx, path, archive.LimitsFrom(c.Limits), cache)
	if err != nil {
		return none, err
	}
	defer ar.Close()
	if err := os.MkdirAll(cache, 0o700); err != nil {
		return none, err
	}
	tmp, err := os.MkdirTemp(cache, "restore-")
	if err != nil {
		return none, err
	}
	cleanup := func() { _ = os.RemoveAll(tmp) }
	if err := sandbox.Unpack(ctx, ar, tmp); err != nil {
		return cleanup, err
	}
	if ar.ImageDir() == "" {
		req.Images = tmp
		return cleanup, nil
	}
	req.Bundle, req.Images = tmp, filepath.Join(tmp, strings.TrimSuffix(ar.ImageDir(), "/"))
	return cleanup, nil
}

// StateDir is where sandbox state lives: sandbox.state_dir, else CACHE/sandboxes.
func StateDir(c *config.Config) string {
	if c.Sandbox.StateDir != "" {
		return c.Sandbox.StateDir
	}
	return filepath.Join(c.CacheDir, "sandboxes")
}

// Local builds the local backend from the settings (criu and runtime from the config, else
// PODSLEUTH_CRIU and PODSLEUTH_K8S_BIN/runc, else PATH).
func Local(c *config.Config) *local.Local {
	criu := c.Sandbox.CRIU
	if criu == "" {
		criu = os.Getenv("PODSLEUTH_CRIU")
	}
	runtime := c.Sandbox.Runtime
	if runtime == "" {
		if d := os.Getenv("PODSLEUTH_K8S_BIN"); d != "" {
			runtime = filepath.Join(d, "runc")
		}
	}
	exe, err := os.Executable()
	if err != nil {
		exe = "podsleuth"
	}
	return local.New(local.Config{CRIU: criu, Runtime: runtime, StateDir: StateDir(c),
		SinkholeCommand: []string{exe, "sandbox", "sinkhole-serve"}})
}

// Cluster builds the cluster backend for a node.
func Cluster(c *config.Config, conn *cluster.Conn, node string, allowHelper bool) *kube.Kube {
	exe, _ := os.Executable()
	var env []string
	if c.Sandbox.NodeCRIU != "" {
		env = append(env, "PODSLEUTH_SANDBOX_CRIU="+c.Sandbox.NodeCRIU)
	}
	if c.Sandbox.NodeRuntime != "" {
		env = append(env, "PODSLEUTH_SANDBOX_RUNTIME="+c.Sandbox.NodeRuntime)
	}
	return kube.New(kube.Config{Client: conn.Client, REST: conn.Config, Node: node, AllowNodeHelper: allowHelper,
		Image: c.Sandbox.HelperImage, Exe: exe, NodeDir: c.Sandbox.NodeDir, NodeEnv: env, StateDir: StateDir(c)})
}
