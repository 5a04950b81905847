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

// headers applies the limits and the archive's rules to a tar stream's headers in turn; the
// plain-tar index and the compressed stream share it.
type headers struct {
	lim                Limits
	entries            int
	nameBytes, content int64
	// last is the name of the last header read, for errors about the one after it.
	last string
}

func newHeaders(lim Limits) *headers { return &headers{lim: lim, last: "(archive start)"} }

// admit checks one header: the number of members, the name (length, total, traversal), links
// (refused), sparse members (refused), the member's size and the archive's total. It returns
// the member's clean name and whether it is a regular member to index (directories, devices
// and FIFOs are passed over: never readable members of a checkpoint archive).
func (hs *headers) admit(h *tar.Header) (string, bool, error) {
	hs.entries++
	if hs.entries > hs.lim.MaxEntries {
		return "", false, fmt.Errorf("%s: %w: more than %d members (limits.max_entries)", shortName(h.Name), ErrTooLarge, hs.lim.MaxEntries)
	}
	if len(h.Name) > MaxNameBytes || len(h.Linkname) > MaxNameBytes {
		return "", false, fmt.Errorf("%s: %w: member name of %d bytes (at most %d)", shortName(h.Name), ErrTooLarge, max(len(h.Name), len(h.Linkname)), MaxNameBytes)
	}
	hs.nameBytes += int64(len(h.Name))
	if hs.nameBytes > maxTotalNameBytes {
		return "", false, fmt.Errorf("%s: %w: member names exceed %d bytes in total", shortName(h.Name), ErrTooLarge, maxTotalNameBytes)
	}
	name, err := CleanName(h.Name)
	if err != nil {
		return "", false, err
	}
	hs.last = h.Name
	switch h.Typeflag {
	case tar.TypeSymlink:
		return "", false, fmt.Errorf("%s: %w: symbolic link to %q", h.Name, ErrLink, h.Linkname)
	case tar.TypeLink:
		return "", false, fmt.Errorf("%s: %w: hard link to %q", h.Name, ErrLink, h.Linkname)
	case tar.TypeReg, tar.TypeRegA, tar.TypeGNUSparse:
	default:
		return "", false, nil
	}
	if h.Typeflag == tar.TypeGNUSparse || hasSparsePAX(h) {
		return "", false, fmt.Errorf("%s: %w: sparse members are not supported", h.Name, ErrCorrupt)
	}
	if name == "" {
		return "", false, nil
	}
	if h.Size < 0 || h.Size > hs.lim.MaxMemberBytes {
		return "", false, fmt.Errorf("%s: %w: %d bytes (limits.max_member_bytes %d)", h.Name, ErrTooLarge, h.Size, hs.lim.MaxMemberBytes)
	}
	hs.content += h.Size
	if hs.content > hs.lim.MaxTotalBytes {
		return "", false, fmt.Errorf("%s: %w: archive content exceeds %d bytes (limits.max_total_bytes)", h.Name, ErrTooLarge, hs.lim.MaxTotalBytes)
	}
	return name, true, nil
}

// shortName cuts a hostile name for an error message, visibly.
func shortName(s string) string {
	const n = 256
	if len(s) <= n {
		return s
	}
	return fmt.Sprintf("%s...[%d bytes]", strings.ToValidUTF8(s[:n], "?"), len(s))
}
