package evidence

import (
	"archive/tar"
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"syscall"

	"github.com/podsleuth/podsleuth/forensics/archive"
)

// Bundles hand an item over to another analyst or store with its chain of custody: a plain
// tar of ID/manifest.json, ID/custody.jsonl, ID/<archive>, ID/artifacts/* and ID/SHA256SUMS
// over all of them. The receiving store checks everything before it keeps anything.

// ActionImported is the custody event of an item received in a bundle.
const ActionImported = "imported"

// ErrBadBundle: an evidence bundle is malformed or does not check out.
var ErrBadBundle = errors.New("evidence bundle rejected")

const sumsName = "SHA256SUMS"

// bundleFiles lists an item's files as bundle-relative names, sorted (manifest and its
// signature, custody log and its signed head, archive, artifacts). The custody log and head are
// added from a snapshot, the attestation after them.
func bundleFiles(it *Item) []string {
	files := []string{manifestName, filepath.Base(it.Manifest.ArchiveName)}
	if _, err := os.Lstat(filepath.Join(it.Dir, manifestSigName)); err == nil {
		files = append(files, manifestSigName)
	}
	for _, a := range it.Manifest.Artifacts {
		files = append(files, artifactsDir+"/"+filepath.Base(a.Name))
	}
	sort.Strings(files)
	return files
}

// custodySnapshot reads the custody log and its head together under the log's shared lock, so
// they match although other processes append meanwhile.
func custodySnapshot(dir string) (log, head []byte, err error) {
	p := filepath.Join(dir, custodyName)
	f, err := os.OpenFile(p, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("custody log: %w", symlinkErr(p, err))
	}
	defer f.Close()
	if err := lockFile(f, syscall.LOCK_SH); err != nil {
		return nil, nil, fmt.Errorf("custody log: %w", err)
	}
	if log, err = io.ReadAll(io.LimitReader(f, 256<<20)); err != nil {
		return nil, nil, fmt.Errorf("custody log: %w", err)
	}
	if head, err = readNoFollow(filepath.Join(dir, headName), 1<<20); errors.Is(err, fs.ErrNotExist) {
		head, err = nil, nil
	}
	return log, head, err
}

// ExportOptions say where a bundle goes and whether altered evidence may leave.
type ExportOptions struct {
	// To is where the bundle goes (recorded in the custody log).
	To string
	// Force exports an item that failed its verification: the bundle holds the failed
	// verification in its custody log, and the export is recorded with verification=MISMATCH
	// and forced=true (the receiving store sees the mismatch on import).
	Force bool
}

// Export verifies item id and writes it as a bundle to w; a tampered item is refused with
// ErrTampered (nothing is written) unless opt.Force. It returns the bundle's SHA-256 and records the
// export, with opt.To (where the bundle went) and that hash, in the item's custody log: the
// bundle holds the log up to its verification just before. With the analyst's key the bundle
// carries attestation.dsse.json: an in-toto Statement (subjects: the archive and artifacts by
// SHA-256; predicate: the manifest and the custody log) in a DSSE envelope.
func (s *Store) Export(ctx context.Context, id string, w io.Writer, opt ExportOptions) (string, error) {
	it, err := s.Get(id)
	if err != nil {
		return "", err
	}
	logged := map[string]string{"what": "evidence bundle", "to": opt.To, "verification": "verified"}
	if res, err := s.Verify(ctx, it.ID); err != nil {
		if res == nil || !opt.Force {
			return "", fmt.Errorf("export %s refused: altered evidence would be handed on as if intact: %w", it.ID, err)
		}
		logged["verification"], logged["problems"], logged["forced"] = "MISMATCH", strings.Join(res.Problems, "; "), "true"
	}
	signer, err := s.Signer()
	if err != nil {
		return "", fmt.Errorf("export %s: %w", it.ID, err)
	}
	logBytes, headBytes, err := custodySnapshot(it.Dir)
	if err != nil {
		return "", fmt.Errorf("export %s: %w", it.ID, err)
	}
	h := sha256.New()
	tw := tar.NewWriter(io.MultiWriter(w, h))
	sums := map[string]string{}
	addBytes := func(name string, b []byte) error {
		if err := tw.WriteHeader(&tar.Header{Name: it.ID + "/" + name, Mode: 0o400, Size: int64(len(b)), ModTime: s.now(), Format: tar.FormatPAX}); err != nil {
			return err
		}
		if _, err := tw.Write(b); err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		sums[name] = hex.EncodeToString(sum[:])
		return nil
	}
	if err := addBytes(custodyName, logBytes); err != nil {
		return "", fmt.Errorf("export %s: %w", it.ID, err)
	}
	if headBytes != nil {
		if err := addBytes(headName, headBytes); err != nil {
			return "", fmt.Errorf("export %s: %w", it.ID, err)
		}
	}
	for _, name := range bundleFiles(it) {
		sum, err := addFile(ctx, tw, it.ID, filepath.Join(it.Dir, filepath.FromSlash(name)), name)
		if err != nil {
			return "", fmt.Errorf("export %s: %w", it.ID, err)
		}
		sums[name] = sum
	}
	if signer != nil {
		env, err := attest(it, sums, logBytes, signer)
		if err != nil {
			return "", fmt.Errorf("export %s: %w", it.ID, err)
		}
		b, err := json.MarshalIndent(env, "", "  ")
		if err != nil {
			return "", err
		}
		if err := addBytes(attestationName, append(b, '\n')); err != nil {
			return "", fmt.Errorf("export %s: %w", it.ID, err)
		}
	}
	names := make([]string, 0, len(sums))
	for n := range sums {
		names = append(names, n)
	}
	sort.Strings(names)
	var list strings.Builder
	for _, n := range names {
		fmt.Fprintf(&list, "%s  %s\n", sums[n], n)
	}
	hdr := &tar.Header{Name: it.ID + "/" + sumsName, Mode: 0o400, Size: int64(list.Len()), ModTime: s.now(), Format: tar.FormatPAX}
	if err := tw.WriteHeader(hdr); err != nil {
		return "", fmt.Errorf("export %s: %w", it.ID, err)
	}
	if _, err := io.WriteString(tw, list.String()); err != nil {
		return "", fmt.Errorf("export %s: %w", it.ID, err)
	}
	if err := tw.Close(); err != nil {
		return "", fmt.Errorf("export %s: %w", it.ID, err)
	}
	bundle := hex.EncodeToString(h.Sum(nil))
	logged["bundle_sha256"] = bundle
	if err := s.Log(it.ID, Event{Action: ActionExported, Details: logged}); err != nil {
		return bundle, fmt.Errorf("export %s: bundle written, but the custody log failed: %w", it.ID, err)
	}
	return bundle, nil
}

