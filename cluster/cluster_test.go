package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/fake"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

func loadPod(t *testing.T, name string) *corev1.Pod {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "pod-"+name+".json"))
	require.NoError(t, err)
	var p corev1.Pod
	require.NoError(t, json.Unmarshal(b, &p))
	return &p
}

// TestPodRowFor: rows of real pods (testdata/ was dumped from the test cluster); the expected
// READY/STATUS/RESTARTS are what kubectl v1.37.2 printed for them.
func TestPodRowFor(t *testing.T) {
	tests := []struct {
		file     string
		ready    string
		status   string
		restarts int32
		owner    string
		running  []string
	}{
		{"running", "1/1", "Running", 0, "", []string{"app"}},
		{"completed", "0/1", "Completed", 0, "", nil},
		{"failed", "0/1", "Error", 0, "", nil},
		{"crashloop", "0/1", "Error", 2, "", nil},
		{"imagemissing", "0/1", "ErrImageNeverPull", 0, "", nil},
		{"initwaiting", "0/1", "Init:0/1", 0, "", nil},
		{"owned", "1/1", "Running", 0, "ReplicaSet/web-7d9c8b", []string{"app"}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			p := loadPod(t, tt.file)
			r := PodRowFor(p)
			require.Equal(t, tt.file, r.Name)
			require.Equal(t, p.Namespace, r.Namespace)
			require.Equal(t, tt.ready, r.Ready)
			require.Equal(t, tt.status, r.Status)
			require.Equal(t, tt.restarts, r.Restarts)
			require.Equal(t, tt.owner, r.Owner)
			require.Equal(t, tt.running, r.Running)
			require.Equal(t, []string{"app"}, r.Containers)
			require.Equal(t, "podsleuth-node", r.Node)
			require.Equal(t, "15m", r.Age(p.CreationTimestamp.Add(15*time.Minute+3*time.Second)))
		})
	}
	t.Run("terminating", func(t *testing.T) {
		p := loadPod(t, "running")
		now := metav1.Now()
		p.DeletionTimestamp = &now
		require.Equal(t, "Terminating", PodRowFor(p).Status)
	})
}

func TestNodeRowFor(t *testing.T) {
	n := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: "n1"},
		Status: corev1.NodeStatus{
			NodeInfo:   corev1.NodeSystemInfo{KubeletVersion: "v1.37.2", ContainerRuntimeVersion: "cri-o://1.33.0"},
			Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionFalse}},
			Addresses:  []corev1.NodeAddress{{Type: corev1.NodeHostName, Address: "n1"}, {Type: corev1.NodeInternalIP, Address: "10.1.2.3"}},
		},
	}
	require.Equal(t, NodeRow{Name: "n1", Ready: "False", KubeletVersion: "v1.37.2", Runtime: "cri-o://1.33.0", InternalIP: "10.1.2.3"}, NodeRowFor(n))
}

