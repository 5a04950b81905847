package criu

import (
	"sort"

	"github.com/podsleuth/podsleuth/forensics"
)

// Bounds on the container metadata an archive's config.dump and spec.dump carry (labels,
// annotations, the spec's arguments and environment). The JSON members are already capped at
// maxJSONMember; these keep what the model holds, and so what every view renders, small: a
// 24 MB spec.dump of a million environment entries would otherwise be a million lines of every
// report. Whatever is cut is said in a warning.
const (
	// maxMetaEntries bounds the labels and the annotations kept (each).
	maxMetaEntries = 4096
	// maxMetaBytes bounds the key and value bytes kept per map.
	maxMetaBytes = 1 << 20
	// maxMetaValue is the largest single label or annotation kept: Kubernetes refuses an
	// object whose annotations add up to more than 256 KiB (apimachinery's
	// TotalAnnotationSizeLimitB), so no larger value came from the API.
	maxMetaValue = 256 << 10
	// maxListEntries bounds the arguments and environment entries kept per list (from spec.dump
	// or from process memory); the bytes are bounded by Options.MaxArgBytes.
	maxListEntries = 65536
	// maxArgString is the kernel's MAX_ARG_STRLEN (32 pages): execve refuses a longer argument
	// or environment string, so a longer one was never a process's.
	maxArgString = 32 * 4096
)

// boundMap keeps, in key order, the entries of m that fit maxMetaEntries and maxMetaBytes,
// dropping any whose value is over maxMetaValue; it warns (member and what) when it cuts.
func (d *decoder) boundMap(m map[string]string, member, what string) map[string]string {
	total, biggest := 0, 0
	for k, v := range m {
		total += len(k) + len(v)
		biggest = max(biggest, len(k)+len(v))
	}
	if len(m) <= maxMetaEntries && total <= maxMetaBytes && biggest <= maxMetaValue {
		return m
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make(map[string]string, min(len(m), maxMetaEntries))
	bytes, huge, full := 0, 0, false
	var hugeKey string
	for _, k := range keys {
		v := m[k]
		if len(k)+len(v) > maxMetaValue {
			if huge == 0 {
				hugeKey = k
			}
			huge++
			continue
		}
		if full || len(out) == maxMetaEntries || bytes+len(k)+len(v) > maxMetaBytes {
			full = true
			continue
		}
		out[k] = v
		bytes += len(k) + len(v)
	}
	if huge > 0 {
		d.warnf("%s: %d %s over %d bytes dropped (the first %q)", member, huge, what, maxMetaValue, forensics.Printable(shorten(hugeKey, 64)))
	}
	if full {
		d.warnf("%s: %d %s (%d bytes); only the first %d by key (%d bytes) are kept", member, len(m), what, total, len(out), bytes)
	}
	return out
}

// boundList keeps the leading strings of l that fit maxListEntries and maxBytes (each string
// counted with its NUL, as on the process stack), cutting strings over maxArgString; it warns
// when it cuts.
func (d *decoder) boundList(l []string, maxBytes int, member, what string) []string {
	bytes, long := 0, 0
	n := 0
	for ; n < len(l) && n < maxListEntries; n++ {
		s := len(l[n])
		if s > maxArgString {
			long++
			s = maxArgString
		}
		if bytes+s+1 > maxBytes {
			break
		}
		bytes += s + 1
	}
	if n == len(l) && long == 0 {
		return l
	}
	out := make([]string, n)
	copy(out, l[:n])
	for i, s := range out {
		if len(s) > maxArgString {
			out[i] = s[:maxArgString]
		}
	}
	if long > 0 {
		d.warnf("%s: %d %s longer than the kernel's %d-byte limit (MAX_ARG_STRLEN), cut to it", member, long, what, maxArgString)
	}
	if n < len(l) {
		d.warnf("%s: %d %s; only the first %d (%d bytes) are kept", member, len(l), what, n, bytes)
	}
	return out
}

func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// containerBounds bounds the metadata container read (see the constants above).
func (d *decoder) containerBounds(c *forensics.Container) {
	c.Labels = d.boundMap(c.Labels, "config.dump", "labels")
	c.Annotations = d.boundMap(c.Annotations, "spec.dump", "annotations")
	c.Args = d.boundList(c.Args, d.o.MaxArgBytes, "spec.dump", "arguments")
	c.Env = d.boundList(c.Env, d.o.MaxArgBytes, "spec.dump", "environment entries")
}