// addFile adds one file of the item, exactly as large as when its header was written.
func addFile(ctx context.Context, tw *tar.Writer, id, p, name string) (string, error) {
	f, err := os.OpenFile(p, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return "", symlinkErr(p, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return "", err
	}
	if err := tw.WriteHeader(&tar.Header{Name: id + "/" + name, Mode: 0o400, Size: st.Size(), ModTime: st.ModTime(), Format: tar.FormatPAX}); err != nil {
		return "", err
	}
	h := sha256.New()
	if _, err := io.Copy(io.MultiWriter(tw, h), ctxReader{ctx: ctx, r: io.LimitReader(f, st.Size())}); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// ImportBundle adds the item of an evidence bundle to this store with its own manifest and
// custody log. Before anything is kept it checks: one item, every file listed in SHA256SUMS and
// matching it, the archive and the artifacts matching the manifest, the custody chain intact and
// its acquisition naming the same hash. Then the item is read-only as any other and the
// custody log gets an "imported" event (from, bundle hash). lim bounds the bundle as it bounds
// an archive (hostile tars: traversal, links, sizes).
func (s *Store) ImportBundle(ctx context.Context, bundlePath string, lim archive.Limits, cacheDir string) (*Item, error) {
	fail := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s: %s", ErrBadBundle, bundlePath, fmt.Sprintf(format, a...))
	}
	a, err := archive.Open(ctx, bundlePath, lim, cacheDir)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadBundle, err)
	}
	defer a.Close()
	names := a.Names()
	if len(names) == 0 {
		return nil, fail("empty")
	}
	id, _, _ := strings.Cut(names[0], "/")
	if validID(id) != nil {
		return nil, fail("%q is not an evidence ID", id)
	}
	if _, err := os.Stat(filepath.Join(s.dir, "evidence", id)); err == nil {
		return nil, fail("evidence %s is already in this store", id)
	}
	sums, err := readSums(a, id)
	if err != nil {
		return nil, fail("%v", err)
	}
	for _, n := range names {
		rel, ok := strings.CutPrefix(n, id+"/")
		if !ok || rel == "" {
			return nil, fail("%q is outside item %s", n, id)
		}
		if _, listed := sums[rel]; !listed && rel != sumsName {
			return nil, fail("%s is not listed in %s", rel, sumsName)
		}
	}
	stage, err := os.MkdirTemp(filepath.Join(s.dir, "incoming"), "import-*")
	if err != nil {
		return nil, fmt.Errorf("import: %w", err)
	}
	defer os.RemoveAll(stage)
	dir := filepath.Join(stage, id)
	if err := os.Mkdir(dir, dirMode); err != nil {
		return nil, fmt.Errorf("import: %w", err)
	}
	for rel, want := range sums {
		if rel != manifestName && rel != custodyName && !strings.HasPrefix(rel, artifactsDir+"/") && strings.Contains(rel, "/") {
			return nil, fail("unexpected file %s", rel)
		}
		if !a.Has(id + "/" + rel) {
			return nil, fail("%s lists %s, which is missing", sumsName, rel)
		}
		mode := os.FileMode(archiveMode)
		switch {
		case rel == custodyName || rel == headName:
			mode = 0o600 // append-only, by podsleuth
		case strings.HasPrefix(rel, artifactsDir+"/"):
			if err := os.MkdirAll(filepath.Join(dir, artifactsDir), dirMode); err != nil {
				return nil, fmt.Errorf("import: %w", err)
			}
		}
		got, err := stageFile(ctx, a, id+"/"+rel, filepath.Join(dir, filepath.FromSlash(rel)), mode)
		if err != nil {
			return nil, fmt.Errorf("import %s: %w", rel, err)
		}
		if got != want {
			return nil, fail("%s has sha256 %s, %s says %s", rel, got, sumsName, want)
		}
	}
	m, err := readManifest(dir)
	if err != nil {
		return nil, fail("%v", err)
	}
	if err := validCaseID(m.CaseID); err != nil {
		return nil, fail("%v", err)
	}
	it := &Item{ID: id, Dir: dir, Archive: filepath.Join(dir, filepath.Base(m.ArchiveName)), Manifest: m}
	if got := sums[filepath.Base(m.ArchiveName)]; got != m.LocalSHA256 {
		return nil, fail("the archive %s has sha256 %s, its manifest recorded %s", m.ArchiveName, got, m.LocalSHA256)
	}
	if problems := verifyArtifacts(it); len(problems) > 0 {
		return nil, fail("%s", strings.Join(problems, "; "))
	}
	evs, chain, err := readChain(dir)
	if err != nil || len(chain) > 0 {
		return nil, fail("custody log: %v %s", err, strings.Join(chain, "; "))
	}
	if len(evs) == 0 || (evs[0].Action != ActionAcquired && evs[0].Action != ActionImported) || evs[0].Details["sha256"] != m.LocalSHA256 {
		return nil, fail("the custody log does not start with the acquisition of sha256 %s", m.LocalSHA256)
	}
	trust, err := s.Trust()
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrBadBundle, bundlePath, err)
	}
	sc := CheckSignatures(dir, trust)
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%w: %s: %w: %s", ErrBadBundle, bundlePath, err, strings.Join(sc.Problems, "; "))
	}
	attestedBy := sc.Status
	if _, ok := sums[attestationName]; ok {
		k, err := checkAttestation(dir, m, sums, trust)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrBadBundle, bundlePath, err)
		}
		attestedBy = "attested by " + k.Label()
		// the attestation describes the handover, not the item: it is named in the
		// "imported" event and not kept among the item's files
		if err := os.Remove(filepath.Join(dir, attestationName)); err != nil {
			return nil, fmt.Errorf("import: %w", err)
		}
	} else if sc.Status != "unsigned (legacy)" {
		return nil, fmt.Errorf("%w: %s: %w: its custody is signed but it has no %s (stripped?)", ErrBadBundle, bundlePath, ErrUnsigned, attestationName)
	}
	if err := os.Rename(dir, filepath.Join(s.dir, "evidence", id)); err != nil {
		return nil, fmt.Errorf("import: %w", err)
	}
	it, err = s.Get(id)
	if err != nil {
		return nil, err
	}
	bsum, _ := a.SHA256(ctx)
	if err := s.Log(id, Event{Action: ActionImported, Details: map[string]string{"from": bundlePath, "bundle_sha256": bsum, "sha256": m.LocalSHA256,
		"signatures": attestedBy, "signers": signersText(sc.Signers)}}); err != nil {
		return it, fmt.Errorf("import %s: custody log: %w", id, err)
	}
	return it, nil
}