func TestResolve(t *testing.T) {
	two := loadPod(t, "running")
	two.Name = "two"
	two.Labels = map[string]string{"app": "two"}
	two.Spec.Containers = append(two.Spec.Containers, corev1.Container{Name: "sidecar"})
	withDefault := two.DeepCopy()
	withDefault.Name = "annotated"
	withDefault.Annotations = map[string]string{"kubectl.kubernetes.io/default-container": "sidecar"}
	one := loadPod(t, "running")
	owned := loadPod(t, "owned")
	ns := one.Namespace
	c := &Conn{Client: fake.NewClientset(one, owned, two, withDefault)}
	tests := []struct {
		name     string
		pod, ctr string
		all      bool
		selector string
		want     []Target
		err      error
		errText  string
	}{
		{name: "single container pod", pod: "running", want: []Target{{ns, "running", "app"}}},
		{name: "explicit container", pod: "two", ctr: "sidecar", want: []Target{{ns, "two", "sidecar"}}},
		{name: "default-container annotation", pod: "annotated", want: []Target{{ns, "annotated", "sidecar"}}},
		{name: "all containers", pod: "two", all: true, want: []Target{{ns, "two", "app"}, {ns, "two", "sidecar"}}},
		{name: "ambiguous", pod: "two", errText: "has 2 containers: choose one with -c (app, sidecar)"},
		{name: "no such container", pod: "running", ctr: "db", err: ErrNoSuchContainer, errText: `has no container "db" (it has: app)`},
		{name: "no such pod", pod: "ghost", err: ErrNoSuchPod},
		{name: "selector", selector: "app in (running,owned)", want: []Target{{ns, "owned", "app"}, {ns, "running", "app"}}},
		{name: "selector matches nothing", selector: "app=none", err: ErrNoSuchPod},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := c.Resolve(context.Background(), ns, tt.pod, tt.ctr, tt.all, tt.selector)
			if tt.err != nil || tt.errText != "" {
				require.Error(t, err)
				if tt.err != nil {
					require.ErrorIs(t, err, tt.err)
				}
				require.Contains(t, err.Error(), tt.errText)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}

func TestCheckpointRefusesBeforeSending(t *testing.T) {
	cs := fake.NewClientset(loadPod(t, "completed"), loadPod(t, "running"))
	ns := loadPod(t, "running").Namespace
	t.Run("readonly", func(t *testing.T) {
		c := &Conn{Client: cs, Readonly: true}
		_, err := c.Checkpoint(context.Background(), Target{ns, "running", "app"}, time.Minute)
		require.ErrorIs(t, err, ErrReadonly)
		require.Empty(t, cs.Actions(), "nothing sent, not even a read")
	})
	t.Run("not running", func(t *testing.T) {
		c := &Conn{Client: cs}
		_, err := c.Checkpoint(context.Background(), Target{ns, "completed", "app"}, time.Minute)
		require.ErrorIs(t, err, ErrNotRunning)
		require.Contains(t, err.Error(), "terminated: Completed (exit 0)")
	})
}

func TestMutatingRequest(t *testing.T) {
	tests := []struct {
		method, path string
		want         bool
	}{
		{http.MethodGet, "/api/v1/namespaces/a/pods", false},
		{http.MethodGet, "/api/v1/namespaces/a/pods/p/exec", true},
		{http.MethodPost, "/api/v1/namespaces/a/pods", true},
		{http.MethodPost, "/api/v1/nodes/n/proxy/checkpoint/a/p/c", true},
		{http.MethodPost, "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", false},
		{http.MethodPost, "/apis/authentication.k8s.io/v1/selfsubjectreviews", false},
		{http.MethodDelete, "/api/v1/namespaces/a/pods/p", true},
		{http.MethodPatch, "/api/v1/nodes/n", true},
		{http.MethodPut, "/api/v1/namespaces/a/pods/p/status", true},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			require.Equal(t, tt.want, MutatingRequest(tt.method, tt.path))
		})
	}
}

func TestReadonlyTransport(t *testing.T) {
	sent := 0
	rt := readonlyTransport{next: roundTripFunc(func(*http.Request) (*http.Response, error) {
		sent++
		return &http.Response{StatusCode: 200, Body: http.NoBody}, nil
	})}
	req, _ := http.NewRequest(http.MethodPost, "https://x/api/v1/namespaces/a/pods", nil)
	_, err := rt.RoundTrip(req)
	require.ErrorIs(t, err, ErrReadonly)
	require.Zero(t, sent)
	req, _ = http.NewRequest(http.MethodGet, "https://x/api/v1/namespaces/a/pods", nil)
	_, err = rt.RoundTrip(req)
	require.NoError(t, err)
	require.Equal(t, 1, sent)
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestContextRows(t *testing.T) {
	raw := clientcmdapi.Config{
		CurrentContext: "b",
		Clusters:       map[string]*clientcmdapi.Cluster{"c1": {Server: "https://c1:6443"}},
		Contexts: map[string]*clientcmdapi.Context{
			"b": {Cluster: "c1", AuthInfo: "alice", Namespace: "shop"},
			"a": {Cluster: "missing", AuthInfo: "bob"},
		},
	}
	require.Equal(t, []ContextRow{
		{Name: "a", Cluster: "missing", User: "bob"},
		{Name: "b", Cluster: "c1", Server: "https://c1:6443", User: "alice", Namespace: "shop", Current: true},
	}, contextRows(raw))
}

func TestSplitNodePath(t *testing.T) {
	tests := []struct {
		in        string
		dir, base string
		ok        bool
	}{
		{"/var/lib/kubelet/checkpoints/checkpoint-web_shop-app-2026-11-23T19:57:48Z.tar", "/var/lib/kubelet/checkpoints", "checkpoint-web_shop-app-2026-11-23T19:57:48Z.tar", true},
		{"/var/lib/kubelet/checkpoints/../../../etc/shadow", "", "", false},
		{"relative/checkpoint.tar", "", "", false},
		{"/checkpoint.tar", "", "", false},
		{"/var/lib/kubelet/checkpoints/x.tar;rm -rf /", "", "", false},
		{"/var/lib/kubelet/checkpoints/-rf.tar", "", "", false},
		{"/var/lib/kubelet/checkpoints/.hidden.tar", "", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			dir, base, err := splitNodePath(tt.in)
			if !tt.ok {
				require.ErrorIs(t, err, ErrBadNodePath)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.dir, dir)
			require.Equal(t, tt.base, base)
		})
	}
}

