package render

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/podsleuth/podsleuth/forensics"
	"github.com/podsleuth/podsleuth/forensics/open"
	"github.com/podsleuth/podsleuth/test/fixtures"
)

func TestProcessTreeCycle(t *testing.T) {
	cp := &forensics.Checkpoint{Processes: []forensics.Process{
		{PID: 2, PPID: 3, Comm: "a", Children: []int{3}},
		{PID: 3, PPID: 2, Comm: "b", Children: []int{2}},
	}}
	var b strings.Builder
	require.NoError(t, Text(context.Background(), &b, cp, Sections{PSTree: true}))
	require.Contains(t, b.String(), "[2]  a")
	require.Contains(t, b.String(), "[3]  b")
	require.Equal(t, 1, strings.Count(b.String(), "[2]  a"), "each process once")
}

// TestTextHostileNames: a real decoded checkpoint whose workload-controlled names (container,
// image, pod, host, process, executable, mount, rootfs, socket path, environment, warning) carry
// escape sequences and newlines: no ESC or BEL reaches the output, no line of the attacker's
// appears, and each name is shown escaped.
func TestTextHostileNames(t *testing.T) {
	cs, err := open.Open(context.Background(), open.Config{Arg: filepath.Join(fixtures.Dir(), "archives/podman-crun.tar"), NoStore: true, CacheDir: t.TempDir()})
	require.NoError(t, err)
	t.Cleanup(func() { _ = cs.Close() })
	cp := cs.Checkpoint
	const evil = "x\x1b]0;owned\x07\x1b[2J\nFAKE\r\u202e\x9b"
	require.NotNil(t, cp.Container)
	c := cp.Container
	c.Name, c.Image, c.ImageID, c.ID, c.Runtime, c.Hostname = evil, evil, evil, evil, evil, evil
	c.Pod = &forensics.PodRef{Namespace: evil, Name: evil, UID: evil, ContainerName: evil}
	c.Networks = []forensics.ContainerNetwork{{Network: evil, Interface: evil, Addresses: []string{evil}, MAC: evil, Gateway: evil}}
	c.Args = []string{evil}
	c.Annotations[evil] = evil
	c.Labels = map[string]string{"app": evil}
	cp.Source.Path = "/tmp/" + evil
	cp.Warnings = append(cp.Warnings, evil)
	for i := range cp.Processes {
		p := &cp.Processes[i]
		p.Comm, p.Exe, p.Cwd, p.Root = evil, evil, evil, evil
		p.Environ = append(p.Environ, "A="+evil)
		for j := range p.FDs {
			p.FDs[j].Path = evil
		}
		for j := range p.Maps {
			p.Maps[j].Path = evil
		}
	}
	for i := range cp.Mounts {
		cp.Mounts[i].Mountpoint, cp.Mounts[i].Source, cp.Mounts[i].Options = evil, evil, evil
	}
	for i := range cp.Sockets {
		cp.Sockets[i].Path, cp.Sockets[i].LocalAddr = evil, evil
	}
	cp.Rootfs = append(cp.Rootfs, forensics.RootfsChange{Kind: forensics.RootfsDeleted, Path: evil, LinkTarget: evil})

	var b strings.Builder
	require.NoError(t, Text(context.Background(), &b, cp, Sections{All: true}.Normalize()))
	out := b.String()
	require.NotContains(t, out, "\x1b")
	require.NotContains(t, out, "\x07")
	require.NotContains(t, out, "\r")
	require.NotContains(t, out, "\u202e")
	require.NotContains(t, out, "\u009b")
	for _, l := range strings.Split(out, "\n") {

		require.False(t, strings.HasPrefix(strings.TrimLeft(l, "│├└─ "), "FAKE"), "no line of the attacker's: %q", l)
	}
	esc := forensics.Printable(evil)
	for _, want := range []string{
		"Displaying checkpoint tree view from /tmp/" + esc, "\n" + esc + "\n", "Image: " + esc, "Pod: " + esc + "/" + esc,
		"Container: " + esc, "Hostname: " + esc, "Annotations (5)", "io.container.manager=libpod", esc + "=" + esc, "Labels (1)", "app=" + esc, "]  " + esc, "Executable: " + esc, "A=" + esc, "[cwd]  " + esc,
		"Mounts (", esc + "  ", "deleted  ", esc + " -> " + esc,
	} {
		require.Contains(t, out, want)
	}
	require.Greater(t, strings.Count(out, esc), len(cp.Processes)*3, "names shown escaped, not dropped")
}
