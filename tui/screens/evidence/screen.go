// Package evidence is the evidence view: the bundled sample checkpoints and the local evidence
// store (case, pod, container, node, time, size, hash verification), with open, verify, report
// export and restore.
//
// It must not import tui (the root) or any other screen.
package evidence

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"github.com/podsleuth/podsleuth/forensics"
	fevidence "github.com/podsleuth/podsleuth/forensics/evidence"
	"github.com/podsleuth/podsleuth/tui/components/frame"
	"github.com/podsleuth/podsleuth/tui/components/prompt"
	"github.com/podsleuth/podsleuth/tui/components/table"
	"github.com/podsleuth/podsleuth/tui/keys"
	"github.com/podsleuth/podsleuth/tui/nav"
	"github.com/podsleuth/podsleuth/tui/theme"
)

// Store is what the view needs from forensics/evidence.
type Store interface {
	List() ([]fevidence.Item, error)
	Verify(ctx context.Context, id string) (*fevidence.VerifyResult, error)
	// Log appends to an item's custody log (opening an artifact is recorded).
	Log(id string, e fevidence.Event) error
}

// Sample is one bundled sample checkpoint (a real fixture embedded in the binary).
type Sample struct {
	Name string
	Size int64
	Note string
}

// Actions are the jobs behind report export and restore (tui.Jobs).
type Actions struct {
	// Report exports a report of the archive at path and returns the written file.
	Report func(ctx context.Context, path string) (string, error)
	// Restore restores the archive into a sandbox and returns a description of it.
	Restore func(ctx context.Context, path string, o RestoreOptions) (string, error)
	// Add copies an opened archive into the evidence store and returns the new item's ID.
	Add func(ctx context.Context, path string) (string, error)
}

// RestoreOptions are what the view asks before a restore.
type RestoreOptions struct {
	// Rootfs is the container's base root filesystem (a directory or a tar): a container
	// checkpoint holds only the changes to it. Empty: none (a bare CRIU image needs none).
	Rootfs string
	// Sinkhole gives the sandbox a sinkhole that answers and records every outbound attempt.
	Sinkhole bool
}

// Source loads the list: the store (nil when it could not be opened; StoreErr says why) and
// the samples.
type Source struct {
	Store    Store
	StoreErr error
	Samples  func() ([]Sample, error)
	Actions  Actions
}

// ListedMsg is the result of listing the store and the samples; Gen echoes the request.
type ListedMsg struct {
	Gen        int
	Items      []fevidence.Item
	Samples    []Sample
	StoreErr   error
	SamplesErr error
	opened     []openedCase
}

// VerifiedMsg is the result of verifying item ID.
type VerifiedMsg struct {
	ID     string
	Result *fevidence.VerifyResult
	Err    error
}

// ArtifactsMsg asks the App to show the artifacts acquired with Item (the pod's object, events
// and logs).
type ArtifactsMsg struct{ Item fevidence.Item }

// ActionDoneMsg is the result of a report export or a restore.
type ActionDoneMsg struct {
	Action, Path, Result string
	Err                  error
}

func listCmd(gen int, src Source, opened []Opened) tea.Cmd {
	return func() tea.Msg {
		msg := ListedMsg{Gen: gen, StoreErr: src.StoreErr}
		if src.Store != nil {
			msg.Items, msg.StoreErr = src.Store.List()
		}
		if src.Samples != nil {
			msg.Samples, msg.SamplesErr = src.Samples()
		}
		msg.opened = resolveOpened(opened, msg.Items)
		return msg
	}
}

func verifyCmd(s Store, id string) tea.Cmd {
	return func() tea.Msg {
		r, err := s.Verify(context.Background(), id)
		return VerifiedMsg{ID: id, Result: r, Err: err}
	}
}

// ErrNoJob is reported for an action this build of the view was given no job for.
var ErrNoJob = errors.New("not available here")

