package evidence

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/base64"
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

	"github.com/secure-systems-lab/go-securesystemslib/dsse"
)

// Signed custody. With an analyst key (Options.KeyFile) the store signs:
//   - every custody event: the line carries "sig": {keyid, sig}, an ed25519 signature over the
//     DSSE pre-authentication encoding (PAE) of eventPayloadType and the line without its "sig"
//     member. The line chains to the one before (prev), so a signature covers the history too.
//   - the custody log's head after every event: custody.head, a DSSE envelope of {item, events,
//     last_sha256, time}. Removing lines from the end of a log (which keeps the chain intact)
//     no longer matches it.
//   - the acquisition manifest: manifest.dsse.json, a DSSE envelope whose payload is
//     manifest.json byte for byte.
//
// Export bundles add attestation.dsse.json, an in-toto Statement in a DSSE envelope (see
// bundle.go). Verify and ImportBundle check all of them against the trusted keys.
const (
	eventPayloadType    = "application/vnd.podsleuth.custody-event.v1+json"
	headPayloadType     = "application/vnd.podsleuth.custody-head.v1+json"
	manifestPayloadType = "application/vnd.podsleuth.manifest.v1+json"
	headName            = "custody.head"
	manifestSigName     = "manifest.dsse.json"
)

// EventSig is the signature of one custody event.
type EventSig struct {
	KeyID string `json:"keyid"`
	Sig   string `json:"sig"` // base64 (standard), as DSSE's
}

// signedLine returns the log line of e signed by s: the event's JSON with "sig" as its last
// member. json.Marshal of an Event with Sig set gives the same bytes, Sig being its last field.
func signedLine(e Event, s *Signer) ([]byte, error) {
	e.Sig = nil
	body, err := json.Marshal(e)
	if err != nil {
		return nil, err
	}
	if s == nil {
		return body, nil
	}
	sig, err := s.sign(dsse.PAE(eventPayloadType, body))
	if err != nil {
		return nil, fmt.Errorf("sign custody event: %w", err)
	}
	sj, err := json.Marshal(EventSig{KeyID: s.KeyID(), Sig: base64.StdEncoding.EncodeToString(sig)})
	if err != nil {
		return nil, err
	}
	return append(append(append(body[:len(body)-1:len(body)-1], `,"sig":`...), sj...), '}'), nil
}

// unsignedBody returns the bytes a signed line's signature covers: the line without its
// trailing "sig" member. A line whose signature is not in that place does not verify.
func unsignedBody(line []byte, sig EventSig) ([]byte, bool) {
	sj, err := json.Marshal(sig)
	if err != nil {
		return nil, false
	}
	suffix := append(append([]byte(`,"sig":`), sj...), '}')
	if !bytes.HasSuffix(line, suffix) {
		return nil, false
	}
	return append(append([]byte(nil), line[:len(line)-len(suffix)]...), '}'), true
}

// head is the payload of custody.head.
type head struct {
	Item       string    `json:"item"`
	Events     int       `json:"events"`
	LastSHA256 string    `json:"last_sha256"`
	Time       time.Time `json:"time"`
}

// writeHead signs and writes dir's custody.head for the log open in f (called under the log's
// exclusive lock, after an append). It is replaced atomically.
func writeHead(dir string, f *os.File, s *Signer, now time.Time) error {
	n, last, err := countLines(f)
	if err != nil {
		return err
	}
	sum := sha256.Sum256(last)
	b, err := json.Marshal(head{Item: filepath.Base(dir), Events: n, LastSHA256: hex.EncodeToString(sum[:]), Time: now.UTC()})
	if err != nil {
		return err
	}
	env, err := s.envelope(headPayloadType, b)
	if err != nil {
		return fmt.Errorf("sign custody head: %w", err)
	}
	return writeJSONAtomic(filepath.Join(dir, headName), env, 0o600)
}

// countLines returns the number of non-empty lines of the log open in f and its last line.
func countLines(f *os.File) (int, []byte, error) {
	r := bufio.NewReader(io.NewSectionReader(f, 0, 1<<62))
	n := 0
	var last []byte
	for {
		line, err := r.ReadBytes('\n')
		if l := bytes.TrimRight(line, "\n"); len(l) > 0 {
			n++
			last = l
		}
		if err == io.EOF {
			return n, last, nil
		}
		if err != nil {
			return 0, nil, fmt.Errorf("custody log: %w", err)
		}
	}
}

