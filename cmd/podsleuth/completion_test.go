package main

import (
	"bytes"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/stretchr/testify/require"

	"github.com/podsleuth/podsleuth/forensics/ioc"
)

// complete runs the hidden __complete command (what the bash, zsh and fish scripts call) and
// returns the offered names (descriptions cut off) and the directive line.
func complete(t *testing.T, dataDir string, args ...string) ([]string, string) {
	t.Helper()
	code, out, errOut := runCLI(t, dataDir, append([]string{cobra.ShellCompRequestCmd}, args...)...)
	require.Equal(t, 0, code, errOut)
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	directive := lines[len(lines)-1]
	var names []string
	for _, l := range lines[:len(lines)-1] {
		name, _, _ := strings.Cut(l, "\t")
		names = append(names, name)
	}
	return names, directive
}

// Directives as __complete prints them (cobra's ShellCompDirective values).
const (
	dirDefault = ":0"
	dirNoFiles = ":4"
)

func TestCompletionFlagValues(t *testing.T) {
	data := t.TempDir()
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"report formats", []string{"report", "x.tar", "-f", ""}, []string{"json", "md", "html", "csv", "timesketch", "stix", "misp"}},
		{"severities", []string{"findings", "x.tar", "--min-severity", ""}, []string{"info", "low", "medium", "high", "critical"}},
		{"hunt pull severity", []string{"hunt", "--pull-on-match", ""}, []string{"info", "low", "medium", "high", "critical"}},
		{"object kinds", []string{"files", "ls", "x.tar", "--kind", ""}, []string{"ghost", "memfd", "shmem", "devshm", "tmpfs", "pipe", "socket", "rootfs", "file", "mount"}},
		{"cat modes", []string{"files", "cat", "x.tar", "obj", "--mode", ""}, []string{"auto", "text", "hex"}},
		{"memdump outputs", []string{"memdump", "x.tar", "-o", ""}, []string{"text", "raw", "json"}},
		{"inspect outputs", []string{"inspect", "--output", ""}, []string{"text", "json"}},
		{"a parent's persistent -o", []string{"evidence", "list", "-o", ""}, []string{"text", "json"}},
		{"indicator types", []string{"iocs", "x.tar", "--type", "wallet"}, ioc.Types()},
		{"signals", []string{"sandbox", "kill", "--signal", ""}, []string{"KILL", "TERM", "STOP", "CONT", "INT", "HUP", "QUIT", "USR1", "USR2"}},
		{"memory regions", []string{"iocs", "x.tar", "--region", ""}, []string{"heap", "stack", "anon", "shmem", "memfd", "file", "file:", "pipe", "socket", "ghost", "tmpfs", "devshm", "rootfs"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			names, dir := complete(t, data, tt.args...)
			require.Equal(t, tt.want, names)
			require.Equal(t, dirNoFiles, dir)
		})
	}
	// report -o is a file name: the shell completes it
	names, dir := complete(t, data, "report", "x.tar", "-o", "")
	require.Empty(t, names)
	require.Equal(t, dirDefault, dir)
}

// TestCompletionWiring: every flag whose help names a fixed set of values ("a|b|c", or a list
// "a, b, c") offers them; the flags listed here take free values on purpose.
func TestCompletionWiring(t *testing.T) {
	free := map[string]string{
		"perm": "any subset of rwxsp",
	}
	pipeList := regexp.MustCompile(`\b[a-z]+(\|[a-z]+)+\b`)
	set := regexp.MustCompile(`\b[a-z]+\|[a-z]+\b|\b[a-z]+, [a-z]+, [a-z]+\b`)
	a := newApp("podsleuth", streams{In: strings.NewReader(""), Out: &bytes.Buffer{}, ErrOut: &bytes.Buffer{}})
	var checked int
	walk(a.root, func(c *cobra.Command) {
		c.LocalFlags().VisitAll(func(f *pflag.Flag) {
			if !strings.HasPrefix(f.Value.Type(), "string") || !set.MatchString(f.Usage) || free[f.Name] != "" {
				return
			}
			checked++
			fn, ok := c.GetFlagCompletionFunc(f.Name)
			require.True(t, ok, "%s --%s (%q) has a fixed set of values but offers none", c.CommandPath(), f.Name, f.Usage)
			if m := pipeList.FindString(f.Usage); m != "" {
				got, _ := fn(c, nil, "")
				require.ElementsMatch(t, strings.Split(m, "|"), got, "%s --%s offers what its help lists", c.CommandPath(), f.Name)
			}
		})
	})
	require.Greater(t, checked, 15)
}

