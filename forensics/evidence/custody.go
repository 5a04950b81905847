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
	"syscall"
	"time"

	"github.com/podsleuth/podsleuth/forensics/archive"
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
	// Sig is the analyst's signature of the line (see signing.go); nil on unsigned (legacy)
	// lines. It must stay the last field.
	Sig *EventSig `json:"sig,omitempty"`
}

// custodyLockWait bounds how long an append waits for another process holding the log's lock.
const custodyLockWait = 30 * time.Second

// maxCustodyLine bounds one line of a custody log when the last one is read back to chain to it.
const maxCustodyLine = 16 << 20

// ErrCustodyBusy: another process held the custody log's lock longer than custodyLockWait.
var ErrCustodyBusy = errors.New("custody log is locked by another process")

// appendEvent appends e to dir's custody log, chaining it to the last line. Reading the last
// line, appending and syncing happen under an exclusive lock of the log file (flock), so
// podsleuth processes that open, verify or export the same item at once each chain to the line
// before theirs: without it two of them could chain to the same line and the log would look
// tampered for good.
//
// With a signer the line is signed and the log's signed head rewritten, under the same lock.
func appendEvent(dir string, e Event, signer *Signer) error {
	p := filepath.Join(dir, custodyName)
	f, err := os.OpenFile(p, os.O_RDWR|os.O_APPEND|os.O_CREATE|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		return fmt.Errorf("custody log: %w", symlinkErr(p, err))
	}
	defer f.Close()
	if err := lockFile(f, syscall.LOCK_EX); err != nil {
		return fmt.Errorf("custody log %s: %w", p, err)
	}
	defer syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	last, err := lastLine(f)
	if err != nil {
		return err
	}
	if len(last) > 0 {
		sum := sha256.Sum256(last)
		e.Prev = hex.EncodeToString(sum[:])
	}
	e.Time = e.Time.UTC()
	b, err := signedLine(e, signer)
	if err != nil {
		return err
	}
	if _, err := f.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("custody log: %w", err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("custody log: %w", err)
	}
	if signer != nil {
		if err := writeHead(dir, f, signer, e.Time); err != nil {
			return fmt.Errorf("custody head: %w", err)
		}
	}
	return nil
}

// lockFile takes an flock of f (LOCK_EX or LOCK_SH), waiting at most custodyLockWait.
func lockFile(f *os.File, how int) error {
	deadline := time.Now().Add(custodyLockWait)
	for delay := time.Millisecond; ; {
		err := syscall.Flock(int(f.Fd()), how|syscall.LOCK_NB)
		if err == nil {
			return nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			return fmt.Errorf("lock: %w", err)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%w for more than %s", ErrCustodyBusy, custodyLockWait)
		}
		time.Sleep(delay)
		if delay < 50*time.Millisecond {
			delay *= 2
		}
	}
}

// lastLine returns the last non-empty line of the log open in f, read backwards from its end.
func lastLine(f *os.File) ([]byte, error) {
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("custody log: %w", err)
	}
	end := st.Size()
	var tail []byte
	const chunk = 4096
	for off := end; off > 0; {
		n := int64(chunk)
		if off < n {
			n = off
		}
		off -= n
		buf := make([]byte, n)
		if _, err := f.ReadAt(buf, off); err != nil {
			return nil, fmt.Errorf("custody log: %w", err)
		}
		tail = append(buf, tail...)
		trimmed := bytes.TrimRight(tail, "\n")
		if i := bytes.LastIndexByte(trimmed, '\n'); i >= 0 {
			return trimmed[i+1:], nil
		}
		if len(tail) > maxCustodyLine {
			return nil, fmt.Errorf("custody log: the last line is longer than %d bytes", maxCustodyLine)
		}
		if off == 0 {
			return trimmed, nil
		}
	}
	return nil, nil
}

// symlinkErr names a refused symbolic link (O_NOFOLLOW fails with ELOOP).
func symlinkErr(p string, err error) error {
	if errors.Is(err, syscall.ELOOP) {
		return fmt.Errorf("%w: %s", ErrSymlink, p)
	}
	return err
}

// readEvents reads a custody log; checkChain reports a broken chain separately.
func readEvents(dir string) ([]Event, error) {
	evs, _, err := readChain(dir)
	return evs, err
}

// readChain returns the events and the chain problems found (an edited, removed or
// reordered line).
func readChain(dir string) ([]Event, []string, error) {
	p := filepath.Join(dir, custodyName)
	f, err := os.OpenFile(p, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("custody log: %w", symlinkErr(p, err))
	}
	defer f.Close()
	// A shared lock: an append in progress finishes before the log is read.
	if err := lockFile(f, syscall.LOCK_SH); err != nil {
		return nil, nil, fmt.Errorf("custody log %s: %w", p, err)
	}
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
	// Signature is the state of the item's signatures ("signed", "unsigned (legacy)",
	// "INVALID", ...) and Signers who signed, as the trusted keys name them.
	Signature string   `json:"signature"`
	Signers   []string `json:"signers,omitempty"`
	// Warnings are flagged, not failures (e.g. a clock that went backwards between events).
	Warnings []string `json:"warnings,omitempty"`
}

