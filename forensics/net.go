package forensics

import (
	"strconv"
	"strings"
)

// HostPort renders an address and port as "10.0.0.1:443", "[fd00::1]:443" (IPv6 in brackets)
// or "*:80" (no address). The CLI, the TUI, diffs and reports all use it, so a socket end reads
// the same everywhere. The address is made terminal-safe (Printable).
func HostPort(addr string, port uint32) string {
	if addr == "" {
		addr = "*"
	}
	addr = Printable(addr)
	if strings.Contains(addr, ":") {
		addr = "[" + addr + "]"
	}
	return addr + ":" + strconv.FormatUint(uint64(port), 10)
}
