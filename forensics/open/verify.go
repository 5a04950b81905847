package open

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/podsleuth/podsleuth/forensics/evidence"
)

// Verification is the re-check of an evidence item that every opening runs beside the
// decoding: the archive and its artifacts re-hashed against the manifest, the custody chain and
// signatures checked (evidence.Store.Check). When it ends, the opening is recorded in the
// item's custody log with its result ("opened", details verification=verified|MISMATCH).
//
// A mismatched item is analysed, never refused: the responder may need to see what altered
// evidence holds (to investigate the alteration itself), but never silently: the CLI warns on
// stderr and exits with status 3 after its output, reports carry a red banner, the TUI a red
// banner on every screen of the item.
type Verification struct {
	done     chan struct{}
	mu       sync.Mutex
	result   *evidence.VerifyResult
	err      error
	started  time.Time
	finished time.Time
	// recorded and custodyErr say whether the "opened" event was written.
	recorded   bool
	custodyErr error
}

// Verification states, as banners show them.
const (
	StateVerifying = "verifying"
	StateVerified  = "verified"
	StateMismatch  = "MISMATCH"
	StateFailed    = "not verified" // the check itself could not run (cancelled, unreadable)
)

// startVerification checks item beside the decoding and records the opening (by) with its
// result. The check runs on its own context so that a decode error does not leave the custody
// log without the opening; ctx's cancellation still stops it.
func startVerification(ctx context.Context, st *evidence.Store, it *evidence.Item, by string) *Verification {
	v := &Verification{done: make(chan struct{}), started: time.Now()}
	go func() {
		defer close(v.done)
		res, err := st.Check(ctx, it.ID)
		details := map[string]string{}
		if by != "" {
			details["by"] = by
		}
		state := StateVerified
		switch {
		case res == nil:
			state = StateFailed
			details["verification_error"] = err.Error()
		case !res.OK:
			state = StateMismatch
			details["problems"] = strings.Join(res.Problems, "; ")
		}
		details["verification"] = state
		if res != nil {
			details["sha256"] = res.Actual
		}
		var cerr error
		if by != "" {
			cerr = st.Log(it.ID, evidence.Event{Action: evidence.ActionOpened, Details: details})
		}
		v.mu.Lock()
		v.result, v.err, v.finished = res, err, time.Now()
		v.recorded, v.custodyErr = by != "" && cerr == nil, cerr
		v.mu.Unlock()
	}()
	return v
}

// Done is closed when the verification has ended.
func (v *Verification) Done() <-chan struct{} { return v.done }

// Wait waits for the verification (or ctx) and returns its result.
func (v *Verification) Wait(ctx context.Context) (*evidence.VerifyResult, error) {
	select {
	case <-v.done:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.result, v.err
}

// State is StateVerifying until the verification ends, then its outcome.
func (v *Verification) State() string {
	select {
	case <-v.done:
	default:
		return StateVerifying
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	switch {
	case v.result == nil:
		return StateFailed
	case !v.result.OK:
		return StateMismatch
	}
	return StateVerified
}

// Summary is one line for a banner or a report: the state, what was checked and when.
func (v *Verification) Summary() string {
	st := v.State()
	if st == StateVerifying {
		return "verifying the evidence (re-hashing the archive and artifacts)..."
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	at := v.finished.UTC().Format(time.RFC3339)
	switch st {
	case StateVerified:
		return "verified at " + at + ": sha256 " + v.result.Actual + " matches the acquisition; custody " + v.result.Signature
	case StateMismatch:
		return "MISMATCH at " + at + ": this evidence was altered after acquisition: " + strings.Join(v.result.Problems, "; ")
	}
	msg := "unknown error"
	if v.err != nil {
		msg = v.err.Error()
	}
	return "could not be verified at " + at + ": " + msg
}

// Recorded says, once the verification has ended, whether the opening was written to the
// custody log and why not (false, nil while it runs or when nothing was to be recorded).
func (v *Verification) Recorded() (bool, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.recorded, v.custodyErr
}

// Finished is when the verification ended (zero while it runs).
func (v *Verification) Finished() time.Time {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.finished
}

// ErrMismatch is returned by Case.VerificationErr for evidence that failed verification.
var ErrMismatch = errors.New("evidence failed verification on open")
