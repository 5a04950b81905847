// Package evidence is podsleuth's local evidence store: acquired checkpoint archives, each with an
// acquisition manifest and an append-only, hash-chained custody log (RFC 3227: what was taken,
// from where, when and by whom, and everything done with it since).
//
// Layout under the store directory (all directories 0700):
//
//	evidence/<id>/<archive name>   the archive, mode 0400, never modified after acquisition
//	evidence/<id>/manifest.json    the acquisition manifest, mode 0400
//	evidence/<id>/custody.jsonl    the custody log, one JSON event per line, append-only
//	incoming/                      archives being received (renamed into evidence/ when complete)
//	rejected/<id>/                 archives whose hash did not match the source's (kept, not dropped)
//
// It is not Kubernetes-specific: the cluster package fills the manifest's cluster fields. It
// must not import k8s.io/..., charm.land/... or any podsleuth package but forensics and config.
package evidence

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/podsleuth/podsleuth/forensics"
)

// Errors callers can test with errors.Is.
var (
	// ErrHashMismatch: the archive received does not hash to what the source computed. The
	// archive is kept under rejected/ for examination.
	ErrHashMismatch = errors.New("sha256 mismatch")
	// ErrNotFound: no evidence item with that id.
	ErrNotFound = errors.New("no such evidence")
	// ErrTampered: an item's archive, manifest or custody log changed after acquisition.
	ErrTampered = errors.New("evidence integrity check failed")
	// ErrInvalidID: an id that cannot name an item (path separators, dots, control characters).
	ErrInvalidID = errors.New("invalid evidence id")
	// ErrInvalidCaseID: a case id with control characters (it is printed in lists and reports).
	ErrInvalidCaseID = errors.New("invalid case id")
	// ErrSymlink: a path of the store itself (its directory, evidence/, incoming/, rejected/,
	// an item's directory or files) is a symbolic link. The store never follows one: it could
	// send writes, chmods or reads of evidence somewhere else, unnoticed.
	ErrSymlink = errors.New("the evidence store refuses a symbolic link in its own paths")
)

const (
	manifestName = "manifest.json"
	custodyName  = "custody.jsonl"
	dirMode      = 0o700
	archiveMode  = 0o400
)

// Store is an evidence store rooted at a directory.
type Store struct {
	dir string
	// now and actor are replaceable in tests.
	now   func() time.Time
	actor func() string
	opts  Options

	signerOnce sync.Once
	signer     *Signer
	signerErr  error
}

// Options configure signing (see signing.go).
type Options struct {
	// KeyFile is the analyst's ed25519 private key, created on first use (0600); "" or
	// "none" signs nothing (new events are unsigned, as before signing existed).
	KeyFile string
	// TrustFile is the trusted public keys file (see Trust).
	TrustFile string
	// Signer names the analyst in the trust listing of their own key.
	Signer string
}

// OpenWith opens the store with signing options.
func OpenWith(dir string, o Options) (*Store, error) {
	s, err := Open(dir)
	if err != nil {
		return nil, err
	}
	s.opts = o
	return s, nil
}

// Signer returns the analyst's signer, loading (or creating) the key on first use; nil without
// a key configured. A refused key (ErrKeyPermissions, ErrBadKey) fails every write of custody.
func (s *Store) Signer() (*Signer, error) {
	if s.opts.KeyFile == "" || s.opts.KeyFile == "none" {
		return nil, nil
	}
	s.signerOnce.Do(func() {
		name := s.opts.Signer
		if name == "" {
			name = s.actor()
		}
		s.signer, s.signerErr = LoadOrCreateSigner(s.opts.KeyFile, name)
	})
	return s.signer, s.signerErr
}

// Trust reads the trusted keys (the analyst's own key is trusted too).
func (s *Store) Trust() (*Trust, error) {
	t, err := LoadTrust(s.opts.TrustFile)
	if err != nil {
		return nil, err
	}
	if sg, err := s.Signer(); err == nil {
		t.self = sg
	}
	return t, nil
}

