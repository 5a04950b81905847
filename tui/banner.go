package tui

import (
	"github.com/podsleuth/podsleuth/forensics"
	"github.com/podsleuth/podsleuth/tui/components/frame"
	"github.com/podsleuth/podsleuth/tui/screens/checkpoint"
)

// verifier is a screen of opened evidence (the checkpoint screen): the screens pushed above it
// (a process, a hexdump) belong to the same item and show its banner too.
type verifier interface {
	Verification() checkpoint.Verification
}

// verification is the re-check state of the item the top screen belongs to: the nearest
// evidence screen from the top of the stack (zero when none, or for a file opened by path).
func (a *App) verification() checkpoint.Verification {
	for i := len(a.stack) - 1; i >= 0; i-- {
		if v, ok := a.stack[i].Unwrap().(verifier); ok {
			return v.Verification()
		}
	}
	return checkpoint.Verification{}
}

// banner is the line under the header on every screen of opened store evidence: verifying,
// verified, or MISMATCH in red (issue 14: altered evidence is never shown silently).
func (a *App) banner() string {
	v := a.verification()
	text := " evidence " + v.Item + ": " + forensics.Printable(v.Summary)
	switch v.State {
	case "":
		return ""
	case checkpoint.StateMismatch:
		return a.th.Error.Render(frame.Line(" ✗ EVIDENCE ALTERED"+text, a.w))
	case checkpoint.StateVerified:
		return a.th.OK.Render(frame.Line(" ✓"+text, a.w))
	case checkpoint.StateVerifying:
		return a.th.Muted.Render(frame.Line(" …"+text, a.w))
	}
	// the check could not run (cancelled, unreadable): not proven, so a warning
	return a.th.Warning.Render(frame.Line(" ?"+text, a.w))
}

// fitBanner gives the screens the lines left when the banner appears or goes (a load ended,
// a screen was pushed or popped).
func (a *App) fitBanner() {
	h := 0
	if a.banner() != "" {
		h = 1
	}
	if h == a.bannerH {
		return
	}
	a.bannerH = h
	w, bh := a.bodySize()
	for _, p := range a.stack {
		p.SetSize(w, bh)
	}
}
