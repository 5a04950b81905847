// Package compare checks podsleuth's decoder against checkpointctl v1.6.0, the reference tool,
// on every committed archive fixture: the process tree, command lines, environments, open
// files, sockets and mounts must agree. Each deliberate difference is written down at the
// place the comparison normalises it.
package compare

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/podsleuth/podsleuth/forensics"
	"github.com/podsleuth/podsleuth/forensics/archive"
	"github.com/podsleuth/podsleuth/forensics/criu"
	"github.com/podsleuth/podsleuth/test/fixtures"
	"github.com/podsleuth/podsleuth/test/testenv"
)

// checkpointctl's JSON (internal/json.go of v1.6.0), the parts compared.
type cctlProc struct {
	PID      int               `json:"pid"`
	Command  string            `json:"command"`
	Cmdline  string            `json:"cmdline"`
	State    string            `json:"task_state"`
	Env      map[string]string `json:"environment_variables"`
	Children []cctlProc        `json:"children"`
}

type cctlFile struct {
	Type string `json:"type"`
	FD   string `json:"fd"`
	Path string `json:"path"`
}

type cctlSocket struct {
	Protocol string `json:"protocol"`
	Data     struct {
		Type    string `json:"type"`
		State   string `json:"state"`
		Src     string `json:"src"`
		SrcPort uint32 `json:"src_port"`
		Dst     string `json:"dst"`
		DstPort uint32 `json:"dst_port"`
		Address string `json:"address"`
	} `json:"data"`
}

type cctlOutput struct {
	Name   string   `json:"container_name"`
	Engine string   `json:"engine"`
	Image  string   `json:"image"`
	Tree   cctlProc `json:"process_tree"`
	FDs    []struct {
		PID   int        `json:"pid"`
		Files []cctlFile `json:"open_files"`
	} `json:"file_descriptors"`
	Sockets []struct {
		PID     int          `json:"pid"`
		Sockets []cctlSocket `json:"open_sockets"`
	} `json:"sockets"`
	Mounts []struct {
		Destination string `json:"destination"`
		Type        string `json:"type"`
	} `json:"mounts"`
}

var archives = []string{
	"archives/podman-crun.tar", "archives/podman-crun.tar.gz", "archives/podman-crun.tar.zst",
	"archives/podman-runc.tar", "archives/containerd-busybox.tar",
}

func runCheckpointctl(t *testing.T, bin, path string) cctlOutput {
	t.Helper()
	cmd := exec.Command(bin, "inspect", "--all", "--format", "json", path)
	cmd.Dir = t.TempDir() // checkpointctl extracts into a temp dir of its own
	out, err := cmd.Output()
	require.NoError(t, err, "checkpointctl inspect %s", path)
	var res []cctlOutput
	require.NoError(t, json.Unmarshal(out, &res))
	require.Len(t, res, 1)
	return res[0]
}

func decode(t *testing.T, path string) *forensics.Checkpoint {
	t.Helper()
	a, err := archive.Open(context.Background(), path, archive.DefaultLimits(), t.TempDir())
	require.NoError(t, err)
	defer a.Close()
	cp, err := criu.Decode(context.Background(), a)
	require.NoError(t, err)
	require.Empty(t, cp.Warnings)
	return cp
}

func TestAgainstCheckpointctl(t *testing.T) {
	bin := testenv.Checkpointctl(t)
	for _, name := range archives {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(fixtures.Dir(), name)
			ref := runCheckpointctl(t, bin, path)
			cp := decode(t, path)

			require.Equal(t, ref.Name, cp.Container.Name)
			require.Equal(t, ref.Engine, cp.Container.Engine)
			require.Equal(t, ref.Image, cp.Container.Image)
			compareTree(t, ref, cp)
			compareFiles(t, ref, cp)
			compareSockets(t, ref, cp)
			compareMounts(t, ref, cp)
		})
	}
}

// compareTree: same PIDs, parents, comms, states, command lines and environments.
func compareTree(t *testing.T, ref cctlOutput, cp *forensics.Checkpoint) {
	type node struct {
		ppid        int
		comm, state string
		cmdline     []string
		env         map[string]string
	}
	want := map[int]node{}
	var walk func(p cctlProc, ppid int)
	walk = func(p cctlProc, ppid int) {
		// Difference: checkpointctl turns the NULs of the argument area into spaces and keeps
		// the padding a process leaves when it rewrites its argv (the masquerading child's
		// "[kworker/0:1]" plus 24 spaces); podsleuth splits on NULs and drops the padding.
		// Comparing whitespace-separated words makes the two agree.
		want[p.PID] = node{ppid, p.Command, strings.ToLower(p.State), strings.Fields(p.Cmdline), p.Env}
		for _, c := range p.Children {
			walk(c, p.PID)
		}
	}
	walk(ref.Tree, 0)
	require.Len(t, cp.Processes, len(want), "process count")
	for _, p := range cp.Processes {
		w, ok := want[p.PID]
		require.True(t, ok, "pid %d not in checkpointctl's tree", p.PID)
		require.Equal(t, w.ppid, p.PPID, "pid %d parent", p.PID)
		require.Equal(t, w.comm, p.Comm, "pid %d comm", p.PID)
		require.Equal(t, w.state, p.State, "pid %d state", p.PID)
		require.Equal(t, w.cmdline, strings.Fields(strings.Join(p.Cmdline, " ")), "pid %d cmdline", p.PID)
		env := map[string]string{}
		for _, e := range p.Environ {
			k, v, _ := strings.Cut(e, "=")
			env[k] = v
		}
		require.Equal(t, w.env, env, "pid %d environment", p.PID)
	}
}

