package ioc

import (
	"strings"
	"testing"
)

// FuzzScan: any text gives indicators whose offsets are inside it, without panicking.
func FuzzScan(f *testing.F) {
	for _, s := range []string{
		"http://c2.evil.example:8443/beacon", "ops@evil.example", "2001:db8::66", "203.0.113.66",
		"AKIAIOSFODNN7EXAMPLE wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "export DB_PASSWORD=x\n",
		"-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----", "Bearer abcdefghijklmnopqrstuvwxyz",
		"http://[::1]:80/", "http://@/", "tcp://", "a@b.c", "::", "1.2.3.4.5",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, m := range Scan(s) {
			if m.Start < 0 || m.End > len(s) || m.Start > m.End || m.Value == "" {
				t.Fatalf("bad match %+v in %q", m, s)
			}
			if m.Secret && strings.Contains(Redact(m.Type, m.Value), m.Value) && len(m.Value) > 8 && m.Type != TypePrivateKey {
				t.Fatalf("redaction leaks %q", m.Value)
			}
		}
	})
}
