package report

import (
	"fmt"
	"strconv"
	"strings"
)

func (m *mdWriter) checkpoint(c *Checkpoint) {
	m.heading(2, c.Evidence+": "+md(c.Title))
	if ct := c.Container; ct != nil {
		m.heading(3, "Container")
		kv := [][]string{}
		add := func(k, v string) {
			if v != "" {
				kv = append(kv, []string{k, v})
			}
		}
		add("Name", md(ct.Name))
		add("ID", code(ct.ID))
		add("Engine", md(ct.Engine))
		add("Runtime", md(ct.Runtime))
		add("Image", code(ct.Image))
		add("Image ref", code(ct.ImageRef))
		add("Image ID", code(ct.ImageID))
		if ct.Pod != nil {
			add("Pod", md(ct.Pod.Namespace+"/"+ct.Pod.Name))
			add("Pod UID", code(ct.Pod.UID))
			add("Container name", md(ct.Pod.ContainerName))
		}
		add("Hostname", md(ct.Hostname))
		add("Created (UTC)", utc(ct.Created))
		add("Checkpointed (UTC)", utc(ct.Checkpointed))
		add("Args", code(strings.Join(ct.Args, " ")))
		if ct.RootfsDiffSz > 0 {
			add("Rootfs diff size", humanBytes(ct.RootfsDiffSz))
		}
		m.table([]string{"Field", "Value"}, kv)
		if len(ct.Env) > 0 {
			m.line("")
			m.openDetails(fmt.Sprintf("Container environment (%d)", len(ct.Env)))
			m.codeBlock(ct.Env)
			m.closeDetails()
		}
		if len(ct.Labels)+len(ct.Annotations) > 0 {
			rows := [][]string{}
			for _, k := range sortedKeys(ct.Labels) {
				rows = append(rows, []string{"label", code(k), code(ct.Labels[k])})
			}
			for _, k := range sortedKeys(ct.Annotations) {
				rows = append(rows, []string{"annotation", code(k), code(truncate(ct.Annotations[k], 200))})
			}
			m.line("")
			m.openDetails(fmt.Sprintf("Labels and annotations (%d)", len(rows)))
			m.table([]string{"Kind", "Key", "Value"}, rows)
			m.closeDetails()
		}
	}
	m.heading(3, "CRIU images")
	cr := c.CRIU
	m.linef("Image version %d, pagemap format %s, %d image file(s), %s.", cr.ImageVersion, code(cr.PagemapFormat), cr.ImageFiles, humanBytes(cr.ImageBytes))
	if len(c.Namespaces) > 0 {
		var ns []string
		for _, n := range c.Namespaces {
			s := fmt.Sprintf("%s:%d", n.Type, n.ID)
			if n.Hostname != "" {
				s += " (" + n.Hostname + ")"
			}
			ns = append(ns, s)
		}
		m.line("")
		m.line("Namespaces: " + md(strings.Join(ns, ", ")) + ".")
	}

	m.heading(3, "Process tree")
	for _, p := range c.Processes {
		cmd := strings.Join(p.Cmdline, " ")
		if cmd == "" {
			cmd = "[" + p.Comm + "]"
		}
		extra := ""
		if p.ExeDeleted {
			extra = " **exe deleted**"
		}
		deeper := ""
		if p.TreeDepth > p.Depth {
			deeper = fmt.Sprintf("↳ depth %d: ", p.TreeDepth)
		}
		m.linef("%s- %s**%d** %s (%s, %d thread(s), uid %d)%s: %s", strings.Repeat("  ", p.Depth), deeper, p.PID, code(p.Comm), md(p.State), p.Threads, p.UID, extra, code(cmd))
	}
	m.heading(3, "Processes")
	rows := [][]string{}
	for _, p := range c.Processes {
		exe := p.Exe
		if p.ExeDeleted {
			exe += " (deleted)"
		}
		rows = append(rows, []string{strconv.Itoa(p.PID), strconv.Itoa(p.PPID), code(p.Comm), md(p.State), strconv.Itoa(p.Threads),
			fmt.Sprintf("%d/%d", p.UID, p.EUID), code(exe), code(p.Cwd), strconv.Itoa(p.FDs), humanBytes(p.ResidentBytes), md(CapsSummary(p.CapEff))})
	}
	m.table2([]string{"PID", "PPID", "Comm", "State", "Threads", "UID/EUID", "Exe", "Cwd", "FDs", "Resident", "Effective caps"}, rows, "Processes")
	withEnv := 0
	for _, p := range c.Processes {
		if len(p.Environ) > 0 {
			withEnv++
		}
	}
	if withEnv > 0 {
		m.line("")
		m.openDetails(fmt.Sprintf("Process environments (%d process(es))", withEnv))
		for _, p := range c.Processes {
			if len(p.Environ) == 0 {
				continue
			}
			m.linef("**%d %s**", p.PID, md(p.Comm))
			m.line("")
			m.codeBlock(p.Environ)
			m.line("")
		}
		m.closeDetails()
	}

	m.heading(3, "Network")
	rows = [][]string{}
	for _, s := range c.Network {
		rows = append(rows, []string{code(s.Endpoint), md(s.State), ints(s.Owners), queue(s.SendQueueBytes, s.SendQueuePreview), queue(s.RecvQueueBytes, s.RecvQueuePreview), strconv.FormatUint(uint64(s.Ino), 10)})
	}
	m.table2([]string{"Socket", "State", "PIDs", "Send queue", "Receive queue", "Inode"}, rows, "Sockets")

	m.heading(3, "Open files")
	rows = [][]string{}
	for _, f := range c.OpenFiles {
		t := code(f.Target)
		if f.Deleted {
			t += " **(deleted)**"
		}
		rows = append(rows, []string{strconv.Itoa(f.PID), code(f.Comm), strconv.Itoa(f.FD), md(f.Type), t, md(f.Flags), md(f.Detail)})
	}
	m.table2([]string{"PID", "Comm", "FD", "Type", "Target", "Flags", "State"}, rows, "Open files")

	m.heading(3, "Mounts")
	rows = [][]string{}
	for _, mt := range c.Mounts {
		rows = append(rows, []string{code(mt.Mountpoint), md(mt.FSType), code(mt.Source), code(mt.Root), md(mt.Options), md(mt.External)})
	}
	m.table2([]string{"Mountpoint", "Type", "Source", "Root", "Options", "External"}, rows, "Mounts")

	m.heading(3, "Rootfs changes")
	rows = [][]string{}
	for _, rc := range c.RootfsChanges {
		p := code(rc.Path)
		if rc.Executable {
			p += " **exec**"
		}
		if rc.LinkTarget != "" {
			p += " → " + code(rc.LinkTarget)
		}
		rows = append(rows, []string{md(rc.Kind), md(rc.Type), p, strconv.FormatInt(rc.Size, 10), code(rc.Mode), utc(rc.ModTime)})
	}
	m.table2([]string{"Change", "Type", "Path", "Size", "Mode", "Modified (UTC)"}, rows, "Rootfs changes")
	m.rootfsDiffs(c.RootfsDiffs)

	m.heading(3, "Memory maps summary")
	rows = [][]string{}
	var notable [][]string
	for _, ms := range c.MemoryMaps {
		var kinds []string
		for _, k := range ms.Kinds {
			kinds = append(kinds, fmt.Sprintf("%s %d (%s)", k.Kind, k.Count, humanBytes(k.Bytes)))
		}
		rows = append(rows, []string{strconv.Itoa(ms.PID), code(ms.Comm), strconv.Itoa(ms.VMAs), humanBytes(ms.MappedBytes), humanBytes(ms.ResidentBytes), md(strings.Join(kinds, ", "))})
		for _, n := range ms.Notable {
			path := n.Path
			if n.Deleted {
				path += " (deleted)"
			}
			notable = append(notable, []string{strconv.Itoa(ms.PID), code(n.Start + "-" + n.End), code(n.Prot), md(n.Kind), code(path), humanBytes(n.ResidentBytes), md(n.Why)})
		}
	}
	m.table2([]string{"PID", "Comm", "VMAs", "Mapped", "Resident", "By kind"}, rows, "Processes")
	if len(notable) > 0 {
		m.line("")
		m.line("Notable mappings:")
		m.line("")
		m.table2([]string{"PID", "Range", "Prot", "Kind", "Path", "Resident", "Why"}, notable, "Notable mappings")
	}
	if len(c.Warnings) > 0 {
		m.heading(3, "Decode warnings")
		for _, w := range c.Warnings {
			m.line("- " + md(w))
		}
	}
}

