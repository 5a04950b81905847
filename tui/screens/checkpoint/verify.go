package checkpoint

import (
	"context"
	"errors"

	tea "charm.land/bubbletea/v2"

	"github.com/podsleuth/podsleuth/tui/nav"
)

// Verification states (forensics/open's, which this package does not import).
const (
	StateVerifying = "verifying"
	StateVerified  = "verified"
	StateMismatch  = "MISMATCH"
)

// VerifiedMsg is the end of the re-check of the evidence opened at Path.
type VerifiedMsg struct {
	Path         string
	Verification Verification
	Custody      string
}

// VerifyCmd waits for the re-check still running (Loaded.Verified) and reports its outcome.
func VerifyCmd(ctx context.Context, path string, wait func(context.Context) (Verification, string)) tea.Cmd {
	if ctx == nil {
		ctx = context.Background()
	}
	return func() tea.Msg {
		v, custody := wait(ctx)
		return VerifiedMsg{Path: path, Verification: v, Custody: custody}
	}
}

// Verification is the state of the evidence's re-check (zero for a file that is not
// evidence, and while loading). The App draws it as a banner on every screen of the item.
func (m *Model) Verification() Verification {
	if m.ld == nil {
		return Verification{}
	}
	return m.ld.Verification
}

// verifyAfterLoad starts waiting for a re-check still running when the load ended.
func (m *Model) verifyAfterLoad() tea.Cmd {
	if m.ld == nil || m.ld.Verified == nil {
		return nil
	}
	return VerifyCmd(m.ctx, m.path, m.ld.Verified)
}

// verified takes the outcome of the re-check: the banner changes; a mismatch is also an
// error on the status line (the banner stays).
func (m *Model) verified(msg VerifiedMsg) tea.Cmd {
	if msg.Path != m.path || m.ld == nil || m.ld.Verified == nil {
		return nil
	}
	m.ld.Verified = nil
	m.ld.Verification = msg.Verification
	if msg.Custody != "" {
		m.ld.Custody = msg.Custody
	}
	if msg.Verification.State == StateMismatch {
		return m.mismatchErr()
	}
	s := "evidence " + msg.Verification.Summary
	if msg.Custody != "" {
		s += "; " + msg.Custody
	}
	return nav.Status(s)
}

// mismatchErr is the status-line error of an item whose re-check failed (nil otherwise).
func (m *Model) mismatchErr() tea.Cmd {
	if m.ld == nil || m.ld.Verification.State != StateMismatch {
		return nil
	}
	v := m.ld.Verification
	return nav.Err(errors.New("evidence "+v.Summary),
		"analysed with this banner, never silently: podsleuth evidence verify "+v.Item+" lists what differs")
}
