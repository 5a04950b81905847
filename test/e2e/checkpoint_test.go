package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/podsleuth/podsleuth/cluster"
	"github.com/podsleuth/podsleuth/forensics/evidence"
	"github.com/podsleuth/podsleuth/test/testenv"
)

// TestCheckpointAndPull checkpoints a running container through the real API server, kubelet,
// containerd, runc and CRIU, pulls the archive into the evidence store and checks the chain of
// custody: node hash == local hash, manifest fields, 0400 archive, custody log, and that
// verification catches a flipped byte.
func TestCheckpointAndPull(t *testing.T) {
	ns := namespace(t, "e2e-pull")
	collectorNS := "e2e-collect-" + randSuffix() // created by the pull itself
	pod := runPod(t, busyboxPod(ns, "victim", realNode,
		`echo planted > /tmp/dropped.txt; echo e2e-log-marker; while true; do sleep 1; done`, nil,
		corev1.EnvVar{Name: "E2E_MARKER", Value: "marker-" + ns}))
	c := connect(t, ctxAdmin, cluster.ConnectOptions{})

	targets, err := c.Resolve(t.Context(), ns, "victim", "", false, "")
	require.NoError(t, err)
	require.Equal(t, []cluster.Target{{Namespace: ns, Pod: "victim", Container: "app"}}, targets)

	res, err := c.Checkpoint(t.Context(), targets[0], time.Minute)
	require.NoError(t, err)
	require.Equal(t, realNode, res.Node)
	require.Equal(t, string(pod.UID), res.PodUID)
	require.Equal(t, pod.Status.ContainerStatuses[0].ContainerID, res.ContainerID)
	require.Contains(t, res.NodePath, "/checkpoints/checkpoint-victim_"+ns+"-app-")
	require.Contains(t, string(res.KubeletResponse), res.NodePath)
	require.Len(t, res.PodSpecHash, 64)
	require.Equal(t, "v1.37.2", res.KubeletVersion)
	require.Contains(t, res.Runtime, "containerd://")

	// the container kept running
	after, err := admin(t).CoreV1().Pods(ns).Get(t.Context(), "victim", metav1.GetOptions{})
	require.NoError(t, err)
	require.NotNil(t, after.Status.ContainerStatuses[0].State.Running)
	require.Zero(t, after.Status.ContainerStatuses[0].RestartCount)

	st, err := evidence.Open(t.TempDir())
	require.NoError(t, err)
	var phases []string
	var lastBytes int64
	item, err := c.Pull(t.Context(), res, cluster.PullOptions{
		Namespace: collectorNS, Image: testImage, Store: st, PodContext: true,
		Manifest: evidence.Manifest{ToolVersion: "podsleuth e2e", CaseID: "CASE-42", Analyst: "e2e"},
		Progress: func(p cluster.Progress) {
			if len(phases) == 0 || phases[len(phases)-1] != p.Phase {
				phases = append(phases, p.Phase)
			}
			if p.Phase == "stream" {
				lastBytes = p.Bytes
			}
		},
	})
	require.NoError(t, err)
	noCollectors(t, collectorNS)
	require.Equal(t, []string{"collector", "hash", "stream", "done"}, phases)

	m := item.Manifest
	require.Equal(t, m.Size, lastBytes)
	require.Equal(t, m.NodeSHA256, m.LocalSHA256, "hash on the node == hash while streaming")
	onNode, err := os.ReadFile(res.NodePath) // this machine is the node
	require.NoError(t, err)
	require.EqualValues(t, len(onNode), m.Size)
	require.NotNil(t, m.Cluster)
	require.Equal(t, c.Server, m.Cluster.Server)
	require.Equal(t, ctxAdmin, m.Cluster.Context)
	require.Equal(t, "admin", m.Cluster.User)
	require.Contains(t, m.Cluster.Groups, "system:masters")
	require.Equal(t, realNode, m.Node)
	require.Equal(t, res.NodePath, m.NodePath)
	require.Equal(t, ns, m.Namespace)
	require.Equal(t, "victim", m.Pod)
	require.Equal(t, string(pod.UID), m.PodUID)
	require.Equal(t, "app", m.Container)
	require.Equal(t, res.ContainerID, m.ContainerID)
	require.NotEmpty(t, m.Image)
	require.True(t, strings.HasPrefix(m.ImageDigest, "sha256:"), m.ImageDigest)
	require.Equal(t, res.PodSpecHash, m.PodSpecHash)
	require.JSONEq(t, string(res.KubeletResponse), string(m.KubeletResponse))
	require.Equal(t, "v1.37.2", m.KubeletVersion)
	for name, tm := range map[string]time.Time{"requested": m.CheckpointRequested, "completed": m.CheckpointCompleted, "pull started": m.PullStarted} {
		require.False(t, tm.IsZero(), name)
		require.Equal(t, time.UTC, tm.Location(), name)
	}
	require.False(t, m.CheckpointCompleted.Before(m.CheckpointRequested))
	require.False(t, m.PullStarted.Before(m.CheckpointCompleted))
	require.Equal(t, "CASE-42", m.CaseID)
	require.Equal(t, "podsleuth e2e", m.ToolVersion)
	require.Contains(t, m.Collector, collectorNS+"/podsleuth-collector-")
	require.Equal(t, os.FileMode(0o400), fileMode(t, item.Archive))

	// the pod's context, acquired with the archive: object, events, logs, each hashed
	var names []string
	for _, a := range m.Artifacts {
		names = append(names, a.Name)
		require.Len(t, a.SHA256, 64)
		require.Contains(t, a.Source, "GET /api/v1/namespaces/"+ns+"/")
		require.Equal(t, os.FileMode(0o400), fileMode(t, filepath.Join(item.Dir, "artifacts", a.Name)))
	}
	require.Equal(t, []string{"events.json", "logs-app.txt", "pod.json"}, names)
	logs, err := os.ReadFile(filepath.Join(item.Dir, "artifacts", "logs-app.txt"))
	require.NoError(t, err)
	require.Regexp(t, `(?m)^20\d\d-\d\d-\d\dT\S+ e2e-log-marker$`, string(logs), "the container's log with timestamps")
	podJSON, err := os.ReadFile(filepath.Join(item.Dir, "artifacts", "pod.json"))
	require.NoError(t, err)
	require.Contains(t, string(podJSON), `"uid":"`+string(pod.UID)+`"`)
	events, err := os.ReadFile(filepath.Join(item.Dir, "artifacts", "events.json"))
	require.NoError(t, err)
	require.Contains(t, string(events), `"kind":"EventList"`)

	evs, err := st.Custody(item.ID)
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(evs), 2)
	require.Equal(t, evidence.ActionAcquired, evs[0].Action)
	require.Equal(t, m.LocalSHA256, evs[0].Details["node_sha256"])
	require.Equal(t, "pulled", evs[1].Action)
	require.Equal(t, res.NodePath, evs[1].Details["node_path"])
	require.Equal(t, "3 artifact(s): events.json, logs-app.txt, pod.json", evs[1].Details["pod_context"])
	require.NotEmpty(t, evs[1].Details["pull_finished"])

	vr, err := st.Verify(t.Context(), item.ID)
	require.NoError(t, err)
	require.True(t, vr.OK)

	// flip one byte in the middle of the archive: verification must say so
	require.NoError(t, os.Chmod(item.Archive, 0o600))
	b, err := os.ReadFile(item.Archive)
	require.NoError(t, err)
	b[len(b)/2] ^= 0x01
	require.NoError(t, os.WriteFile(item.Archive, b, 0o600))
	require.NoError(t, os.Chmod(item.Archive, 0o400))
	vr, err = st.Verify(t.Context(), item.ID)
	require.ErrorIs(t, err, evidence.ErrTampered)
	require.False(t, vr.OK)
	require.NotEqual(t, vr.Expected, vr.Actual)
}

