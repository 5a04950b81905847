package forensics

import (
	"fmt"
	"strings"
)

// FDDetail describes the state of an eventfd, timerfd, signalfd, inotify, epoll or tty fd of p:
// a summary for its line and one line per inotify watch or epoll target (empty for other fds).
// Names are made printable (Printable). The CLI's text output and the TUI show it.
func (p *Process) FDDetail(f FD) (string, []string) {
	var more []string
	switch {
	case f.EventFD != nil:
		return fmt.Sprintf("counter %d", f.EventFD.Counter), nil
	case f.TimerFD != nil:
		t := f.TimerFD
		parts := []string{t.Clock}
		switch {
		case t.Value == 0:
			parts = append(parts, "disarmed")
		case t.Abstime:
			parts = append(parts, "next in "+t.Value.String()+" (set absolute)")
		default:
			parts = append(parts, "next in "+t.Value.String())
		}
		if t.Interval != 0 {
			parts = append(parts, "every "+t.Interval.String())
		}
		if t.Ticks != 0 {
			parts = append(parts, fmt.Sprintf("%d expirations unread", t.Ticks))
		}
		return strings.Join(parts, ", "), nil
	case f.SignalFD != nil:
		return "signals " + f.SignalFD.Signals, nil
	case f.Inotify != nil:
		for _, w := range f.Inotify.Watches {
			what := fmt.Sprintf("inode %d on %s", w.Ino, w.Dev)
			if w.Path != "" {
				what = fmt.Sprintf("%s (inode %d on %s)", Printable(w.Path), w.Ino, w.Dev)
			}
			more = append(more, fmt.Sprintf("watch %d  %s  %s", w.WD, what, w.Mask))
		}
		return countOf(len(f.Inotify.Watches), "watch", "watches"), more
	case f.Epoll != nil:
		for _, t := range f.Epoll.Targets {
			target := "not open"
			for i := range p.FDs {
				if p.FDs[i].FD == t.FD {
					target = p.FDs[i].Type + " " + Printable(p.FDs[i].Path)
				}
			}
			more = append(more, fmt.Sprintf("target fd %d (%s)  %s  data %s", t.FD, target, t.Events, t.Data))
		}
		return countOf(len(f.Epoll.Targets), "target", "targets"), more
	case f.TTY != nil:
		t := f.TTY
		s := t.Type + " " + t.Rdev
		if t.Type == "PTY" {
			end := "slave"
			if t.Master {
				end = "master"
			}
			s = fmt.Sprintf("PTY %s, pts %d", end, t.Index)
		}
		if t.Rows != 0 || t.Cols != 0 {
			s += fmt.Sprintf(", window %d rows x %d cols", t.Rows, t.Cols)
		}
		if t.SID != 0 {
			s += fmt.Sprintf(", controlling tty of session %d (foreground pgrp %d)", t.SID, t.PGRP)
		}
		return s, nil
	}
	return "", nil
}

// countOf is "1 watch", "2 watches".
func countOf(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}
