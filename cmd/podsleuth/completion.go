package main

import (
	"context"
	"regexp"
	"strings"

	"github.com/spf13/cobra"

	"github.com/podsleuth/podsleuth/cluster"
	"github.com/podsleuth/podsleuth/forensics"
	"github.com/podsleuth/podsleuth/forensics/content"
	"github.com/podsleuth/podsleuth/forensics/evidence"
	"github.com/podsleuth/podsleuth/forensics/ioc"
	"github.com/podsleuth/podsleuth/forensics/report"
	"github.com/podsleuth/podsleuth/sandbox"
	"github.com/podsleuth/podsleuth/sandbox/restore"
)

// Shell completion (cobra's `completion bash|zsh|fish|powershell` and its hidden __complete):
// this file only wires the listings of the domain packages to the arguments and flags. Evidence
// IDs come from the store under --data-dir/the config (read, never created); contexts from the
// kubeconfig; namespaces, pods and containers from the cluster within cluster.NameTimeout, and
// nothing at all when it does not answer in time.

// noFiles is the directive of a completion that is complete: no file names besides it.
const noFiles = cobra.ShellCompDirectiveNoFileComp

// registerCompletions wires every argument and flag that has names to offer.
func (a *app) registerCompletions() {
	root := a.root
	// arguments: ARCHIVE|EVIDENCE-ID (files too), evidence IDs only, pods, sandboxes
	archive := map[string]int{"open": -1, "inspect": -1, "report": -1, "memdump": 1, "memsearch": 1, "iocs": 1,
		"findings": 1, "files ls": 1, "files cat": 1, "files extract": 1, "yara": 2, "diff": 2, "restore": 1}
	for path, n := range archive {
		find(root, path).ValidArgsFunction = a.completeArchive(n)
	}
	for path, n := range map[string]int{"evidence show": 1, "evidence verify": -1, "evidence export": 1} {
		find(root, path).ValidArgsFunction = a.completeEvidenceID(n)
	}
	for _, path := range []string{"checkpoint", "preflight", "logs"} {
		c := find(root, path)
		c.ValidArgsFunction = a.completePod(1)
		_ = c.RegisterFlagCompletionFunc("container", a.completeContainer)
	}
	find(root, "hunt").ValidArgsFunction = a.completePod(-1)
	for path, n := range map[string]int{"sandbox show": 1, "sandbox ps": 1, "sandbox enter": 1, "sandbox resume": 1,
		"sandbox kill": 1, "sandbox destroy": -1, "sandbox connections": 1} {
		find(root, path).ValidArgsFunction = a.completeSandbox(n)
	}

	// kubectl-style flags: names from the kubeconfig (no network) and the cluster
	for flag, kind := range map[string]string{"context": "contexts", "cluster": "clusters", "user": "users"} {
		_ = root.RegisterFlagCompletionFunc(flag, a.completeKubeconfig(kind))
	}
	_ = root.RegisterFlagCompletionFunc("namespace", a.completeNamespace)
	for _, path := range []string{"checkpoint", "preflight", "hunt"} {
		_ = find(root, path).RegisterFlagCompletionFunc("collector-namespace", a.completeNamespace)
	}
	_ = root.MarkPersistentFlagDirname("data-dir")
	_ = root.MarkPersistentFlagFilename("config", "yaml", "yml")

	// flags with a fixed set of values
	fixed := func(path, flag string, values ...string) {
		_ = find(root, path).RegisterFlagCompletionFunc(flag, cobra.FixedCompletions(values, noFiles))
	}
	fixed("report", "format", report.FormatNames()...)
	fixed("findings", "min-severity", forensics.SeverityNames()...)
	fixed("hunt", "pull-on-match", forensics.SeverityNames()...)
	fixed("files ls", "kind", content.Kinds()...)
	fixed("iocs", "type", ioc.Types()...)
	fixed("files cat", "mode", "auto", "text", "hex")
	fixed("sandbox kill", "signal", "KILL", "TERM", "STOP", "CONT", "INT", "HUP", "QUIT", "USR1", "USR2")
	for _, path := range []string{"memsearch", "iocs"} {
		fixed(path, "region", "heap", "stack", "anon", "shmem", "memfd", "file", "file:", "pipe", "socket", "ghost", "tmpfs", "devshm", "rootfs")
	}
	_ = find(root, "yara").RegisterFlagCompletionFunc("rules", func(*cobra.Command, []string, string) ([]cobra.Completion, cobra.ShellCompDirective) {
		return []cobra.Completion{cobra.CompletionWithDesc("default", "podsleuth's rule set")}, cobra.ShellCompDirectiveDefault
	})
	// every -o/--output "output format: a|b|c" offers a, b and c
	walk(root, func(c *cobra.Command) {
		if f := c.LocalNonPersistentFlags().Lookup("output"); f != nil {
			if vs := outputFormats(f.Usage); vs != nil {
				_ = c.RegisterFlagCompletionFunc("output", cobra.FixedCompletions(vs, noFiles))
			}
		}
		if f := c.PersistentFlags().Lookup("output"); f != nil {
			if vs := outputFormats(f.Usage); vs != nil {
				_ = c.RegisterFlagCompletionFunc("output", cobra.FixedCompletions(vs, noFiles))
			}
		}
	})
}

// outputFormatRE finds the values of an "output format: text|raw|json" flag usage.
var outputFormatRE = regexp.MustCompile(`^output format: ([a-z]+(?:\|[a-z]+)+)`)

