package report

import (
	"slices"
	"strings"

	"github.com/podsleuth/podsleuth/forensics"
	"github.com/podsleuth/podsleuth/forensics/diff"
	"github.com/podsleuth/podsleuth/forensics/ioc"
)

// Redactor hides secret values in everything a report prints, with the same rules and the
// same fingerprints as forensics/ioc, so a redacted value in a table ("DB_PASSWORD=s3…ss
// sha256:ef09f464") matches its row in the indicator table without being disclosed:
//   - environment entries whose name says they hold a secret (ioc.EnvSecret), masked as the
//     env-secret indicator of the whole entry;
//   - "--password=X" / "--token X" style arguments;
//   - every secret-shaped substring ioc.Scan finds in free text (JWTs, bearer tokens, private
//     keys, cloud keys). AWS access key IDs are identifiers, not secrets (responders search
//     CloudTrail for them), so they stay visible, as in the indicator table.
type Redactor struct {
	// Reveal turns redaction off (config report.reveal, --reveal).
	Reveal bool
}

// Mask returns the redacted form of a secret value of an indicator type: at most two
// characters at each end and the first 8 hex digits of its SHA-256 (ioc.Redact).
func Mask(typ, v string) string { return ioc.Redact(typ, v) }

// Env redacts a NAME=VALUE entry whose name looks secret, then any secret-shaped value in it.
func (x Redactor) Env(kv string) string {
	if x.Reveal {
		return kv
	}
	if ioc.EnvSecret(kv) {
		return ioc.Redact(ioc.TypeEnvSecret, kv)
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

// Args redacts a command line: "--password=X" and "--token X" forms (the value is treated as
// an environment secret named after the flag), and secret-shaped values anywhere.
func (x Redactor) Args(args []string) []string {
	if args == nil {
		return nil
	}
	out := make([]string, len(args))
	if x.Reveal {
		copy(out, args)
		return out
	}
	hideNext := ""
	for i, a := range args {
		if hideNext != "" && a != "" && !strings.HasPrefix(a, "-") {
			kv := ioc.Redact(ioc.TypeEnvSecret, hideNext+"="+a)
			out[i] = kv[len(hideNext)+1:]
			hideNext = ""
			continue
		}
		hideNext = ""
		if strings.HasPrefix(a, "-") {
			name, val, ok := strings.Cut(strings.TrimLeft(a, "-"), "=")
			flag := strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
			if ioc.EnvSecret(flag + "=x") {
				if ok && val != "" {
					kv := ioc.Redact(ioc.TypeEnvSecret, flag+"="+val)
					out[i] = a[:len(a)-len(val)] + kv[len(flag)+1:]
					continue
				}
				if !ok {
					hideNext = flag
				}
			}
		}
		out[i] = x.Text(a)
	}
	return out
}

// Text replaces the secret-shaped substrings of free text (titles, previews, paths).
func (x Redactor) Text(s string) string {
	if x.Reveal || s == "" {
		return s
	}
	var secrets []ioc.Match
	for _, m := range ioc.Scan(s) {
		if m.Secret && m.Start >= 0 && m.End <= len(s) && m.Start < m.End {
			secrets = append(secrets, m)
		}
	}
	if len(secrets) == 0 {
		return s
	}
	// replace from the end so earlier offsets stay valid; skip matches inside a replaced one
	slices.SortFunc(secrets, func(a, b ioc.Match) int { return b.Start - a.Start })
	end := len(s) + 1
	for _, m := range secrets {
		if m.End > end {
			continue
		}
		// the match's Value may be a sub-part (the token of "Bearer X"): mask where it sits
		i := strings.Index(s[m.Start:m.End], m.Value)
		start, stop := m.Start, m.End
		if i >= 0 {
			start, stop = m.Start+i, m.Start+i+len(m.Value)
		}
		s = s[:start] + ioc.Redact(m.Type, m.Value) + s[stop:]
		end = m.Start
	}
	return s
}

// RedactDiff returns a copy of d with environment, command line and indicator values redacted
// (unless x.Reveal).
func RedactDiff(d *diff.Result, x Redactor) *diff.Result {
	c := *d
	if x.Reveal {
		return &c
	}
	redactRefs := func(in []diff.ProcessRef) []diff.ProcessRef {
		out := make([]diff.ProcessRef, len(in))
		for i, p := range in {
			p.Cmdline = nonNil(x.Args(p.Cmdline))
			out[i] = p
		}
		return out
	}
	c.ProcessesAdded = redactRefs(d.ProcessesAdded)
	c.ProcessesRemoved = redactRefs(d.ProcessesRemoved)
	c.ProcessesChanged = make([]diff.ProcessChange, len(d.ProcessesChanged))
	for i, p := range d.ProcessesChanged {
		ch := make([]diff.FieldChange, len(p.Changes))
		for j, f := range p.Changes {
			switch f.Field {
			case "environ":
				f.Added, f.Removed = x.EnvList(f.Added), x.EnvList(f.Removed)
			case "cmdline":
				f.Before = strings.Join(x.Args(strings.Fields(f.Before)), " ")
				f.After = strings.Join(x.Args(strings.Fields(f.After)), " ")
				f.Added, f.Removed = x.Args(f.Added), x.Args(f.Removed)
			}
			ch[j] = f
		}
		p.Changes = ch
		c.ProcessesChanged[i] = p
	}
	redactIOCs := func(in []forensics.IOC) []forensics.IOC {
		out := make([]forensics.IOC, len(in))
		for i, v := range in {
			if v.Secret && !v.Redacted {
				v.Value, v.Redacted = Mask(v.Type, v.Value), true
			}
			out[i] = v
		}
		return out
	}
	c.IOCsNew, c.IOCsGone = redactIOCs(d.IOCsNew), redactIOCs(d.IOCsGone)
	redactFDs := func(in []diff.FDRef) []diff.FDRef {
		out := make([]diff.FDRef, len(in))
		for i, f := range in {
			f.Target = x.Text(f.Target)
			out[i] = f
		}
		return out
	}
	c.FDsAdded, c.FDsRemoved = redactFDs(d.FDsAdded), redactFDs(d.FDsRemoved)
	redactFindings := func(in []forensics.Finding) []forensics.Finding {
		out := make([]forensics.Finding, len(in))
		for i, f := range in {
			f.Title, f.Reason = x.Text(f.Title), x.Text(f.Reason)
			out[i] = f
		}
		return out
	}
	c.FindingsNew, c.FindingsResolved = redactFindings(d.FindingsNew), redactFindings(d.FindingsResolved)
	return &c
}