// TestCheckpointErrorClasses drives every failure class through the real API server: the
// kubelet stand-in produces what a real kubelet cannot on demand, the real kubelet the rest.
func TestCheckpointErrorClasses(t *testing.T) {
	ns := namespace(t, "e2e-errors")
	for _, name := range []string{"gate-off-1", "no-pod-1", "no-container-1", "criu-fail-1", "slow-1"} {
		standInPod(t, ns, name, fakeNode)
	}
	standInPod(t, ns, "unreachable-1", goneNode)
	// a real CRIU failure: an established TCP connection without --tcp-established
	tcp := busyboxPod(ns, "tcp-1", realNode,
		`httpd -f -p 9090 -h /tmp & sleep 1; (while true; do sleep 5; done | nc 127.0.0.1 9090) & while true; do sleep 1; done`, nil)
	tcp.Spec.Containers[0].ReadinessProbe = &corev1.Probe{PeriodSeconds: 1, ProbeHandler: corev1.ProbeHandler{
		Exec: &corev1.ExecAction{Command: []string{"sh", "-c", "netstat -tn | grep -q ESTABLISHED"}}}}
	runPod(t, tcp)
	runPod(t, busyboxPod(ns, "done-1", realNode, `exit 0`, nil))
	c := connect(t, ctxAdmin, cluster.ConnectOptions{})

	tests := []struct {
		name    string
		target  cluster.Target
		timeout time.Duration
		class   error
		want    []string
	}{
		{"feature gate off", cluster.Target{Namespace: ns, Pod: "gate-off-1", Container: "app"}, time.Minute, cluster.ErrGateOff,
			[]string{"ContainerCheckpoint", "pod and container exist", "404 page not found"}},
		{"kubelet does not know the pod", cluster.Target{Namespace: ns, Pod: "no-pod-1", Container: "app"}, time.Minute, cluster.ErrNoSuchPod,
			[]string{"does not know pod " + ns + "/no-pod-1", "pod does not exist"}},
		{"kubelet does not know the container", cluster.Target{Namespace: ns, Pod: "no-container-1", Container: "app"}, time.Minute, cluster.ErrNoSuchContainer,
			[]string{`does not know container "app"`}},
		{"runtime and CRIU text (stand-in)", cluster.Target{Namespace: ns, Pod: "criu-fail-1", Container: "app"}, time.Minute, cluster.ErrRuntime,
			[]string{"Can't dump file 5 of that type", "/dev/nvidia0", "dump.log"}},
		{"runtime and CRIU failure (real kubelet)", cluster.Target{Namespace: ns, Pod: "tcp-1", Container: "app"}, time.Minute, cluster.ErrRuntime,
			[]string{"checkpointing of " + ns + "/tcp-1/app failed", "criu failed", "criu-dump.log"}},
		{"timeout", cluster.Target{Namespace: ns, Pod: "slow-1", Container: "app"}, time.Second, cluster.ErrTimeout,
			[]string{"no answer from the kubelet within 1s", "raise --timeout"}},
		{"node unreachable", cluster.Target{Namespace: ns, Pod: "unreachable-1", Container: "app"}, time.Minute, cluster.ErrNodeUnreachable,
			[]string{"could not reach the kubelet of node " + goneNode, "connection refused"}},
		{"no such pod", cluster.Target{Namespace: ns, Pod: "missing", Container: "app"}, time.Minute, cluster.ErrNoSuchPod,
			[]string{"pod " + ns + "/missing does not exist"}},
		{"no such container", cluster.Target{Namespace: ns, Pod: "tcp-1", Container: "sidecar"}, time.Minute, cluster.ErrNoSuchContainer,
			[]string{`has no container "sidecar" (it has: app)`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			_, err := c.Checkpoint(t.Context(), tt.target, tt.timeout)
			require.Error(t, err)
			require.ErrorIs(t, err, tt.class, err.Error())
			var ce *cluster.CheckpointError
			require.True(t, errors.As(err, &ce))
			require.NotEmpty(t, ce.Fix, "every class says how to fix it")
			for _, w := range tt.want {
				require.Contains(t, err.Error(), w)
			}
			if tt.class == cluster.ErrTimeout {
				require.Less(t, time.Since(start), 10*time.Second, "the timeout bounds the wait")
			}
		})
	}
	t.Run("container not running", func(t *testing.T) {
		require.Eventually(t, func() bool {
			p, err := admin(t).CoreV1().Pods(ns).Get(t.Context(), "done-1", metav1.GetOptions{})
			return err == nil && len(p.Status.ContainerStatuses) == 1 && p.Status.ContainerStatuses[0].State.Running == nil
		}, 30*time.Second, 200*time.Millisecond)
		_, err := c.Checkpoint(t.Context(), cluster.Target{Namespace: ns, Pod: "done-1", Container: "app"}, time.Minute)
		require.ErrorIs(t, err, cluster.ErrNotRunning)
	})
}

