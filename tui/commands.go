package tui

import (
	"errors"
	"fmt"
	"strings"

	tea "charm.land/bubbletea/v2"

	"github.com/podsleuth/podsleuth/tui/nav"
	"github.com/podsleuth/podsleuth/tui/screens/evidence"
)

func (a *App) quit() tea.Cmd {
	if cmd, running := a.interruptRunning(); running {
		return cmd
	}
	if c, ok := a.cluster.(closerCluster); ok {
		c.Close()
	}
	for len(a.stack) > 0 {
		a.closePage(a.top())
		a.stack = a.stack[:len(a.stack)-1]
	}
	a.stack = []nav.Page{nav.Wrap(evidence.New(evidence.Source{}, a.th, a.km))}
	return tea.Quit
}

// Commands lists the ":" commands for the help screen.
var Commands = [][2]string{
	{":pods [NS]", "pods (of namespace NS; all namespaces with \"all\")"},
	{":ns [NAME]", "namespaces, or switch to NAME"},
	{":ctx [NAME]", "kubeconfig contexts, or switch to NAME"},
	{":nodes", "nodes"},
	{":hunt ARGS", "hunt on the nodes (-n NS, -A, -l SEL, NS/POD: as podsleuth hunt)"},
	{":evidence", "bundled samples and the local evidence store"},
	{":open PATH [--rootfs BASE]", "decode and analyse a checkpoint (BASE: its image)"},
	{":q", "quit"},
}

// ErrUnknownCommand is reported for a ":" command that does not exist.
var ErrUnknownCommand = errors.New("unknown command")

func (a *App) runCommand(line string) tea.Cmd {
	f := strings.Fields(line)
	if len(f) == 0 {
		return nil
	}
	arg := strings.Join(f[1:], " ")
	a.err, a.hint = "", ""
	switch f[0] {
	case "q", "quit", "q!", "exit":
		return a.quit()
	case "pods", "po", "pod":
		return a.gotoView("pods", arg)
	case "ns", "namespace", "namespaces":
		if arg != "" {
			return a.gotoView("pods", arg)
		}
		return a.gotoView("namespaces", "")
	case "ctx", "context", "contexts":
		return a.gotoView("contexts", arg)
	case "nodes", "no", "node":
		return a.gotoView("nodes", arg)
	case "evidence", "ev":
		return a.gotoView("evidence", "")
	case "hunt":
		return a.gotoView("hunt", arg)
	case "open", "o":
		if arg == "" {
			a.setErr(errors.New(":open needs a path"), "e.g. :open /path/to/checkpoint.tar")
			return nil
		}
		path, rootfs, err := openArgs(f[1:])
		if err != nil {
			a.setErr(err, "e.g. :open /path/to/checkpoint.tar --rootfs base.tar")
			return nil
		}
		return a.open(nav.OpenCheckpointMsg{Path: path, Rootfs: rootfs})
	case "help", "h":
		a.mode = modeHelp
		return nil
	}
	a.setErr(fmt.Errorf("%w %q", ErrUnknownCommand, f[0]), "? lists the commands")
	return nil
}

// openArgs parses the arguments of :open: the path (its words joined by one space, as typed)
// and --rootfs BASE (or --rootfs=BASE), as podsleuth open takes them.
func openArgs(args []string) (path, rootfs string, err error) {
	var words []string
	for i := 0; i < len(args); i++ {
		switch w := args[i]; {
		case w == "--rootfs":
			if i+1 == len(args) {
				return "", "", errors.New(":open --rootfs needs the base image (image tarball, OCI layout, rootfs dir/tar or registry reference)")
			}
			i++
			rootfs = args[i]
		case strings.HasPrefix(w, "--rootfs="):
			rootfs = strings.TrimPrefix(w, "--rootfs=")
		default:
			words = append(words, w)
		}
	}
	if len(words) == 0 {
		return "", "", errors.New(":open needs a path")
	}
	return strings.Join(words, " "), rootfs, nil
}

func (a *App) gotoView(view, arg string) tea.Cmd {
	if view == "evidence" {
		ev := evidence.New(a.o.Evidence, a.th, a.km)
		ev.SetOpened(a.opened, "")
		if a.cluster == nil && !a.connecting {
			ev.SetBanner(a.embeddedBanner())
		}
		return a.reset(nav.Wrap(ev))
	}
	if a.cluster == nil {
		why := a.clusterNote
		if a.connecting {
			why = "still connecting"
		}
		a.setErr(fmt.Errorf(":%s needs a cluster: %s", view, why), "set KUBECONFIG or --kubeconfig/--context; the API server must answer within cluster.connect_timeout")
		return nil
	}
	p, cmd, err := a.clusterView(view, arg)
	if err != nil {
		a.setErr(err, clusterHint(err))
		return cmd
	}
	if p == nil {
		return cmd
	}
	return tea.Batch(cmd, a.reset(p))
}
