package findings

import (
	"fmt"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/podsleuth/podsleuth/forensics"
	"github.com/podsleuth/podsleuth/forensics/content"
)

// changed returns the lines of now that are not in the base file (all meaningful lines when the
// base is unknown), and whether a base was known.
func (a *analyzer) changed(p, now string) ([]string, bool) {
	var base map[string]bool
	if a.base != nil {
		if b, ok := a.base(p); ok {
			base = map[string]bool{}
			for _, l := range strings.Split(string(b), "\n") {
				base[strings.TrimRight(l, "\r")] = true
			}
		}
	}
	var out []string
	for _, l := range strings.Split(now, "\n") {
		l = strings.TrimRight(l, "\r")
		t := strings.TrimSpace(l)
		if t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		if base != nil && base[l] {
			continue
		}
		out = append(out, l)
	}
	return out, base != nil
}

func linesText(ls []string, max int) string {
	var q []string
	for i, l := range ls {
		if i == max {
			q = append(q, fmt.Sprintf("(+%d more)", len(ls)-max))
			break
		}
		q = append(q, strconv.Quote(forensics.Printable(clip(l, 160))))
	}
	return strings.Join(q, ", ")
}

func (a *analyzer) persistence(cp *forensics.Checkpoint) {
	for _, o := range a.content.Objects {
		if o.Kind != content.KindRootfs || !o.Saved {
			continue
		}
		p := o.Path
		base := path.Base(p)
		dir := path.Dir(p)
		loc := forensics.Location{Kind: "rootfs", Path: p}
		kind := "added or modified"
		// the diff alone cannot tell added from modified: "added" is trusted only against a
		// base image (which classified the change)
		if c := rootfsChange(cp, p); c != nil && c.Kind != "" && (c.Kind != forensics.RootfsAdded || a.base != nil) {
			kind = c.Kind
		}
		switch {
		case p == "/etc/passwd":
			lines, _ := a.changed(p, readText(o))
			for _, l := range lines {
				f := strings.Split(l, ":")
				if len(f) < 4 {
					continue
				}
				if f[2] == "0" && f[0] != "root" {
					a.add(RuleAccountUID0, forensics.SeverityCritical, "Account with uid 0 added",
						fmt.Sprintf("/etc/passwd (%s) has the account %q with uid 0, a second root: %s.", kind, f[0], linesText([]string{l}, 1)), loc)
				}
				if f[1] == "" {
					a.add(RuleAccountNoPass, forensics.SeverityHigh, "Account without a password",
						fmt.Sprintf("/etc/passwd (%s) has the account %q with an empty password field: anyone can log in as it: %s.", kind, f[0], linesText([]string{l}, 1)), loc)
				}
			}
		case p == "/etc/shadow":
			lines, _ := a.changed(p, readText(o))
			for _, l := range lines {
				f := strings.Split(l, ":")
				if len(f) >= 2 && f[1] == "" {
					a.add(RuleAccountNoPass, forensics.SeverityHigh, "Account without a password",
						fmt.Sprintf("/etc/shadow (%s) has the account %q with an empty password: %s.", kind, f[0], linesText([]string{l}, 1)), loc)
				}
			}
		case p == "/etc/sudoers" || dir == "/etc/sudoers.d":
			a.lineRule(RuleSudoers, forensics.SeverityHigh, "sudo rules changed", o, kind, "grants privileges through sudo")
		case p == "/etc/crontab" || strings.HasPrefix(p, "/etc/cron.") || strings.HasPrefix(p, "/etc/crontabs/") || strings.HasPrefix(p, "/var/spool/cron/"):
			a.lineRule(RuleCron, forensics.SeverityHigh, "Cron job added", o, kind, "runs commands on a schedule (persistence)")
		case base == "authorized_keys" || base == "authorized_keys2":
			a.lineRule(RuleAuthorizedKeys, forensics.SeverityHigh, "SSH key authorized", o, kind, "lets the key's holder log in over SSH")
		case p == "/etc/ld.so.preload":
			a.lineRule(RuleLDPreload, forensics.SeverityCritical, "Library preloaded into every process", o, kind, "makes the dynamic linker load a library into every program (rootkits hide processes and files this way)")
		case slices.Contains([]string{".bashrc", ".profile", ".bash_profile", ".bash_login", ".bash_logout", ".zshrc", ".zprofile", ".kshrc", ".mkshrc", ".cshrc", ".tcshrc"}, base) ||
			p == "/etc/profile" || p == "/etc/bash.bashrc" || p == "/etc/environment" || dir == "/etc/profile.d" || p == "/etc/zsh/zshrc":
			a.lineRule(RuleShellRC, forensics.SeverityMedium, "Shell startup file changed", o, kind, "runs its commands in every new shell")
		}
	}
	for _, c := range cp.Rootfs {
		if c.Kind != forensics.RootfsDeleted {
			continue
		}
		why := "a file of the image was removed (defacement, covering tracks)"
		tech := ""
		if strings.HasPrefix(c.Path, "/var/log/") || strings.HasSuffix(c.Path, ".log") || strings.Contains(c.Path, "history") {
			why, tech = "a log or history file of the image was removed: log wiping", "T1070.002"
		}
		a.add(RuleRootfsDeleted, forensics.SeverityLow, "File of the image deleted",
			fmt.Sprintf("%s was deleted in the container: %s.", c.Path, why), forensics.Location{Kind: "rootfs", Path: c.Path})
		if tech != "" {
			a.out[len(a.out)-1].Technique = tech
		}
	}
}

func rootfsChange(cp *forensics.Checkpoint, p string) *forensics.RootfsChange {
	for i := range cp.Rootfs {
		if cp.Rootfs[i].Path == p && cp.Rootfs[i].Kind != forensics.RootfsDeleted {
			return &cp.Rootfs[i]
		}
	}
	return nil
}

func (a *analyzer) lineRule(rule string, sev forensics.Severity, title string, o *content.Object, kind, what string) {
	lines, based := a.changed(o.Path, readText(o))
	if based && len(lines) == 0 {
		return // only comments or blank lines changed
	}
	changed := "its lines"
	if based {
		changed = "lines not in the image"
	}
	a.add(rule, sev, title, fmt.Sprintf("%s (%s, %d bytes) %s; %s: %s.", o.Path, kind, o.Size, what, changed, linesText(lines, 5)),
		forensics.Location{Kind: "rootfs", Path: o.Path})
}
