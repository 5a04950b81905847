package report

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/podsleuth/podsleuth/forensics"
	"github.com/podsleuth/podsleuth/forensics/analysis"
	"github.com/podsleuth/podsleuth/forensics/evidence"
	"github.com/podsleuth/podsleuth/forensics/open"
)

// NewInput makes the report input of one opened and analysed checkpoint: its model (with the
// findings in it) and indicators, and the store record of its evidence item, looked up when item
// is nil by its location in the store or, for a copy elsewhere, by its SHA-256. The custody log
// is read now, so it includes the opening. st may be nil (no store: no record).
func NewInput(cp *forensics.Checkpoint, iocs []forensics.IOC, item *evidence.Item, st *evidence.Store) (Input, error) {
	in := Input{Checkpoint: cp, IOCs: iocs}
	if st == nil {
		return in, nil
	}
	if item == nil {
		item = storeItem(st, cp)
	}
	if item == nil {
		return in, nil
	}
	evs, err := st.Custody(item.ID)
	if err != nil {
		return in, fmt.Errorf("custody log of %s: %w", item.ID, err)
	}
	in.Store = &StoreRecord{ID: item.ID, Manifest: item.Manifest, Custody: evs}
	return in, nil
}

// storeItem finds the store item of a decoded archive: by its location in the store, else by its
// hash (a copy of store evidence elsewhere). Directories are never store evidence.
func storeItem(st *evidence.Store, cp *forensics.Checkpoint) *evidence.Item {
	if it, err := st.ItemForPath(cp.Source.Path); err == nil {
		return it
	}
	if cp.Source.SHA256 == "" {
		return nil
	}
	if it, err := st.FindBySHA256(cp.Source.SHA256); err == nil {
		return it
	}
	return nil
}

// ExportConfig says how and where Export writes a report.
type ExportConfig struct {
	// Options are the case header and switches (Reveal, Diff).
	Options
	Format Format
	// File is written atomically with mode 0600; when empty the report goes to Out, unless
	// Dir is set: then a new file named after the first input is written there (0700 dir).
	File string
	Dir  string
	Out  io.Writer
	// Store, when set, gets an "exported" event in the custody log of every input from it.
	Store *evidence.Store
}

// Exported is what Export wrote.
type Exported struct {
	Report *Report
	// File is the written file ("" when written to Out); SHA256 is the hash of what was written.
	File   string
	SHA256 string
}

// Export is the "export a report" job: it builds one case report from already opened and
// analysed evidence (nothing is decoded again), writes it, and records the export (format,
// file, hash, redaction) in the custody log of every store item in it.
func Export(ctx context.Context, inputs []Input, cfg ExportConfig) (*Exported, error) {
	r, err := Build(inputs, cfg.Options)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	out := &Exported{Report: r, File: cfg.File}
	if out.File == "" && cfg.Dir != "" {
		if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
			return nil, fmt.Errorf("report directory: %w", err)
		}
		out.File = filepath.Join(cfg.Dir, FileName(inputs[0], cfg.Format, cfg.Generated))
	}
	if out.File != "" {
		out.SHA256, err = r.WriteFileContext(ctx, out.File, cfg.Format)
	} else {
		h := sha256.New()
		err = r.RenderContext(ctx, io.MultiWriter(orDiscard(cfg.Out), h), cfg.Format)
		out.SHA256 = hex.EncodeToString(h.Sum(nil))
	}
	if err != nil {
		return nil, err
	}
	return out, logExport(cfg.Store, inputs, cfg.Format, out.File, out.SHA256, cfg.Reveal)
}

func orDiscard(w io.Writer) io.Writer {
	if w == nil {
		return io.Discard
	}
	return w
}

// FileName names an exported report: report-<evidence ID or archive name>-<UTC time>.<ext>.
func FileName(in Input, f Format, t time.Time) string {
	name := "report"
	if in.Checkpoint != nil {
		p := in.Checkpoint.Source.Path
		name = filepath.Base(p)
		if ext := filepath.Ext(p); ext != "" && ext != p {
			name = name[:len(name)-len(ext)]
		}
	}
	if in.Store != nil {
		name = in.Store.ID
	}
	ext := map[Format]string{JSON: "json", Markdown: "md", HTML: "html", CSV: "csv", Timesketch: "jsonl", STIX: "stix.json", MISP: "misp.json"}[f]
	if t.IsZero() {
		t = time.Now()
	}
	return fmt.Sprintf("report-%s-%s.%s", name, t.UTC().Format("20060102T150405Z"), ext)
}