// TestRBAC: the least-privilege responder of docs/rbac.yaml checkpoints and pulls; a user
// without those roles gets an error naming the missing permission.
func TestRBAC(t *testing.T) {
	ns := namespace(t, "e2e-rbac")
	runPod(t, busyboxPod(ns, "victim", realNode, `while true; do sleep 1; done`, nil))

	t.Run("responder checkpoints and pulls", func(t *testing.T) {
		c := connect(t, ctxResp, cluster.ConnectOptions{})
		id, err := c.WhoAmI(t.Context())
		require.NoError(t, err)
		require.Equal(t, "responder", id.Username)
		require.Contains(t, id.Groups, "podsleuth:responders")
		res, err := c.Checkpoint(t.Context(), cluster.Target{Namespace: ns, Pod: "victim", Container: "app"}, time.Minute)
		require.NoError(t, err)
		st, err := evidence.Open(t.TempDir())
		require.NoError(t, err)
		item, err := c.Pull(t.Context(), res, cluster.PullOptions{Namespace: "podsleuth-system", Image: pinnedImage(t), Store: st, PodContext: true})
		require.NoError(t, err)
		require.Equal(t, item.Manifest.NodeSHA256, item.Manifest.LocalSHA256)
		require.Equal(t, "responder", item.Manifest.Cluster.User)
		require.Len(t, item.Manifest.Artifacts, 3, "the role covers the pod's object, events and logs")
	})
	t.Run("nobody cannot even read the pod", func(t *testing.T) {
		c := connect(t, ctxNobody, cluster.ConnectOptions{})
		_, err := c.Checkpoint(t.Context(), cluster.Target{Namespace: ns, Pod: "victim", Container: "app"}, time.Minute)
		require.ErrorIs(t, err, cluster.ErrForbidden)
		require.Contains(t, err.Error(), "cannot get pods in namespace "+ns)
		require.Contains(t, err.Error(), "docs/rbac.yaml")
	})
	t.Run("reading pods but no nodes/proxy", func(t *testing.T) {
		cs := admin(t)
		_, err := cs.RbacV1().Roles(ns).Create(t.Context(), &rbacv1.Role{
			ObjectMeta: metav1.ObjectMeta{Name: "read-pods"},
			Rules:      []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get", "list"}}},
		}, metav1.CreateOptions{})
		require.NoError(t, err)
		_, err = cs.RbacV1().RoleBindings(ns).Create(t.Context(), &rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: "nobody-reads-pods"},
			RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "read-pods"},
			Subjects:   []rbacv1.Subject{{APIGroup: "rbac.authorization.k8s.io", Kind: "User", Name: "nobody"}},
		}, metav1.CreateOptions{})
		require.NoError(t, err)
		c := connect(t, ctxNobody, cluster.ConnectOptions{})
		require.Eventually(t, func() bool { // RBAC caches settle quickly
			_, err := c.Client.CoreV1().Pods(ns).Get(t.Context(), "victim", metav1.GetOptions{})
			return err == nil
		}, 10*time.Second, 100*time.Millisecond)
		_, err = c.Checkpoint(t.Context(), cluster.Target{Namespace: ns, Pod: "victim", Container: "app"}, time.Minute)
		require.ErrorIs(t, err, cluster.ErrForbidden)
		require.Contains(t, err.Error(), "missing permission create on nodes/proxy (node "+realNode+")")

		// allowed to run the collector but not to read logs or events: the pull goes on, the
		// pod's context holds what could be read, and the custody log says what could not
		rb := "nobody-collects-" + randSuffix()
		_, err = cs.RbacV1().RoleBindings("podsleuth-system").Create(t.Context(), &rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: rb},
			RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "podsleuth-collector"},
			Subjects:   []rbacv1.Subject{{APIGroup: "rbac.authorization.k8s.io", Kind: "User", Name: "nobody"}},
		}, metav1.CreateOptions{})
		require.NoError(t, err)
		t.Cleanup(func() {
			_ = cs.RbacV1().RoleBindings("podsleuth-system").Delete(context.Background(), rb, metav1.DeleteOptions{})
		})
		res, err := connect(t, ctxAdmin, cluster.ConnectOptions{}).Checkpoint(t.Context(), cluster.Target{Namespace: ns, Pod: "victim", Container: "app"}, time.Minute)
		require.NoError(t, err)
		st, err := evidence.Open(t.TempDir())
		require.NoError(t, err)
		var item *evidence.Item
		require.Eventually(t, func() bool {
			item, err = c.Pull(t.Context(), res, cluster.PullOptions{Namespace: "podsleuth-system", Image: pinnedImage(t), Store: st, PodContext: true})
			return err == nil
		}, 20*time.Second, 500*time.Millisecond, "pull as nobody with the collector role: %v", err)
		require.Len(t, item.Manifest.Artifacts, 1)
		require.Equal(t, "pod.json", item.Manifest.Artifacts[0].Name)
		evs, err := st.Custody(item.ID)
		require.NoError(t, err)
		pc := evs[1].Details["pod_context"]
		require.Contains(t, pc, "1 artifact(s): pod.json")
		require.Contains(t, pc, "events of the pod not acquired: permission denied")
		require.Contains(t, pc, "logs of container app (current instance, with timestamps) not acquired: permission denied")
	})
}