// Verify re-hashes an item's archive and checks it against the manifest, checks the archive's
// mode and the custody chain, and records the outcome in the custody log. A mismatch returns
// the result and an error wrapping ErrTampered.
func (s *Store) Verify(ctx context.Context, id string) (*VerifyResult, error) {
	res, err := s.Check(ctx, id)
	if res == nil {
		return nil, err
	}
	action, details := ActionVerified, map[string]string{"sha256": res.Actual}
	if !res.OK {
		action = ActionVerifyFailed
		details["problems"] = strings.Join(res.Problems, "; ")
	}
	if lerr := s.Log(res.ID, Event{Action: action, Details: details}); lerr != nil {
		res.Problems = append(res.Problems, "could not record the verification: "+lerr.Error())
		if err == nil {
			res.OK = false
			err = fmt.Errorf("verify %s: could not record the verification: %w", res.ID, lerr)
		}
	}
	return res, err
}

// Check is Verify without recording anything: what opening evidence runs beside the decoding
// (the opening records it with its result).
func (s *Store) Check(ctx context.Context, id string) (*VerifyResult, error) {
	it, err := s.Get(id)
	if err != nil {
		return nil, err
	}
	res := &VerifyResult{ID: it.ID, Expected: it.Manifest.LocalSHA256}
	f, err := os.OpenFile(it.Archive, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		err = symlinkErr(it.Archive, err)
	}
	if err != nil {
		res.Problems = append(res.Problems, fmt.Sprintf("archive unreadable: %v", err))
	} else {
		sum, n, cerr := archive.SHA256Reader(ctx, f) // at the hash's rate: reads run ahead
		f.Close()
		if cerr != nil {
			if ctx.Err() != nil {
				return nil, fmt.Errorf("verify %s: %w", it.ID, ctx.Err())
			}
			res.Problems = append(res.Problems, fmt.Sprintf("archive unreadable: %v", cerr))
		}
		res.Actual, res.Size = sum, n
		if res.Actual != res.Expected {
			res.Problems = append(res.Problems, fmt.Sprintf("archive sha256 is %s, the manifest recorded %s at acquisition", res.Actual, res.Expected))
		}
		if n != it.Manifest.Size {
			res.Problems = append(res.Problems, fmt.Sprintf("archive is %d bytes, the manifest recorded %d", n, it.Manifest.Size))
		}
	}
	if st, err := os.Lstat(it.Archive); err == nil && st.Mode().Perm() != archiveMode {
		res.Problems = append(res.Problems, fmt.Sprintf("archive mode is %04o, expected %04o (read-only)", st.Mode().Perm(), archiveMode))
	}
	res.Problems = append(res.Problems, verifyArtifacts(it)...)
	_, chain, err := readChain(it.Dir)
	if err != nil {
		res.Problems = append(res.Problems, err.Error())
	}
	res.Problems = append(res.Problems, chain...)
	var sigErr error
	if trust, err := s.Trust(); err != nil {
		res.Signature, sigErr = "INVALID", err
		res.Problems = append(res.Problems, err.Error())
	} else {
		sc := CheckSignatures(it.Dir, trust)
		res.Signature, res.Signers, res.Warnings, sigErr = sc.Status, sc.Signers, sc.Warnings, sc.Err()
		res.Problems = append(res.Problems, sc.Problems...)
	}
	res.OK = len(res.Problems) == 0
	if !res.OK {
		if sigErr != nil {
			return res, fmt.Errorf("verify %s: %w: %w: %s", it.ID, ErrTampered, sigErr, strings.Join(res.Problems, "; "))
		}
		return res, fmt.Errorf("verify %s: %w: %s", it.ID, ErrTampered, strings.Join(res.Problems, "; "))
	}
	return res, nil
}

// verifyArtifacts re-hashes the item's artifacts against its manifest.
func verifyArtifacts(it *Item) []string {
	var problems []string
	if len(it.Manifest.Artifacts) > 0 {
		if err := checkNoSymlink(filepath.Join(it.Dir, artifactsDir)); err != nil {
			return []string{err.Error()}
		}
	}
	for _, a := range it.Manifest.Artifacts {
		p := filepath.Join(it.Dir, artifactsDir, filepath.Base(a.Name))
		b, err := readNoFollow(p, 1<<30)
		if err != nil {
			problems = append(problems, fmt.Sprintf("artifact %s unreadable: %v", a.Name, err))
			continue
		}
		sum := sha256.Sum256(b)
		if got := hex.EncodeToString(sum[:]); got != a.SHA256 || int64(len(b)) != a.Size {
			problems = append(problems, fmt.Sprintf("artifact %s is %d bytes with sha256 %s, the manifest recorded %d bytes, %s", a.Name, len(b), got, a.Size, a.SHA256))
		}
		if st, err := os.Lstat(p); err == nil && st.Mode().Perm() != archiveMode {
			problems = append(problems, fmt.Sprintf("artifact %s mode is %04o, expected %04o (read-only)", a.Name, st.Mode().Perm(), archiveMode))
		}
	}
	return problems
}
