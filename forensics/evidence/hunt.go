package evidence

import (
	"bufio"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/secure-systems-lab/go-securesystemslib/dsse"
)

// Hunts. A fleet hunt (cluster.Hunt) keeps no archive: its evidence is what each node's analyzer
// reported, stored under DATA/hunts/ID/ as it arrives:
//   - hunt.dsse.json: the hunt's header (what was asked, by whom, where), a DSSE envelope;
//   - results.jsonl: one DSSE envelope per line, one entry each (a container's result, a named
//     failure, a pull), signed on receipt by the analyst's key on this machine (the key never
//     goes to a node), each entry carrying the SHA-256 of the line before (a chain);
//   - results.head: a signed envelope of {entries, last_sha256}, so lines removed from the end
//     show.
//
// Without a key the envelopes carry no signature and ReadHunt says "unsigned".
const (
	huntHeaderPayloadType = "application/vnd.podsleuth.hunt.v1+json"
	huntEntryPayloadType  = "application/vnd.podsleuth.hunt-entry.v1+json"
	huntHeadPayloadType   = "application/vnd.podsleuth.hunt-head.v1+json"
	huntsDir              = "hunts"
	huntHeaderName        = "hunt.dsse.json"
	huntLogName           = "results.jsonl"
	huntHeadName          = "results.head"
	// maxHuntLine bounds one line of a hunt log when it is read back.
	maxHuntLine = 4 << 20
)

// ErrNoHunt: no hunt of that ID in the store.
var ErrNoHunt = errors.New("no such hunt")

var huntIDRe = regexp.MustCompile(`^hunt-[0-9]{8}T[0-9]{6}Z-[0-9a-f]{8}$`)

// HuntHeader says what a hunt asked for.
type HuntHeader struct {
	ID       string    `json:"id"`
	Started  time.Time `json:"started"`
	Analyst  string    `json:"analyst,omitempty"`
	CaseID   string    `json:"case_id,omitempty"`
	Tool     string    `json:"tool,omitempty"`
	Host     string    `json:"host,omitempty"`
	Contexts []string  `json:"contexts,omitempty"`
	// Selection is how the containers were chosen (namespaces, selector, names).
	Selection string `json:"selection,omitempty"`
	Targets   int    `json:"targets"`
	Nodes     int    `json:"nodes"`
	// Image is the analyzer image, by digest.
	Image string `json:"image,omitempty"`
	// Rules are the YARA rule files given (name and SHA-256 of the content); Patterns the
	// memsearch patterns.
	Rules       []string `json:"rules,omitempty"`
	Patterns    []string `json:"patterns,omitempty"`
	PullOnMatch string   `json:"pull_on_match,omitempty"`
}

// HuntEntry is one line of a hunt log.
type HuntEntry struct {
	Seq      int       `json:"seq"`
	Received time.Time `json:"received"`
	// Kind is "result", "failure", "pulled", "cleanup" or "end".
	Kind string          `json:"kind"`
	Data json.RawMessage `json:"data"`
	Prev string          `json:"prev"`
}

// HuntLog appends the entries of a running hunt; safe for concurrent use.
type HuntLog struct {
	ID, Dir string
	s       *Store
	signer  *Signer
	mu      sync.Mutex
	n       int
	last    []byte
}

// NewHuntID is a fresh hunt ID: hunt-UTCTIME-RANDOM.
func NewHuntID(now time.Time) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return "hunt-" + now.UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b)
}

