package tui

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"

	tea "charm.land/bubbletea/v2"

	"github.com/podsleuth/podsleuth/cluster"
)

// Completion of the ":" prompt: command names, then the command's argument (namespaces for
// :pods and :ns, contexts for :ctx, evidence IDs and paths for :open). The suggestions are
// computed in Update from what is already in memory: the command list, the session's informer
// cache, and the names earlier Cmds listed for this prompt (CompletionMsg). What is not there
// yet is listed by a Cmd (the cluster within cluster.NameTimeout, then nothing), and the
// suggestions appear when its answer arrives.

// Names a completion Cmd lists (the keys of App.names).
const (
	namesNamespaces = "namespaces"
	namesContexts   = "contexts"
	namesEvidence   = "evidence"
	namesDir        = "dir:" // + the directory
)

// maxDirNames bounds the entries of a directory offered for :open.
const maxDirNames = 2000

// CompletionMsg is the answer of a completion Cmd: the names of Key (nil when the listing
// failed or took too long: nothing is offered).
type CompletionMsg struct {
	Key   string
	Names []string
}

// nameSource is a Cluster that offers names to the completion.
type nameSource interface {
	// CachedNamespaces returns the namespaces of the informer cache; ok is false while there
	// is none (no I/O).
	CachedNamespaces() (names []string, ok bool)
	// ListNames lists namespaces or contexts (inside a Cmd).
	ListNames(ctx context.Context, kind string) ([]string, error)
}

// commandNames are the ":" commands offered, in the order of the help.
func commandNames() []string {
	var out []string
	for _, c := range Commands {
		name, _, _ := strings.Cut(strings.TrimPrefix(c[0], ":"), " ")
		out = append(out, name)
	}
	return out
}

// argKinds says what the argument of a command (or alias) is.
func argKind(cmd string) string {
	switch cmd {
	case "pods", "po", "pod", "ns", "namespace", "namespaces":
		return namesNamespaces
	case "ctx", "context", "contexts":
		return namesContexts
	case "open", "o":
		return "path"
	}
	return ""
}

// suggest recomputes the prompt's suggestions for its value; it returns the Cmd that lists
// what is not known yet.
func (a *App) suggest() tea.Cmd {
	if a.mode != modeCommand {
		return nil
	}
	before, word := a.prompt.Word()
	if before == "" {
		if word == "" {
			a.prompt.SetSuggestions(nil)
			return nil
		}
		a.prompt.SetSuggestions(matching(commandNames(), "", word))
		return nil
	}
	f := strings.Fields(before)
	kind := argKind(f[0])
	switch {
	case f[0] == "hunt" && (f[len(f)-1] == "-n" || f[len(f)-1] == "--namespace"):
		kind = namesNamespaces // :hunt takes podsleuth hunt's arguments
	case kind == "path" && f[len(f)-1] == "--rootfs":
		kind = "base" // :open PATH --rootfs BASE: a file or directory
	case kind == "path" && len(f) == 2 && !slices.Contains(f, "--rootfs"):
		kind = "flag"
	case len(f) != 1:
		kind = "" // the other commands take one argument
	}
	var names []string
	var cmds []tea.Cmd
	need := func(key string) []string {
		got, ok := a.names[key]
		if !ok {
			cmds = append(cmds, a.listNamesCmd(key))
		}
		return got
	}
	switch kind {
	case namesNamespaces:
		if ns, ok := a.cluster.(nameSource); ok {
			if cached, ok := ns.CachedNamespaces(); ok {
				names = cached
			} else {
				names = need(namesNamespaces)
			}
		}
		if f[0] == "pods" || f[0] == "po" || f[0] == "pod" {
			names = append([]string{"all"}, names...)
		}
	case namesContexts:
		if _, ok := a.cluster.(nameSource); ok {
			names = need(namesContexts)
		}
	case "flag":
		names = []string{"--rootfs"}
	case "path", "base":
		if kind == "path" && a.o.Evidence.Store != nil && !strings.Contains(word, "/") {
			names = need(namesEvidence)
		}
		dir, _ := splitPath(word)
		for _, n := range need(namesDir + dir) {
			names = append(names, dir+n)
		}
		if !strings.HasPrefix(filepath.Base(word), ".") {
			names = slices.DeleteFunc(names, func(n string) bool { return strings.HasPrefix(filepath.Base(n), ".") })
		}
	}
	a.prompt.SetSuggestions(matching(names, "", word))
	return tea.Batch(cmds...)
}

