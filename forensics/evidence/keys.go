package evidence

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/secure-systems-lab/go-securesystemslib/dsse"
	"github.com/secure-systems-lab/go-securesystemslib/signerverifier"

	"github.com/podsleuth/podsleuth/config"
)

// Signing errors callers (and tests) can test with errors.Is. Each names a reason custody is
// refused or flagged.
var (
	// ErrKeyPermissions: the private key file is readable or writable by others.
	ErrKeyPermissions = errors.New("private key file is accessible by other users")
	// ErrBadKey: a key file or a public key that cannot be read as an ed25519 key.
	ErrBadKey = errors.New("bad key")
	// ErrBadKeysFile: the trusted keys file is not what podsleuth writes.
	ErrBadKeysFile = errors.New("trusted keys file is invalid")
	// ErrUnknownKey: a signature by a key that is not in the trusted keys.
	ErrUnknownKey = errors.New("signed by an untrusted key")
	// ErrBadSignature: a signature that does not verify.
	ErrBadSignature = errors.New("bad signature")
	// ErrRevokedKey: a signature made after its key was revoked.
	ErrRevokedKey = errors.New("signed after its key was revoked")
	// ErrTruncated: the custody log is shorter or different than its signed head says.
	ErrTruncated = errors.New("custody log does not match its signed head")
	// ErrUnsigned: part of a signed item is unsigned (a stripped signature, an event appended
	// without the key).
	ErrUnsigned = errors.New("unsigned part of a signed item")
	// ErrClockBackwards: an event is dated before the one it follows (flagged, not refused:
	// clocks of different machines differ; but a backdated event is worth a look).
	ErrClockBackwards = errors.New("clock went backwards")
)

// Signer is the analyst's signing key: ed25519, through go-securesystemslib's signer (its key
// id is securesystemslib's, so other implementations name the key the same way). The private
// key stays in its file on this machine: bundles and logs carry signatures and key ids only.
type Signer struct {
	sv   *signerverifier.ED25519SignerVerifier
	key  *signerverifier.SSLibKey
	Name string // who signs, e.g. "alice@laptop"
	Path string
}

// KeyID is the securesystemslib key id of the signer's public key.
func (s *Signer) KeyID() string { return s.key.KeyID }

// Public returns the signer's public key.
func (s *Signer) Public() ed25519.PublicKey { return s.sv.Public().(ed25519.PublicKey) }

// PublicPEM returns the public key as PEM ("PUBLIC KEY", PKIX), what `evidence trust` reads.
func (s *Signer) PublicPEM() string { return publicPEM(s.Public()) }

func publicPEM(pub ed25519.PublicKey) string {
	der, _ := x509.MarshalPKIXPublicKey(pub)
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

func (s *Signer) sign(data []byte) ([]byte, error) {
	return s.sv.Sign(context.Background(), data)
}

// envelope signs payload as a DSSE envelope (go-securesystemslib's dsse).
func (s *Signer) envelope(payloadType string, payload []byte) (*dsse.Envelope, error) {
	es, err := dsse.NewEnvelopeSigner(s.sv)
	if err != nil {
		return nil, err
	}
	return es.SignPayload(context.Background(), payloadType, payload)
}

// LoadOrCreateSigner reads the analyst's key at path, creating it (ed25519, PEM PKCS#8, mode
// 0600, its directory 0700) when there is none. A key file that others can read or write, or a
// symbolic link, is refused with ErrKeyPermissions: a key anyone can read proves nothing.
func LoadOrCreateSigner(path, name string) (*Signer, error) {
	if !filepath.IsAbs(path) {
		return nil, fmt.Errorf("%w: key path must be absolute, got %q", ErrBadKey, path)
	}
	st, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		if err := createKey(path); err != nil {
			return nil, err
		}
		st, err = os.Lstat(path)
	}
	if err != nil {
		return nil, fmt.Errorf("signing key: %w", err)
	}
	if st.Mode()&fs.ModeSymlink != 0 || !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%w: %s is not a regular file", ErrKeyPermissions, path)
	}
	if perm := st.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("%w: %s has mode %04o; podsleuth refuses to sign with it (chmod 600 it, and consider the key exposed: revoke it and let podsleuth make a new one)", ErrKeyPermissions, path, perm)
	}
	b, err := readNoFollow(path, 64<<10)
	if err != nil {
		return nil, fmt.Errorf("signing key: %w", err)
	}
	key, err := signerverifier.LoadKey(b)
	if err != nil || key.KeyType != signerverifier.ED25519KeyType || key.KeyVal.Private == "" {
		return nil, fmt.Errorf("%w: %s is not an ed25519 private key (PEM, PKCS#8)", ErrBadKey, path)
	}
	sv, err := signerverifier.NewED25519SignerVerifierFromSSLibKey(key)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrBadKey, path, err)
	}
	return &Signer{sv: sv, key: key, Name: name, Path: path}, nil
}