// writeStore adds two real archives to a store under data and returns their IDs.
func writeStore(t *testing.T, data string) []string {
	t.Helper()
	var ids []string
	for i, c := range []string{"IR-1", "IR-2"} {
		src := filepath.Join(t.TempDir(), "checkpoint.tar")
		require.NoError(t, os.WriteFile(src, bytes.Repeat([]byte{byte(i)}, 1000), 0o644))
		code, _, errOut := runCLI(t, data, "evidence", "add", src, "--case-id", c)
		require.Equal(t, 0, code, errOut)
	}
	code, out, _ := runCLI(t, data, "evidence", "list", "-o", "json")
	require.Equal(t, 0, code)
	for _, m := range regexp.MustCompile(`"id": "([^"]+)"`).FindAllStringSubmatch(out, -1) {
		ids = append(ids, m[1])
	}
	require.Len(t, ids, 2)
	return ids
}

func TestCompletionEvidenceIDs(t *testing.T) {
	data := t.TempDir()
	ids := writeStore(t, data)

	// an ARCHIVE argument: the IDs, and file names from the shell besides
	names, dir := complete(t, data, "inspect", "")
	require.Equal(t, ids, names)
	require.Equal(t, dirDefault, dir)
	code, out, _ := runCLI(t, data, cobra.ShellCompRequestCmd, "inspect", "")
	require.Equal(t, 0, code)
	require.Regexp(t, `(?m)^`+ids[0]+`\tcheckpoint.tar \(case IR-[12]\)$`, out, "described by what it holds")

	names, _ = complete(t, data, "files", "cat", ids[1][:len(ids[1])-1])
	require.Equal(t, ids[1:], names, "a prefix narrows")
	names, dir = complete(t, data, "memdump", ids[0], "")
	require.Empty(t, names, "memdump takes one archive")
	require.Equal(t, dirNoFiles, dir)

	// an ID argument: IDs only
	names, dir = complete(t, data, "evidence", "show", "")
	require.Equal(t, ids, names)
	require.Equal(t, dirNoFiles, dir)
	names, _ = complete(t, data, "evidence", "verify", ids[0], "")
	require.Equal(t, ids, names, "verify takes many")

	// --data-dir on the command line wins over the environment; a missing store offers
	// nothing and is not created
	missing := filepath.Join(t.TempDir(), "none")
	names, _ = complete(t, data, "--data-dir", missing, "evidence", "show", "")
	require.Empty(t, names)
	require.NoDirExists(t, missing, "completion never creates the store")
}

func writeKubeconfig(t *testing.T, server string, contexts ...string) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("apiVersion: v1\nkind: Config\nclusters:\n- name: c1\n  cluster:\n    server: " + server + "\n    insecure-skip-tls-verify: true\nusers:\n- name: u1\n  user:\n    token: x\ncontexts:\n")
	for _, c := range contexts {
		b.WriteString("- name: " + c + "\n  context:\n    cluster: c1\n    user: u1\n")
	}
	b.WriteString("current-context: " + contexts[0] + "\n")
	p := filepath.Join(t.TempDir(), "kubeconfig")
	require.NoError(t, os.WriteFile(p, []byte(b.String()), 0o600))
	return p
}

func TestCompletionKubeconfigNames(t *testing.T) {
	// the server is never asked: contexts, clusters and users come from the file
	kc := writeKubeconfig(t, "https://192.0.2.1:6443", "staging", "prod-us", "prod-eu")
	data := t.TempDir()
	names, dir := complete(t, data, "--kubeconfig", kc, "--context", "")
	require.Equal(t, []string{"prod-eu", "prod-us", "staging"}, names)
	require.Equal(t, dirNoFiles, dir)
	t.Setenv("KUBECONFIG", kc)
	names, _ = complete(t, data, "contexts", "--context", "prod")
	require.Equal(t, []string{"prod-eu", "prod-us"}, names)
	names, _ = complete(t, data, "logs", "--cluster", "")
	require.Equal(t, []string{"c1"}, names)
	names, _ = complete(t, data, "logs", "--user", "")
	require.Equal(t, []string{"u1"}, names)
}

// TestCompletionSilentClusterOffersNothing: an API server that accepts the connection and never
// answers (and a closed port) gets no more than the completion timeout: nothing is offered,
// and no file names either.
func TestCompletionSilentClusterOffersNothing(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var held []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			held = append(held, c) // never read, never answered
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		for _, c := range held {
			c.Close()
		}
	})
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	closedAddr := closed.Addr().String()
	closed.Close()

	for name, server := range map[string]string{"silent": "https://" + ln.Addr().String(), "closed port": "https://" + closedAddr} {
		kc := writeKubeconfig(t, server, "ctx")
		for _, args := range [][]string{
			{"--kubeconfig", kc, "checkpoint", ""},
			{"--kubeconfig", kc, "logs", "-n", ""},
			{"--kubeconfig", kc, "preflight", "web", "-c", ""},
			{"--kubeconfig", kc, "hunt", "kube-system/"},
		} {
			t.Run(name+" "+strings.Join(args[2:], " "), func(t *testing.T) {
				start := time.Now()
				names, dir := complete(t, t.TempDir(), args...)
				took := time.Since(start)
				require.Empty(t, names)
				require.Equal(t, dirNoFiles, dir)
				require.Less(t, took, 1500*time.Millisecond, "a completion that needs the cluster answers within 1 s")
			})
		}
	}
}
