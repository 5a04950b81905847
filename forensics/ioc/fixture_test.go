package ioc_test

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/podsleuth/podsleuth/forensics"
	"github.com/podsleuth/podsleuth/forensics/ioc"
	"github.com/podsleuth/podsleuth/test/fixture"
)

func extract(t *testing.T, path string, reveal bool) ([]forensics.IOC, int) {
	t.Helper()
	ctx := context.Background()
	a, cp, m := fixture.Open(t, path)
	res, err := ioc.Extract(ctx, cp, m, ioc.Options{Reveal: reveal, Members: a})
	require.NoError(t, err)
	return res, cp.Processes[0].PID
}

func find(res []forensics.IOC, typ, value string) *forensics.IOC {
	for i := range res {
		if res[i].Type == typ && (res[i].Value == value || res[i].SHA256 == ioc.Hash(value)) {
			return &res[i]
		}
	}
	return nil
}

// TestPlantedIOCs: every planted indicator of test/fixtures is found with its type, in the
// main process's heap, secrets redacted unless revealed.
func TestPlantedIOCs(t *testing.T) {
	jwt := "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJpci0yMDI0LTAwNDIiLCJuYW1lIjoiZmFrZS1vcGVyYXRvciIsImlhdCI6MTcwMDAwMDAwMH0.ZmFrZS1zaWduYXR1cmUtbm90LXJlYWwtMDAwMDAwMDAwMDAw"
	heapIOCs := []struct {
		typ, value string
		secret     bool
	}{
		{ioc.TypeURL, "http://c2.evil.example:8443/beacon", false},
		{ioc.TypeDomain, "c2.evil.example", false},
		{ioc.TypeIPv4, "203.0.113.66", false},
		{ioc.TypeIPv6, "2001:db8::66", false},
		{ioc.TypeEmail, "ops@evil.example", false},
		{ioc.TypeAWSKeyID, "AKIAIOSFODNN7EXAMPLE", false},
		{ioc.TypeAWSSecret, "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", true},
		{ioc.TypeJWT, jwt, true},
		{ioc.TypeBearer, "pdsl_fake_token_4f2a9b7c1d3e5f60718293a4b5c6d7e8", true},
	}
	for _, path := range []string{"images/full", "images/criu41", "archives/podman-crun.tar"} {
		t.Run(path, func(t *testing.T) {
			res, mainPID := extract(t, path, false)
			for _, want := range heapIOCs {
				t.Run(want.typ, func(t *testing.T) {
					got := find(res, want.typ, want.value)
					require.NotNil(t, got, "%s %s not found in %+v", want.typ, want.value, res)
					require.Equal(t, want.secret, got.Secret)
					require.Equal(t, want.secret, got.Redacted)
					if want.secret {
						require.NotContains(t, got.Value, want.value[4:len(want.value)-4])
						require.Contains(t, got.Value, "sha256:"+ioc.Hash(want.value)[:8])
					} else {
						require.Equal(t, want.value, got.Value)
					}
					var inHeap bool
					for _, l := range got.Where {
						if l.Kind == "memory" && l.PID == mainPID && l.Region == "heap" && l.Addr != 0 {
							inHeap = true
						}
					}
					require.True(t, inHeap, "where: %+v", got.Where)
				})
			}
			pem := findType(res, ioc.TypePrivateKey)
			require.Len(t, pem, 1)
			require.True(t, strings.HasPrefix(pem[0].Value, "-----BEGIN RSA PRIVATE KEY----- …"), pem[0].Value)
			require.NotContains(t, pem[0].Value, "PODSLEUTH-FAKE-PEM-BODY")

			// env secrets: in every process's environment (decoded model) and in its stack memory
			for _, kv := range []string{"DB_PASSWORD=s3cr3t-db-pass", "FORENSIC_SECRET=hunter2-env-marker", "AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"} {
				got := find(res, ioc.TypeEnvSecret, kv)
				require.NotNil(t, got, kv)
				name := kv[:strings.IndexByte(kv, '=')+1]
				require.True(t, strings.HasPrefix(got.Value, name), got.Value)
				var env, mem int
				for _, l := range got.Where {
					switch l.Kind {
					case "env":
						env++
					case "memory":
						mem++
						require.Equal(t, "stack", l.Region)
					}
				}
				require.GreaterOrEqual(t, env, 3, "one per process")
				require.GreaterOrEqual(t, mem, 3, "one per process stack")
			}
			require.Nil(t, find(res, ioc.TypeEnvSecret, "PATH=/usr/bin:/bin"))
		})
	}
	t.Run("reveal", func(t *testing.T) {
		res, _ := extract(t, "archives/podman-crun.tar", true)
		got := find(res, ioc.TypeAWSSecret, "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
		require.NotNil(t, got)
		require.Equal(t, "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", got.Value)
		require.False(t, got.Redacted)
	})
}

func findType(res []forensics.IOC, typ string) []forensics.IOC {
	var out []forensics.IOC
	for _, r := range res {
		if r.Type == typ {
			out = append(out, r)
		}
	}
	return out
}

// TestContainerdArchive: the containerd checkpoint of a busybox workload (see its .ps.txt):
// the exfiltration target written to /tmp/notes.txt is found in the gzip-compressed rootfs
// changes, the command line and memory; the API token in the environment is redacted.
func TestContainerdArchive(t *testing.T) {
	res, _ := extract(t, "archives/containerd-busybox.tar", false)
	ip := find(res, ioc.TypeIPv4, "10.0.0.99")
	require.NotNil(t, ip)
	kinds := map[string]bool{}
	for _, l := range ip.Where {
		kinds[l.Kind] = true
		if l.Kind == "rootfs" {
			require.Equal(t, "/tmp/notes.txt", l.Path)
		}
	}
	require.True(t, kinds["rootfs"] && kinds["cmdline"] && kinds["memory"], "%+v", ip.Where)
	tok := findType(res, ioc.TypeEnvSecret)
	require.NotEmpty(t, tok)
	for _, s := range tok {
		require.True(t, s.Redacted)
		require.NotContains(t, s.Value, "AUTH_TYPE", "a CGI variable name is not a secret")
	}
}
