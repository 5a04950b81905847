package kube

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/podsleuth/podsleuth/cluster"
	"github.com/podsleuth/podsleuth/sandbox"
)

// deleteNamespaces deletes the pods (so nothing waits for a namespace controller) and both
// namespaces of sandbox id.
func (k *Kube) deleteNamespaces(ctx context.Context, id string) error {
	var errs []error
	for _, ns := range []string{Namespace(id), HelperNamespace(id)} {
		pods, err := k.cfg.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		if err == nil {
			for _, p := range pods.Items {
				errs = append(errs, k.deletePod(ctx, ns, p.Name))
			}
		}
		if err := k.cfg.Client.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// nodeCleanup destroys the node-side sandbox (runc container, cgroups) and its files.
func (k *Kube) nodeCleanup(ctx context.Context, id string, cs *clusterState) error {
	hns := HelperNamespace(id)
	hp, err := k.cfg.Client.CoreV1().Pods(hns).Get(ctx, helper, metav1.GetOptions{})
	if err != nil || hp.Status.Phase != corev1.PodRunning {
		if hp, err = k.startHelper(ctx, id); err != nil {
			return err
		}
	}
	nd := cs.NodeDir
	if !strings.HasPrefix(nd, k.cfg.NodeDir+"/") {
		return fmt.Errorf("refusing to remove %q on the node", nd)
	}
	var errs []error
	if cs.NodeSandboxID != "" {
		env := append([]string{"PODSLEUTH_SANDBOX_STATE_DIR=" + nd + "/state", "PODSLEUTH_CACHE_DIR=" + nd + "/cache", "PODSLEUTH_DATA_DIR=" + nd + "/data"}, k.cfg.NodeEnv...)
		if _, err := k.nodeSh(ctx, hns, hp.Name, nil, "env "+strings.Join(shqAll(env), " ")+" "+nd+"/podsleuth sandbox destroy "+cs.NodeSandboxID); err != nil {
			errs = append(errs, err)
		}
	}
	if _, err := k.nodeSh(ctx, hns, hp.Name, nil, "rm -rf "+shq(nd)); err != nil {
		errs = append(errs, err)
	}
	errs = append(errs, k.deletePod(ctx, hns, hp.Name))
	return errors.Join(errs...)
}

func (k *Kube) save(info *sandbox.Info, cs *clusterState) error {
	b, err := json.MarshalIndent(cs, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(info.Dir, "cluster.json"), b, 0o600); err != nil {
		return err
	}
	return k.states.Save(info)
}

func (k *Kube) load(id string) (*sandbox.Info, *clusterState, error) {
	info, err := k.states.Load(id)
	if err != nil {
		return nil, nil, err
	}
	if info.Backend != sandbox.BackendCluster {
		return nil, nil, fmt.Errorf("%w: %s is a %s sandbox", sandbox.ErrNotFound, id, info.Backend)
	}
	b, err := os.ReadFile(filepath.Join(info.Dir, "cluster.json"))
	if err != nil {
		return nil, nil, err
	}
	cs := &clusterState{}
	return info, cs, json.Unmarshal(b, cs)
}

// List returns the cluster sandboxes this machine created.
func (k *Kube) List(ctx context.Context) ([]sandbox.Info, error) {
	return k.states.List(sandbox.BackendCluster)
}

// Get returns one cluster sandbox.
func (k *Kube) Get(ctx context.Context, id string) (*sandbox.Info, error) {
	info, _, err := k.load(id)
	return info, err
}

// onNode runs `podsleuth ARGS...` on the node against the node-side sandbox state, through
// a helper that is deleted again afterwards.
func (k *Kube) onNode(ctx context.Context, id string, args ...string) (string, error) {
	info, cs, err := k.load(id)
	if err != nil {
		return "", err
	}
	if k.cfg.Node == "" {
		k.cfg.Node = info.Node
	}
	if cs.NodeSandboxID == "" {
		return "", fmt.Errorf("%w: %s has no restored container on node %s", sandbox.ErrGone, id, info.Node)
	}
	hp, err := k.startHelper(ctx, id)
	if err != nil {
		return "", err
	}
	defer func() { _ = k.deletePod(context.WithoutCancel(ctx), HelperNamespace(id), hp.Name) }()
	nd := cs.NodeDir
	env := append([]string{"PODSLEUTH_SANDBOX_STATE_DIR=" + nd + "/state", "PODSLEUTH_CACHE_DIR=" + nd + "/cache", "PODSLEUTH_DATA_DIR=" + nd + "/data"}, k.cfg.NodeEnv...)
	for i, a := range args {
		if a == "{}" {
			args[i] = cs.NodeSandboxID
		}
	}
	return k.nodeSh(ctx, HelperNamespace(id), hp.Name, nil, "env "+strings.Join(shqAll(env), " ")+" "+nd+"/podsleuth "+strings.Join(shqAll(args), " "))
}

// Ps lists the restored processes on the node (PIDs are the node's).
func (k *Kube) Ps(ctx context.Context, id string) ([]sandbox.Process, error) {
	out, err := k.onNode(ctx, id, "sandbox", "ps", "{}", "-o", "json")
	if err != nil {
		return nil, err
	}
	var ps []sandbox.Process
	if err := json.Unmarshal([]byte(out), &ps); err != nil {
		return nil, fmt.Errorf("sandbox ps on node: unexpected reply %q", out)
	}
	return ps, nil
}

// Signal sends sig to the restored processes on the node (SIGCONT resumes).
func (k *Kube) Signal(ctx context.Context, id string, sig syscall.Signal) error {
	_, err := k.onNode(ctx, id, "sandbox", "kill", "{}", "--signal", strconv.Itoa(int(sig)))
	return err
}

// EnterCommand is not offered for cluster sandboxes: they run on a node, and Enter streams
// the command there instead.
func (k *Kube) EnterCommand(ctx context.Context, id string, argv []string) ([]string, error) {
	return nil, fmt.Errorf("sandbox %s runs on node %s: it is entered through the API server (Enter), not with a local command", id, k.cfg.Node)
}

// Enter runs argv (a shell when empty) in the restored container's namespaces on the node: a
// helper pod runs the node's podsleuth `sandbox enter`, and the caller's stdin, stdout and
// stderr (or terminal, with s.TTY) are streamed through the API server. It returns the
// command's exit status.
func (k *Kube) Enter(ctx context.Context, id string, argv []string, s sandbox.Streams) (int, error) {
	info, cs, err := k.load(id)
	if err != nil {
		return 0, err
	}
	if k.cfg.Node == "" {
		k.cfg.Node = info.Node
	}
	if cs.NodeSandboxID == "" {
		return 0, fmt.Errorf("%w: %s has no restored container on node %s", sandbox.ErrGone, id, info.Node)
	}
	hp, err := k.startHelper(ctx, id)
	if err != nil {
		return 0, err
	}
	defer func() { _ = k.deletePod(context.WithoutCancel(ctx), HelperNamespace(id), hp.Name) }()
	nd := cs.NodeDir
	env := append([]string{"PODSLEUTH_SANDBOX_STATE_DIR=" + nd + "/state", "PODSLEUTH_CACHE_DIR=" + nd + "/cache", "PODSLEUTH_DATA_DIR=" + nd + "/data"}, k.cfg.NodeEnv...)
	args := append([]string{"sandbox", "enter", cs.NodeSandboxID, "--"}, argv...)
	script := "exec env " + strings.Join(shqAll(env), " ") + " " + nd + "/podsleuth " + strings.Join(shqAll(args), " ")
	eo := cluster.ExecOptions{Command: nodeShArgv(script), Stdin: s.In, Stdout: s.Out, TTY: s.TTY}
	if !s.TTY {
		eo.Stderr = s.Err
	} else if s.Resize != nil {
		eo.Resize = func() (cluster.TerminalSize, bool) {
			sz, ok := <-s.Resize
			return cluster.TerminalSize{Width: sz.Width, Height: sz.Height}, ok
		}
	}
	err = cluster.Exec(ctx, k.cfg.Client, k.cfg.REST, HelperNamespace(id), hp.Name, eo)
	if code, ok := cluster.ExitStatus(err); ok {
		return code, nil
	}
	if err != nil {
		return 0, fmt.Errorf("enter %s on node %s: %w", id, info.Node, err)
	}
	return 0, nil
}

// Destroy removes the restored container (through a helper), the node files, the pods and
// the namespaces.
func (k *Kube) Destroy(ctx context.Context, id string) error {
	info, cs, err := k.load(id)
	if err != nil {
		return err
	}
	if k.cfg.Node == "" {
		k.cfg.Node = info.Node
	}
	errs := []error{k.nodeCleanup(ctx, id, cs), k.deleteNamespaces(ctx, id)}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("destroy %s: %w", id, err)
	}
	return os.RemoveAll(info.Dir)
}
