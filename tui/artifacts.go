package tui

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	tea "charm.land/bubbletea/v2"

	"github.com/podsleuth/podsleuth/forensics"
	fevidence "github.com/podsleuth/podsleuth/forensics/evidence"
	"github.com/podsleuth/podsleuth/tui/components/table"
	"github.com/podsleuth/podsleuth/tui/nav"
	"github.com/podsleuth/podsleuth/tui/screens/list"
)

// maxArtifactView bounds what the viewer reads of one artifact (logs are bounded at acquisition
// by cluster.log_limit_bytes, 16 MiB by default).
const maxArtifactView = 64 << 20

// artifactsScreen lists the artifacts acquired with an evidence item; enter views one.
func (a *App) artifactsScreen(it fevidence.Item) *list.Model {
	cols := []table.Column{{Title: "NAME", Max: 40}, {Title: "WHAT", Flex: true, Max: 90},
		{Title: "SIZE", Right: true, Numeric: true}, {Title: "SHA-256"}}
	load := func(context.Context) ([]table.Row, error) {
		var rows []table.Row
		for _, art := range it.Manifest.Artifacts {
			rows = append(rows, table.Row{Key: art.Name,
				Cells: []string{art.Name, art.Description, forensics.HumanBytes(art.Size), art.SHA256[:min(16, len(art.SHA256))] + "…"},
				Keys:  []string{art.Name, art.Description, strconv.FormatInt(art.Size, 10), art.SHA256}})
		}
		return rows, nil
	}
	view := func(r table.Row) tea.Cmd {
		return nav.Push(a.artifactScreen(it, r.Key))
	}
	return list.New("artifacts/"+it.ID, it.ID+" artifacts", cols, load, view, "view", a.th, a.km)
}

// artifactScreen shows one artifact line by line (JSON indented), filterable like any list;
// reading it is recorded in the item's custody log as an opening.
func (a *App) artifactScreen(it fevidence.Item, name string) *list.Model {
	st := a.o.Evidence.Store
	load := func(ctx context.Context) ([]table.Row, error) {
		var art *fevidence.Artifact
		for i := range it.Manifest.Artifacts {
			if it.Manifest.Artifacts[i].Name == name {
				art = &it.Manifest.Artifacts[i]
			}
		}
		if art == nil {
			return nil, fmt.Errorf("%s has no artifact %s", it.ID, name)
		}
		f, err := os.Open(filepath.Join(it.Dir, "artifacts", filepath.Base(name)))
		if err != nil {
			return nil, err
		}
		defer f.Close()
		b := make([]byte, min(art.Size, maxArtifactView))
		n, err := io.ReadFull(f, b)
		if err != nil && err != io.ErrUnexpectedEOF {
			return nil, err
		}
		b = b[:n]
		if st != nil {
			if err := st.Log(it.ID, fevidence.Event{Action: fevidence.ActionOpened, Details: map[string]string{"by": "podsleuth TUI", "artifact": name}}); err != nil {
				return nil, fmt.Errorf("custody log of %s: %w", it.ID, err)
			}
		}
		if strings.HasSuffix(name, ".json") {
			var ind bytes.Buffer
			if json.Indent(&ind, b, "", "  ") == nil {
				b = ind.Bytes()
			}
		}
		lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
		rows := make([]table.Row, 0, len(lines)+1)
		for i, l := range lines {
			rows = append(rows, table.Row{Key: strconv.Itoa(i + 1), Cells: []string{strconv.Itoa(i + 1), l}})
		}
		if int64(n) < art.Size {
			rows = append(rows, table.Row{Key: "more", Cells: []string{"", fmt.Sprintf("… %s more not shown", forensics.HumanBytes(art.Size-int64(n)))}, Tone: table.Muted})
		}
		return rows, nil
	}
	cols := []table.Column{{Title: "LINE", Right: true, Numeric: true}, {Title: strings.ToUpper(name), Flex: true}}
	return list.New("artifact/"+it.ID+"/"+name, name, cols, load, nil, "", a.th, a.km)
}