// TestReadonly proves that --readonly refuses every mutating request before it is sent: the API
// server's audit log holds no mutating request from the read-only client, while a positive
// control (a read) from the same client is there.
func TestReadonly(t *testing.T) {
	ns := namespace(t, "e2e-ro")
	runPod(t, busyboxPod(ns, "victim", realNode, `while true; do sleep 1; done`, nil))
	ua := "podsleuth-e2e-readonly-" + randSuffix()
	c := connect(t, ctxAdmin, cluster.ConnectOptions{Readonly: true, UserAgent: ua})
	target := cluster.Target{Namespace: ns, Pod: "victim", Container: "app"}

	_, err := c.Checkpoint(t.Context(), target, time.Minute)
	require.ErrorIs(t, err, cluster.ErrReadonly)
	st, err := evidence.Open(t.TempDir())
	require.NoError(t, err)
	_, err = c.Pull(t.Context(), &cluster.CheckpointResult{Target: target, Node: realNode, NodePath: "/var/lib/kubelet/checkpoints/checkpoint-x.tar"},
		cluster.PullOptions{Namespace: ns, Image: testImage, Store: st})
	require.ErrorIs(t, err, cluster.ErrReadonly)
	// the transport guard catches what the library's own checks would not
	_, err = c.Client.CoreV1().Pods(ns).Create(t.Context(), busyboxPod(ns, "sneaky", realNode, "true", nil), metav1.CreateOptions{})
	require.ErrorIs(t, err, cluster.ErrReadonly)
	err = c.Client.CoreV1().Pods(ns).Delete(t.Context(), "victim", metav1.DeleteOptions{})
	require.ErrorIs(t, err, cluster.ErrReadonly)
	_, err = c.Client.CoreV1().RESTClient().Post().Resource("nodes").Name(realNode).SubResource("proxy").
		Suffix("checkpoint", ns, "victim", "app").Do(t.Context()).Raw()
	require.ErrorIs(t, err, cluster.ErrReadonly)
	// reads and the who-am-I review still work
	_, err = c.Client.CoreV1().Pods(ns).Get(t.Context(), "victim", metav1.GetOptions{})
	require.NoError(t, err)
	_, err = c.WhoAmI(t.Context())
	require.NoError(t, err)

	var reads, mutating []string
	require.Eventually(t, func() bool {
		reads, mutating = auditByAgent(t, ua)
		return len(reads) > 0
	}, 10*time.Second, 200*time.Millisecond, "the positive control (a GET) must reach the audit log")
	require.Empty(t, mutating, "no mutating request from the read-only client may reach the API server")
}

