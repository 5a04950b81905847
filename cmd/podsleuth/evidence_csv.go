package main

import (
	"encoding/csv"
	"io"
	"strconv"
	"time"

	"github.com/podsleuth/podsleuth/forensics/evidence"
	"github.com/podsleuth/podsleuth/forensics/report"
)

// Validate lets `evidence list` also write CSV (-o csv), the other members text or json.
func (o *evidenceListOptions) Validate() error {
	if o.output == "csv" {
		return nil
	}
	return o.evidenceOptions.Validate()
}

// writeItemsCSV writes the items as an RFC 4180 table with a header, formula-safe cells
// (report.SafeCell) for spreadsheets and ticket systems.
func writeItemsCSV(w io.Writer, items []evidence.Item) error {
	cw := csv.NewWriter(w)
	if err := cw.Write([]string{"id", "case_id", "namespace", "pod", "container", "node", "source", "acquired_at",
		"size", "sha256", "last_verified", "last_verified_ok"}); err != nil {
		return err
	}
	for _, it := range items {
		m := it.Manifest
		verified, ok := "", ""
		if !it.LastVerified.IsZero() {
			verified, ok = it.LastVerified.UTC().Format(time.RFC3339), strconv.FormatBool(it.LastVerifiedOK)
		}
		row := []string{it.ID, m.CaseID, m.Namespace, m.Pod, m.Container, m.Node, m.SourceDescription(),
			m.AcquiredAt.UTC().Format(time.RFC3339), strconv.FormatInt(m.Size, 10), m.LocalSHA256, verified, ok}
		for i := range row {
			row[i] = report.SafeCell(row[i])
		}
		if err := cw.Write(row); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}
