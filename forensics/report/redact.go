package report

import (
	"crypto/sha256"
	"encoding/hex"
	"regexp"
	"strings"
)

// Redactor hides secret values in everything a report prints: environment variables whose name
// says they hold a secret, "--password=..." style arguments, and values that look like
// credentials wherever they appear (JWTs, private keys, bearer tokens). A redacted
// value keeps a short fingerprint ("wJ…EY sha256:1f2e3d4c") so the same secret can be
// correlated across reports and with the IOC table without being disclosed. AWS access key
// IDs are identifiers, not secrets (AWS documents them as such; responders search CloudTrail
// for them), so like forensics/ioc the redactor leaves them visible.
type Redactor struct {
	// Reveal turns redaction off (config report.reveal, --reveal).
	Reveal bool
}

// secretName matches variable and flag names that conventionally carry secrets.
var secretName = regexp.MustCompile(`(?i)(secret|passw|passwd|pwd|token|api[_-]?key|apikey|access[_-]?key|private[_-]?key|credential|auth|session[_-]?id|cookie|signing[_-]?key|client[_-]?key)`)

// secretValue matches credential-shaped substrings. Each pattern's first group, when present,
// is the part to hide.
var secretValue = []*regexp.Regexp{
	regexp.MustCompile(`\b(eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*)`),
	regexp.MustCompile(`(?i)\bbearer\s+([A-Za-z0-9._~+/=-]{8,})`),
	regexp.MustCompile(`(-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z ]*PRIVATE KEY-----|$))`),
	regexp.MustCompile(`\bAIza([0-9A-Za-z_-]{35})\b`),
}

// Mask returns the redacted form of a secret value: at most two characters at each end of long
// values and the first 8 hex digits of its SHA-256.
func Mask(v string) string {
	sum := sha256.Sum256([]byte(v))
	fp := "sha256:" + hex.EncodeToString(sum[:4])
	r := []rune(v)
	if len(r) >= 16 {
		return string(r[:2]) + "…" + string(r[len(r)-2:]) + " " + fp
	}
	return "… " + fp
}

// Env redacts the value of a NAME=VALUE entry whose name looks secret, then scans it for
// credential-shaped values.
func (x Redactor) Env(kv string) string {
	if x.Reveal {
		return kv
	}
	name, val, ok := strings.Cut(kv, "=")
	if ok && val != "" && secretName.MatchString(name) {
		return name + "=" + Mask(val)
	}
	return x.Text(kv)
}

// EnvList redacts every entry of an environment.
func (x Redactor) EnvList(env []string) []string {
	if env == nil {
		return nil
	}
	out := make([]string, len(env))
	for i, kv := range env {
		out[i] = x.Env(kv)
	}
	return out
}

// Args redacts a command line: "--password=X" and "--token X" forms, and credential-shaped
// values anywhere.
func (x Redactor) Args(args []string) []string {
	if args == nil {
		return nil
	}
	out := make([]string, len(args))
	if x.Reveal {
		copy(out, args)
		return out
	}
	hideNext := false
	for i, a := range args {
		switch {
		case hideNext && a != "" && !strings.HasPrefix(a, "-"):
			out[i] = Mask(a)
			hideNext = false
			continue
		case strings.HasPrefix(a, "-"):
			hideNext = false
			name, val, ok := strings.Cut(strings.TrimLeft(a, "-"), "=")
			if secretName.MatchString(name) {
				if ok {
					out[i] = a[:len(a)-len(val)] + Mask(val)
					continue
				}
				hideNext = true
			}
		}
		out[i] = x.Text(a)
	}
	return out
}

// Text replaces credential-shaped substrings of free text (titles, previews, values).
func (x Redactor) Text(s string) string {
	if x.Reveal || s == "" {
		return s
	}
	for _, re := range secretValue {
		if !re.MatchString(s) {
			continue
		}
		s = re.ReplaceAllStringFunc(s, func(m string) string {
			sub := re.FindStringSubmatchIndex(m)
			if len(sub) < 4 || sub[2] < 0 {
				return Mask(m)
			}
			return m[:sub[2]] + Mask(m[sub[2]:sub[3]]) + m[sub[3]:]
		})
	}
	return s
}