func createKey(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("signing key: %w", err)
	}
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return fmt.Errorf("signing key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return fmt.Errorf("signing key: %w", err)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		return fmt.Errorf("signing key: %w", err)
	}
	if err := pem.Encode(f, &pem.Block{Type: "PRIVATE KEY", Bytes: der}); err != nil {
		f.Close()
		os.Remove(path)
		return fmt.Errorf("signing key: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("signing key: %w", err)
	}
	return f.Close()
}

// TrustedKey is one entry of the trusted keys file.
type TrustedKey struct {
	KeyID   string    `json:"keyid"`
	Type    string    `json:"keytype"` // "ed25519"
	Public  string    `json:"public"`  // hex, as securesystemslib's keyval.public
	Name    string    `json:"name,omitempty"`
	Added   time.Time `json:"added"`
	Revoked time.Time `json:"revoked,omitzero"`
}

// keysSchema names the trusted keys file's format.
const keysSchema = "podsleuth.trusted-keys/v1"

type keysFile struct {
	Schema string       `json:"schema"`
	Keys   []TrustedKey `json:"keys"`
}

// Trust is the set of public keys whose signatures podsleuth accepts, read from the trusted
// keys file. The analyst's own key is trusted without an entry (its private key is on this
// machine) unless the file lists it, e.g. revoked.
type Trust struct {
	Path string
	Keys []TrustedKey
	self *Signer
}

// LoadTrust reads the trusted keys file (a missing file is an empty set). A file that does not
// parse, or an entry whose key id does not match its key, is refused with ErrBadKeysFile.
func LoadTrust(path string) (*Trust, error) {
	t := &Trust{Path: path}
	if path == "" {
		return t, nil
	}
	b, err := readNoFollow(path, 16<<20)
	if errors.Is(err, fs.ErrNotExist) {
		return t, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrBadKeysFile, path, err)
	}
	var kf keysFile
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&kf); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrBadKeysFile, path, err)
	}
	if kf.Schema != keysSchema {
		return nil, fmt.Errorf("%w: %s: schema %q, want %q", ErrBadKeysFile, path, kf.Schema, keysSchema)
	}
	for i, k := range kf.Keys {
		if _, id, err := parsePublicHex(k.Public); err != nil || id != k.KeyID || k.Type != signerverifier.ED25519KeyType {
			return nil, fmt.Errorf("%w: %s: entry %d (%q) is not a consistent ed25519 key", ErrBadKeysFile, path, i+1, k.KeyID)
		}
		if k.Added.IsZero() {
			return nil, fmt.Errorf("%w: %s: entry %d has no added time", ErrBadKeysFile, path, i+1)
		}
	}
	t.Keys = kf.Keys
	return t, nil
}

// parsePublicHex checks a hex ed25519 public key and returns it with its key id.
func parsePublicHex(h string) (ed25519.PublicKey, string, error) {
	b, err := hex.DecodeString(h)
	if err != nil || len(b) != ed25519.PublicKeySize {
		return nil, "", fmt.Errorf("%w: not a hex ed25519 public key", ErrBadKey)
	}
	pub := ed25519.PublicKey(b)
	k, err := signerverifier.LoadKey([]byte(publicPEM(pub)))
	if err != nil {
		return nil, "", fmt.Errorf("%w: %v", ErrBadKey, err)
	}
	return pub, k.KeyID, nil
}

// ParsePublicKey reads a public key as `evidence trust` takes it: PEM ("PUBLIC KEY", comment
// lines before it allowed), or 64 hex digits, optionally prefixed "ed25519:".
func ParsePublicKey(s string) (ed25519.PublicKey, string, error) {
	s = strings.TrimSpace(s)
	if i := strings.Index(s, "-----BEGIN"); i >= 0 {
		s = s[i:] // after comment lines such as `evidence key` prints
		k, err := signerverifier.LoadKey([]byte(s))
		if err != nil || k.KeyType != signerverifier.ED25519KeyType || k.KeyVal.Private != "" {
			return nil, "", fmt.Errorf("%w: not an ed25519 public key (PEM)", ErrBadKey)
		}
		return parsePublicHex(k.KeyVal.Public)
	}
	return parsePublicHex(strings.TrimPrefix(s, "ed25519:"))
}

// Add trusts a public key from now on (an entry already there is kept, revoked or not).
func (t *Trust) Add(pub ed25519.PublicKey, name string, now time.Time) (TrustedKey, error) {
	_, id, err := parsePublicHex(hex.EncodeToString(pub))
	if err != nil {
		return TrustedKey{}, err
	}
	for _, k := range t.Keys {
		if k.KeyID == id {
			return k, nil
		}
	}
	k := TrustedKey{KeyID: id, Type: signerverifier.ED25519KeyType, Public: hex.EncodeToString(pub), Name: name, Added: now.UTC()}
	t.Keys = append(t.Keys, k)
	return k, t.save()
}

// Revoke marks a key (by key id or a unique prefix) revoked at now: signatures it makes after
// now are refused with ErrRevokedKey, earlier ones stay valid.
func (t *Trust) Revoke(id string, now time.Time) (TrustedKey, error) {
	var hit []int
	for i, k := range t.Keys {
		if id != "" && strings.HasPrefix(k.KeyID, id) {
			hit = append(hit, i)
		}
	}
	if len(hit) != 1 {
		return TrustedKey{}, fmt.Errorf("revoke: %d trusted keys match %q", len(hit), id)
	}
	k := &t.Keys[hit[0]]
	if k.Revoked.IsZero() {
		k.Revoked = now.UTC()
	}
	return *k, t.save()
}

