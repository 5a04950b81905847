// Package nav holds the messages screens send to the root App to navigate and to report:
// open a checkpoint, go to a view, show an error or a status line. Screens emit them through the
// Cmd constructors here; only the App handles them.
//
// It must not import tui or any screen.
package nav

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"

	tea "charm.land/bubbletea/v2"
)

// ErrMsg carries every error that reaches the status bar. Hint, when set, says how to fix it.
type ErrMsg struct {
	Err  error
	Hint string
}

// StatusMsg replaces the status line with an informational message.
type StatusMsg struct{ Text string }

// OpenCheckpointMsg asks the App to decode and show a checkpoint archive or image directory.
// Label names it in the breadcrumb (e.g. "sample: podman-full.tar.zst"); Embedded names a
// member of the bundled sample set that must be extracted first.
type OpenCheckpointMsg struct {
	Path     string
	Label    string
	Embedded string
	// Rootfs is the container's base image (as the CLI's --rootfs): the rootfs changes are
	// told apart (modified or added) against it and modified text files diffed.
	Rootfs string
	// Replace pops the sender (a progress view) before the checkpoint is pushed.
	Replace bool
}

// GotoMsg asks the App to switch to a root view, as the ":" command line does
// (View: "pods", "nodes", "evidence", "contexts", "namespaces"; Arg: a namespace or context).
type GotoMsg struct {
	View string
	Arg  string
}

// PushMsg asks the App to push a screen built by the sender (a pod's detail, a row's detail).
type PushMsg struct{ Page Page }

// PopMsg asks the App to pop the top screen.
type PopMsg struct{}

// Err returns a Cmd that reports err.
func Err(err error, hint string) tea.Cmd {
	return func() tea.Msg { return ErrMsg{Err: err, Hint: hint} }
}

// Status returns a Cmd that shows text in the status line.
func Status(text string) tea.Cmd { return func() tea.Msg { return StatusMsg{Text: text} } }

// Open returns a Cmd that asks the App to open a checkpoint.
func Open(path, label, embedded string) tea.Cmd {
	return func() tea.Msg { return OpenCheckpointMsg{Path: path, Label: label, Embedded: embedded} }
}

// OpenReplacing returns a Cmd that replaces the top screen with the checkpoint at path.
func OpenReplacing(path, label string) tea.Cmd {
	return func() tea.Msg { return OpenCheckpointMsg{Path: path, Label: label, Replace: true} }
}

// Goto returns a Cmd that switches to a root view.
func Goto(view, arg string) tea.Cmd { return func() tea.Msg { return GotoMsg{View: view, Arg: arg} } }

// Push returns a Cmd that pushes a screen.
func Push[S Screen[S]](s S) tea.Cmd {
	p := Wrap(s)
	return func() tea.Msg { return PushMsg{Page: p} }
}

// Pop returns a Cmd that pops the top screen.
func Pop() tea.Cmd { return func() tea.Msg { return PopMsg{} } }

// Cause returns err prefixed with "op subject: ", unless its message already names subject
// (the archive and decoding errors say "open PATH: ..." themselves): each error says its
// cause once.
func Cause(op, subject string, err error) error {
	msg := err.Error()
	// "open X: stat X: no such file": the system call's error names the path again
	var pe *fs.PathError
	if subject != "" && strings.Count(msg, subject) > 1 && errors.As(err, &pe) && pe.Path == subject {
		return fmt.Errorf("%s %s: %w", op, subject, pe.Err)
	}
	if subject != "" && strings.Contains(msg, subject) {
		return err
	}
	if subject == "" {
		return fmt.Errorf("%s: %w", op, err)
	}
	return fmt.Errorf("%s %s: %w", op, subject, err)
}
