package open

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/podsleuth/podsleuth/config"
	"github.com/podsleuth/podsleuth/forensics"
	"github.com/podsleuth/podsleuth/forensics/archive"
	"github.com/podsleuth/podsleuth/forensics/criu"
	"github.com/podsleuth/podsleuth/forensics/evidence"
	"github.com/podsleuth/podsleuth/forensics/memory"
)

// Config says what to open and how.
type Config struct {
	// Arg is what the responder typed: a path (an archive file or a CRIU image directory), or
	// the ID of an evidence item or a unique prefix of one.
	Arg string
	// DataDir is the evidence store. It is only read when it exists (opening a file outside
	// it never creates a store); "" never consults a store.
	DataDir string
	// NoStore treats Arg as a path only: no evidence ID lookup and nothing recorded.
	NoStore bool
	// CacheDir is where compressed archives are decompressed (see the CacheDir function).
	CacheDir string
	// Limits bound what an archive may hold (zero fields: archive defaults).
	Limits archive.Limits
	// By names who opened evidence ("podsleuth findings", "podsleuth TUI") in the custody
	// "opened" event; "" records nothing.
	By string
	// NoHash leaves the SHA-256 of a plain tar uncomputed (it reads the whole file once). The
	// hash of a compressed archive is always known (computed while decompressing); directories
	// have none.
	NoHash bool
	// Memory indexes the memory of the checkpoint (Case.Memory).
	Memory bool
	// Signing signs the custody events the opening records (the analyst's key, trusted keys).
	Signing evidence.Options
	// VerifyAsync returns from Open before the verification of store evidence has ended (the
	// TUI shows its first screen meanwhile, with a banner); Case.Verification says when. By
	// default Open waits for it (the CLI prints its verdict once the hash is known).
	VerifyAsync bool
	// Beside returns from Open before the SHA-256 of a plain tar opened by path and the
	// verification of store evidence have ended, so that they run beside the caller's analysis
	// (the wall time is then the longer of the two, not their sum). The caller must call
	// Case.Settle before it reports anything: Settle waits for them, fills
	// Checkpoint.Source.SHA256, Recorded and CustodyErr, and returns the hash's error. By
	// default Open settles before it returns (each runs beside the decoding only).
	Beside bool
}

// FromConfig fills the store, cache and limits of a Config from the settings.
func FromConfig(c *config.Config, arg, by string) Config {
	return Config{Arg: arg, DataDir: c.DataDir, CacheDir: c.CacheDir, Limits: archive.LimitsFrom(c.Limits), By: by,
		Signing: evidence.OptionsFrom(c)}
}

// CacheDir is the one rule for where opened archives are decompressed: the configured cache
// directory itself (the decompressed copy is unlinked as soon as it is created, so nothing is
// left there), or podsleuth's directory under the system's temporary directory when no cache is
// configured.
func CacheDir(cacheDir string) string {
	if cacheDir == "" {
		return filepath.Join(os.TempDir(), "podsleuth")
	}
	return cacheDir
}

// Target is a resolved argument.
type Target struct {
	// Path is the archive file or image directory to open.
	Path string
	// Item is the evidence item when Path is an evidence archive (by ID or by its path in the
	// store); nil otherwise.
	Item *evidence.Item
	// Store is the evidence store when it exists (and NoStore is not set); nil otherwise.
	Store *evidence.Store
}

// ErrNotFound says the argument is neither a path nor an evidence ID.
var ErrNotFound = errors.New("no such file, and not an evidence ID")

// Resolve resolves cfg.Arg without recording anything: an existing path (or anything with a
// slash) is a path; anything else is looked up as an evidence ID or unique prefix.
func Resolve(cfg Config) (*Target, error) {
	arg := cfg.Arg
	_, statErr := os.Stat(arg)
	isPath := statErr == nil || !errors.Is(statErr, os.ErrNotExist) || strings.ContainsRune(arg, '/')
	st, err := store(cfg)
	if err != nil && !isPath {
		return nil, fmt.Errorf("%s: %w (%v)", arg, ErrNotFound, err)
	}
	t := &Target{Path: arg, Store: st}
	if isPath {
		if st != nil && statErr == nil {
			if it, err := st.ItemForPath(arg); err == nil {
				t.Item = it
			}
		}
		return t, nil
	}
	if st == nil {
		return nil, fmt.Errorf("%s: %w (no evidence store at %q)", arg, ErrNotFound, cfg.DataDir)
	}
	it, err := st.Get(arg)
	if err != nil {
		return nil, fmt.Errorf("%s: %w (%v)", arg, ErrNotFound, err)
	}
	t.Path, t.Item = it.Archive, it
	return t, nil
}

// store opens the evidence store when it exists.
func store(cfg Config) (*evidence.Store, error) {
	if cfg.NoStore || cfg.DataDir == "" {
		return nil, nil
	}
	if _, err := os.Stat(cfg.DataDir); err != nil {
		return nil, nil
	}
	return evidence.OpenWith(cfg.DataDir, cfg.Signing)
}

