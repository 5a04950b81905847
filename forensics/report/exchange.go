package report

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/podsleuth/podsleuth/forensics"
)

// Exchange formats: what responders feed to other tools.
const (
	// CSV is the findings and the indicators as one RFC 4180 table (spreadsheets, tickets).
	CSV Format = "csv"
	// Timesketch is the timeline as JSON Lines with the fields Timesketch imports (message,
	// datetime, timestamp_desc; timestamp in microseconds).
	Timesketch Format = "timesketch"
)

// csvHeader is the CSV export's header; a row is a finding or an indicator ("kind").
var csvHeader = []string{"kind", "evidence", "severity", "rule", "technique", "title", "type", "value", "sha256",
	"confidence", "count", "reason", "location", "pid", "comm"}

// SafeCell keeps a CSV cell from being taken as a formula by a spreadsheet (CSV injection: a cell
// starting with = + - @, a tab or a carriage return is evaluated by Excel, LibreOffice and
// Sheets): such a cell gets a leading apostrophe. Control and bidi characters are shown
// escaped (forensics.Printable: a CSV printed to a terminal cannot drive it); encoding/csv does
// the RFC 4180 quoting.
func SafeCell(s string) string {
	s = forensics.Printable(s)
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

func (r *Report) writeCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	row := func(cells ...string) error {
		for i := range cells {
			cells[i] = SafeCell(cells[i])
		}
		return cw.Write(cells)
	}
	if err := cw.Write(csvHeader); err != nil {
		return err
	}
	for _, f := range r.Findings {
		l := f.Location
		pid := ""
		if l.PID != 0 {
			pid = strconv.Itoa(l.PID)
		}
		if err := row("finding", f.Evidence, f.Severity.String(), f.Rule, f.Technique, f.Title, "", "", "", "", "",
			f.Reason, l.Kind, pid, l.Comm); err != nil {
			return err
		}
	}
	for _, ioc := range r.IOCs {
		var kinds, pids, comms []string
		for _, s := range ioc.Where {
			kinds = append(kinds, s.Kind)
			if s.PID != 0 {
				pids = append(pids, strconv.Itoa(s.PID))
			}
			if s.Comm != "" {
				comms = append(comms, s.Comm)
			}
		}
		if err := row("indicator", strings.Join(ioc.Evidence, " "), "", "", "", "", ioc.Type, ioc.Value, ioc.SHA256,
			ioc.Confidence, strconv.Itoa(ioc.Count), "", strings.Join(uniq(kinds), " "), strings.Join(uniq(pids), " "),
			strings.Join(uniq(comms), " ")); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

func uniq(xs []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, x := range xs {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
}

// timesketchEvent is one line of the Timesketch JSONL export (the three fields Timesketch
// requires, its microsecond timestamp, and podsleuth's own attributes).
type timesketchEvent struct {
	Message       string `json:"message"`
	Datetime      string `json:"datetime"`
	TimestampDesc string `json:"timestamp_desc"`
	Timestamp     int64  `json:"timestamp"`
	Evidence      string `json:"evidence"`
	StoreID       string `json:"store_id,omitempty"`
	DataType      string `json:"data_type"`
	Detail        string `json:"detail,omitempty"`
}

func (r *Report) writeTimesketch(w io.Writer) error {
	store := map[string]string{}
	for _, e := range r.Evidence {
		store[e.ID] = e.StoreID
	}
	enc := json.NewEncoder(w)
	for _, ev := range r.Timeline {
		msg := ev.Event
		if ev.Detail != "" {
			msg += ": " + ev.Detail
		}
		line := timesketchEvent{Message: msg, Datetime: ev.Time.UTC().Format(time.RFC3339Nano), TimestampDesc: ev.Event,
			Timestamp: ev.Time.UnixMicro(), Evidence: ev.Evidence, StoreID: store[ev.Evidence], DataType: "podsleuth:timeline", Detail: ev.Detail}
		if err := enc.Encode(line); err != nil {
			return fmt.Errorf("timesketch: %w", err)
		}
	}
	return nil
}