func outputFormats(usage string) []string {
	m := outputFormatRE.FindStringSubmatch(usage)
	if m == nil {
		return nil
	}
	return strings.Split(m[1], "|")
}

// find returns the command at path ("files ls") under root; a wrong path is a programming error
// that TestCompletionWiring catches.
func find(root *cobra.Command, path string) *cobra.Command {
	c, rest, err := root.Find(strings.Fields(path))
	if err != nil || len(rest) > 0 || c == root {
		panic("completion: no command " + path)
	}
	return c
}

func walk(c *cobra.Command, f func(*cobra.Command)) {
	f(c)
	for _, s := range c.Commands() {
		walk(s, f)
	}
}

// argsFull: n positional arguments are completed (n < 0: any number).
func argsFull(args []string, n int) bool { return n >= 0 && len(args) >= n }

// evidenceIDs are the store's items whose ID starts with prefix, described.
func (a *app) evidenceIDs(cmd *cobra.Command, prefix string) []cobra.Completion {
	cfg, err := a.config(cmd)
	if err != nil {
		return nil
	}
	briefs, err := evidence.Briefs(cfg.DataDir)
	if err != nil {
		return nil
	}
	var out []cobra.Completion
	for _, b := range briefs {
		if strings.HasPrefix(b.ID, prefix) {
			out = append(out, cobra.CompletionWithDesc(b.ID, b.Desc))
		}
	}
	return out
}

// completeArchive offers evidence IDs, and the shell's file names besides (an ARCHIVE is a path
// or an evidence ID).
func (a *app) completeArchive(n int) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		if argsFull(args, n) {
			return nil, noFiles
		}
		return a.evidenceIDs(cmd, toComplete), cobra.ShellCompDirectiveDefault
	}
}

// completeEvidenceID offers evidence IDs only.
func (a *app) completeEvidenceID(n int) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		if argsFull(args, n) {
			return nil, noFiles
		}
		return a.evidenceIDs(cmd, toComplete), noFiles
	}
}

// completeSandbox offers the IDs of the sandboxes in the state directory.
func (a *app) completeSandbox(n int) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		if argsFull(args, n) {
			return nil, noFiles
		}
		cfg, err := a.config(cmd)
		if err != nil {
			return nil, noFiles
		}
		infos, err := sandbox.States{Root: restore.StateDir(cfg)}.List("")
		if err != nil {
			return nil, noFiles
		}
		var out []cobra.Completion
		for _, in := range infos {
			if strings.HasPrefix(in.ID, toComplete) {
				out = append(out, cobra.CompletionWithDesc(in.ID, in.Backend+" "+forensics.Printable(in.Source)))
			}
		}
		return out, noFiles
	}
}

func (a *app) completeKubeconfig(kind string) cobra.CompletionFunc {
	return func(_ *cobra.Command, _ []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		names, err := cluster.KubeconfigNames(a.kube, kind)
		if err != nil {
			return nil, noFiles
		}
		return withPrefix(names, "", toComplete), noFiles
	}
}

// clusterNames runs a cluster listing within cluster.NameTimeout; nothing on any failure.
func (a *app) clusterNames(cmd *cobra.Command, list func(context.Context, *cluster.NameLister) ([]string, error)) []string {
	ctx := cmd.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, cancel := context.WithTimeout(ctx, cluster.NameTimeout)
	defer cancel()
	l, err := cluster.NewNameLister(ctx, a.kube)
	if err != nil {
		return nil
	}
	names, err := list(ctx, l)
	if err != nil {
		return nil
	}
	return names
}

func (a *app) completeNamespace(cmd *cobra.Command, _ []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
	names := a.clusterNames(cmd, func(ctx context.Context, l *cluster.NameLister) ([]string, error) {
		return cluster.NamespaceNames(ctx, l.Client)
	})
	return withPrefix(names, "", toComplete), noFiles
}

// completePod offers the pods of the namespace (-n, the context's), or NAMESPACE/POD once a
// "NAMESPACE/" is typed.
func (a *app) completePod(n int) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		if argsFull(args, n) {
			return nil, noFiles
		}
		prefix := ""
		names := a.clusterNames(cmd, func(ctx context.Context, l *cluster.NameLister) ([]string, error) {
			ns := l.Namespace
			if before, _, ok := strings.Cut(toComplete, "/"); ok {
				ns, prefix = before, before+"/"
			}
			return cluster.PodNames(ctx, l.Client, ns)
		})
		return withPrefix(names, prefix, toComplete), noFiles
	}
}

// completeContainer offers the containers of the pod given as the first argument.
func (a *app) completeContainer(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
	if len(args) == 0 {
		return nil, noFiles
	}
	names := a.clusterNames(cmd, func(ctx context.Context, l *cluster.NameLister) ([]string, error) {
		ns, pod := l.Namespace, args[0]
		if before, after, ok := strings.Cut(pod, "/"); ok {
			ns, pod = before, after
		}
		return cluster.ContainerNames(ctx, l.Client, ns, pod)
	})
	return withPrefix(names, "", toComplete), noFiles
}

// withPrefix returns prefix+name for the names that complete toComplete.
func withPrefix(names []string, prefix, toComplete string) []cobra.Completion {
	var out []cobra.Completion
	for _, n := range names {
		if c := prefix + n; strings.HasPrefix(c, toComplete) {
			out = append(out, c)
		}
	}
	return out
}