// NewHunt creates the hunt's directory and signed header (h.ID and h.Started are set when
// empty).
func (s *Store) NewHunt(h HuntHeader) (*HuntLog, error) {
	if h.Started.IsZero() {
		h.Started = s.now()
	}
	if h.ID == "" {
		h.ID = NewHuntID(h.Started)
	}
	if !huntIDRe.MatchString(h.ID) {
		return nil, fmt.Errorf("new hunt: invalid id %q", h.ID)
	}
	sg, err := s.Signer()
	if err != nil {
		return nil, err
	}
	root := filepath.Join(s.dir, huntsDir)
	if err := os.Mkdir(root, dirMode); err != nil && !errors.Is(err, fs.ErrExist) {
		return nil, fmt.Errorf("new hunt: %w", err)
	}
	if err := checkNoSymlink(root); err != nil {
		return nil, fmt.Errorf("new hunt: %w", err)
	}
	dir := filepath.Join(root, h.ID)
	if err := os.Mkdir(dir, dirMode); err != nil {
		return nil, fmt.Errorf("new hunt: %w", err)
	}
	b, err := json.Marshal(h)
	if err != nil {
		return nil, err
	}
	env, err := envelopeOf(sg, huntHeaderPayloadType, b)
	if err != nil {
		return nil, err
	}
	if err := writeJSONAtomic(filepath.Join(dir, huntHeaderName), env, archiveMode); err != nil {
		return nil, fmt.Errorf("new hunt: %w", err)
	}
	return &HuntLog{ID: h.ID, Dir: dir, s: s, signer: sg}, nil
}

// envelopeOf signs payload, or wraps it unsigned without a signer.
func envelopeOf(sg *Signer, payloadType string, payload []byte) (*dsse.Envelope, error) {
	if sg == nil {
		return &dsse.Envelope{PayloadType: payloadType, Payload: b64(payload)}, nil
	}
	env, err := sg.envelope(payloadType, payload)
	if err != nil {
		return nil, fmt.Errorf("sign hunt entry: %w", err)
	}
	return env, nil
}

// Append signs and appends one entry (data as JSON), synced, and re-signs the head.
func (l *HuntLog) Append(kind string, data any) error {
	raw, err := json.Marshal(data)
	if err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	prev := ""
	if l.last != nil {
		sum := sha256.Sum256(l.last)
		prev = hex.EncodeToString(sum[:])
	}
	e := HuntEntry{Seq: l.n + 1, Received: l.s.now(), Kind: kind, Data: raw, Prev: prev}
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	env, err := envelopeOf(l.signer, huntEntryPayloadType, b)
	if err != nil {
		return err
	}
	line, err := json.Marshal(env)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(filepath.Join(l.Dir, huntLogName), os.O_WRONLY|os.O_APPEND|os.O_CREATE|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		return fmt.Errorf("hunt log: %w", err)
	}
	_, err = f.Write(append(line, '\n'))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("hunt log: %w", err)
	}
	l.n++
	l.last = line
	sum := sha256.Sum256(line)
	hb, err := json.Marshal(head{Item: l.ID, Events: l.n, LastSHA256: hex.EncodeToString(sum[:]), Time: e.Received})
	if err != nil {
		return err
	}
	henv, err := envelopeOf(l.signer, huntHeadPayloadType, hb)
	if err != nil {
		return err
	}
	return writeJSONAtomic(filepath.Join(l.Dir, huntHeadName), henv, 0o600)
}

// Hunt is a stored hunt as read back and checked.
type Hunt struct {
	Header  HuntHeader
	Entries []HuntEntry
	// Signature is "signed by NAME", "unsigned" or why the check failed; Err is that failure
	// (ErrUnknownKey, ErrBadSignature, ErrTruncated, ErrUnsigned, ErrTampered).
	Signature string
	Err       error
}

// Hunts lists the stored hunts' IDs, oldest first.
func (s *Store) Hunts() ([]string, error) {
	ents, err := os.ReadDir(filepath.Join(s.dir, huntsDir))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list hunts: %w", err)
	}
	var ids []string
	for _, e := range ents {
		if e.IsDir() && huntIDRe.MatchString(e.Name()) {
			ids = append(ids, e.Name())
		}
	}
	sort.Strings(ids)
	return ids, nil
}