func TestParseStatSum(t *testing.T) {
	sum := "cd5962383380bf7fd193969d4b3fd231a34028d1b007e591af06d327767cac1f"
	size, got, err := parseStatSum("361984\n" + sum + "  /checkpoints/c.tar\n")
	require.NoError(t, err)
	require.EqualValues(t, 361984, size)
	require.Equal(t, sum, got)
	for _, bad := range []string{"", "12\n", "x\n" + sum + " f", "12\nnothex  f", "12\n" + sum[:60] + " f"} {
		_, _, err := parseStatSum(bad)
		require.ErrorIs(t, err, ErrStream, "%q", bad)
	}
}

// TestCollectorPod: least privilege is a property of the spec.
func TestCollectorPod(t *testing.T) {
	p := collectorPod("podsleuth-system", "node-1", "/var/lib/kubelet/checkpoints", "busybox:1.37", true, []string{"sleep", "3600"})
	require.Equal(t, "node-1", p.Spec.NodeName)
	require.Equal(t, ManagedBy, p.Labels[LabelManagedBy])
	require.False(t, *p.Spec.AutomountServiceAccountToken)
	require.Len(t, p.Spec.Volumes, 1)
	require.Equal(t, "/var/lib/kubelet/checkpoints", p.Spec.Volumes[0].HostPath.Path)
	ct := p.Spec.Containers[0]
	require.True(t, ct.VolumeMounts[0].ReadOnly)
	sc := ct.SecurityContext
	require.Equal(t, []corev1.Capability{"ALL"}, sc.Capabilities.Drop)
	require.Empty(t, sc.Capabilities.Add)
	require.False(t, *sc.AllowPrivilegeEscalation)
	require.False(t, *sc.Privileged)
	require.True(t, *sc.ReadOnlyRootFilesystem)
	require.NotNil(t, p.Spec.ActiveDeadlineSeconds)
	cleaner := collectorPod("ns", "node-1", "/d", "img", false, []string{"rm"})
	require.False(t, cleaner.Spec.Containers[0].VolumeMounts[0].ReadOnly)
	require.NotEqual(t, p.Name, collectorPod("podsleuth-system", "node-1", "/d", "img", true, nil).Name)
}

func TestCheckpointErrorMessage(t *testing.T) {
	e := &CheckpointError{Target: Target{"ns", "p", "c"}, Node: "n", Class: ErrGateOff, Detail: "d", Fix: "f"}
	require.Equal(t, "checkpoint ns/p/c on node n: kubelet checkpoint API disabled: d (fix: f)", e.Error())
	require.True(t, errors.Is(e, ErrGateOff))
	require.Equal(t, "x", apiMessage(fmt.Errorf("x")))
}

func TestPreflightChecks(t *testing.T) {
	tests := []struct {
		v    string
		want string
	}{
		{"v1.37.2", CheckOK}, {"v1.30.0", CheckOK}, {"v1.29.4", CheckWarn}, {"v1.24.1", CheckFail}, {"v2.0.0", CheckOK}, {"garbage", CheckWarn},
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, kubeletCheck(tt.v).Status, tt.v)
	}
	rts := []struct {
		rt   string
		want string
	}{
		{"containerd://2.4.2", CheckOK}, {"containerd://1.7.20", CheckFail}, {"cri-o://1.30.1", CheckOK}, {"docker://26.1", CheckFail}, {"", CheckWarn},
	}
	for _, tt := range rts {
		require.Equal(t, tt.want, runtimeCheck(tt.rt).Status, tt.rt)
	}
}