// Open opens (creating when needed) the store under dir with 0700 directories.
func Open(dir string) (*Store, error) {
	if dir == "" || !filepath.IsAbs(dir) {
		return nil, fmt.Errorf("open evidence store: directory must be absolute, got %q", dir)
	}
	dir = filepath.Clean(dir)
	for i, d := range []string{dir, filepath.Join(dir, "evidence"), filepath.Join(dir, "incoming"), filepath.Join(dir, "rejected")} {
		if err := checkNoSymlink(d); err != nil {
			return nil, fmt.Errorf("open evidence store: %w", err)
		}
		mk := os.Mkdir
		if i == 0 {
			mk = os.MkdirAll // the parents of the data directory are the user's
		}
		if err := mk(d, dirMode); err != nil && !errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("open evidence store: %w", err)
		}
		// Checked again after creating: a link put there meanwhile is never chmod'ed.
		st, err := os.Lstat(d)
		if err != nil {
			return nil, fmt.Errorf("open evidence store: %w", err)
		}
		if st.Mode()&fs.ModeSymlink != 0 {
			return nil, fmt.Errorf("open evidence store: %w: %s", ErrSymlink, d)
		}
		if !st.IsDir() {
			return nil, fmt.Errorf("open evidence store: %s is not a directory", d)
		}
		if err := os.Chmod(d, dirMode); err != nil {
			return nil, fmt.Errorf("open evidence store: %w", err)
		}
	}
	return &Store{dir: dir, now: func() time.Time { return time.Now().UTC() }, actor: CurrentActor}, nil
}

// Dir returns the store's root directory.
func (s *Store) Dir() string { return s.dir }

// Item is one piece of evidence in the store.
type Item struct {
	ID       string   `json:"id"`
	Dir      string   `json:"dir"`
	Archive  string   `json:"archive"` // absolute path of the archive file
	Manifest Manifest `json:"manifest"`
	// LastVerified is the time and outcome of the newest verification in the custody log.
	LastVerified   time.Time `json:"last_verified,omitzero"`
	LastVerifiedOK bool      `json:"last_verified_ok"`
}