// ReadHunt reads a hunt (a unique prefix of its ID is accepted) and checks every signature,
// the chain of entries and the signed head against the trusted keys.
func (s *Store) ReadHunt(id string) (*Hunt, error) {
	ids, err := s.Hunts()
	if err != nil {
		return nil, err
	}
	var match []string
	for _, h := range ids {
		if strings.HasPrefix(h, id) && id != "" {
			match = append(match, h)
		}
	}
	if len(match) != 1 {
		return nil, fmt.Errorf("%w: %q matches %d hunts", ErrNoHunt, id, len(match))
	}
	dir := filepath.Join(s.dir, huntsDir, match[0])
	trust, err := s.Trust()
	if err != nil {
		return nil, err
	}
	h := &Hunt{}
	signers := map[string]bool{}
	unsigned := 0
	open := func(b []byte, typ string) ([]byte, error) {
		var env dsse.Envelope
		if err := json.Unmarshal(b, &env); err != nil {
			return nil, fmt.Errorf("%w: not an envelope: %v", ErrTampered, err)
		}
		if len(env.Signatures) == 0 {
			unsigned++
			if env.PayloadType != typ {
				return nil, fmt.Errorf("%w: payload type %q", ErrTampered, env.PayloadType)
			}
			return unb64(env.Payload)
		}
		body, k, err := trust.verifyEnvelope(&env, typ, time.Time{})
		if err != nil {
			return nil, err
		}
		signers[k.Label()] = true
		return body, nil
	}
	hb, err := readNoFollow(filepath.Join(dir, huntHeaderName), 1<<20)
	if err != nil {
		return nil, fmt.Errorf("read hunt %s: %w", match[0], err)
	}
	body, err := open(hb, huntHeaderPayloadType)
	if err == nil {
		err = json.Unmarshal(body, &h.Header)
	}
	if err != nil {
		return nil, fmt.Errorf("read hunt %s: header: %w", match[0], err)
	}
	var errs []error
	f, err := os.OpenFile(filepath.Join(dir, huntLogName), os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	var last []byte
	if err == nil {
		defer f.Close()
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 64<<10), maxHuntLine)
		prev := ""
		for sc.Scan() {
			line := append([]byte(nil), sc.Bytes()...)
			body, err := open(line, huntEntryPayloadType)
			var e HuntEntry
			if err == nil {
				err = json.Unmarshal(body, &e)
			}
			if err == nil && (e.Seq != len(h.Entries)+1 || e.Prev != prev) {
				err = fmt.Errorf("%w: entry %d does not follow entry %d", ErrTampered, e.Seq, len(h.Entries))
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("entry %d: %w", len(h.Entries)+1, err))
				break
			}
			h.Entries = append(h.Entries, e)
			sum := sha256.Sum256(line)
			prev = hex.EncodeToString(sum[:])
			last = line
		}
		if err := sc.Err(); err != nil {
			errs = append(errs, fmt.Errorf("%w: %v", ErrTampered, err))
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		errs = append(errs, err)
	}
	if len(h.Entries) > 0 {
		var hd head
		b, err := readNoFollow(filepath.Join(dir, huntHeadName), 1<<20)
		if err == nil {
			if body, err2 := open(b, huntHeadPayloadType); err2 != nil {
				err = err2
			} else {
				err = json.Unmarshal(body, &hd)
			}
		}
		sum := sha256.Sum256(last)
		if err == nil && (hd.Events != len(h.Entries) || hd.LastSHA256 != hex.EncodeToString(sum[:]) || hd.Item != match[0]) {
			err = fmt.Errorf("%w: the head counts %d entries, the log has %d", ErrTruncated, hd.Events, len(h.Entries))
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("head: %w", err))
		}
	}
	if len(signers) > 0 && unsigned > 0 {
		errs = append(errs, fmt.Errorf("%w: %d unsigned envelope(s) in a signed hunt", ErrUnsigned, unsigned))
	}
	h.Err = errors.Join(errs...)
	switch {
	case h.Err != nil:
		h.Signature = "FAILED: " + h.Err.Error()
	case len(signers) == 0:
		h.Signature = "unsigned"
	default:
		var names []string
		for n := range signers {
			names = append(names, n)
		}
		sort.Strings(names)
		h.Signature = "signed by " + strings.Join(names, ", ")
	}
	return h, nil
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

func unb64(s string) ([]byte, error) {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("%w: payload: %v", ErrTampered, err)
	}
	return b, nil
}