func TestChunkPipe(t *testing.T) {
	t.Run("data then EOF", func(t *testing.T) {
		p := newChunkPipe(4)
		go func() {
			for i := 0; i < 100; i++ {
				_, _ = p.Write([]byte(fmt.Sprintf("line %03d\n", i)))
			}
			p.closeWrite(nil)
		}()
		b, err := io.ReadAll(p)
		require.NoError(t, err)
		require.Len(t, b, 900)
		require.Equal(t, "line 099\n", string(b[891:]))
	})
	t.Run("writer error reaches the reader", func(t *testing.T) {
		p := newChunkPipe(4)
		_, _ = p.Write([]byte("partial"))
		boom := errors.New("stream reset")
		p.closeWrite(boom)
		b, err := io.ReadAll(p)
		require.ErrorIs(t, err, boom)
		require.Equal(t, "partial", string(b))
	})
	t.Run("bounded: a full pipe blocks the writer until the reader goes away", func(t *testing.T) {
		p := newChunkPipe(2)
		_, _ = p.Write([]byte("a"))
		_, _ = p.Write([]byte("b"))
		done := make(chan error, 1)
		go func() { _, err := p.Write([]byte("c")); done <- err }()
		select {
		case <-done:
			t.Fatal("third write did not block")
		case <-time.After(50 * time.Millisecond):
		}
		p.closeRead()
		require.ErrorIs(t, <-done, io.ErrClosedPipe)
	})
}

// fakeStream delivers data, then ends with err (nil: a clean end).
func fakeStream(data string, err error) *stream {
	s := &stream{pipe: newChunkPipe(16), cancel: func() {}, done: make(chan error, 1)}
	go func() {
		if data != "" {
			_, _ = s.pipe.Write([]byte(data))
		}
		s.pipe.closeWrite(err)
		s.done <- nil
	}()
	return s
}

func TestResumingReader(t *testing.T) {
	const archive = "0123456789abcdefghij"
	reset := errors.New("stream reset by peer")
	tests := []struct {
		name    string
		first   *stream
		next    func(off int64) *stream
		max     int
		want    string
		resumes int
		err     string
	}{
		{"whole stream", fakeStream(archive, nil), nil, 2, archive, 0, ""},
		{"broken once, resumed at the offset", fakeStream(archive[:7], reset),
			func(off int64) *stream { return fakeStream(archive[off:], nil) }, 2, archive, 1, ""},
		{"ends early without error, resumed", fakeStream(archive[:12], nil),
			func(off int64) *stream { return fakeStream(archive[off:], nil) }, 2, archive, 1, ""},
		{"breaks every time", fakeStream(archive[:3], reset),
			func(off int64) *stream { return fakeStream(archive[off:off+3], reset) }, 2, archive[:9], 2, "stream reset by peer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var offsets []int64
			rr := &resumingReader{ctx: context.Background(), cur: tt.first, size: int64(len(archive)), max: tt.max,
				open: func(off int64) *stream { offsets = append(offsets, off); return tt.next(off) }}
			got, err := io.ReadAll(rr)
			rr.close()
			require.Equal(t, tt.want, string(got))
			require.Equal(t, tt.resumes, rr.resumes)
			require.Len(t, offsets, tt.resumes)
			if tt.err != "" {
				require.ErrorContains(t, err, tt.err)
				return
			}
			require.NoError(t, err)
		})
	}
}

// TestSplitNodePathOnlyCheckpointDirs: the archive must lie directly in a kubelet's
// <root-dir>/checkpoints, whatever the root-dir.
func TestSplitNodePathOnlyCheckpointDirs(t *testing.T) {
	for _, ok := range []string{"/var/lib/kubelet/checkpoints/c.tar", "/data/kubelet/checkpoints/c.tar.gz"} {
		_, _, err := splitNodePath(ok)
		require.NoError(t, err, ok)
	}
	for _, bad := range []string{"/etc/c.tar", "/var/lib/kubelet/c.tar", "/var/lib/kubelet/checkpoints/sub/c.tar", "/checkpoints/../etc/c.tar", "/var/lib/kubelet//checkpoints/c.tar"} {
		_, _, err := splitNodePath(bad)
		require.ErrorIs(t, err, ErrBadNodePath, bad)
	}
}

// TestCollectorCreateErrorNamesThePolicy: an admission policy's refusal (also HTTP 403) is not
// reported as a missing RBAC permission.
func TestCollectorCreateErrorNamesThePolicy(t *testing.T) {
	err := apierrors.NewForbidden(schema.GroupResource{Resource: "pods"}, "c",
		errors.New("ValidatingAdmissionPolicy 'podsleuth-workloads' with binding 'podsleuth-system' denied request: nope"))
	got := collectorCreateError(err, "podsleuth-system")
	require.ErrorIs(t, got, ErrCollector)
	require.NotErrorIs(t, got, ErrForbidden)
	require.Contains(t, got.Error(), "podsleuth-admission")
	rbac := apierrors.NewForbidden(schema.GroupResource{Resource: "pods"}, "c", errors.New("User \"x\" cannot create resource \"pods\""))
	require.ErrorIs(t, collectorCreateError(rbac, "ns"), ErrForbidden)
}
