package ioc

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/podsleuth/podsleuth/forensics"
)

func types(ms []Match) map[string][]string {
	out := map[string][]string{}
	for _, m := range ms {
		out[m.Type] = append(out[m.Type], m.Value)
	}
	return out
}

func TestScanTypes(t *testing.T) {
	pem := "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIBkg4LVWM9nuwNSk3yByxZpYRTBnVJk5oRQ8lNGJaP3EoAoGCCqGSM49\n-----END EC PRIVATE KEY-----"
	azure := "DefaultEndpointsProtocol=https;AccountName=evilstore;AccountKey=" + strings.Repeat("Ab3+", 21) + "xy==;EndpointSuffix=core.windows.net"
	tests := []struct {
		name   string
		text   string
		typ    string
		want   []string
		secret bool
	}{
		{"ipv4", "connect to 203.0.113.66:4444 now", TypeIPv4, []string{"203.0.113.66"}, false},
		{"ipv4 not a version", "libfoo 1.2.3.4.5 and 10.0.0.256", TypeIPv4, nil, false},
		{"ipv6", "peer 2001:db8::66 port", TypeIPv6, []string{"2001:db8::66"}, false},
		{"ipv6 full", "fe80:0:0:0:202:b3ff:fe1e:8329", TypeIPv6, []string{"fe80::202:b3ff:fe1e:8329"}, false},
		{"ipv6 not a C++ scope", "std::vector::size", TypeIPv6, nil, false},
		{"url", "beacon=http://c2.evil.example:8443/beacon, ok", TypeURL, []string{"http://c2.evil.example:8443/beacon"}, false},
		{"url host is a domain", "http://c2.evil.example:8443/beacon", TypeDomain, []string{"c2.evil.example"}, false},
		{"url host is an ip", "wget http://198.51.100.7/x.sh", TypeIPv4, []string{"198.51.100.7"}, false},
		{"stratum pool", "stratum+tcp://pool.minexmr.com:4444", TypeURL, []string{"stratum+tcp://pool.minexmr.com:4444"}, false},
		{"email", "mail ops@evil.example today", TypeEmail, []string{"ops@evil.example"}, false},
		{"bare domain with known tld", "resolve exfil.attacker.com please", TypeDomain, []string{"exfil.attacker.com"}, false},
		{"cctld with a real name", "ping victim-corp.de and mail.bbc.co.uk", TypeDomain, []string{"victim-corp.de", "mail.bbc.co.uk"}, false},
		{"short random names under a cctld", "x jm9.hu 6q.kr y", TypeDomain, nil, false},
		{"not inside an identifier", "Abc.com/x foo_bar.com", TypeDomain, nil, false},
		{"file names are not domains", "libc.so.6 main.py run.sh ld-linux-x86-64.so.2 config.yaml", TypeDomain, nil, false},
		{"aws key id", "id=AKIAIOSFODNN7EXAMPLE;", TypeAWSKeyID, []string{"AKIAIOSFODNN7EXAMPLE"}, false},
		{"aws secret by name", "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", TypeAWSSecret, []string{"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}, true},
		{"aws secret after key id", "AKIAIOSFODNN7EXAMPLE wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", TypeAWSSecret, []string{"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}, true},
		{"40 chars alone are not a secret", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", TypeAWSSecret, nil, true},
		{"gcp api key", `key: "AIzaSyD-fakefakefakefakefakefakefake123"`, TypeGCPAPIKey, []string{"AIzaSyD-fakefakefakefakefakefakefake123"}, true},
		{"gcp service account", `"client_email": "exfil-bot@victim-proj-123.iam.gserviceaccount.com"`, TypeGCPSA, []string{"exfil-bot@victim-proj-123.iam.gserviceaccount.com"}, false},
		{"gcp private key id", `"private_key_id": "0123456789abcdef0123456789abcdef01234567"`, TypeGCPSA, []string{"private_key_id:0123456789abcdef0123456789abcdef01234567"}, true},
		{"azure storage key", azure, TypeAzureStorageKey, []string{strings.Repeat("Ab3+", 21) + "xy=="}, true},
		{"jwt", "token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJlLXh4eA ok", TypeJWT, []string{"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJlLXh4eA"}, true},
		{"pem", "x\n" + pem + "\ny", TypePrivateKey, []string{pem}, true},
		{"bearer", "Authorization: Bearer pdsl_fake_token_4f2a9b7c1d3e5f60718293a4b5c6d7e8", TypeBearer, []string{"pdsl_fake_token_4f2a9b7c1d3e5f60718293a4b5c6d7e8"}, true},
		{"env secret", "DB_PASSWORD=s3cr3t-db-pass", TypeEnvSecret, []string{"DB_PASSWORD=s3cr3t-db-pass"}, true},
		{"env non-secret", "PATH=/usr/bin:/bin", TypeEnvSecret, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ms := Scan(tt.text)
			require.Equal(t, tt.want, types(ms)[tt.typ], "all: %+v", ms)
			for _, m := range ms {
				if m.Type == tt.typ {
					require.Equal(t, tt.secret, m.Secret)
				}
			}
		})
	}
}

func TestRedaction(t *testing.T) {
	tests := []struct {
		typ, value, want string
	}{
		{TypeAWSSecret, "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "wJ…EY sha256:" + Hash("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")[:8]},
		{TypeEnvSecret, "DB_PASSWORD=s3cr3t-db-pass", "DB_PASSWORD=s3…ss sha256:" + Hash("DB_PASSWORD=s3cr3t-db-pass")[:8]},
		{TypeEnvSecret, "X_TOKEN=short", "X_TOKEN=… sha256:" + Hash("X_TOKEN=short")[:8]},
		{TypePrivateKey, "-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----", "-----BEGIN RSA PRIVATE KEY----- … (66 bytes) sha256:" + Hash("-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----")[:8]},
	}
	for _, tt := range tests {
		t.Run(tt.typ, func(t *testing.T) {
			got := Redact(tt.typ, tt.value)
			require.Equal(t, tt.want, got)
			if tt.typ != TypePrivateKey {
				require.NotContains(t, got, tt.value[len(tt.value)-6:len(tt.value)-2])
			}
		})
	}
}

func TestCollectorDedupAndReveal(t *testing.T) {
	m := Match{Type: TypeAWSSecret, Value: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", Secret: true}
	loc1 := forensics.Location{Kind: "memory", PID: 1, Addr: 0x1000}
	loc2 := forensics.Location{Kind: "env", PID: 8}
	c := NewCollector(false)
	c.Add(m, loc1)
	c.Add(m, loc1) // same place twice: one sighting
	c.Add(m, loc2)
	c.Add(Match{Type: TypeIPv4, Value: "203.0.113.66"}, loc1)
	res := c.Result()
	require.Len(t, res, 2)
	require.Equal(t, TypeAWSSecret, res[0].Type, "secrets first")
	require.True(t, res[0].Redacted)
	require.NotContains(t, res[0].Value, "K7MDENG")
	require.Equal(t, Hash(m.Value), res[0].SHA256)
	require.Equal(t, 2, res[0].Count)
	require.Equal(t, []forensics.Location{loc2, loc1}, res[0].Where, "env before memory, whatever the order of sightings")

	r := NewCollector(true)
	r.Add(m, loc1)
	require.Equal(t, m.Value, r.Result()[0].Value)
	require.False(t, r.Result()[0].Redacted)
}

func TestSocketPeers(t *testing.T) {
	cp := &forensics.Checkpoint{
		Processes: []forensics.Process{{PID: 1, Comm: "implant"}},
		Sockets: []forensics.Socket{
			{Ino: 10, Family: "inet", Protocol: "tcp", State: "ESTABLISHED", LocalAddr: "10.0.0.5", LocalPort: 40000, RemoteAddr: "198.51.100.9", RemotePort: 443, Owners: []int{1}},
			{Ino: 11, Family: "inet", Protocol: "tcp", State: "ESTABLISHED", LocalAddr: "127.0.0.1", LocalPort: 1, RemoteAddr: "127.0.0.1", RemotePort: 2, Owners: []int{1}},
			{Ino: 12, Family: "inet6", Protocol: "tcp", State: "LISTEN", LocalAddr: "::", LocalPort: 22, RemoteAddr: "::"},
		},
	}
	res, err := Extract(context.Background(), cp, nil, Options{})
	require.NoError(t, err)
	require.Len(t, res, 1)
	require.Equal(t, TypeIPv4, res[0].Type)
	require.Equal(t, "198.51.100.9", res[0].Value)
	require.Equal(t, "socket", res[0].Where[0].Kind)
	require.Equal(t, 1, res[0].Where[0].PID)
	require.Contains(t, res[0].Where[0].Socket, "198.51.100.9:443")
}

func TestRandomBytesGiveNoNetworkIndicators(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 9))
	var sb strings.Builder
	for i := 0; i < 2<<20; i++ {
		sb.WriteByte(byte(0x20 + r.IntN(95)))
	}
	text := sb.String()
	for i := 0; i < len(text); i += 4096 {
		for _, m := range Scan(text[i:min(len(text), i+4096)]) {
			switch m.Type {
			case TypeDomain, TypeEmail, TypeURL, TypeJWT, TypePrivateKey, TypeAWSKeyID:
				t.Fatalf("junk %s %q from random bytes", m.Type, m.Value)
			}
		}
	}
}

type members map[string][]byte

func (m members) Member(name string) (io.ReaderAt, int64, error) {
	b, ok := m[name]
	if !ok {
		return nil, 0, errors.New("no such member")
	}
	return bytes.NewReader(b), int64(len(b)), nil
}

func TestRootfsFiles(t *testing.T) {
	var tb bytes.Buffer
	tw := tar.NewWriter(&tb)
	files := []struct{ name, body string }{
		{"etc/miner.conf", "pool=stratum+tcp://pool.minexmr.com:4444\nwallet=x\n"},
		{"root/.env", "export API_TOKEN=abcdef123456\nHOME=/root\n"},
		{"tmp/.x/bin", "\x7fELF\x00\x00AKIAIOSFODNN7EXAMPLE\x00\x01"},
	}
	for _, f := range files {
		require.NoError(t, tw.WriteHeader(&tar.Header{Name: f.name, Mode: 0o644, Size: int64(len(f.body)), Typeflag: tar.TypeReg}))
		_, err := tw.Write([]byte(f.body))
		require.NoError(t, err)
	}
	require.NoError(t, tw.Close())
	res, err := Extract(context.Background(), &forensics.Checkpoint{}, nil, Options{Members: members{"rootfs-diff.tar": tb.Bytes()}, Reveal: true})
	require.NoError(t, err)
	got := map[string]string{}
	for _, r := range res {
		got[r.Type+" "+r.Value] = r.Where[0].Kind + " " + r.Where[0].Path
	}
	require.Equal(t, "rootfs /etc/miner.conf", got["url stratum+tcp://pool.minexmr.com:4444"])
	require.Equal(t, "rootfs /etc/miner.conf", got["domain pool.minexmr.com"])
	require.Equal(t, "rootfs /root/.env", got["env-secret API_TOKEN=abcdef123456"])
	require.Equal(t, "rootfs /tmp/.x/bin", got["aws-access-key-id AKIAIOSFODNN7EXAMPLE"])

	_, err = Extract(context.Background(), &forensics.Checkpoint{}, nil, Options{Members: members{"rootfs-diff.tar": tb.Bytes()[:1100]}})
	require.ErrorIs(t, err, ErrRootfs, "a truncated rootfs-diff.tar is reported")
}

// TestVersionNotAddress: a dotted number labelled as a version (socat's SOCAT_VERSION=1.7.4.4 in
// the triage-shells fixture's environment) is not an address; the same number unlabelled is.
func TestVersionNotAddress(t *testing.T) {
	tests := []struct {
		text string
		want bool
	}{
		{"SOCAT_VERSION=1.7.4.4", false},
		{"socat version 1.7.4.4 on Jan", false},
		{"Version: 1.7.4.4", false},
		{"v1.7.4.4", false},
		{"connect 1.7.4.4:443", true},
		{"dev1.7.4.4", true},
		{"version of the peer at host 1.7.4.4", true},
	}
	for _, tt := range tests {
		var got bool
		for _, m := range Scan(tt.text) {
			if m.Type == TypeIPv4 && m.Value == "1.7.4.4" {
				got = true
			}
		}
		require.Equal(t, tt.want, got, tt.text)
	}
}