func validID(id string) error {
	if id == "" || strings.ContainsAny(id, `/\`) || id == "." || id == ".." || strings.HasPrefix(id, ".") || !plainText(id) || len(id) > 255 {
		return fmt.Errorf("%w: %q", ErrInvalidID, id)
	}
	return nil
}

// validCaseID refuses a case id that would not print as itself (control characters, escape
// sequences, bidi overrides, invalid UTF-8).
func validCaseID(id string) error {
	if !plainText(id) || len(id) > 1024 {
		return fmt.Errorf("%w: %q has control or invisible characters", ErrInvalidCaseID, id)
	}
	return nil
}

// plainText: s prints as itself on a terminal (forensics.Printable leaves it alone).
func plainText(s string) bool { return forensics.Printable(s) == s }

// checkNoSymlink refuses p when it is a symbolic link (a missing p is fine).
func checkNoSymlink(p string) error {
	st, err := os.Lstat(p)
	if err == nil && st.Mode()&fs.ModeSymlink != 0 {
		return fmt.Errorf("%w: %s", ErrSymlink, p)
	}
	return nil
}

// List returns every item, oldest first.
func (s *Store) List() ([]Item, error) {
	ents, err := os.ReadDir(filepath.Join(s.dir, "evidence"))
	if err != nil {
		return nil, fmt.Errorf("list evidence: %w", err)
	}
	var items []Item
	for _, e := range ents {
		if !e.IsDir() && e.Type()&fs.ModeSymlink == 0 {
			continue
		}
		it, err := s.Get(e.Name())
		if err != nil {
			// An unreadable item is still listed, so it is never silently hidden.
			items = append(items, Item{ID: e.Name(), Dir: filepath.Join(s.dir, "evidence", e.Name())})
			continue
		}
		items = append(items, *it)
	}
	sort.Slice(items, func(i, j int) bool { return items[i].ID < items[j].ID })
	return items, nil
}

// Get returns one item by id (a unique prefix of an id is accepted).
func (s *Store) Get(id string) (*Item, error) {
	if err := validID(id); err != nil {
		return nil, err
	}
	dir := filepath.Join(s.dir, "evidence", id)
	if st, err := os.Lstat(dir); err != nil {
		full, perr := s.resolvePrefix(id)
		if perr != nil {
			return nil, perr
		}
		id, dir = full, filepath.Join(s.dir, "evidence", full)
	} else if st.Mode()&fs.ModeSymlink != 0 {
		return nil, fmt.Errorf("evidence %s: %w: %s", id, ErrSymlink, dir)
	}
	m, err := readManifest(dir)
	if err != nil {
		return nil, fmt.Errorf("evidence %s: %w", id, err)
	}
	it := &Item{ID: id, Dir: dir, Archive: filepath.Join(dir, filepath.Base(m.ArchiveName)), Manifest: m}
	if evs, err := readEvents(dir); err == nil {
		for _, e := range evs {
			if e.Action == ActionVerified || e.Action == ActionVerifyFailed {
				it.LastVerified, it.LastVerifiedOK = e.Time, e.Action == ActionVerified
			}
		}
	}
	return it, nil
}

func (s *Store) resolvePrefix(prefix string) (string, error) {
	ents, err := os.ReadDir(filepath.Join(s.dir, "evidence"))
	if err != nil {
		return "", fmt.Errorf("%w: %s", ErrNotFound, prefix)
	}
	var match []string
	for _, e := range ents {
		if e.IsDir() && (strings.HasPrefix(e.Name(), prefix) || strings.Contains(e.Name(), "-"+prefix)) {
			match = append(match, e.Name())
		}
	}
	switch len(match) {
	case 1:
		return match[0], nil
	case 0:
		return "", fmt.Errorf("%w: %s", ErrNotFound, prefix)
	default:
		return "", fmt.Errorf("%w: %q is ambiguous (%s)", ErrNotFound, prefix, strings.Join(match, ", "))
	}
}

// FindBySHA256 returns the item whose archive has that SHA-256, or ErrNotFound.
func (s *Store) FindBySHA256(sum string) (*Item, error) {
	items, err := s.List()
	if err != nil {
		return nil, err
	}
	for i := range items {
		if strings.EqualFold(items[i].Manifest.LocalSHA256, sum) {
			return &items[i], nil
		}
	}
	return nil, fmt.Errorf("%w: sha256 %s", ErrNotFound, sum)
}

// ItemForPath returns the item whose archive is at path (inside the store), or ErrNotFound.
func (s *Store) ItemForPath(path string) (*Item, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	rel, err := filepath.Rel(filepath.Join(s.dir, "evidence"), abs)
	if err != nil || strings.HasPrefix(rel, "..") {
		return nil, fmt.Errorf("%w: %s is not in the store", ErrNotFound, path)
	}
	id := strings.SplitN(rel, string(filepath.Separator), 2)[0]
	it, err := s.Get(id)
	if err != nil {
		return nil, err
	}
	if it.Archive != abs {
		return nil, fmt.Errorf("%w: %s is not an evidence archive", ErrNotFound, path)
	}
	return it, nil
}

// RecordOpen records in the custody log that the evidence archive at path was opened for
// analysis, by which tool or command (details, e.g. {"by": "podsleuth findings"}): the chain of
// custody lists every access, not only the changes. It returns the item, or nil when path is not
// an evidence archive of this store (nothing to record).
func (s *Store) RecordOpen(path string, details map[string]string) (*Item, error) {
	it, err := s.ItemForPath(path)
	if err != nil {
		return nil, nil // not evidence: nothing to record
	}
	if err := s.Log(it.ID, Event{Action: ActionOpened, Details: details}); err != nil {
		return it, fmt.Errorf("custody log of %s: %w", it.ID, err)
	}
	return it, nil
}

// Log appends an event to an item's custody log. Time and Actor are filled when empty.
func (s *Store) Log(id string, e Event) error {
	it, err := s.Get(id)
	if err != nil {
		return err
	}
	if e.Time.IsZero() {
		e.Time = s.now()
	}
	if e.Actor == "" {
		e.Actor = s.actor()
	}
	if e.Action == "" {
		return fmt.Errorf("custody log %s: event without an action", it.ID)
	}
	signer, err := s.Signer()
	if err != nil {
		return fmt.Errorf("custody log %s: %w", it.ID, err)
	}
	return appendEvent(it.Dir, e, signer)
}

// Custody returns an item's custody log, oldest first.
func (s *Store) Custody(id string) ([]Event, error) {
	it, err := s.Get(id)
	if err != nil {
		return nil, err
	}
	return readEvents(it.Dir)
}

// readNoFollow reads a file of the store, refusing a symbolic link and more than max bytes.
func readNoFollow(p string, max int64) ([]byte, error) {
	f, err := os.OpenFile(p, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return nil, symlinkErr(p, err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("%s is larger than %d bytes", p, max)
	}
	return b, nil
}
