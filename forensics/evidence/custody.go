package evidence

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Custody actions recorded by podsleuth.
const (
	ActionAcquired     = "acquired"
	ActionRejected     = "rejected"
	ActionOpened       = "opened"
	ActionVerified     = "verified"
	ActionVerifyFailed = "verify-failed"
	ActionExported     = "exported"
	ActionRestored     = "restored"
	ActionSandbox      = "sandbox"
	ActionNodeDeleted  = "node-archive-deleted"
)

// Event is one line of a custody log. Prev is the SHA-256 of the previous line (empty for the
// first), so removing or editing a line breaks the chain and Verify reports it.
type Event struct {
	Time    time.Time         `json:"time"`
	Action  string            `json:"action"`
	Actor   string            `json:"actor"`
	Details map[string]string `json:"details,omitempty"`
	Prev    string            `json:"prev,omitempty"`
}

// appendEvent appends e to dir's custody log with O_APPEND, chaining it to the last line.
func appendEvent(dir string, e Event) error {
	p := filepath.Join(dir, custodyName)
	last, err := lastLine(p)
	if err != nil {
		return err
	}
	if len(last) > 0 {
		sum := sha256.Sum256(last)
		e.Prev = hex.EncodeToString(sum[:])
	}
	e.Time = e.Time.UTC()
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("custody log: %w", err)
	}
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return fmt.Errorf("custody log: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("custody log: %w", err)
	}
	return f.Close()
}

func lastLine(p string) ([]byte, error) {
	b, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("custody log: %w", err)
	}
	b = bytes.TrimRight(b, "\n")
	if i := bytes.LastIndexByte(b, '\n'); i >= 0 {
		return b[i+1:], nil
	}
	return b, nil
}

// readEvents reads a custody log; checkChain reports a broken chain separately.
func readEvents(dir string) ([]Event, error) {
	evs, _, err := readChain(dir)
	return evs, err
}

// readChain returns the events and the chain problems found (an edited, removed or
// reordered line).
func readChain(dir string) ([]Event, []string, error) {
	f, err := os.Open(filepath.Join(dir, custodyName))
	if err != nil {
		return nil, nil, fmt.Errorf("custody log: %w", err)
	}
	defer f.Close()
	var (
		evs      []Event
		problems []string
		prevLine []byte
	)
	r := bufio.NewReader(f)
	for n := 1; ; n++ {
		line, err := r.ReadBytes('\n')
		line = bytes.TrimRight(line, "\n")
		if len(line) > 0 {
			var e Event
			if jerr := json.Unmarshal(line, &e); jerr != nil {
				problems = append(problems, fmt.Sprintf("custody log line %d is not a valid event: %v", n, jerr))
			} else {
				want := ""
				if prevLine != nil {
					sum := sha256.Sum256(prevLine)
					want = hex.EncodeToString(sum[:])
				}
				if e.Prev != want {
					problems = append(problems, fmt.Sprintf("custody log line %d does not chain to line %d (a line was edited, removed or reordered)", n, n-1))
				}
				evs = append(evs, e)
			}
			prevLine = append([]byte(nil), line...)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return evs, problems, fmt.Errorf("custody log: %w", err)
		}
	}
	return evs, problems, nil
}

// VerifyResult is the outcome of re-checking one item.
type VerifyResult struct {
	ID       string   `json:"id"`
	OK       bool     `json:"ok"`
	Expected string   `json:"expected_sha256"`
	Actual   string   `json:"actual_sha256"`
	Size     int64    `json:"size"`
	Problems []string `json:"problems,omitempty"`
}

// Verify re-hashes an item's archive and checks it against the manifest, checks the archive's
// mode and the custody chain, and records the outcome in the custody log. A mismatch returns
// the result and an error wrapping ErrTampered.
func (s *Store) Verify(ctx context.Context, id string) (*VerifyResult, error) {
	it, err := s.Get(id)
	if err != nil {
		return nil, err
	}
	res := &VerifyResult{ID: it.ID, Expected: it.Manifest.LocalSHA256}
	f, err := os.Open(it.Archive)
	if err != nil {
		res.Problems = append(res.Problems, fmt.Sprintf("archive unreadable: %v", err))
	} else {
		h := sha256.New()
		n, cerr := io.Copy(h, ctxReader{ctx: ctx, r: f})
		f.Close()
		if cerr != nil {
			if ctx.Err() != nil {
				return nil, fmt.Errorf("verify %s: %w", it.ID, ctx.Err())
			}
			res.Problems = append(res.Problems, fmt.Sprintf("archive unreadable: %v", cerr))
		}
		res.Actual, res.Size = hex.EncodeToString(h.Sum(nil)), n
		if res.Actual != res.Expected {
			res.Problems = append(res.Problems, fmt.Sprintf("archive sha256 is %s, the manifest recorded %s at acquisition", res.Actual, res.Expected))
		}
		if n != it.Manifest.Size {
			res.Problems = append(res.Problems, fmt.Sprintf("archive is %d bytes, the manifest recorded %d", n, it.Manifest.Size))
		}
	}
	if st, err := os.Stat(it.Archive); err == nil && st.Mode().Perm() != archiveMode {
		res.Problems = append(res.Problems, fmt.Sprintf("archive mode is %04o, expected %04o (read-only)", st.Mode().Perm(), archiveMode))
	}
	res.Problems = append(res.Problems, verifyArtifacts(it)...)
	_, chain, err := readChain(it.Dir)
	if err != nil {
		res.Problems = append(res.Problems, err.Error())
	}
	res.Problems = append(res.Problems, chain...)
	res.OK = len(res.Problems) == 0
	action, details := ActionVerified, map[string]string{"sha256": res.Actual}
	if !res.OK {
		action = ActionVerifyFailed
		details["problems"] = strings.Join(res.Problems, "; ")
	}
	if err := s.Log(it.ID, Event{Action: action, Details: details}); err != nil {
		res.Problems = append(res.Problems, "could not record the verification: "+err.Error())
	}
	if !res.OK {
		return res, fmt.Errorf("verify %s: %w: %s", it.ID, ErrTampered, strings.Join(res.Problems, "; "))
	}
	return res, nil
}

// verifyArtifacts re-hashes the item's artifacts against its manifest.
func verifyArtifacts(it *Item) []string {
	var problems []string
	for _, a := range it.Manifest.Artifacts {
		p := filepath.Join(it.Dir, artifactsDir, filepath.Base(a.Name))
		b, err := os.ReadFile(p)
		if err != nil {
			problems = append(problems, fmt.Sprintf("artifact %s unreadable: %v", a.Name, err))
			continue
		}
		sum := sha256.Sum256(b)
		if got := hex.EncodeToString(sum[:]); got != a.SHA256 || int64(len(b)) != a.Size {
			problems = append(problems, fmt.Sprintf("artifact %s is %d bytes with sha256 %s, the manifest recorded %d bytes, %s", a.Name, len(b), got, a.Size, a.SHA256))
		}
		if st, err := os.Stat(p); err == nil && st.Mode().Perm() != archiveMode {
			problems = append(problems, fmt.Sprintf("artifact %s mode is %04o, expected %04o (read-only)", a.Name, st.Mode().Perm(), archiveMode))
		}
	}
	return problems
}