// auditEvent is one API server audit event (the fields the tests look at).
type auditEvent struct {
	Verb       string    `json:"verb"`
	Stage      string    `json:"stage"`
	RequestURI string    `json:"requestURI"`
	UserAgent  string    `json:"userAgent"`
	Received   time.Time `json:"requestReceivedTimestamp"`
	StageTime  time.Time `json:"stageTimestamp"`
	ObjectRef  *struct {
		Resource    string `json:"resource"`
		Subresource string `json:"subresource"`
		Namespace   string `json:"namespace"`
	} `json:"objectRef"`
}

// auditEvents returns the audit events of one user agent, oldest first.
func auditEvents(t *testing.T, ua string) []auditEvent {
	f, err := os.Open(auditLog(t))
	require.NoError(t, err)
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	var evs []auditEvent
	for sc.Scan() {
		if !strings.Contains(sc.Text(), ua) {
			continue
		}
		var ev auditEvent
		require.NoError(t, json.Unmarshal(sc.Bytes(), &ev))
		if ev.UserAgent == ua {
			evs = append(evs, ev)
		}
	}
	require.NoError(t, sc.Err())
	return evs
}

// auditByAgent splits the audit events of one user agent into reads and mutating requests.
func auditByAgent(t *testing.T, ua string) (reads, mutating []string) {
	for _, ev := range auditEvents(t, ua) {
		switch {
		case ev.Verb == "get" || ev.Verb == "list" || ev.Verb == "watch":
			reads = append(reads, ev.RequestURI)
		case ev.ObjectRef != nil && ev.Verb == "create" && strings.HasPrefix(ev.ObjectRef.Resource, "selfsubject"):
			reads = append(reads, ev.RequestURI) // a question, not a change
		default:
			mutating = append(mutating, ev.Verb+" "+ev.RequestURI)
		}
	}
	return reads, mutating
}

