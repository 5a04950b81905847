// Package tui is the Bubble Tea v2 workbench. Update and View do no I/O: all of it runs in
// tea.Cmds that return messages echoing their request key; long work takes a context
// cancelled by esc and reports progress over a channel read by a re-armed Cmd.
//
// Layout: app.go is the root App (the screen stack of nav.Pages, window size, messages);
// input.go its keys and prompts, commands.go the ":" commands, chrome.go the frame around the
// top screen (header with breadcrumbs, help, status bar); capabilities.go the optional screen
// interfaces. The screens are in screens/ (checkpoint analysis tabs, evidence, pods, list,
// acquire, confirm); keys/ and theme/ are the keymap and the semantic styles (no globals);
// components/ holds the table and the prompt; nav/ the Page wrapper and the messages screens
// send to the App.
//
// The jobs run only inside Cmds: jobs.go and loader.go (open, analyse, report, restore through
// forensics/open, forensics/analysis, forensics/report, sandbox/restore); connection.go is the
// App's view of a cluster connection, session.go the ClusterSession (cluster screens, pod
// detail, logs, acquire), informers.go its one shared cluster.Browser; samples.go the bundled
// sample checkpoints; artifacts.go the acquired artifacts of an evidence item.
//
// It must not import cmd.
package tui
