package checkpoint

import (
	"context"
	"fmt"
	"strings"

	tea "charm.land/bubbletea/v2"

	"github.com/podsleuth/podsleuth/tui/theme"
)

// Search modes, cycled with "m" on the Memory tab.
var searchModes = []string{"literal", "regex", "hex"}

// MaxHits bounds the hits a search returns to the TUI.
const MaxHits = 10000

// SearchDoneMsg is the result of a memory search; ID echoes the request so stale results
// (a newer search was started) are dropped.
type SearchDoneMsg struct {
	ID    int
	Query Query
	Hits  []Hit
	Err   error
}

// SearchProgressMsg is one progress update of search ID.
type SearchProgressMsg struct {
	ID       int
	Progress SearchProgress
}

// MemReadMsg is the result of reading a window of a process's memory for the hexdump viewer.
type MemReadMsg struct {
	ID      int
	PID     int
	Addr    uint64
	Data    []byte
	Present []bool
	Err     error
}

// searchCmd runs the search; progress goes to ch, which is closed when it returns.
func searchCmd(ctx context.Context, mem Memory, id int, q Query, ch chan SearchProgress) tea.Cmd {
	return func() tea.Msg {
		hits, err := mem.Search(ctx, q, ch)
		close(ch)
		return SearchDoneMsg{ID: id, Query: q, Hits: hits, Err: err}
	}
}

// waitProgressCmd reads one progress update; it is re-armed after each message.
func waitProgressCmd(id int, ch <-chan SearchProgress) tea.Cmd {
	return func() tea.Msg {
		p, ok := <-ch
		if !ok {
			return nil
		}
		return SearchProgressMsg{ID: id, Progress: p}
	}
}

// readCmd reads n bytes at addr of pid's memory.
func readCmd(mem Memory, id, pid int, addr uint64, n int) tea.Cmd {
	return func() tea.Msg {
		data, present, err := mem.Read(context.Background(), pid, addr, n)
		return MemReadMsg{ID: id, PID: pid, Addr: addr, Data: data, Present: present, Err: err}
	}
}

// memState is the Memory tab: the query, the running search, the hits and the hexdump viewer.
type memState struct {
	mode     int
	query    string
	lastMode string // the mode query was searched with (m applies to the next search)
	searchID int
	running  bool
	cancel   context.CancelFunc
	progCh   <-chan SearchProgress
	progress SearchProgress
	err      error
	hits     []Hit
	searched bool
	dump     *hexView
}

// hexView scrolls through one VMA around a hit.
type hexView struct {
	hit     Hit
	readID  int
	base    uint64 // address of data[0]
	data    []byte
	present []bool
	top     uint64 // address of the first shown line
	loading bool
	err     error
}

const (
	hexLine   = 16
	hexWindow = 16 * 1024
)

func alignDown(a, to uint64) uint64 { return a &^ (to - 1) }

// windowFor returns the read window that holds addr, clamped to the VMA.
func (v *hexView) windowFor(addr uint64) (uint64, int) {
	start := alignDown(addr, 4096)
	if start >= 4096 {
		start -= 4096
	}
	if start < v.hit.VMAStart {
		start = v.hit.VMAStart
	}
	end := start + hexWindow
	if end > v.hit.VMAEnd || end < start {
		end = v.hit.VMAEnd
	}
	return start, int(end - start)
}

func (v *hexView) has(addr uint64, lines int) bool {
	end := addr + uint64(lines*hexLine)
	if end > v.hit.VMAEnd {
		end = v.hit.VMAEnd
	}
	return v.data != nil && addr >= v.base && end <= v.base+uint64(len(v.data))
}

// scroll moves the top by n lines within the VMA.
func (v *hexView) scroll(n int, lines int) {
	top := int64(v.top) + int64(n*hexLine)
	lo := int64(alignDown(v.hit.VMAStart, hexLine))
	hi := int64(v.hit.VMAEnd) - int64(lines*hexLine)
	if hi < lo {
		hi = lo
	}
	top = min(max(top, lo), hi)
	v.top = uint64(top)
}

// HexdumpLines renders lines of the classic hexdump starting at top; bytes not present in the
// dump are shown as "..", the hit's bytes are highlighted.
func HexdumpLines(base uint64, data []byte, present []bool, top uint64, lines int, hit Hit, th theme.Theme) []string {
	out := make([]string, 0, lines)
	for i := 0; i < lines; i++ {
		addr := top + uint64(i*hexLine)
		if addr >= hit.VMAEnd {
			break
		}
		var hx, asc strings.Builder
		for j := 0; j < hexLine; j++ {
			a := addr + uint64(j)
			if j == 8 {
				hx.WriteByte(' ')
			}
			off := int64(a) - int64(base)
			if a >= hit.VMAEnd || off < 0 || off >= int64(len(data)) {
				hx.WriteString("   ")
				asc.WriteByte(' ')
				continue
			}
			if present != nil && !present[off] {
				hx.WriteString(".. ")
				asc.WriteByte(' ')
				continue
			}
			b := data[off]
			h := fmt.Sprintf("%02x", b)
			c := "."
			if b >= 0x20 && b < 0x7f {
				c = string(rune(b))
			}
			if a >= hit.Addr && a < hit.Addr+uint64(max(hit.Len, 1)) {
				h, c = th.Match.Render(h), th.Match.Render(c)
			}
			hx.WriteString(h + " ")
			asc.WriteString(c)
		}
		out = append(out, fmt.Sprintf("%012x  %s |%s|", addr, hx.String(), asc.String()))
	}
	return out
}

// ParseHex turns "41 42 0x43 4445" into bytes; it is how hex queries are validated before
// they are handed to the memory engine.
func ParseHex(s string) ([]byte, error) {
	s = strings.NewReplacer(" ", "", "0x", "", "\\x", "", ":", "").Replace(strings.ToLower(s))
	if s == "" {
		return nil, fmt.Errorf("empty hex pattern")
	}
	if len(s)%2 != 0 {
		return nil, fmt.Errorf("hex pattern %q has an odd number of digits", s)
	}
	out := make([]byte, len(s)/2)
	for i := range out {
		var b byte
		for _, c := range s[2*i : 2*i+2] {
			b <<= 4
			switch {
			case c >= '0' && c <= '9':
				b |= byte(c - '0')
			case c >= 'a' && c <= 'f':
				b |= byte(c-'a') + 10
			default:
				return nil, fmt.Errorf("hex pattern: %q is not a hex digit", c)
			}
		}
		out[i] = b
	}
	return out, nil
}