// readSums parses ID/SHA256SUMS: "HEX  NAME" lines with bundle-relative, clean names.
func readSums(a *archive.Archive, id string) (map[string]string, error) {
	r, size, err := a.Member(id + "/" + sumsName)
	if err != nil {
		return nil, fmt.Errorf("no %s", sumsName)
	}
	if size > 1<<20 {
		return nil, fmt.Errorf("%s is %d bytes", sumsName, size)
	}
	sums := map[string]string{}
	sc := bufio.NewScanner(io.NewSectionReader(r, 0, size))
	for sc.Scan() {
		sum, name, ok := strings.Cut(sc.Text(), "  ")
		if b, err := hex.DecodeString(sum); !ok || err != nil || len(b) != sha256.Size || name != path.Clean(name) ||
			path.IsAbs(name) || strings.HasPrefix(name, "..") || sums[name] != "" {
			return nil, fmt.Errorf("%s: bad line %q", sumsName, sc.Text())
		}
		sums[name] = sum
	}
	if _, ok := sums[manifestName]; !ok {
		return nil, fmt.Errorf("%s lists no %s", sumsName, manifestName)
	}
	if _, ok := sums[custodyName]; !ok {
		return nil, fmt.Errorf("%s lists no %s", sumsName, custodyName)
	}
	return sums, sc.Err()
}

// stageFile copies a bundle member to p (with mode, synced) and returns its SHA-256.
func stageFile(ctx context.Context, a *archive.Archive, member, p string, mode os.FileMode) (string, error) {
	r, size, err := a.Member(member)
	if err != nil {
		return "", err
	}
	f, err := os.OpenFile(p, os.O_CREATE|os.O_EXCL|os.O_WRONLY, mode)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	_, err = io.Copy(io.MultiWriter(f, h), ctxReader{ctx: ctx, r: io.NewSectionReader(r, 0, size)})
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
