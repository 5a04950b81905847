package archive

import (
	"archive/tar"
	"fmt"
	"strings"

	"github.com/podsleuth/podsleuth/config"
)

// Limits bound what opening a hostile archive may cost.
type Limits struct {
	// MaxMemberBytes caps the (uncompressed) size of one member.
	MaxMemberBytes int64
	// MaxTotalBytes caps the uncompressed size of the whole archive (the decompressed tar
	// stream for compressed archives, the sum of member sizes for plain tars and directories).
	MaxTotalBytes int64
	// MaxEntries caps the number of members.
	MaxEntries int
}

// DefaultLimits returns the limits podsleuth uses when the configuration sets none:
// 16 GiB per member, 64 GiB in total, one million members.
func DefaultLimits() Limits {
	return Limits{MaxMemberBytes: 16 << 30, MaxTotalBytes: 64 << 30, MaxEntries: 1_000_000}
}

// LimitsFrom converts the configuration's limits; zero fields take the defaults.
func LimitsFrom(c config.Limits) Limits {
	l := DefaultLimits()
	if c.MaxMemberBytes > 0 {
		l.MaxMemberBytes = c.MaxMemberBytes
	}
	if c.MaxTotalBytes > 0 {
		l.MaxTotalBytes = c.MaxTotalBytes
	}
	if c.MaxEntries > 0 {
		l.MaxEntries = c.MaxEntries
	}
	return l
}

func (l Limits) normalized() Limits {
	d := DefaultLimits()
	if l.MaxMemberBytes <= 0 {
		l.MaxMemberBytes = d.MaxMemberBytes
	}
	if l.MaxTotalBytes <= 0 {
		l.MaxTotalBytes = d.MaxTotalBytes
	}
	if l.MaxEntries <= 0 {
		l.MaxEntries = d.MaxEntries
	}
	return l
}

// MaxNameBytes bounds one member name (PATH_MAX); checkpoint archives use short names.
const MaxNameBytes = 4096

// maxTotalNameBytes bounds the sum of all member names.
const maxTotalNameBytes = 64 << 20

// checkHeader applies the limits on entries and names to one header.
func checkHeader(h *tar.Header, entries int, nameBytes *int64, lim Limits) error {
	if entries > lim.MaxEntries {
		return fmt.Errorf("%s: %w: more than %d members (limits.max_entries)", shortName(h.Name), ErrTooLarge, lim.MaxEntries)
	}
	if len(h.Name) > MaxNameBytes || len(h.Linkname) > MaxNameBytes {
		return fmt.Errorf("%s: %w: member name of %d bytes (at most %d)", shortName(h.Name), ErrTooLarge, max(len(h.Name), len(h.Linkname)), MaxNameBytes)
	}
	*nameBytes += int64(len(h.Name))
	if *nameBytes > maxTotalNameBytes {
		return fmt.Errorf("%s: %w: member names exceed %d bytes in total", shortName(h.Name), ErrTooLarge, maxTotalNameBytes)
	}
	return nil
}

// shortName cuts a hostile name for an error message, visibly.
func shortName(s string) string {
	const n = 256
	if len(s) <= n {
		return s
	}
	return fmt.Sprintf("%s...[%d bytes]", strings.ToValidUTF8(s[:n], "?"), len(s))
}
