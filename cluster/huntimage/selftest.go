package huntimage

import (
	"bytes"
	"context"
	"errors"
	"os"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/podsleuth/podsleuth/forensics/memory"
	"github.com/podsleuth/podsleuth/forensics/yara"
)

// TokenPath is where the kubelet mounts a pod's service account token.
const TokenPath = "/var/run/secrets/kubernetes.io/serviceaccount/token"

// SelfTestPlant is what SelfTest scans: a stratum pool URL, which the default rule
// miner_stratum_pool matches.
const SelfTestPlant = "podsleuth self-test: stratum+tcp://pool.selftest.invalid:3333"

// SelfTestRule is the rule SelfTest expects to hit.
const SelfTestRule = "miner_stratum_pool"

// SelfTestReport is what the analyzer image says about itself where it runs.
type SelfTestReport struct {
	Version  string `json:"version"`
	Revision string `json:"revision,omitempty"`
	UID      int    `json:"uid"`
	GID      int    `json:"gid"`
	// RootReadOnly: / is mounted read-only (statfs ST_RDONLY).
	RootReadOnly bool `json:"root_read_only"`
	// ServiceAccountToken: a token is mounted at TokenPath (a hunt's Job must have none).
	ServiceAccountToken bool       `json:"service_account_token"`
	YARA                YARAReport `json:"yara"`
	// OK: YARA compiled the default rules and the planted buffer hit SelfTestRule.
	OK bool `json:"ok"`
}

// YARAReport is the YARA part of a self-test.
type YARAReport struct {
	Built bool `json:"built"`
	// Rules is how many default rules libyara compiled.
	Rules int `json:"rules"`
	// Hits are the rules that matched SelfTestPlant.
	Hits    []string `json:"hits"`
	Scanned uint64   `json:"scanned_bytes"`
	Error   string   `json:"error,omitempty"`
}

// SelfTest checks, where it runs, what a hunt's analyzer needs: libyara compiles the default
// rule set and a real scan of a planted buffer hits SelfTestRule; it reports the user, whether
// the root filesystem is read-only and whether a service account token is mounted. It writes
// nothing.
func SelfTest(ctx context.Context, version string) SelfTestReport {
	r := SelfTestReport{Version: version, UID: os.Getuid(), GID: os.Getgid(), YARA: YARAReport{Built: yara.Built, Hits: []string{}}}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				r.Revision = s.Value
			}
		}
	}
	var st syscall.Statfs_t
	if err := syscall.Statfs("/", &st); err == nil {
		r.RootReadOnly = st.Flags&1 != 0 // ST_RDONLY
	}
	if _, err := os.Stat(TokenPath); err == nil {
		r.ServiceAccountToken = true
	}
	if err := scanPlant(ctx, &r.YARA); err != nil {
		r.YARA.Error = err.Error()
	}
	r.OK = r.YARA.Error == "" && len(r.YARA.Hits) > 0 && r.YARA.Hits[0] == SelfTestRule
	return r
}

func scanPlant(ctx context.Context, y *YARAReport) error {
	rs, err := yara.Load(yara.LoadOptions{Default: true})
	if err != nil {
		return err
	}
	defer rs.Close()
	y.Rules = rs.Count
	plant := []byte(SelfTestPlant)
	obj := &memory.Object{Kind: memory.KindRootfs, Name: memory.KindRootfs + ":/selftest", Content: bytes.NewReader(plant), ContentSize: int64(len(plant))}
	res, err := yara.Scan(ctx, rs, &memory.Memory{}, yara.Options{NoMemory: true, Objects: []*memory.Object{obj}, Workers: 1, Timeout: time.Minute})
	if err != nil {
		return err
	}
	y.Scanned = uint64(res.Bytes)
	for _, h := range res.Hits {
		y.Hits = append(y.Hits, h.Rule)
	}
	if len(y.Hits) == 0 {
		return errors.New("the planted stratum URL did not hit " + SelfTestRule)
	}
	return nil
}
