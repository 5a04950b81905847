package criu

import (
	"archive/tar"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/podsleuth/podsleuth/forensics"
	"github.com/podsleuth/podsleuth/forensics/archive"
	"github.com/podsleuth/podsleuth/test/fixtures"
)

// writeCheckpoint packs the real CRIU images of images/full under checkpoint/ together with
// the given container metadata files into a tar, the layout CRI-O, Podman and containerd use.
func writeCheckpoint(t *testing.T, meta map[string]any) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "checkpoint.tar")
	f, err := os.Create(p)
	require.NoError(t, err)
	defer f.Close()
	tw := tar.NewWriter(f)
	src := filepath.Join(fixtures.Dir(), "images/full")
	ents, err := os.ReadDir(src)
	require.NoError(t, err)
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		require.NoError(t, err)
		require.NoError(t, tw.WriteHeader(&tar.Header{Name: "checkpoint/" + e.Name(), Mode: 0o600, Size: int64(len(b)), Typeflag: tar.TypeReg}))
		_, err = tw.Write(b)
		require.NoError(t, err)
	}
	for name, v := range meta {
		b, err := json.Marshal(v)
		require.NoError(t, err)
		require.NoError(t, tw.WriteHeader(&tar.Header{Name: name, Mode: 0o600, Size: int64(len(b)), Typeflag: tar.TypeReg}))
		_, err = tw.Write(b)
		require.NoError(t, err)
	}
	require.NoError(t, tw.Close())
	return p
}

// TestEngineDetection covers the engines the fixtures cannot: no CRI-O package exists for
// this machine, so CRI-O's metadata (the annotations CRI-O's checkpoint code writes into
// spec.dump) is written around real CRIU images.
func TestEngineDetection(t *testing.T) {
	tests := []struct {
		name              string
		meta              map[string]any
		engine, container string
		podNS, pod, uid   string
		networks          []forensics.ContainerNetwork
	}{
		{"CRI-O under the kubelet", map[string]any{
			"config.dump": map[string]any{"id": "c0ffee", "rootfsImageName": "quay.io/x/web:1", "createdTime": "2024-05-01T10:00:00Z"},
			"spec.dump": map[string]any{"annotations": map[string]string{
				"io.container.manager":         "cri-o",
				"io.kubernetes.cri-o.Metadata": `{"name":"web","attempt":0}`,
				"io.kubernetes.cri-o.Created":  "2024-05-01T10:00:00.123Z",
				"io.kubernetes.pod.namespace":  "prod",
				"io.kubernetes.pod.name":       "web-7d9f",
				"io.kubernetes.pod.uid":        "0b1e-uid",
				"io.kubernetes.container.name": "web",
				"io.kubernetes.cri-o.IP.0":     "10.244.1.7",
				"io.kubernetes.cri-o.IP.1":     "fd00::7",
			}},
		}, "CRI-O", "web", "prod", "web-7d9f", "0b1e-uid", []forensics.ContainerNetwork{{Addresses: []string{"10.244.1.7", "fd00::7"}}}},
		{"Podman with a network", map[string]any{
			"config.dump": map[string]any{"id": "abc", "name": "db"},
			"spec.dump":   map[string]any{"annotations": map[string]string{"io.container.manager": "libpod"}},
			"network.status": map[string]any{"podman": map[string]any{"interfaces": map[string]any{"eth0": map[string]any{
				"mac_address": "3a:1b:00:00:00:01",
				"subnets":     []map[string]string{{"ipnet": "10.88.0.5/16", "gateway": "10.88.0.1"}},
			}}}},
		}, "Podman", "db", "", "", "", []forensics.ContainerNetwork{{Network: "podman", Interface: "eth0", Addresses: []string{"10.88.0.5/16"}, MAC: "3a:1b:00:00:00:01", Gateway: "10.88.0.1"}}},
		{"containerd without annotations", map[string]any{
			"config.dump": map[string]any{"id": "abc"},
			"spec.dump":   map[string]any{"hostname": "h"},
			"status":      map[string]any{"CreatedAt": time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC).UnixNano()},
		}, "containerd", "", "", "", "", nil},
		{"unknown engine", map[string]any{
			"config.dump": map[string]any{"id": "abc", "name": "thing"},
			"spec.dump":   map[string]any{"hostname": "h"},
		}, "unknown", "thing", "", "", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := archive.Open(context.Background(), writeCheckpoint(t, tt.meta), archive.DefaultLimits(), t.TempDir())
			require.NoError(t, err)
			defer a.Close()
			cp, err := Decode(context.Background(), a)
			require.NoError(t, err)
			require.Empty(t, cp.Warnings)
			require.NotNil(t, cp.Container)
			require.Equal(t, tt.engine, cp.Container.Engine)
			require.Equal(t, tt.container, cp.Container.Name)
			if tt.pod == "" {
				require.Nil(t, cp.Container.Pod)
			} else {
				require.Equal(t, tt.podNS, cp.Container.Pod.Namespace)
				require.Equal(t, tt.pod, cp.Container.Pod.Name)
				require.Equal(t, tt.uid, cp.Container.Pod.UID)
			}
			if tt.engine == "containerd" {
				require.Equal(t, time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC), cp.Container.Created)
			}
			require.Equal(t, tt.networks, cp.Container.Networks)
			require.Len(t, cp.Processes, 3, "the real images decode as ever")
		})
	}
}
