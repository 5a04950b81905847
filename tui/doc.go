// Package tui is the Bubble Tea workbench. Update and View do no I/O: all of it runs in tea.Cmds.
//
// It must not import cmd.
package tui