// splitPath splits the word being completed into its directory (as typed, "" for the current
// one) and the start of the name.
func splitPath(word string) (dir, name string) {
	i := strings.LastIndexByte(word, '/')
	return word[:i+1], word[i+1:]
}

func matching(names []string, prefix, word string) []string {
	var out []string
	for _, n := range names {
		if c := prefix + n; strings.HasPrefix(c, word) && c != word {
			out = append(out, c)
		}
	}
	return out
}

// listNamesCmd lists the names of key in a Cmd. It is marked as asked, so one prompt asks once.
func (a *App) listNamesCmd(key string) tea.Cmd {
	a.names[key] = nil
	switch {
	case key == namesNamespaces || key == namesContexts:
		src, ok := a.cluster.(nameSource)
		if !ok {
			return nil
		}
		return func() tea.Msg {
			ctx, cancel := context.WithTimeout(context.Background(), cluster.NameTimeout)
			defer cancel()
			names, err := src.ListNames(ctx, key)
			if err != nil {
				return CompletionMsg{Key: key}
			}
			return CompletionMsg{Key: key, Names: names}
		}
	case key == namesEvidence:
		st := a.o.Evidence.Store
		return func() tea.Msg {
			items, err := st.List()
			if err != nil {
				return CompletionMsg{Key: key}
			}
			names := make([]string, 0, len(items))
			for _, it := range items {
				names = append(names, it.ID)
			}
			return CompletionMsg{Key: key, Names: names}
		}
	case strings.HasPrefix(key, namesDir):
		dir := strings.TrimPrefix(key, namesDir)
		return func() tea.Msg { return CompletionMsg{Key: key, Names: readDirNames(dir)} }
	}
	return nil
}

// readDirNames lists dir ("" the current directory), directories with a "/" after their name.
func readDirNames(dir string) []string {
	d := dir
	if d == "" {
		d = "."
	}
	if strings.HasPrefix(d, "~/") {
		home, err := os.UserHomeDir()
		if err != nil {
			return nil
		}
		d = filepath.Join(home, d[2:])
	}
	f, err := os.Open(d)
	if err != nil {
		return nil
	}
	defer f.Close()
	ents, err := f.ReadDir(maxDirNames)
	if err != nil && len(ents) == 0 {
		return nil
	}
	names := make([]string, 0, len(ents))
	for _, e := range ents {
		n := e.Name()
		if e.IsDir() {
			n += "/"
		} else if e.Type()&os.ModeSymlink != 0 {
			if st, err := os.Stat(filepath.Join(d, n)); err == nil && st.IsDir() {
				n += "/"
			}
		}
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// completed stores a completion Cmd's answer and refreshes the suggestions of an open prompt
// (unless tab is cycling through them).
func (a *App) completed(msg CompletionMsg) tea.Cmd {
	if _, asked := a.names[msg.Key]; !asked {
		return nil // asked by a prompt that was closed since
	}
	a.names[msg.Key] = msg.Names
	if a.mode != modeCommand || a.prompt.Cycling() {
		return nil
	}
	return a.suggest()
}

// tab completes the prompt's word; a word completed whole gets the next word's suggestions.
func (a *App) tab(forward bool) tea.Cmd {
	if a.mode != modeCommand {
		return nil
	}
	if a.prompt.Complete(forward) || !a.prompt.Cycling() {
		return a.suggest()
	}
	return nil
}