// TestPullFailureAndCancelLeaveNoCollector: a failed pull and a cancelled pull both delete
// their collector pod.
func TestPullFailureAndCancelLeaveNoCollector(t *testing.T) {
	ns := namespace(t, "e2e-cancel")
	collectorNS := namespace(t, "e2e-cancel-collect")
	runPod(t, busyboxPod(ns, "victim", realNode, `while true; do sleep 1; done`, nil))
	c := connect(t, ctxAdmin, cluster.ConnectOptions{})
	res, err := c.Checkpoint(t.Context(), cluster.Target{Namespace: ns, Pod: "victim", Container: "app"}, time.Minute)
	require.NoError(t, err)
	st, err := evidence.Open(t.TempDir())
	require.NoError(t, err)

	t.Run("archive gone from the node", func(t *testing.T) {
		gone := *res
		gone.NodePath = strings.Replace(res.NodePath, "checkpoint-victim", "checkpoint-vanished", 1)
		_, err := c.Pull(t.Context(), &gone, cluster.PullOptions{Namespace: collectorNS, Image: testImage, Store: st})
		require.ErrorIs(t, err, cluster.ErrStream)
		require.Contains(t, err.Error(), "No such file")
		noCollectors(t, collectorNS)
	})
	t.Run("a symlink in the checkpoint directory is refused", func(t *testing.T) {
		// the collector mounts the whole checkpoint directory: a link planted there (by anyone
		// who can write it on the node) must not make it stream another node file
		link := *res
		link.NodePath = strings.Replace(res.NodePath, "checkpoint-victim", "checkpoint-link", 1)
		require.NoError(t, os.Symlink("/etc/hostname", link.NodePath))
		t.Cleanup(func() { _ = os.Remove(link.NodePath) })
		_, err := c.Pull(t.Context(), &link, cluster.PullOptions{Namespace: collectorNS, Image: testImage, Store: st})
		require.ErrorIs(t, err, cluster.ErrStream)
		require.Contains(t, err.Error(), "a symlink: refused")
		noCollectors(t, collectorNS)
	})
	t.Run("cancelled while the collector starts", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		_, err := c.Pull(ctx, res, cluster.PullOptions{Namespace: collectorNS, Image: testImage, Store: st,
			Progress: func(p cluster.Progress) {
				if p.Phase == "collector" {
					go func() { time.Sleep(300 * time.Millisecond); cancel() }()
				}
			}})
		require.ErrorIs(t, err, context.Canceled)
		noCollectors(t, collectorNS)
	})
	t.Run("cancelled while hashing", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		_, err := c.Pull(ctx, res, cluster.PullOptions{Namespace: collectorNS, Image: testImage, Store: st,
			Progress: func(p cluster.Progress) {
				if p.Phase == "hash" {
					cancel()
				}
			}})
		require.Error(t, err)
		noCollectors(t, collectorNS)
	})
	items, err := st.List()
	require.NoError(t, err)
	require.Empty(t, items, "nothing half-acquired")
}

// TestSelectorCheckpointsADeployment checkpoints every pod matching a label selector with
// bounded concurrency.
func TestSelectorCheckpointsADeployment(t *testing.T) {
	ns := namespace(t, "e2e-selector")
	for _, n := range []string{"web-a", "web-b", "web-c"} {
		runPod(t, busyboxPod(ns, n, realNode, `while true; do sleep 1; done`, map[string]string{"app": "web"}))
	}
	runPod(t, busyboxPod(ns, "db", realNode, `while true; do sleep 1; done`, map[string]string{"app": "db"}))
	c := connect(t, ctxAdmin, cluster.ConnectOptions{})
	ts, err := c.Resolve(t.Context(), ns, "", "", false, "app=web")
	require.NoError(t, err)
	require.Len(t, ts, 3)
	var done int
	res, errs := c.CheckpointAll(t.Context(), ts, time.Minute, 2, nil, func(int, *cluster.CheckpointResult, error) { done++ })
	require.Equal(t, 3, done)
	for i := range ts {
		require.NoError(t, errs[i])
		require.Contains(t, res[i].NodePath, "checkpoint-"+ts[i].Pod+"_"+ns)
	}
	_, err = c.Resolve(t.Context(), ns, "", "", false, "app=nothing")
	require.ErrorIs(t, err, cluster.ErrNoSuchPod)
}

// TestPullDeleteFromNode: after a verified pull the archive can be removed from the node (off
// by default); the custody log records it and no pod is left.
func TestPullDeleteFromNode(t *testing.T) {
	ns := namespace(t, "e2e-delnode")
	runPod(t, busyboxPod(ns, "victim", realNode, `while true; do sleep 1; done`, nil))
	c := connect(t, ctxAdmin, cluster.ConnectOptions{})
	res, err := c.Checkpoint(t.Context(), cluster.Target{Namespace: ns, Pod: "victim", Container: "app"}, time.Minute)
	require.NoError(t, err)
	_, err = os.Stat(res.NodePath) // this machine is the node
	require.NoError(t, err)
	st, err := evidence.Open(t.TempDir())
	require.NoError(t, err)
	item, err := c.Pull(t.Context(), res, cluster.PullOptions{Namespace: ns, Image: testImage, Store: st, DeleteFromNode: true})
	require.NoError(t, err)
	_, err = os.Stat(res.NodePath)
	require.ErrorIs(t, err, os.ErrNotExist, "the archive is gone from the node")
	evs, err := st.Custody(item.ID)
	require.NoError(t, err)
	require.Equal(t, evidence.ActionNodeDeleted, evs[len(evs)-1].Action)
	require.Equal(t, res.NodePath, evs[len(evs)-1].Details["path"])
	noCollectors(t, ns)
	vr, err := st.Verify(t.Context(), item.ID)
	require.NoError(t, err)
	require.True(t, vr.OK)
}

