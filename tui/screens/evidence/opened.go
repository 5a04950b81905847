package evidence

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	tea "charm.land/bubbletea/v2"

	"github.com/podsleuth/podsleuth/forensics"
	fevidence "github.com/podsleuth/podsleuth/forensics/evidence"
	"github.com/podsleuth/podsleuth/tui/components/table"
	"github.com/podsleuth/podsleuth/tui/nav"
)

// Opened is a case opened in this session (podsleuth open, :open, enter here, a bundled
// sample): the view keeps listing it, so that one esc never loses it.
type Opened struct {
	// Path is the archive or image directory as it was opened.
	Path  string
	Label string
	// Sample names the bundled sample when the case is one (listed as such already).
	Sample string
	// Rootfs is the base image it was opened with (opening it again here uses it again).
	Rootfs string
}

// openedCase is an opened case as the listing found it: in the store (ItemID) or not.
type openedCase struct {
	Opened
	Abs    string
	ItemID string
	Size   int64
	Dir    bool
}

const openedPrefix = "opened:"

// resolveOpened finds each opened case on disk and in the store's items (its archive, or the
// file it was imported from). It runs inside the listing Cmd; cases whose file is gone are
// dropped.
func resolveOpened(opened []Opened, items []fevidence.Item) []openedCase {
	var out []openedCase
	for _, o := range opened {
		if o.Sample != "" {
			out = append(out, openedCase{Opened: o})
			continue
		}
		abs, err := filepath.Abs(o.Path)
		if err != nil {
			continue
		}
		st, err := os.Stat(abs)
		if err != nil {
			continue
		}
		oc := openedCase{Opened: o, Abs: abs, Size: st.Size(), Dir: st.IsDir()}
		for _, it := range items {
			if it.Archive == abs || (it.Manifest.SourcePath == abs && !st.IsDir()) {
				oc.ItemID = it.ID
				break
			}
		}
		out = append(out, oc)
	}
	return out
}

// rowKey is the key of the row that shows the case.
func (c openedCase) rowKey() string {
	switch {
	case c.Sample != "":
		return samplePrefix + c.Sample
	case c.ItemID != "":
		return c.ItemID
	}
	return openedPrefix + c.Abs
}

// openedRows are the rows of the opened cases that are not in the store, most recent first.
func openedRows(cases []openedCase) []table.Row {
	var rows []table.Row
	for i := len(cases) - 1; i >= 0; i-- {
		c := cases[i]
		if c.Sample != "" || c.ItemID != "" {
			continue
		}
		size, sizeKey := forensics.HumanBytes(c.Size), fmt.Sprint(c.Size)
		if c.Dir {
			size, sizeKey = "dir", "0"
		}
		src := c.Path
		if c.Label != "" && c.Label != c.Path {
			src = c.Label + "  " + c.Path
		}
		rows = append(rows, table.Row{
			Key:    openedPrefix + c.Abs,
			Cells:  []string{"opened", "", src, "", "this session", size, "not in store"},
			Keys:   []string{"opened", "", c.Path, "", "", sizeKey, "not in store"},
			Labels: map[string]string{"store": "no"},
			Tone:   table.Warn,
		})
	}
	return rows
}

// SetOpened sets the cases opened in this session and the one to select once listed (its path
// as opened; "" keeps the selection). They show from the next listing (Init).
func (m *Model) SetOpened(opened []Opened, focus string) {
	m.opened = append([]Opened(nil), opened...)
	m.focus = focus
}

// focusOpened moves the cursor to the case asked for by SetOpened, once.
func (m *Model) focusOpened() {
	if m.focus == "" {
		return
	}
	for _, c := range m.openedCases {
		if c.Path == m.focus {
			m.tbl.SelectKey(c.rowKey())
			break
		}
	}
	m.focus = ""
}

// openedAt returns the opened case shown in the row with key k.
func (m *Model) openedAt(k string) (openedCase, bool) {
	abs, ok := strings.CutPrefix(k, openedPrefix)
	if !ok {
		return openedCase{}, false
	}
	for _, c := range m.openedCases {
		if c.Abs == abs && c.ItemID == "" {
			return c, true
		}
	}
	return openedCase{}, false
}

// openedRootfs is the base image an opened case at path (or of item) was opened with; "" when
// none.
func (m *Model) openedRootfs(path string, item *fevidence.Item) string {
	for _, c := range m.openedCases {
		if c.Rootfs != "" && (c.Path == path || c.Abs == path || item != nil && c.ItemID == item.ID) {
			return c.Rootfs
		}
	}
	return ""
}

// AddedMsg is the result of adding an opened case to the evidence store.
type AddedMsg struct {
	Path string
	ID   string
	Err  error
}

func addCmd(path string, f func(context.Context, string) (string, error)) tea.Cmd {
	return func() tea.Msg {
		id, err := f(context.Background(), path)
		return AddedMsg{Path: path, ID: id, Err: err}
	}
}

// addSelected adds the selected opened case to the store (the store's import job, as
// `podsleuth evidence add`).
func (m *Model) addSelected() tea.Cmd {
	r, ok := m.tbl.Selected()
	if !ok {
		return nil
	}
	c, ok := m.openedAt(r.Key)
	if !ok {
		if strings.HasPrefix(r.Key, samplePrefix) {
			return nav.Status("bundled samples are part of the binary: open one and add its file with `podsleuth evidence add FILE`")
		}
		return nav.Status(r.Key + " is in the evidence store already")
	}
	switch {
	case m.src.Actions.Add == nil || m.src.Store == nil:
		return nav.Err(fmt.Errorf("add %s: no evidence store", c.Path), "check data_dir in the config or --data-dir")
	case c.Dir:
		return nav.Err(fmt.Errorf("add %s: a CRIU image directory cannot be added, only an archive file", c.Path), "pack it with checkpointctl or tar, then add the archive")
	}
	m.focus = c.Path
	return tea.Batch(nav.Status("adding "+c.Path+" to the evidence store…"), addCmd(c.Abs, m.src.Actions.Add))
}

func (m *Model) added(msg AddedMsg) tea.Cmd {
	if msg.Err != nil {
		m.focus = ""
		return nav.Err(nav.Cause("add", msg.Path, msg.Err), "")
	}
	return tea.Batch(nav.Status(fmt.Sprintf("added %s to the evidence store as %s (v verifies it, its custody log starts now)", msg.Path, msg.ID)), m.Init())
}
