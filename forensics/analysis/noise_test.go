package analysis

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/podsleuth/podsleuth/forensics"
)

// TestGrade: Kubernetes' service variables are context (dropped, counted); a string seen only in a
// read-only mapping of an unchanged system library is low and hidden unless shown; the same
// string in a copy under /tmp or in a file of the rootfs changes is not.
func TestGrade(t *testing.T) {
	require.True(t, K8sServiceVar("KUBERNETES_SERVICE_HOST=10.96.0.1"))
	require.True(t, K8sServiceVar("REDIS_SERVICE_PORT_TCP=6379"))
	require.True(t, K8sServiceVar("REDIS_PORT_6379_TCP_ADDR=10.96.3.4"))
	require.False(t, K8sServiceVar("C2_HOST=10.96.0.1"))
	cp := &forensics.Checkpoint{
		Processes: []forensics.Process{{PID: 1, Comm: "app",
			Environ: []string{"KUBERNETES_SERVICE_HOST=10.96.0.1", "KUBERNETES_PORT=tcp://10.96.0.1:443"},
			Maps: []forensics.VMA{
				{Start: 0x1000, End: 0x2000, Prot: "r--p", Kind: "file", Path: "/usr/lib/libc.so.6"},
				{Start: 0x3000, End: 0x4000, Prot: "r--p", Kind: "file", Path: "/tmp/xmrig"},
				{Start: 0x5000, End: 0x6000, Prot: "rw-p", Kind: "heap"},
			}}},
		Rootfs: []forensics.RootfsChange{{Path: "/tmp/xmrig", Kind: forensics.RootfsAdded}},
	}
	lib := forensics.Location{Kind: "memory", PID: 1, Addr: 0x1100, Region: "file:/usr/lib/libc.so.6"}
	tmp := forensics.Location{Kind: "memory", PID: 1, Addr: 0x3100, Region: "file:/tmp/xmrig"}
	heap := forensics.Location{Kind: "memory", PID: 1, Addr: 0x5100, Region: "heap"}
	in := func() *Result {
		return &Result{Indicators: []forensics.IOC{
			{Type: "ipv4", Value: "10.96.0.1", Where: []forensics.Location{{Kind: "env", PID: 1}, {Kind: "memory", PID: 1, Region: "stack"}}},
			{Type: "domain", Value: "www.debian.org", Where: []forensics.Location{lib}},
			{Type: "url", Value: "http://pool.example/x", Where: []forensics.Location{lib, tmp}},
			{Type: "domain", Value: "c2.example", Where: []forensics.Location{heap}},
			{Type: "url", Value: "http://c2.example/", Where: []forensics.Location{heap}},
		}}
	}
	res := in()
	grade(cp, res, false)
	require.Equal(t, 1, res.ContextIndicators)
	require.Equal(t, 1, res.HiddenIndicators)
	conf := map[string]string{}
	for _, i := range res.Indicators {
		conf[i.Value] = i.Confidence
	}
	require.Equal(t, map[string]string{"http://pool.example/x": "high", "c2.example": "medium", "http://c2.example/": "high"}, conf)
	res = in()
	grade(cp, res, true)
	require.Equal(t, 0, res.HiddenIndicators)
	require.Len(t, res.Indicators, 4)
	require.Equal(t, "low", res.Indicators[0].Confidence)
}