func (m *mdWriter) codeBlock(lines []string) { m.fenced("", lines) }

// fenced writes a fenced code block with an info string ("diff"); unsafe characters are shown
// escaped and the fence is longer than any run of backticks in the lines.
func (m *mdWriter) fenced(info string, lines []string) {
	fence := "```"
	for _, l := range lines {
		for strings.Contains(l, fence) {
			fence += "`"
		}
	}
	m.line(fence + info)
	for _, l := range lines {
		m.line(strings.ReplaceAll(printable(l), "\n", " "))
	}
	m.line(fence)
}

func queue(n int64, preview string) string {
	if n == 0 {
		return ""
	}
	s := humanBytes(n)
	if preview != "" {
		s += " " + code(preview)
	}
	return s
}

func ints(v []int) string {
	s := make([]string, len(v))
	for i, n := range v {
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s, ", ")
}

// rootfsDiffs writes how each modified file differs from the base image.
func (m *mdWriter) rootfsDiffs(ds []RootfsDiff) {
	if len(ds) == 0 {
		return
	}
	m.heading(4, "Modified files against the base image")
	for _, d := range ds {
		if d.Diff == "" {
			m.line("- " + code(d.Path) + ": " + md(d.Note))
			continue
		}
		m.line("")
		m.line(code(d.Path) + ":")
		m.line("")
		m.fenced("diff", strings.Split(strings.TrimSuffix(d.Diff, "\n"), "\n"))
		if d.Truncated {
			m.line(fmt.Sprintf("*(cut at %d lines or %d bytes: see* `podsleuth files cat --diff`*)*", MaxDiffLines, MaxDiffBytes))
		}
	}
}