func actionCmd(action, path string, f func(context.Context, string) (string, error)) tea.Cmd {
	return func() tea.Msg {
		if f == nil {
			return ActionDoneMsg{Action: action, Path: path, Err: ErrNoJob}
		}
		res, err := f(context.Background(), path)
		return ActionDoneMsg{Action: action, Path: path, Result: res, Err: err}
	}
}

func restoreCmd(path string, o RestoreOptions, f func(context.Context, string, RestoreOptions) (string, error)) tea.Cmd {
	if f == nil {
		return actionCmd("restore", path, nil)
	}
	return actionCmd("restore", path, func(ctx context.Context, p string) (string, error) { return f(ctx, p, o) })
}

// Model is the evidence view.
type Model struct {
	src      Source
	th       theme.Theme
	km       keys.Map
	w, h     int
	gen      int
	tbl      table.Model
	items    map[string]fevidence.Item
	samples  map[string]Sample
	storeErr error
	loaded   bool
	Banner   string
	busy     map[string]string
	// restoring is the archive a restore is asked for (the rootfs prompt is shown), else "".
	restoring, restoreLabel string
	rootfs                  prompt.Model
	sinkhole                bool
	// opened are the cases opened in this session; focus is the one to select once listed.
	opened      []Opened
	openedCases []openedCase
	focus       string
}

const samplePrefix = "sample:"

// New returns the view; Init lists the store.
func New(src Source, th theme.Theme, km keys.Map) *Model {
	cols := []table.Column{
		{Title: "ID", Max: 32}, {Title: "CASE", Max: 16}, {Title: "SOURCE", Flex: true, Max: 60},
		{Title: "NODE", Max: 20}, {Title: "ACQUIRED"}, {Title: "SIZE", Right: true, Numeric: true},
		{Title: "HASH"},
	}
	m := &Model{src: src, th: th, km: km, tbl: table.New(cols, th, km), busy: map[string]string{},
		rootfs: prompt.New("base rootfs: ")}
	m.tbl.Empty = "loading…"
	return m
}

// Init lists the store and samples.
func (m *Model) Init() tea.Cmd {
	m.gen++
	return listCmd(m.gen, m.src, m.opened)
}

// Title names the view.
func (m *Model) Title() string { return "evidence" }

// SetSize sets the size.
func (m *Model) SetSize(w, h int) {
	m.w, m.h = w, h
	m.layout()
}

