// Package tui is the Bubble Tea v2 workbench. Update and View do no I/O: all of it runs in
// tea.Cmds that return messages echoing their request key; long work takes a context
// cancelled by esc and reports progress over a channel read by a re-armed Cmd.
//
// Layout: app.go is the root App (screen stack, window size, global keys, ":" and "/"
// prompts, help, status bar); page.go wraps the concrete screens of screens/ (checkpoint
// analysis tabs, evidence, pods, list, acquire); keys/ and theme/ are the keymap and the
// semantic styles (no globals); components/ holds the table and the prompt; nav/ holds the
// messages screens send to the App. loader.go, browse.go and samples.go adapt the engines
// (forensics/archive, criu, memory, ioc, findings; cluster; the embedded fixtures) and run
// only inside Cmds.
//
// It must not import cmd.
package tui