// TestPullResumesABrokenStream kills the collector's `cat` in the middle of the stream (this
// machine is the node): the pull resumes from the byte it reached and the archive still hashes
// to the node's SHA-256.
func TestPullResumesABrokenStream(t *testing.T) {
	ns := namespace(t, "e2e-resume")
	p := busyboxPod(ns, "big", realNode,
		`x=$(head -c 100000000 /dev/urandom | base64 -w0 | head -c 100000000); touch /tmp/ready; while true; do sleep 1; done`, nil)
	p.Spec.Containers[0].ReadinessProbe = &corev1.Probe{PeriodSeconds: 1, ProbeHandler: corev1.ProbeHandler{
		Exec: &corev1.ExecAction{Command: []string{"test", "-f", "/tmp/ready"}}}}
	runPod(t, p)
	c := connect(t, ctxAdmin, cluster.ConnectOptions{})
	res, err := c.Checkpoint(t.Context(), cluster.Target{Namespace: ns, Pod: "big", Container: "app"}, 2*time.Minute)
	require.NoError(t, err)
	t.Cleanup(func() { _ = os.Remove(res.NodePath) })
	base := res.NodePath[strings.LastIndex(res.NodePath, "/")+1:]

	killed := make(chan int, 1)
	go func() {
		killed <- killWhenRunning(t, "cat\x00/checkpoints/"+base, 150*time.Millisecond, 60*time.Second)
	}()
	st, err := evidence.Open(t.TempDir())
	require.NoError(t, err)
	item, err := c.Pull(t.Context(), res, cluster.PullOptions{Namespace: ns, Image: testImage, Store: st})
	require.NoError(t, err)
	require.NotZero(t, <-killed, "the stream's cat was killed mid-way")
	require.Equal(t, item.Manifest.NodeSHA256, item.Manifest.LocalSHA256)
	evs, err := st.Custody(item.ID)
	require.NoError(t, err)
	require.Equal(t, "pulled", evs[1].Action)
	require.NotEqual(t, "1", evs[1].Details["attempts"], "resumed at least once")
	noCollectors(t, ns)
}