func (m *Model) layout() {
	top := 0
	if m.Banner != "" {
		top = 2
	}
	if m.restoring != "" {
		top += len(m.restoreLines())
	}
	m.tbl.SetSize(m.w, max(m.h-top, 1))
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

// Capturing: the rootfs prompt takes every key while shown.
func (m *Model) Capturing() bool { return m.restoring != "" }

// restoreLines are the restore question under the list, the prompt last.
func (m *Model) restoreLines() []string {
	return []string{
		m.th.Title.Render("Restore " + m.restoreLabel + " into an isolated sandbox?"),
		"Fresh local namespaces, loopback only; the copy stays stopped until `podsleuth sandbox resume`.",
		"A container checkpoint holds only its changes: give the base image's root filesystem (directory or tar), or leave it empty.",
		"sinkhole (answers and records every outbound attempt): " + onOff(m.sinkhole),
		m.th.Key.Render("enter") + " restore   " + m.th.Key.Render("tab") + " sinkhole on/off   " + m.th.Key.Render("esc") + " cancel",
		m.rootfs.View(),
	}
}

// SetBanner shows a line above the list (e.g. why there is no cluster).
func (m *Model) SetBanner(s string) {
	m.Banner = s
	m.layout()
}

// SetTheme replaces the styles.
func (m *Model) SetTheme(th theme.Theme) { m.th = th; m.tbl.SetTheme(th) }

// Table returns the table.
func (m *Model) Table() table.Model { return m.tbl }

// FilterPrompt makes the list filterable.
func (m *Model) FilterPrompt() (string, string, bool) { return "/", m.tbl.Filter(), true }

// ApplyFilter filters the list.
func (m *Model) ApplyFilter(q string, _ bool) (tea.Cmd, error) { return nil, m.tbl.SetFilter(q) }

// Position is the status bar position.
func (m *Model) Position() string { return m.tbl.Position() }

func hashCell(it fevidence.Item) string {
	switch {
	case it.LastVerified.IsZero():
		return "not verified"
	case it.LastVerifiedOK:
		return "verified " + it.LastVerified.UTC().Format("01-02 15:04")
	default:
		return "MISMATCH"
	}
}

func (m *Model) rows(items []fevidence.Item, samples []Sample) []table.Row {
	var rows []table.Row
	for _, s := range samples {
		rows = append(rows, table.Row{
			Key:   samplePrefix + s.Name,
			Cells: []string{"sample", "", s.Name + "  " + s.Note, "", "bundled", forensics.HumanBytes(s.Size), "embedded"},
			Keys:  []string{"sample", "", s.Name, "", "", fmt.Sprint(s.Size)},
			Tone:  table.Muted,
		})
	}
	for _, it := range items {
		mf := it.Manifest
		acq := ""
		if !mf.AcquiredAt.IsZero() {
			acq = mf.AcquiredAt.UTC().Format("2006-01-02 15:04")
		}
		tone := table.Normal
		if !it.LastVerified.IsZero() && !it.LastVerifiedOK {
			tone = table.Danger
		}
		labels := map[string]string{"namespace": mf.Namespace, "pod": mf.Pod, "container": mf.Container, "node": mf.Node, "case": mf.CaseID}
		rows = append(rows, table.Row{
			Key:    it.ID,
			Cells:  []string{it.ID, mf.CaseID, mf.SourceDescription(), mf.Node, acq, forensics.HumanBytes(mf.Size), hashCell(it)},
			Keys:   []string{it.ID, mf.CaseID, mf.SourceDescription(), mf.Node, mf.AcquiredAt.UTC().Format(time.RFC3339), fmt.Sprint(mf.Size), hashCell(it)},
			Labels: labels,
			Tone:   tone,
		})
	}
	return rows
}

// Update handles keys and results.
func (m *Model) Update(msg tea.Msg) (*Model, tea.Cmd) {
	switch msg := msg.(type) {
	case ListedMsg:
		if msg.Gen != m.gen {
			return m, nil
		}
		m.loaded = true
		m.storeErr = msg.StoreErr
		m.items = map[string]fevidence.Item{}
		for _, it := range msg.Items {
			m.items[it.ID] = it
		}
		m.samples = map[string]Sample{}
		for _, s := range msg.Samples {
			m.samples[s.Name] = s
		}
		m.openedCases = msg.opened
		m.tbl.SetRows(append(openedRows(msg.opened), m.rows(msg.Items, msg.Samples)...))
		m.focusOpened()
		m.tbl.Empty = "the evidence store is empty: checkpoint a container (c on a pod) or `podsleuth evidence add FILE`"
		var cmds []tea.Cmd
		if msg.StoreErr != nil {
			cmds = append(cmds, nav.Err(fmt.Errorf("evidence store: %w", msg.StoreErr), "check data_dir in the config or --data-dir"))
		}
		if msg.SamplesErr != nil {
			cmds = append(cmds, nav.Err(fmt.Errorf("bundled samples: %w", msg.SamplesErr), ""))
		}
		return m, tea.Batch(cmds...)
	case VerifiedMsg:
		delete(m.busy, msg.ID)
		if msg.Result != nil {
			it := m.items[msg.ID]
			it.LastVerified = time.Now()
			it.LastVerifiedOK = msg.Result.OK
			m.items[msg.ID] = it
		}
		if msg.Err != nil {
			hint := ""
			if errors.Is(msg.Err, fevidence.ErrTampered) {
				hint = "the archive no longer matches its acquisition hash: treat it as tampered"
			}
			return m, tea.Batch(nav.Err(fmt.Errorf("verify %s: %w", msg.ID, msg.Err), hint), m.Init())
		}
		return m, tea.Batch(nav.Status(fmt.Sprintf("%s verified: sha256 %s matches the manifest, custody chain intact", msg.ID, short(msg.Result.Actual))), m.Init())
	case AddedMsg:
		return m, m.added(msg)
	case ActionDoneMsg:
		if msg.Err != nil {
			return m, nav.Err(fmt.Errorf("%s %s: %w", msg.Action, filepath.Base(msg.Path), msg.Err), "")
		}
		return m, nav.Status(fmt.Sprintf("%s: %s", msg.Action, msg.Result))
	case tea.KeyPressMsg:
		return m.updateKey(msg)
	case tea.MouseWheelMsg:
		m.tbl, _ = m.tbl.Update(msg)
	}
	return m, nil
}

func short(h string) string {
	if len(h) > 16 {
		return h[:16] + "…"
	}
	return h
}

// selectedPath returns the archive path (or the embedded sample name) of the selection.
func (m *Model) selected() (path, label, embedded string, item *fevidence.Item) {
	r, ok := m.tbl.Selected()
	if !ok {
		return "", "", "", nil
	}
	if name, ok := strings.CutPrefix(r.Key, samplePrefix); ok {
		return "", "sample " + name, name, nil
	}
	if c, ok := m.openedAt(r.Key); ok {
		return c.Path, c.Label, "", nil
	}
	it, ok := m.items[r.Key]
	if !ok {
		return "", "", "", nil
	}
	label = it.ID
	if it.Manifest.Pod != "" {
		label = fmt.Sprintf("%s/%s/%s", it.Manifest.Namespace, it.Manifest.Pod, it.Manifest.Container)
	}
	return it.Archive, label, "", &it
}

func (m *Model) updateKey(msg tea.KeyPressMsg) (*Model, tea.Cmd) {
	km := m.km
	if m.restoring != "" {
		if msg.String() == "tab" {
			m.sinkhole = !m.sinkhole
			return m, nil
		}
		var res prompt.Result
		m.rootfs, res = m.rootfs.Update(msg)
		switch res {
		case prompt.Submitted:
			path, o := m.restoring, RestoreOptions{Rootfs: strings.TrimSpace(m.rootfs.Value), Sinkhole: m.sinkhole}
			m.restoring = ""
			m.layout()
			return m, tea.Batch(nav.Status("restoring into an isolated sandbox…"), restoreCmd(path, o, m.src.Actions.Restore))
		case prompt.Cancelled:
			m.restoring = ""
			m.layout()
			return m, nav.Status("restore cancelled")
		}
		return m, nil
	}
	switch {
	case key.Matches(msg, km.Enter):
		path, label, emb, it := m.selected()
		if path == "" && emb == "" {
			return m, nil
		}
		// a case opened with a base image opens with it again
		open := nav.OpenCheckpointMsg{Path: path, Label: label, Embedded: emb, Rootfs: m.openedRootfs(path, it)}
		return m, func() tea.Msg { return open }
	case key.Matches(msg, km.Verify):
		path, _, emb, it := m.selected()
		if emb != "" {
			return m, nav.Status("bundled samples are part of the binary: nothing to verify (verify works on the evidence store)")
		}
		if it == nil && path != "" {
			return m, nav.Status(path + " is not in the evidence store: no acquisition hash to verify against (A adds it, then v verifies it)")
		}
		if it == nil || m.src.Store == nil {
			return m, nil
		}
		m.busy[it.ID] = "verifying"
		return m, tea.Batch(nav.Status("verifying "+it.ID+"…"), verifyCmd(m.src.Store, it.ID))
	case key.Matches(msg, km.Report):
		path, _, emb, _ := m.selected()
		if emb != "" {
			return m, nav.Status("open the sample (enter) to analyse it; reports are exported for evidence-store items")
		}
		if path == "" {
			return m, nil
		}
		return m, tea.Batch(nav.Status("exporting report…"), actionCmd("report", path, m.src.Actions.Report))
	case key.Matches(msg, km.Restore):
		path, _, emb, _ := m.selected()
		if emb != "" {
			return m, nav.Status("restore works on evidence-store items: add the sample with `podsleuth evidence add FILE` first")
		}
		if path == "" {
			return m, nil
		}
		_, label, _, _ := m.selected()
		// ask for the base rootfs, offering the last one given
		m.restoring, m.restoreLabel = path, label
		m.rootfs.Reset(m.rootfs.Value)
		m.layout()
		return m, nil
	case key.Matches(msg, km.Artifacts):
		_, _, emb, it := m.selected()
		switch {
		case emb != "":
			return m, nav.Status("bundled samples have no artifacts: they come with evidence pulled from a cluster")
		case it == nil:
			return m, nil
		case len(it.Manifest.Artifacts) == 0:
			return m, nav.Status("no artifacts were acquired with " + it.ID + " (pod context is acquired by checkpoint --pull)")
		}
		item := *it
		return m, func() tea.Msg { return ArtifactsMsg{Item: item} }
	case key.Matches(msg, km.Add):
		return m, m.addSelected()
	case key.Matches(msg, km.Refresh):
		return m, m.Init()
	}
	m.tbl, _ = m.tbl.Update(msg)
	return m, nil
}

// View renders the banner and the list.
func (m *Model) View() string {
	v := m.tbl.View()
	if m.restoring != "" {
		q := m.restoreLines()
		for i := range q {
			q[i] = frame.Line(q[i], m.w)
		}
		v += "\n" + strings.Join(q, "\n")
	}
	if m.Banner != "" {
		v = m.th.Warning.Render(frame.Line(m.Banner, m.w)) + "\n" + frame.Line("", m.w) + "\n" + v
	}
	return v
}

// ShortHelp is the one-line help: the actions of the selected row.
func (m *Model) ShortHelp() []key.Binding {
	f := m.FullHelp()[0] // enter, v, x, R, A, a, ctrl+r
	return []key.Binding{f[0], f[4], f[1], f[2], f[3], f[5], m.km.Filter, m.km.Help}
}

// FullHelp lists the keys that work on the selected row (a bundled sample opens; a store item
// also verifies, exports, restores and shows its artifacts; a case opened from a path exports,
// restores and is added to the store), then moving, filtering and sorting.
func (m *Model) FullHelp() [][]key.Binding {
	km := m.km
	path, _, emb, it := m.selected()
	_, opened := m.openedRow()
	on := func(b key.Binding, ok bool) key.Binding {
		b.SetEnabled(ok && b.Enabled())
		return b
	}
	help := func(b key.Binding, desc string) key.Binding {
		b.SetHelp(b.Help().Key, desc)
		return b
	}
	n := m.tbl.Len()
	return [][]key.Binding{
		{on(help(km.Enter, "open the case"), path != "" || emb != ""), on(km.Verify, it != nil && m.src.Store != nil), on(km.Report, path != "" && emb == ""),
			on(km.Restore, path != "" && emb == ""), on(km.Add, opened), on(km.Artifacts, it != nil && len(it.Manifest.Artifacts) > 0), km.Refresh},
		{on(km.Up, n > 1), on(km.Down, n > 1), on(km.PageUp, n > 1), on(km.PageDown, n > 1), on(km.Top, n > 1), on(km.Bottom, n > 1)},
		{km.Filter, on(km.SortNext, n > 0), on(km.SortRev, n > 0)},
	}
}

// openedRow returns the selected row's case opened from a path (not in the store).
func (m *Model) openedRow() (openedCase, bool) {
	r, ok := m.tbl.Selected()
	if !ok {
		return openedCase{}, false
	}
	return m.openedAt(r.Key)
}
