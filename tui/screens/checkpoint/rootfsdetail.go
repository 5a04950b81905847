package checkpoint

import (
	"fmt"
	"slices"
	"strings"

	"github.com/podsleuth/podsleuth/forensics"
	"github.com/podsleuth/podsleuth/forensics/content"
	"github.com/podsleuth/podsleuth/forensics/report"
	"github.com/podsleuth/podsleuth/tui/components/table"
)

// NoBaseNote says why a rootfs change has no diff when no base image was given.
const NoBaseNote = "no base image given: --rootfs BASE.tar"

// rootfsDetail is the detail view of a rootfs change: its metadata, how it compares with the
// base image (the diff of a modified text file, both sides' size and hash for other files, or
// why there is no comparison), and its content (text or hexdump, read in a Cmd).
func (m *Model) rootfsDetail(k string) (string, []dline, []*contentView) {
	c := m.ld.Checkpoint
	i := slices.IndexFunc(c.Rootfs, func(r forensics.RootfsChange) bool { return r.Kind+":"+r.Path == k })
	if i < 0 {
		return "", nil, nil
	}
	r := c.Rootfs[i]
	kind := c.RootfsKind(r)
	l := []dline{field("path", r.Path), field("change", kind), field("type", r.Type)}
	if r.Mode != "" {
		l = append(l, field("mode", r.Mode))
	}
	if r.Type == "file" {
		l = append(l, field("size", fmt.Sprintf("%s (%d bytes)", forensics.HumanBytes(r.Size), r.Size)))
	}
	if !r.ModTime.IsZero() {
		l = append(l, field("mtime", fmtTime(r.ModTime)))
	}
	l = append(l, field("owner", fmt.Sprintf("uid %d gid %d", r.UID, r.GID)))
	if r.LinkTarget != "" {
		l = append(l, field("target", r.LinkTarget))
	}
	if r.Executable {
		l = append(l, dline{text: "executable  yes", tone: table.Warn})
	}
	if r.Traversal {
		l = append(l, dline{text: "traversal   the name in the diff escapes the root: shown cleaned", tone: table.Danger})
	}
	if r.NameBytes > 0 {
		l = append(l, dline{text: fmt.Sprintf("name        %d bytes in the diff, cut to PATH_MAX", r.NameBytes), tone: table.Warn})
	}
	if c.RootfsBase != "" {
		l = append(l, field("base", c.RootfsBase))
	}
	for j, f := range c.Findings {
		if f.Location.Path == r.Path {
			l = append(l, dline{text: fmt.Sprintf("finding     %s %s", f.Severity, f.Title), tone: table.Danger, jump: &jump{tab: TabFindings, key: fmt.Sprintf("%d:%s", j, f.Rule)}})
		}
	}
	if r.Kind != forensics.RootfsDeleted {
		l = append(l, m.baseLines(r)...)
	}
	var cvs []*contentView
	if o := m.contentByID(content.KindRootfs + ":" + r.Path); o != nil && r.Type == "file" {
		cvs = append(cvs, &contentView{obj: o, label: "content"})
	}
	return kind + " " + r.Path, l, cvs
}

// baseLines compare a change that is not a deletion with the base image.
func (m *Model) baseLines(r forensics.RootfsChange) []dline {
	c := m.ld.Checkpoint
	switch {
	case c.RootfsBase == "":
		return []dline{{}, {text: "No diff: " + NoBaseNote, tone: table.Muted},
			{text: "  podsleuth open ARCHIVE --rootfs BASE (or :open ARCHIVE --rootfs BASE) tells added from modified and diffs modified text files", tone: table.Muted}}
	case r.Kind == forensics.RootfsAdded:
		return []dline{{}, {text: "Added: the base image has no " + r.Path + " (its content below)", tone: table.Muted}}
	case r.Type != "file":
		return nil
	}
	d, ok := m.ld.RootfsDiffs[r.Path]
	if !ok {
		return []dline{{}, {text: fmt.Sprintf("No diff here: the report diffs at most %d modified files; podsleuth files cat --diff --rootfs BASE CHECKPOINT %s:%s", report.MaxDiffFiles, content.KindRootfs, r.Path), tone: table.Muted}}
	}
	if d.Diff == "" {
		out := []dline{{}, {text: "No diff: " + d.Note, tone: table.Muted}}
		base := "no copy"
		if d.BaseType != "" {
			base = fmt.Sprintf("%s, %s (%d bytes)", d.BaseType, forensics.HumanBytes(d.BaseSize), d.BaseSize)
		}
		out = append(out, field("base size", base), field("now size", fmt.Sprintf("%s (%d bytes)", forensics.HumanBytes(r.Size), r.Size)))
		if d.BaseSHA256 != "" {
			out = append(out, field("base sha256", d.BaseSHA256))
		}
		switch {
		case d.SHA256 != "":
			out = append(out, field("now sha256", d.SHA256))
		case d.HashNote != "":
			out = append(out, field("now sha256", d.HashNote))
		}
		return out
	}
	out := heading("Diff against the base image")
	for _, s := range strings.Split(strings.TrimSuffix(d.Diff, "\n"), "\n") {
		t := table.Normal
		switch {
		case strings.HasPrefix(s, "+++"), strings.HasPrefix(s, "---"), strings.HasPrefix(s, "@@"):
			t = table.Heading
		case strings.HasPrefix(s, "+"):
			t = table.Good
		case strings.HasPrefix(s, "-"):
			t = table.Danger
		}
		out = append(out, dline{text: "  " + strings.ReplaceAll(strings.TrimSuffix(s, "\r"), "\t", "    "), tone: t})
	}
	if d.Truncated {
		out = append(out, dline{text: fmt.Sprintf("  … cut at %d lines or %s, as the report cuts it: podsleuth files cat --diff --rootfs BASE CHECKPOINT %s:%s", report.MaxDiffLines, forensics.HumanBytes(report.MaxDiffBytes), content.KindRootfs, r.Path), tone: table.Muted})
	}
	return out
}
