package main

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/podsleuth/podsleuth/forensics"
	"github.com/podsleuth/podsleuth/forensics/archive"
	"github.com/podsleuth/podsleuth/forensics/memory"
	"github.com/podsleuth/podsleuth/forensics/open"
)

// memCheckpoint is an opened archive with its decoded model and memory index, shared by
// memdump, memsearch, iocs and findings.
type memCheckpoint struct {
	arc *archive.Archive
	cp  *forensics.Checkpoint
	mem *memory.Memory
	// item is the evidence ID when the archive is store evidence ("" otherwise).
	item string
	// cs is the opened case: with memOpenBeside, its hash and verification still run.
	cs *open.Case
}

// memOpen opens ARCHIVE (tar, tar.gz, tar.zst, a CRIU image directory or an evidence ID) with
// the open job and requires its memory index; the index's warnings are printed.
func (a *app) memOpen(cmd *cobra.Command, arg string) (*memCheckpoint, func() error, error) {
	return a.memOpenWith(cmd, arg, false)
}

// memOpenBeside is memOpen leaving the archive's hash and the evidence verification running
// beside the caller's analysis: the caller calls a.settle(ctx, mc.cs) before any output.
func (a *app) memOpenBeside(cmd *cobra.Command, arg string) (*memCheckpoint, func() error, error) {
	return a.memOpenWith(cmd, arg, true)
}

func (a *app) memOpenWith(cmd *cobra.Command, arg string, beside bool) (*memCheckpoint, func() error, error) {
	cs, err := a.openArg(cmd, arg, func(c *open.Config) { c.Memory, c.Beside = true, beside })
	if err != nil {
		return nil, nil, err
	}
	if cs.MemoryErr != nil {
		if beside {
			_ = a.settle(cmd.Context(), cs) // a mismatch is reported even so
		}
		_ = cs.Close()
		return nil, nil, cs.MemoryErr
	}
	for _, w := range cs.Memory.Warnings {
		fmt.Fprintf(a.ErrOut, "warning: %s\n", w)
	}
	mc := &memCheckpoint{arc: cs.Archive, cp: cs.Checkpoint, mem: cs.Memory, cs: cs}
	if cs.Item != nil {
		mc.item = cs.Item.ID
	}
	return mc, cs.Close, nil
}

// parseAddr accepts 0x-prefixed hex or decimal.
func parseAddr(s string) (uint64, error) {
	s = strings.ReplaceAll(strings.TrimSpace(s), "_", "")
	if strings.HasPrefix(s, "0x") || strings.HasPrefix(s, "0X") {
		return strconv.ParseUint(s[2:], 16, 64)
	}
	return strconv.ParseUint(s, 0, 64)
}

// parseSize accepts 4096, 0x1000, 4k, 2M, 1G.
func parseSize(s string) (uint64, error) {
	mul := uint64(1)
	t := strings.ToLower(strings.TrimSpace(s))
	switch {
	case strings.HasSuffix(t, "k"):
		mul, t = 1<<10, strings.TrimSuffix(t, "k")
	case strings.HasSuffix(t, "m"):
		mul, t = 1<<20, strings.TrimSuffix(t, "m")
	case strings.HasSuffix(t, "g"):
		mul, t = 1<<30, strings.TrimSuffix(t, "g")
	}
	n, err := parseAddr(t)
	if err != nil {
		return 0, fmt.Errorf("%q is not a size", s)
	}
	return n * mul, nil
}

type memdumpOptions struct {
	pid    int
	addr   string
	length string
	output string
	out    string
	maps   bool
}

func newMemdumpCmd(a *app) *cobra.Command {
	o := &memdumpOptions{}
	cmd := &cobra.Command{
		Use:   "memdump ARCHIVE|EVIDENCE-ID --pid N (--addr 0xADDR --len N | --maps)",
		Short: "Hexdump or extract a process's memory from a checkpoint, or list its VMAs",
		Long: `memdump reads a process's memory straight from the checkpoint's page images (no extraction):
a hexdump in canonical "hexdump -C" layout with the VMA named, the raw bytes (-o raw, to stdout
or --out FILE, for other tools), or JSON. Ranges the checkpoint does not hold (pages in a parent
image, lazy pages, never-touched pages) are reported with the reason, never filled in; -o raw
refuses them. --maps lists the VMAs with how many bytes of each are in the checkpoint.`,
		Example: `  podsleuth memdump ckpt.tar --maps --pid 1
  podsleuth memdump ckpt.tar --pid 1 --addr 0x7f3a2c000000 --len 256
  podsleuth memdump ckpt.tar --pid 1 --addr 0x7f3a2c000000 --len 1M -o raw --out heap.bin`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.validate(); err != nil {
				return err
			}
			mc, closeCase, err := a.memOpen(cmd, args[0])
			if err != nil {
				return err
			}
			defer closeCase()
			if o.maps {
				return o.runMaps(a.Out, mc)
			}
			return o.runDump(a.Out, mc)
		},
	}
	f := cmd.Flags()
	f.IntVar(&o.pid, "pid", 0, "process ID (as recorded in the checkpoint)")
	f.StringVar(&o.addr, "addr", "", "start address (0x hex or decimal)")
	f.StringVar(&o.length, "len", "256", "number of bytes (accepts k, M, G suffixes)")
	f.StringVarP(&o.output, "output", "o", "text", "output format: text|raw|json")
	f.StringVar(&o.out, "out", "", "write the output to this file instead of stdout")
	f.BoolVar(&o.maps, "maps", false, "list VMAs with resident bytes instead of dumping")
	return cmd
}