// writeJSONAtomic writes v as JSON to p through a synced temporary file and a rename.
func writeJSONAtomic(p string, v any, mode os.FileMode) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(p), "."+filepath.Base(p)+"-*")
	if err != nil {
		return err
	}
	_, err = tmp.Write(append(b, '\n'))
	if err == nil {
		err = tmp.Chmod(mode)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), p)
	}
	if err != nil {
		os.Remove(tmp.Name())
	}
	return err
}

// writeManifestSig signs manifest.json (as written) into manifest.dsse.json, read-only.
func writeManifestSig(dir string, s *Signer) error {
	b, err := readNoFollow(filepath.Join(dir, manifestName), 64<<20)
	if err != nil {
		return err
	}
	env, err := s.envelope(manifestPayloadType, b)
	if err != nil {
		return fmt.Errorf("sign manifest: %w", err)
	}
	return writeJSONAtomic(filepath.Join(dir, manifestSigName), env, archiveMode)
}

// SignatureCheck is the outcome of checking an item's signatures.
type SignatureCheck struct {
	// Status: "signed", "signed since event N (earlier events unsigned, legacy)",
	// "unsigned (legacy)" or "INVALID".
	Status string `json:"status"`
	// Signers names every key that signed, as the trusted keys file names it.
	Signers  []string `json:"signers,omitempty"`
	Problems []string `json:"problems,omitempty"`
	// Warnings are flagged but not refused (a clock that went backwards).
	Warnings []string `json:"warnings,omitempty"`
	errs     []error
}

// Err joins the named errors of the problems (nil when there are none).
func (c *SignatureCheck) Err() error { return errors.Join(c.errs...) }

func (c *SignatureCheck) fail(err error) {
	c.errs = append(c.errs, err)
	c.Problems = append(c.Problems, err.Error())
}

func (c *SignatureCheck) signer(k TrustedKey) {
	l := k.Label()
	for _, s := range c.Signers {
		if s == l {
			return
		}
	}
	c.Signers = append(c.Signers, l)
}

// readRawLines reads the custody log's lines under its shared lock (the exact bytes).
func readRawLines(dir string) ([][]byte, error) {
	p := filepath.Join(dir, custodyName)
	f, err := os.OpenFile(p, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return nil, fmt.Errorf("custody log: %w", symlinkErr(p, err))
	}
	defer f.Close()
	if err := lockFile(f, syscall.LOCK_SH); err != nil {
		return nil, fmt.Errorf("custody log %s: %w", p, err)
	}
	var lines [][]byte
	r := bufio.NewReader(f)
	for {
		line, err := r.ReadBytes('\n')
		if l := bytes.TrimRight(line, "\n"); len(l) > 0 {
			lines = append(lines, l)
		}
		if err == io.EOF {
			return lines, nil
		}
		if err != nil {
			return nil, fmt.Errorf("custody log: %w", err)
		}
	}
}