// Case is an opened checkpoint. Close releases it.
type Case struct {
	Target
	// Archive is the opened archive (members are read in place from it).
	Archive *archive.Archive
	// Checkpoint is the decoded model.
	Checkpoint *forensics.Checkpoint
	// Memory is the memory index; nil when not asked for or when it could not be built
	// (MemoryErr says why).
	Memory    *memory.Memory
	MemoryErr error
	// Recorded is true when an "opened" event was written to Item's custody log;
	// CustodyErr is set when writing it failed (the opening itself went on). With VerifyAsync
	// both are known only once Verification is done (see Verification.Recorded).
	Recorded   bool
	CustodyErr error
	// Verification is the re-check of store evidence run beside the decoding (nil when the
	// archive is not store evidence: its hash is then Checkpoint.Source.SHA256).
	Verification *Verification
	// hash is the SHA-256 of a plain tar by path, computed beside the decoding (nil when
	// there is none to compute or once settled); stopHash cancels it.
	hash     chan error
	stopHash context.CancelFunc
}

// startHash hashes the archive file beside the decoding (archive.Archive.SHA256 keeps the
// result; reads of members go on meanwhile).
func (c *Case) startHash(ctx context.Context) {
	hctx, cancel := context.WithCancel(ctx)
	c.hash, c.stopHash = make(chan error, 1), cancel
	go func() {
		_, err := c.Archive.SHA256(hctx)
		c.hash <- err
	}()
}

// Settle waits for what Open left running beside the caller's work (Config.Beside): the
// SHA-256 of a plain tar by path, which it writes into Checkpoint.Source.SHA256, and the
// verification of store evidence, whose custody record it notes in Recorded and CustodyErr.
// It returns the hash's error (the archive could not be read whole) or ctx's. Calling it again
// is free.
func (c *Case) Settle(ctx context.Context) error {
	return c.settle(ctx, true)
}

func (c *Case) settle(ctx context.Context, verification bool) error {
	if c.hash != nil {
		var err error
		select {
		case err = <-c.hash:
		case <-ctx.Done():
			return ctx.Err()
		}
		c.hash, c.stopHash = nil, nil
		if err != nil {
			return err
		}
		sum, err := c.Archive.SHA256(ctx) // cached by now
		if err != nil {
			return err
		}
		c.Checkpoint.Source.SHA256 = sum
	}
	if c.Verification == nil || !verification {
		return nil
	}
	select {
	case <-c.Verification.Done():
	case <-ctx.Done():
		return ctx.Err()
	}
	c.Recorded, c.CustodyErr = c.Verification.Recorded()
	if r := c.Verification.result; r != nil && c.Checkpoint.Source.SHA256 == "" {
		c.Checkpoint.Source.SHA256 = r.Actual
	}
	return nil
}

// VerificationErr waits for the verification and returns an error wrapping ErrMismatch (and
// evidence.ErrTampered) when the evidence failed it; nil for verified evidence and for files
// that are not evidence.
func (c *Case) VerificationErr(ctx context.Context) error {
	if c == nil || c.Verification == nil {
		return nil
	}
	res, err := c.Verification.Wait(ctx)
	if res == nil {
		return fmt.Errorf("%w: %s could not be verified: %v", ErrMismatch, c.Item.ID, err)
	}
	if !res.OK {
		return fmt.Errorf("%w: %s: %w", ErrMismatch, c.Item.ID, err)
	}
	return nil
}

// Close releases the archive (and its decompressed cache), stopping a hash still running.
func (c *Case) Close() error {
	if c == nil || c.Archive == nil {
		return nil
	}
	if c.hash != nil {
		c.stopHash()
		<-c.hash
		c.hash = nil
	}
	return c.Archive.Close()
}

// Open resolves cfg.Arg, records the opening of evidence in its custody log (as cfg.By),
// opens and decodes the archive (hashing it beside the decoding unless NoHash) and, with
// cfg.Memory, indexes its memory and fills each mapping's resident bytes from that index. Only
// a failure to resolve, open, decode or hash is an error (with cfg.Beside, a hash error comes
// from Case.Settle); a memory index or custody record that could not be made is in the Case.
func Open(ctx context.Context, cfg Config) (*Case, error) {
	t, err := Resolve(cfg)
	if err != nil {
		return nil, err
	}
	c := &Case{Target: *t}
	if t.Item != nil {
		// re-hashed beside the decoding; the opening is recorded with the result
		c.Verification = startVerification(ctx, t.Store, t.Item, cfg.By)
	}
	fail := func(err error) (*Case, error) {
		_ = c.Close()
		if c.Verification != nil {
			<-c.Verification.Done()
		}
		return nil, err
	}
	// archive and criu errors already name the input ("open X: ...", "decode X: ...")
	a, err := archive.Open(ctx, t.Path, cfg.Limits, CacheDir(cfg.CacheDir))
	if err != nil {
		return fail(err)
	}
	c.Archive = a
	// a plain tar by path is hashed beside the decoding (a compressed one was hashed while
	// decompressing; store evidence is hashed once, by its verification)
	if !cfg.NoHash && a.Format() == archive.FormatTar && t.Item == nil {
		c.startHash(ctx)
	}
	cp, err := criu.DecodeWith(ctx, a, criu.Options{Hash: !cfg.NoHash && a.Format() != archive.FormatDir && t.Item == nil && c.hash == nil})
	if err != nil {
		return fail(err)
	}
	c.Checkpoint = cp
	if cfg.Memory {
		m, err := memory.Open(ctx, a, cp)
		switch {
		case err == nil:
			m.FillResident(cp)
			c.Memory = m
		case ctx.Err() != nil:
			return fail(ctx.Err())
		default:
			c.MemoryErr = fmt.Errorf("index memory of %s: %w", t.Path, err)
		}
	}
	if !cfg.Beside {
		if err := c.settle(ctx, !cfg.VerifyAsync); err != nil {
			return fail(err)
		}
	}
	return c, nil
}