func (o *memdumpOptions) validate() error {
	switch o.output {
	case "text", "raw", "json":
	default:
		return fmt.Errorf("--output %q: want text, raw or json", o.output)
	}
	if o.maps {
		if o.output == "raw" {
			return errors.New("--maps has no raw output: use text or json")
		}
		return nil
	}
	if o.pid == 0 || o.addr == "" {
		return errors.New("--pid and --addr are required (or --maps)")
	}
	return nil
}

// mapsEntry is the JSON of --maps.
type mapsEntry struct {
	PID  int             `json:"pid"`
	Comm string          `json:"comm"`
	Maps []forensics.VMA `json:"maps"`
	// Format is the pagemap encoding ("nr_pages" or "compat_nr_pages").
	Format string `json:"pagemap_format,omitempty"`
	Error  string `json:"error,omitempty"`
}

func (o *memdumpOptions) runMaps(w io.Writer, mc *memCheckpoint) (err error) {
	var out []mapsEntry
	for _, p := range mc.mem.Procs {
		if o.pid != 0 && p.PID != o.pid {
			continue
		}
		e := mapsEntry{PID: p.PID, Comm: p.Comm, Maps: p.Maps, Format: p.Format}
		if p.Err != nil {
			e.Error = p.Err.Error()
		}
		out = append(out, e)
	}
	if o.pid != 0 && len(out) == 0 {
		return fmt.Errorf("pid %d: %w", o.pid, memory.ErrNoProcess)
	}
	w, closeOut, err := o.writer(w)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, closeOut()) }()
	if o.output == "json" {
		return writeJSON(w, out)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for i, e := range out {
		if i > 0 {
			fmt.Fprintln(tw)
		}
		fmt.Fprintf(tw, "PID %d (%s)", e.PID, e.Comm)
		if e.Error != "" {
			fmt.Fprintf(tw, "  memory not readable: %s", e.Error)
		}
		fmt.Fprintln(tw)
		fmt.Fprintln(tw, "START\tEND\tPERM\tKIND\tSIZE\tRESIDENT\tPATH")
		for _, v := range e.Maps {
			path := v.Path
			if v.Deleted && !strings.HasSuffix(path, "(deleted)") {
				path += " (deleted)"
			}
			fmt.Fprintf(tw, "%016x\t%016x\t%s\t%s\t%d\t%d\t%s\n", v.Start, v.End, v.Prot, v.Kind, v.Size(), v.ResidentBytes, path)
		}
	}
	return tw.Flush()
}

// writer returns where output goes: --out FILE or w.
func (o *memdumpOptions) writer(w io.Writer) (io.Writer, func() error, error) {
	if o.out == "" {
		return w, func() error { return nil }, nil
	}
	f, err := os.OpenFile(o.out, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, nil, err
	}
	return f, f.Close, nil
}

// dumpJSON is the JSON of a dump: the readable pieces and the gaps with their reasons.
type dumpJSON struct {
	PID    int         `json:"pid"`
	Comm   string      `json:"comm"`
	Addr   uint64      `json:"addr"`
	Len    uint64      `json:"len"`
	Pieces []dumpPiece `json:"pieces"`
	Gaps   []dumpGap   `json:"gaps,omitempty"`
}

type dumpPiece struct {
	Addr   uint64         `json:"addr"`
	Region string         `json:"region"`
	VMA    *forensics.VMA `json:"vma,omitempty"`
	Hex    string         `json:"hex"`
}

type dumpGap struct {
	Start  uint64 `json:"start"`
	End    uint64 `json:"end"`
	Reason string `json:"reason"`
}

// maxTextDump bounds hexdump and JSON output (raw output streams any length).
const maxTextDump = 64 << 20

