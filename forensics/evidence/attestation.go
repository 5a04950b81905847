package evidence

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"path/filepath"
	"sort"
	"time"

	attv1 "github.com/in-toto/attestation/go/v1"
	"github.com/secure-systems-lab/go-securesystemslib/dsse"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"
)

// The attestation of an export bundle: an in-toto Statement v1 in a DSSE envelope
// (payloadType application/vnd.in-toto+json), signed by the exporting analyst.
const (
	attestationName = "attestation.dsse.json"
	// InTotoPayloadType is the DSSE payload type of in-toto Statements.
	InTotoPayloadType = "application/vnd.in-toto+json"
	// CustodyPredicateType names the predicate: the acquisition manifest and the custody log.
	CustodyPredicateType = "https://podsleuth.dev/attestations/custody/v1"
)

// attest builds and signs the Statement of a bundle: subjects are the archive and each
// artifact by SHA-256 (sums holds the bundle's files); the predicate holds the manifest, the
// custody log (as exported) and the SHA-256 of both files.
func attest(it *Item, sums map[string]string, custody []byte, s *Signer) (*dsse.Envelope, error) {
	subjects := []*attv1.ResourceDescriptor{{Name: filepath.Base(it.Manifest.ArchiveName),
		Digest: map[string]string{"sha256": sums[filepath.Base(it.Manifest.ArchiveName)]}, MediaType: "application/x-tar"}}
	for _, a := range it.Manifest.Artifacts {
		n := artifactsDir + "/" + filepath.Base(a.Name)
		subjects = append(subjects, &attv1.ResourceDescriptor{Name: n, Digest: map[string]string{"sha256": sums[n]}})
	}
	var manifest any
	mb, err := readNoFollow(filepath.Join(it.Dir, manifestName), 64<<20)
	if err == nil {
		err = json.Unmarshal(mb, &manifest)
	}
	if err != nil {
		return nil, fmt.Errorf("attestation: manifest: %w", err)
	}
	var events []any
	for _, l := range bytes.Split(bytes.TrimRight(custody, "\n"), []byte("\n")) {
		var e any
		if err := json.Unmarshal(l, &e); err != nil {
			return nil, fmt.Errorf("attestation: custody log: %w", err)
		}
		events = append(events, e)
	}
	msum := sha256.Sum256(mb)
	csum := sha256.Sum256(custody)
	pred, err := structpb.NewStruct(map[string]any{
		"item":            it.ID,
		"manifest":        manifest,
		"manifest_sha256": hex.EncodeToString(msum[:]),
		"custody":         events,
		"custody_sha256":  hex.EncodeToString(csum[:]),
		"exported_at":     time.Now().UTC().Format(time.RFC3339),
		"exported_by":     s.Name,
	})
	if err != nil {
		return nil, fmt.Errorf("attestation: %w", err)
	}
	st := &attv1.Statement{Type: attv1.StatementTypeUri, Subject: subjects, PredicateType: CustodyPredicateType, Predicate: pred}
	if err := st.Validate(); err != nil {
		return nil, fmt.Errorf("attestation: %w", err)
	}
	payload, err := protojson.Marshal(st)
	if err != nil {
		return nil, fmt.Errorf("attestation: %w", err)
	}
	return s.envelope(InTotoPayloadType, payload)
}

// checkAttestation verifies a staged bundle's attestation: a trusted signer, a valid in-toto
// Statement of CustodyPredicateType, its subjects exactly the bundle's archive and artifacts
// (a swapped archive with a valid signature fails here), its predicate naming this manifest and
// custody log byte for byte.
func checkAttestation(dir string, m Manifest, sums map[string]string, trust *Trust) (TrustedKey, error) {
	b, err := readNoFollow(filepath.Join(dir, attestationName), 64<<20)
	if err != nil {
		return TrustedKey{}, fmt.Errorf("attestation: %w", err)
	}
	var env dsse.Envelope
	if err := json.Unmarshal(b, &env); err != nil {
		return TrustedKey{}, fmt.Errorf("attestation: %w: %v", ErrBadSignature, err)
	}
	payload, k, err := trust.verifyEnvelope(&env, InTotoPayloadType, time.Time{})
	if err != nil {
		return k, fmt.Errorf("attestation: %w", err)
	}
	var st attv1.Statement
	if err := protojson.Unmarshal(payload, &st); err != nil {
		return k, fmt.Errorf("attestation: not an in-toto Statement: %v", err)
	}
	if err := st.Validate(); err != nil {
		return k, fmt.Errorf("attestation: %v", err)
	}
	if st.GetPredicateType() != CustodyPredicateType {
		return k, fmt.Errorf("attestation: predicate type %q, want %q", st.GetPredicateType(), CustodyPredicateType)
	}
	pred := st.GetPredicate().AsMap()
	if exp, _ := pred["exported_at"].(string); exp != "" {
		if t, err := time.Parse(time.RFC3339, exp); err == nil && !k.Revoked.IsZero() && t.After(k.Revoked) {
			return k, fmt.Errorf("attestation: %w: %s was revoked at %s", ErrRevokedKey, k.Label(), k.Revoked.Format(time.RFC3339))
		}
	}
	want := map[string]string{filepath.Base(m.ArchiveName): sums[filepath.Base(m.ArchiveName)]}
	for _, a := range m.Artifacts {
		n := artifactsDir + "/" + filepath.Base(a.Name)
		want[n] = sums[n]
	}
	got := map[string]string{}
	for _, sub := range st.GetSubject() {
		got[sub.GetName()] = sub.GetDigest()["sha256"]
	}
	for n, sum := range want {
		if got[n] != sum {
			return k, fmt.Errorf("attestation: %w: %s has sha256 %s, the signed attestation names %q", ErrBadSignature, n, sum, got[n])
		}
	}
	if len(got) != len(want) {
		names := make([]string, 0, len(got))
		for n := range got {
			names = append(names, n)
		}
		sort.Strings(names)
		return k, fmt.Errorf("attestation: %w: it names %v, the bundle holds %d subjects", ErrBadSignature, names, len(want))
	}
	if pred["manifest_sha256"] != sums[manifestName] || pred["custody_sha256"] != sums[custodyName] {
		return k, fmt.Errorf("attestation: %w: the bundle's manifest or custody log is not the one attested", ErrBadSignature)
	}
	return k, nil
}
