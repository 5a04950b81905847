package report

import (
	"bytes"
	"context"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/podsleuth/podsleuth/forensics"
)

// Schema is the JSON Schema (draft 2020-12) of the JSON encoding, schema/report-v1.json.
//
//go:embed schema/report-v1.json
var Schema []byte

// Format is an output format of a report.
type Format string

// Formats.
const (
	JSON     Format = "json"
	Markdown Format = "md"
	HTML     Format = "html"
)

// ErrFormat is returned for an unknown format name.
var ErrFormat = errors.New("unknown report format")

// FormatNames returns the names ParseFormat accepts, one per format (completion, help).
func FormatNames() []string {
	return []string{string(JSON), string(Markdown), string(HTML), string(CSV), string(Timesketch), string(STIX), string(MISP)}
}

// ParseFormat accepts "json", "md"/"markdown", "html", "csv", "timesketch"/"jsonl", "stix" and "misp".
func ParseFormat(s string) (Format, error) {
	switch strings.ToLower(s) {
	case "json":
		return JSON, nil
	case "md", "markdown":
		return Markdown, nil
	case "html", "htm":
		return HTML, nil
	case "csv":
		return CSV, nil
	case "timesketch", "jsonl":
		return Timesketch, nil
	case "stix", "stix2", "stix2.1":
		return STIX, nil
	case "misp":
		return MISP, nil
	}
	return "", fmt.Errorf("%w %q (want json, md, html, csv, timesketch, stix or misp)", ErrFormat, s)
}

// Render writes the report in format f.
func (r *Report) Render(w io.Writer, f Format) error {
	return r.RenderContext(context.Background(), w, f)
}

// RenderContext writes the report in format f and stops, with ctx's error, at the first
// write after ctx is done (Ctrl-C stops a long render at once). Markdown and HTML pass
// through the sanitiser (sanitize.go): no control, bidirectional or zero-width character
// reaches them as it is.
func (r *Report) RenderContext(ctx context.Context, w io.Writer, f Format) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	switch f {
	case JSON:
		return r.WriteJSON(&ctxWriter{ctx, w})
	case CSV:
		return r.writeCSV(&ctxWriter{ctx, w})
	case Timesketch:
		return r.writeTimesketch(&ctxWriter{ctx, w})
	case STIX:
		return r.writeSTIX(&ctxWriter{ctx, w})
	case MISP:
		return r.writeMISP(&ctxWriter{ctx, w})
	case Markdown, HTML:
		sw := newSafeWriter(ctx, w)
		var err error
		if f == Markdown {
			err = r.writeMarkdown(sw)
		} else {
			err = r.writeHTML(sw)
		}
		if cerr := ctx.Err(); cerr != nil {
			return fmt.Errorf("write report: %w", cerr)
		}
		if err != nil {
			return err
		}
		return sw.Close()
	}
	return fmt.Errorf("%w %q", ErrFormat, f)
}

// ctxWriter fails writes once ctx is done.
type ctxWriter struct {
	ctx context.Context
	w   io.Writer
}

func (c *ctxWriter) Write(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.w.Write(p)
}

// WriteFile writes the report to path in format f atomically (a temporary file in the same
// directory, renamed into place) with mode 0600, since reports hold sensitive data, and returns
// the hex SHA-256 of what was written (for the custody log). The TUI's export calls this from a
// Cmd; `podsleuth report -o` does too.
func (r *Report) WriteFile(path string, f Format) (string, error) {
	return r.WriteFileContext(context.Background(), path, f)
}

// WriteFileContext is WriteFile stopping when ctx is done (nothing is left behind then).
func (r *Report) WriteFileContext(ctx context.Context, path string, f Format) (string, error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".podsleuth-report-*")
	if err != nil {
		return "", fmt.Errorf("write report: %w", err)
	}
	defer os.Remove(tmp.Name())
	h := sha256.New()
	if err := r.RenderContext(ctx, io.MultiWriter(tmp, h), f); err != nil {
		tmp.Close()
		return "", err
	}
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return "", fmt.Errorf("write report: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return "", fmt.Errorf("write report: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return "", fmt.Errorf("write report: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return "", fmt.Errorf("write report: %w", err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// WriteJSON writes the report as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(r); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	// in chunks, so that a cancelled context (ctxWriter) stops a long write
	for data := b.Bytes(); len(data) > 0; {
		n := min(len(data), 1<<20)
		if _, err := w.Write(data[:n]); err != nil {
			return fmt.Errorf("write report: %w", err)
		}
		data = data[n:]
	}
	return nil
}

// humanBytes renders a size as "12.3 MiB" (forensics.HumanBytes, for any integer type).
func humanBytes[T int64 | uint64 | int](n T) string { return forensics.HumanBytes(int64(n)) }

// utc renders a time as "2026-01-02 15:04:05Z"; "" for the zero time.
func utc(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02 15:04:05Z")
}

// where renders a finding or indicator location on one line.
func where(l forensics.Location) string {
	var parts []string
	if l.PID != 0 {
		p := fmt.Sprintf("pid %d", l.PID)
		if l.Comm != "" {
			p += " (" + l.Comm + ")"
		}
		parts = append(parts, p)
	}
	if l.Kind != "" {
		parts = append(parts, l.Kind)
	}
	if l.Region != "" {
		parts = append(parts, l.Region)
	}
	if l.Addr != 0 {
		parts = append(parts, fmt.Sprintf("@0x%x", l.Addr))
	} else if l.Start != 0 {
		parts = append(parts, fmt.Sprintf("0x%x-0x%x", l.Start, l.End))
	}
	if l.FD != 0 {
		parts = append(parts, fmt.Sprintf("fd %d", l.FD))
	}
	if l.Path != "" && !strings.Contains(l.Region, l.Path) {
		parts = append(parts, l.Path)
	}
	if l.Socket != "" {
		parts = append(parts, l.Socket)
	}
	return strings.Join(parts, " ")
}

func sortStrings(s []string) { slices.Sort(s) }

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// riskyCaps are the capabilities that matter most when a process is compromised.
var riskyCaps = []string{"CAP_SYS_ADMIN", "CAP_SYS_PTRACE", "CAP_SYS_MODULE", "CAP_NET_ADMIN", "CAP_NET_RAW",
	"CAP_DAC_READ_SEARCH", "CAP_DAC_OVERRIDE", "CAP_SYS_RAWIO", "CAP_BPF", "CAP_PERFMON", "CAP_CHECKPOINT_RESTORE", "CAP_SETUID", "CAP_SETGID"}

// CapsSummary shortens a capability set for tables: short sets are listed, long ones are counted
// with the risky members named ("41 capabilities, incl. CAP_SYS_ADMIN CAP_SYS_PTRACE ...").
func CapsSummary(caps []string) string {
	if len(caps) <= 6 {
		return strings.Join(caps, " ")
	}
	var risky []string
	for _, c := range riskyCaps {
		if slices.Contains(caps, c) {
			risky = append(risky, c)
		}
	}
	s := fmt.Sprintf("%d capabilities", len(caps))
	if len(risky) > 4 {
		return s + ", incl. " + strings.Join(risky[:4], " ") + fmt.Sprintf(" and %d more risky", len(risky)-4)
	}
	if len(risky) > 0 {
		s += ", incl. " + strings.Join(risky, " ")
	}
	return s
}