// compareFiles: every descriptor checkpointctl lists, with the same number, type and target.
func compareFiles(t *testing.T, ref cctlOutput, cp *forensics.Checkpoint) {
	for _, pf := range ref.FDs {
		p := cp.Process(pf.PID)
		require.NotNil(t, p, "pid %d", pf.PID)
		var n int
		for _, f := range pf.Files {
			switch f.FD {
			case "cwd":
				require.Equal(t, f.Path, p.Cwd, "pid %d cwd", pf.PID)
				continue
			case "root":
				require.Equal(t, f.Path, p.Root, "pid %d root", pf.PID)
				continue
			}
			n++
			num, err := strconv.Atoi(strings.TrimPrefix(f.FD, f.Type+" "))
			require.NoError(t, err, "fd %q", f.FD)
			var got *forensics.FD
			for i := range p.FDs {
				if p.FDs[i].FD == num {
					got = &p.FDs[i]
				}
			}
			require.NotNil(t, got, "pid %d fd %d", pf.PID, num)
			require.Equal(t, f.Type, got.Type, "pid %d fd %d type", pf.PID, num)
			switch f.Type {
			case "REG", "DIR":
				// Difference: podsleuth also says when the file was deleted (Deleted=true);
				// checkpointctl prints the bare path.
				require.Equal(t, f.Path, got.Path, "pid %d fd %d", pf.PID, num)
			case "PIPE":
				// Difference: "pipe[ID]" there, "pipe:[ID]" (the kernel's spelling) here.
				require.Equal(t, f.Path, strings.Replace(got.Path, "pipe:[", "pipe[", 1))
			case "MEMFD", "INETSK":
				// Difference: checkpointctl names these only by file id ("MEMFD.7",
				// "INETSK.15"); podsleuth resolves the memfd's name ("memfd:payload") and the
				// socket (socket:[inode] -> Checkpoint.Sockets). The file ids must match.
				require.Equal(t, fmt.Sprintf("%s.%d", f.Type, got.FileID), f.Path, "pid %d fd %d", pf.PID, num)
			case "UNIXSK":
				// checkpointctl: "unix[INO (PEER) NAME]".
				s := cp.Socket(got.SocketIno)
				require.NotNil(t, s)
				require.True(t, strings.HasPrefix(f.Path, fmt.Sprintf("unix[%d (%d) ", s.Ino, s.PeerIno)), "pid %d fd %d: %q", pf.PID, num, f.Path)
			}
		}
		require.Len(t, p.FDs, n, "pid %d descriptor count", pf.PID)
	}
}

// compareSockets: the inet sockets of each process (protocol, state, addresses, ports) and
// the unix socket addresses.
func compareSockets(t *testing.T, ref cctlOutput, cp *forensics.Checkpoint) {
	key := func(proto, state, src string, sport uint32, dst string, dport uint32) string {
		return fmt.Sprintf("%s %s %s:%d %s:%d", proto, state, src, sport, dst, dport)
	}
	for _, ps := range ref.Sockets {
		var want, got []string
		for _, s := range ps.Sockets {
			d := s.Data
			switch d.Type {
			case "TCP", "UDP":
				state := d.State
				if d.Type == "UDP" {
					// Difference: checkpointctl prints the kernel's TCP_CLOSE for an
					// unconnected UDP socket ("CLOSE"); podsleuth says "UNCONNECTED".
					state = map[string]string{"CLOSE": "UNCONNECTED", "ESTABLISHED": "CONNECTED"}[state]
				}
				dst := d.Dst
				if d.DstPort == 0 && (dst == "0.0.0.0" || dst == "::") {
					// Difference: no peer is "" here, the wildcard address there.
					dst = ""
				}
				want = append(want, key(d.Type, state, d.Src, d.SrcPort, dst, d.DstPort))
			case "UNIX":
				// checkpointctl shows the raw name (NUL-prefixed when abstract, NUL-padded);
				// podsleuth writes abstract names with "@" and trims the padding.
				addr := strings.TrimRight(d.Address, "\x00")
				if strings.HasPrefix(addr, "\x00") {
					addr = "@" + addr[1:]
				}
				want = append(want, "UNIX "+addr)
			}
		}
		for _, s := range cp.Sockets {
			owned := false
			for _, o := range s.Owners {
				owned = owned || o == ps.PID
			}
			if !owned {
				continue
			}
			switch s.Family {
			case "inet", "inet6":
				got = append(got, key(strings.ToUpper(s.Protocol), s.State, s.LocalAddr, s.LocalPort, s.RemoteAddr, s.RemotePort))
			case "unix":
				got = append(got, "UNIX "+s.Path)
			}
		}
		sort.Strings(want)
		sort.Strings(got)
		require.Equal(t, want, got, "pid %d sockets", ps.PID)
	}
}

// compareMounts: checkpointctl lists the OCI spec's mounts (spec.dump); podsleuth lists the
// mount table CRIU dumped (mountpoints-N.img), which is what the process actually saw:
// it also has the runtime's masked /proc and /sys paths and cgroup sub-mounts. Difference:
// podsleuth's table is a superset, so every spec mount must appear in it.
func compareMounts(t *testing.T, ref cctlOutput, cp *forensics.Checkpoint) {
	have := map[string]bool{}
	for _, m := range cp.Mounts {
		have[m.Mountpoint] = true
	}
	for _, m := range ref.Mounts {
		require.True(t, have[m.Destination], "spec mount %s (%s) missing from the CRIU mount table", m.Destination, m.Type)
	}
	require.GreaterOrEqual(t, len(cp.Mounts), len(ref.Mounts))
}