func (o *memdumpOptions) runDump(w io.Writer, mc *memCheckpoint) (err error) {
	start, err := parseAddr(o.addr)
	if err != nil {
		return fmt.Errorf("--addr %q: not an address", o.addr)
	}
	n, err := parseSize(o.length)
	if err != nil {
		return fmt.Errorf("--len: %w", err)
	}
	if n == 0 {
		return errors.New("--len must be > 0")
	}
	if start+n < start {
		return errors.New("--addr + --len wraps around the address space")
	}
	if o.output != "raw" && n > maxTextDump {
		return fmt.Errorf("--len %d is more than %d bytes of %s output: use -o raw --out FILE", n, maxTextDump, o.output)
	}
	p := mc.mem.Proc(o.pid)
	if p == nil {
		return fmt.Errorf("pid %d: %w", o.pid, memory.ErrNoProcess)
	}
	end := start + n
	ranges := p.Readable(start, end)
	if o.output == "raw" {
		// never invent bytes: the whole range must be in the checkpoint
		if len(ranges) != 1 || ranges[0].Start != start || ranges[0].End != end {
			at := start
			if len(ranges) > 0 && ranges[0].Start == start {
				at = ranges[0].End
			}
			return fmt.Errorf("pid %d 0x%x: %w: %s (the range 0x%x-0x%x is not wholly in the checkpoint; see memdump --maps)",
				o.pid, at, memory.ErrNotResident, p.Why(at), start, end)
		}
	}
	w, closeOut, err := o.writer(w)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, closeOut()) }()
	buf := make([]byte, 1<<20)
	dj := dumpJSON{PID: p.PID, Comm: p.Comm, Addr: start, Len: n}
	hd := &hexdumper{w: w}
	at := start
	gap := func(s, e uint64) {
		if s >= e {
			return
		}
		why := p.Why(s)
		dj.Gaps = append(dj.Gaps, dumpGap{Start: s, End: e, Reason: why})
		if o.output == "text" {
			hd.flush()
			fmt.Fprintf(w, "-- %016x-%016x (%d bytes) not in this checkpoint: %s\n", s, e, e-s, why)
		}
	}
	for _, r := range ranges {
		gap(at, r.Start)
		for a := r.Start; a < r.End; {
			// one VMA at a time, so the text output can name it
			v := p.VMA(a)
			stop := r.End
			if v != nil {
				stop = min(stop, v.End)
			} else if nv := nextVMA(p, a); nv != 0 {
				stop = min(stop, nv)
			}
			for a < stop {
				k := min(uint64(len(buf)), stop-a)
				if _, err := p.ReadAt(buf[:k], a); err != nil {
					return err
				}
				switch o.output {
				case "raw":
					if _, err := w.Write(buf[:k]); err != nil {
						return err
					}
				case "json":
					dj.Pieces = append(dj.Pieces, dumpPiece{Addr: a, Region: memory.Region(v), VMA: v, Hex: hex.EncodeToString(buf[:k])})
				default:
					hd.region(a, v, p)
					hd.write(a, buf[:k])
				}
				a += k
			}
		}
		at = r.End
	}
	gap(at, end)
	switch o.output {
	case "json":
		return writeJSON(w, dj)
	case "text":
		hd.flush()
	}
	return nil
}

func nextVMA(p *memory.Proc, a uint64) uint64 {
	for _, v := range p.Maps {
		if v.Start > a {
			return v.Start
		}
	}
	return 0
}

// hexdumper writes canonical hexdump -C lines (16 bytes, two groups of 8, ASCII column) with
// 64-bit addresses, and a header line whenever the VMA changes.
type hexdumper struct {
	w       io.Writer
	lastVMA string
	line    [16]byte
	n       int
	addr    uint64
}

func (h *hexdumper) region(a uint64, v *forensics.VMA, p *memory.Proc) {
	desc := "unmapped (no VMA: the VMA list contradicts the pagemap)"
	if v != nil {
		desc = fmt.Sprintf("%016x-%016x %s %s", v.Start, v.End, v.Prot, memory.Region(v))
	}
	if desc != h.lastVMA {
		h.flush()
		fmt.Fprintf(h.w, "# pid %d (%s) VMA %s\n", p.PID, p.Comm, desc)
		h.lastVMA = desc
	}
}

func (h *hexdumper) write(a uint64, b []byte) {
	for len(b) > 0 {
		if h.n == 0 {
			h.addr = a
		} else if h.addr+uint64(h.n) != a {
			h.flush()
			h.addr = a
		}
		k := copy(h.line[h.n:], b)
		h.n += k
		b, a = b[k:], a+uint64(k)
		if h.n == 16 {
			h.flush()
		}
	}
}

func (h *hexdumper) flush() {
	if h.n == 0 {
		return
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "%016x  ", h.addr)
	for i := 0; i < 16; i++ {
		if i < h.n {
			fmt.Fprintf(&sb, "%02x ", h.line[i])
		} else {
			sb.WriteString("   ")
		}
		if i == 7 {
			sb.WriteByte(' ')
		}
	}
	sb.WriteString(" |")
	sb.WriteString(memory.Printable(h.line[:h.n]))
	sb.WriteString("|\n")
	io.WriteString(h.w, sb.String())
	h.n = 0
}