// logExport records the export of a report in the custody log of every store item in it.
func logExport(st *evidence.Store, inputs []Input, f Format, file, sum string, reveal bool) error {
	if st == nil {
		return nil
	}
	for _, in := range inputs {
		if in.Store == nil {
			continue
		}
		details := map[string]string{"what": "report", "format": string(f), "report_sha256": sum,
			"redacted": fmt.Sprint(!reveal)}
		if file != "" {
			details["file"] = file
		}
		if err := st.Log(in.Store.ID, evidence.Event{Action: evidence.ActionExported, Details: details}); err != nil {
			return fmt.Errorf("report written, but logging the export to %s's custody log failed: %w", in.Store.ID, err)
		}
	}
	return nil
}

// OpenInput opens one checkpoint with the open job (recording the opening of evidence as
// oc.By), analyses it with the analysis job and makes its report input, with the store record
// when it is evidence. Memory is analysed when oc.Memory is set. A custody log that cannot be
// written, a memory index that cannot be built or an indicator scan that fails is an error:
// the report would not be what it says.
func OpenInput(ctx context.Context, oc open.Config, ao analysis.Options) (Input, error) {
	oc.Beside = true // the archive's hash and the verification run beside the analysis
	cs, err := open.Open(ctx, oc)
	if err != nil {
		return Input{}, err
	}
	defer cs.Close()
	if cs.MemoryErr != nil {
		return Input{}, cs.MemoryErr
	}
	var mem analysis.Memory // nil: only the model is analysed
	if cs.Memory != nil {
		mem = cs.Memory
	}
	if ao.Yara != nil {
		yr := *ao.Yara // the saved files of this checkpoint join the YARA scan
		yr.Archive, yr.Checkpoint = cs.Archive, cs.Checkpoint
		ao.Yara = &yr
	}
	ao.Archive = cs.Archive // every saved content, as the other views analyse it
	if cs.Item != nil {
		ao.EvidenceID = cs.Item.ID
	}
	res, err := analysis.Run(ctx, cs.Checkpoint, mem, ao)
	if serr := cs.Settle(ctx); serr != nil {
		return Input{}, serr
	}
	if cs.CustodyErr != nil {
		return Input{}, cs.CustodyErr
	}
	if err != nil {
		return Input{}, err
	}
	defer res.Close()             // the contents were needed by the analysis only
	res.Reconclude(cs.Checkpoint) // with the hash that ran beside it
	if res.YaraErr != nil {
		return Input{}, fmt.Errorf("YARA (config yara.rules) on %s: %w", cs.Path, res.YaraErr)
	}
	if res.IndicatorsErr != nil {
		return Input{}, fmt.Errorf("indicators of %s: %w", cs.Path, res.IndicatorsErr)
	}
	in, err := NewInput(cs.Checkpoint, res.Indicators, cs.Item, cs.Store)
	in.MemoryScanned = res.MemoryScanned
	in.RootfsDiffs = RootfsDiffs(cs.Checkpoint, res)
	if in.Store == nil || ao.EvidenceID == in.Store.ID {
		in.Conclusion = res.Conclusion // else Build draws it again, naming the item found
	}
	if err != nil || cs.Verification == nil || in.Store == nil {
		return in, err
	}
	vr, verr := cs.Verification.Wait(ctx)
	if vr == nil && ctx.Err() != nil {
		return in, ctx.Err()
	}
	v := &Verification{State: cs.Verification.State(), Summary: cs.Verification.Summary(), Time: cs.Verification.Finished().UTC()}
	if vr != nil {
		v.Signature, v.Signers, v.Problems = vr.Signature, vr.Signers, vr.Problems
	} else if verr != nil {
		v.Problems = []string{verr.Error()}
	}
	in.Store.Verification = v
	// the custody log as it is now, with this opening and its result
	if evs, err := cs.Store.Custody(in.Store.ID); err == nil {
		in.Store.Custody = evs
	}
	return in, nil
}