// save writes the file atomically (0600).
func (t *Trust) save() error {
	if t.Path == "" {
		return errors.New("trusted keys: no file configured")
	}
	sort.SliceStable(t.Keys, func(i, j int) bool { return t.Keys[i].Added.Before(t.Keys[j].Added) })
	b, err := json.MarshalIndent(keysFile{Schema: keysSchema, Keys: t.Keys}, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(t.Path), 0o700); err != nil {
		return fmt.Errorf("trusted keys: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(t.Path), ".trusted-keys-*")
	if err != nil {
		return fmt.Errorf("trusted keys: %w", err)
	}
	_, err = tmp.Write(append(b, '\n'))
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), t.Path)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("trusted keys: %w", err)
	}
	return nil
}

// lookup returns the trusted entry of a key id; the analyst's own key counts as trusted when
// the file does not list it.
func (t *Trust) lookup(id string) (TrustedKey, bool) {
	for _, k := range t.Keys {
		if k.KeyID == id {
			return k, true
		}
	}
	if t.self != nil && t.self.KeyID() == id {
		return TrustedKey{KeyID: id, Type: signerverifier.ED25519KeyType, Public: hex.EncodeToString(t.self.Public()), Name: t.self.Name + " (this analyst)"}, true
	}
	return TrustedKey{}, false
}

// verifier returns a dsse verifier of a trusted key.
func (k TrustedKey) verifier() (*signerverifier.ED25519SignerVerifier, error) {
	return signerverifier.NewED25519SignerVerifierFromSSLibKey(&signerverifier.SSLibKey{
		KeyType: signerverifier.ED25519KeyType, Scheme: signerverifier.ED25519KeyType,
		KeyIDHashAlgorithms: signerverifier.KeyIDHashAlgorithms, KeyID: k.KeyID, KeyVal: signerverifier.KeyVal{Public: k.Public},
	})
}

// Label names the key for a person: "alice@laptop (key 1a2b3c4d5e6f)".
func (k TrustedKey) Label() string {
	short := k.KeyID
	if len(short) > 12 {
		short = short[:12]
	}
	if k.Name == "" {
		return "key " + short
	}
	return k.Name + " (key " + short + ")"
}

// verifyEnvelope checks a DSSE envelope against the trusted keys as of signedAt (the time the
// signer claims; a zero time skips the revocation check) and returns the payload and the
// signer. Every signature must be by a trusted key and verify.
func (t *Trust) verifyEnvelope(env *dsse.Envelope, payloadType string, signedAt time.Time) ([]byte, TrustedKey, error) {
	if env == nil || len(env.Signatures) == 0 {
		return nil, TrustedKey{}, fmt.Errorf("%w: no signature", ErrUnsigned)
	}
	if env.PayloadType != payloadType {
		return nil, TrustedKey{}, fmt.Errorf("%w: payload type %q, want %q", ErrBadSignature, env.PayloadType, payloadType)
	}
	var signer TrustedKey
	var body []byte
	for _, s := range env.Signatures {
		k, ok := t.lookup(s.KeyID)
		if !ok {
			return nil, TrustedKey{}, fmt.Errorf("%w: key %s (add it with `podsleuth evidence trust PUBKEY` if you trust its owner)", ErrUnknownKey, s.KeyID)
		}
		v, err := k.verifier()
		if err != nil {
			return nil, k, fmt.Errorf("%w: %s: %v", ErrBadKey, k.Label(), err)
		}
		ev, err := dsse.NewEnvelopeVerifier(v)
		if err != nil {
			return nil, k, err
		}
		one := *env
		one.Signatures = []dsse.Signature{s}
		if _, b, err := ev.VerifyAndDecode(context.Background(), &one); err != nil {
			return nil, k, fmt.Errorf("%w: by %s", ErrBadSignature, k.Label())
		} else {
			body = b
		}
		if !k.Revoked.IsZero() && !signedAt.IsZero() && signedAt.After(k.Revoked) {
			return nil, k, fmt.Errorf("%w: %s was revoked at %s, the signature is dated %s", ErrRevokedKey, k.Label(), k.Revoked.Format(time.RFC3339), signedAt.UTC().Format(time.RFC3339))
		}
		signer = k
	}
	return body, signer, nil
}

// OptionsFrom returns the signing options of a configuration (signing.*), the case's analyst
// naming the signer.
func OptionsFrom(c *config.Config) Options {
	name := c.Case.Analyst
	if name == "" {
		name = CurrentActor()
	}
	return Options{KeyFile: c.Signing.Key, TrustFile: c.Signing.TrustedKeys, Signer: name}
}

// OpenConfig opens the store of a configuration: its data directory with OptionsFrom(c).
func OpenConfig(c *config.Config) (*Store, error) { return OpenWith(c.DataDir, OptionsFrom(c)) }