// CheckSignatures checks the signatures of the item in dir against trust: every custody event,
// the signed head and the manifest's envelope. An item with no signature at all is
// "unsigned (legacy)", not refused; once an item is signed, an unsigned event, head or
// manifest is a problem (ErrUnsigned), as are an unknown key, a bad signature, a signature
// after its key's revocation and a log that no longer matches its head.
func CheckSignatures(dir string, trust *Trust) *SignatureCheck {
	c := &SignatureCheck{}
	lines, err := readRawLines(dir)
	if err != nil {
		c.fail(err)
		c.Status = "INVALID"
		return c
	}
	firstSigned, legacy := -1, 0
	var prevTime time.Time
	for i, line := range lines {
		n := i + 1
		var e Event
		if err := json.Unmarshal(line, &e); err != nil {
			continue // the chain check names it
		}
		if i > 0 && e.Time.Before(prevTime) {
			c.Warnings = append(c.Warnings, fmt.Sprintf("%v: custody event %d (%s) is dated %s, before event %d (%s)",
				ErrClockBackwards, n, e.Action, e.Time.UTC().Format(time.RFC3339Nano), n-1, prevTime.UTC().Format(time.RFC3339Nano)))
		}
		prevTime = e.Time
		if e.Sig == nil {
			if firstSigned >= 0 {
				c.fail(fmt.Errorf("%w: custody event %d (%s) is unsigned after signed events (appended without the analyst's key)", ErrUnsigned, n, e.Action))
			} else {
				legacy++
			}
			continue
		}
		if firstSigned < 0 {
			firstSigned = n
		}
		body, ok := unsignedBody(line, *e.Sig)
		if !ok {
			c.fail(fmt.Errorf("%w: custody event %d: the signature is not the line's last member", ErrBadSignature, n))
			continue
		}
		sig, err := base64.StdEncoding.DecodeString(e.Sig.Sig)
		if err != nil {
			c.fail(fmt.Errorf("%w: custody event %d: signature is not base64", ErrBadSignature, n))
			continue
		}
		env := &dsse.Envelope{PayloadType: eventPayloadType, Payload: base64.StdEncoding.EncodeToString(body),
			Signatures: []dsse.Signature{{KeyID: e.Sig.KeyID, Sig: base64.StdEncoding.EncodeToString(sig)}}}
		if _, k, err := trust.verifyEnvelope(env, eventPayloadType, e.Time); err != nil {
			c.fail(fmt.Errorf("custody event %d (%s): %w", n, e.Action, err))
		} else {
			c.signer(k)
		}
	}
	// The manifest is signed when the acquisition is.
	if b, err := readNoFollow(filepath.Join(dir, manifestSigName), 64<<20); err == nil {
		var env dsse.Envelope
		mb, merr := readNoFollow(filepath.Join(dir, manifestName), 64<<20)
		var m Manifest
		if merr == nil {
			merr = json.Unmarshal(mb, &m)
		}
		if err := json.Unmarshal(b, &env); err != nil {
			c.fail(fmt.Errorf("%w: %s: %v", ErrBadSignature, manifestSigName, err))
		} else if payload, k, err := trust.verifyEnvelope(&env, manifestPayloadType, m.AcquiredAt); err != nil {
			c.fail(fmt.Errorf("manifest: %w", err))
		} else if merr != nil || !bytes.Equal(payload, mb) {
			c.fail(fmt.Errorf("%w: manifest.json differs from the manifest its acquirer signed", ErrBadSignature))
		} else {
			c.signer(k)
		}
	} else if firstSigned == 1 {
		c.fail(fmt.Errorf("%w: the acquisition is signed but the manifest has no signature (%s missing: %v)", ErrUnsigned, manifestSigName, err))
	}
	// The head matches the log when anything is signed.
	if b, err := readNoFollow(filepath.Join(dir, headName), 1<<20); err == nil {
		var env dsse.Envelope
		var h head
		if err := json.Unmarshal(b, &env); err != nil {
			c.fail(fmt.Errorf("%w: %s: %v", ErrBadSignature, headName, err))
		} else if payload, _, err := trust.verifyEnvelope(&env, headPayloadType, time.Time{}); err != nil {
			c.fail(fmt.Errorf("custody head: %w", err))
		} else if err := json.Unmarshal(payload, &h); err != nil {
			c.fail(fmt.Errorf("%w: custody head: %v", ErrBadSignature, err))
		} else {
			if k, ok := trust.lookup(env.Signatures[0].KeyID); ok && !k.Revoked.IsZero() && h.Time.After(k.Revoked) {
				c.fail(fmt.Errorf("custody head: %w: %s was revoked at %s", ErrRevokedKey, k.Label(), k.Revoked.Format(time.RFC3339)))
			}
			last := ""
			if len(lines) > 0 {
				sum := sha256.Sum256(lines[len(lines)-1])
				last = hex.EncodeToString(sum[:])
			}
			switch {
			case h.Item != filepath.Base(dir):
				c.fail(fmt.Errorf("%w: the head is of item %q", ErrTruncated, h.Item))
			case h.Events != len(lines):
				c.fail(fmt.Errorf("%w: the log has %d events, its signed head (%s) says %d: events were removed or added without the key",
					ErrTruncated, len(lines), h.Time.Format(time.RFC3339), h.Events))
			case h.LastSHA256 != last:
				c.fail(fmt.Errorf("%w: the last event is not the one the signed head names", ErrTruncated))
			}
		}
	} else if firstSigned > 0 {
		c.fail(fmt.Errorf("%w: signed events but no signed head (%s missing): the log's end cannot be checked", ErrTruncated, headName))
	}
	switch {
	case len(c.Problems) > 0:
		c.Status = "INVALID"
	case firstSigned < 0:
		c.Status = "unsigned (legacy)"
	case legacy > 0:
		c.Status = fmt.Sprintf("signed since event %d (earlier events unsigned, legacy)", firstSigned)
	default:
		c.Status = "signed"
	}
	return c
}

// signersText lists signers for one line of text.
func signersText(s []string) string {
	if len(s) == 0 {
		return "nobody"
	}
	return strings.Join(s, ", ")
}