// killWhenRunning waits for a process whose command line starts with prefix, lets it run for
// a moment, kills it and returns its pid (0 when none appeared).
func killWhenRunning(t *testing.T, prefix string, after, timeout time.Duration) int {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		dirs, _ := os.ReadDir("/proc")
		for _, d := range dirs {
			pid, err := strconv.Atoi(d.Name())
			if err != nil {
				continue
			}
			cmd, err := os.ReadFile("/proc/" + d.Name() + "/cmdline")
			if err != nil || !strings.HasPrefix(string(cmd), prefix) {
				continue
			}
			time.Sleep(after)
			if syscall.Kill(pid, syscall.SIGKILL) == nil {
				return pid
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	return 0
}

// TestCollectorPoolPrestartsAndShares: in a run of several checkpoints on one node, the collector
// pod is created while the kubelet still checkpoints (before its reply, per the API server's
// audit log) and is the one collector of every pull of the run; Close leaves nothing. With a
// wrong checkpoint directory configured, the prestarted collector is of no use: the pull starts
// one for the directory the kubelet named, and Close deletes both.
func TestCollectorPoolPrestartsAndShares(t *testing.T) {
	ns := namespace(t, "e2e-pool")
	for _, n := range []string{"web-a", "web-b"} {
		runPod(t, busyboxPod(ns, n, realNode, `while true; do sleep 1; done`, map[string]string{"app": "web"}))
	}
	ckdir := checkpointDir(t)
	for _, tc := range []struct {
		name, dir   string
		wantCreates int
	}{
		{"configured directory", ckdir, 1},
		{"wrong directory", "/nonexistent/kubelet/checkpoints", 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ua := "podsleuth-e2e-pool-" + randSuffix()
			c := connect(t, ctxAdmin, cluster.ConnectOptions{UserAgent: ua})
			collectorNS := "e2e-pool-collect-" + randSuffix()
			ts, err := c.Resolve(t.Context(), ns, "", "", false, "app=web")
			require.NoError(t, err)
			require.Len(t, ts, 2)
			st, err := evidence.Open(t.TempDir())
			require.NoError(t, err)
			pool := c.NewCollectorPool(t.Context(), cluster.CollectorOptions{Namespace: collectorNS, Image: testImage, CheckpointDir: tc.dir})
			items := make([]*evidence.Item, len(ts))
			pullErrs := make([]error, len(ts))
			var wg sync.WaitGroup
			_, errs := c.CheckpointAll(t.Context(), ts, time.Minute, 2, pool, func(i int, r *cluster.CheckpointResult, err error) {
				if err != nil {
					return
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					items[i], pullErrs[i] = c.Pull(t.Context(), r, cluster.PullOptions{Collectors: pool, Store: st})
				}()
			})
			wg.Wait()
			for i := range ts {
				require.NoError(t, errs[i])
				require.NoError(t, pullErrs[i])
				require.Equal(t, items[i].Manifest.NodeSHA256, items[i].Manifest.LocalSHA256)
			}
			require.Equal(t, items[0].Manifest.Collector, items[1].Manifest.Collector, "the pulls on one node share their collector")
			require.NoError(t, pool.Close())
			noCollectors(t, collectorNS)
			require.NoError(t, pool.Close(), "Close twice")

			var creates []time.Time
			var firstReply time.Time
			require.Eventually(t, func() bool {
				creates, firstReply = podCreatesAndFirstCheckpointReply(t, ua, collectorNS)
				return len(creates) >= tc.wantCreates && !firstReply.IsZero()
			}, 10*time.Second, 200*time.Millisecond)
			require.Len(t, creates, tc.wantCreates, "collector pods created")
			require.True(t, creates[0].Before(firstReply), "the collector was created (%s) before the kubelet's first reply (%s)", creates[0], firstReply)
		})
	}
}

// podCreatesAndFirstCheckpointReply reads the audit log: when the user agent created pods in ns,
// and when the first of its checkpoint requests (nodes/proxy) completed.
func podCreatesAndFirstCheckpointReply(t *testing.T, ua, ns string) (creates []time.Time, firstReply time.Time) {
	for _, ev := range auditEvents(t, ua) {
		if ev.ObjectRef == nil || ev.Stage != "ResponseComplete" {
			continue
		}
		switch r := ev.ObjectRef; {
		case ev.Verb == "create" && r.Resource == "pods" && r.Subresource == "" && r.Namespace == ns:
			creates = append(creates, ev.Received)
		case ev.Verb == "create" && r.Resource == "nodes" && r.Subresource == "proxy":
			if firstReply.IsZero() || ev.StageTime.Before(firstReply) {
				firstReply = ev.StageTime
			}
		}
	}
	sort.Slice(creates, func(i, j int) bool { return creates[i].Before(creates[j]) })
	return creates, firstReply
}

// TestLogsCommand: podsleuth logs prints a container's log with timestamps, terminal-safe
// (an escape sequence the container wrote comes out escaped; --raw keeps it).
func TestLogsCommand(t *testing.T) {
	ns := namespace(t, "e2e-logs")
	runPod(t, busyboxPod(ns, "chatty", realNode, `echo log-line-one; printf 'evil \033]0;owned\007 end\n'; while true; do sleep 1; done`, nil))
	exe := filepath.Join(t.TempDir(), "podsleuth")
	build := exec.Command("go", "build", "-o", exe, "./cmd/podsleuth")
	build.Dir = testenv.Root()
	out, err := build.CombinedOutput()
	require.NoError(t, err, "%s", out)
	run := func(args ...string) string {
		cmd := exec.Command(exe, append(args, "--kubeconfig", testenv.Kubeconfig(t), "--context", ctxResp)...)
		out, err := cmd.Output()
		require.NoError(t, err, "%s", out)
		return string(out)
	}
	var logs string
	require.Eventually(t, func() bool {
		logs = run("logs", ns+"/chatty")
		return strings.Contains(logs, "end")
	}, 20*time.Second, 500*time.Millisecond)
	require.Regexp(t, `(?m)^20\d\d-\d\d-\d\dT\S+ log-line-one$`, logs)
	require.Contains(t, logs, `evil \x1b]0;owned\a end`)
	require.NotContains(t, logs, "\x1b")
	require.Contains(t, run("logs", ns+"/chatty", "--raw", "--tail", "1"), "evil \x1b]0;owned\x07 end")

	// -f: new lines arrive while it runs; Ctrl-C ends it cleanly
	runPod(t, busyboxPod(ns, "ticker", realNode, `i=0; while true; do i=$((i+1)); echo tick-$i; sleep 0.3; done`, nil))
	cmd := exec.Command(exe, "logs", ns+"/ticker", "-f", "--tail", "1", "--kubeconfig", testenv.Kubeconfig(t), "--context", ctxResp)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	sc := bufio.NewScanner(stdout)
	var ticks []int
	for len(ticks) < 4 && sc.Scan() {
		_, n, ok := strings.Cut(sc.Text(), " tick-")
		require.True(t, ok, sc.Text())
		v, err := strconv.Atoi(n)
		require.NoError(t, err)
		ticks = append(ticks, v)
	}
	require.Len(t, ticks, 4, "lines keep coming")
	for i := 1; i < len(ticks); i++ {
		require.Equal(t, ticks[i-1]+1, ticks[i], "in order, none lost")
	}
	require.NoError(t, cmd.Process.Signal(syscall.SIGINT))
	require.NoError(t, cmd.Wait(), "Ctrl-C ends -f with status 0")
}
