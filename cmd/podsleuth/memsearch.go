package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/podsleuth/podsleuth/forensics/content"
	"github.com/podsleuth/podsleuth/forensics/memory"
)

// memFilterFlags are the memory filters shared by memsearch and iocs.
type memFilterFlags struct {
	pids      []int
	perm      string
	regions   []string
	addrRange string
}

func (f *memFilterFlags) add(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.IntSliceVar(&f.pids, "pid", nil, "only these processes (and what they hold); repeatable or comma-separated")
	fl.StringVar(&f.perm, "perm", "", "only mappings with all these permissions (subset match of rwxsp, e.g. rwx or x)")
	fl.StringSliceVar(&f.regions, "region", nil, "only these regions: heap, stack, anon, shmem, memfd, file, file:PATH (PATH* for a prefix), pipe, socket")
	fl.StringVar(&f.addrRange, "addr-range", "", "only addresses in 0xSTART-0xEND (end exclusive)")
}

func (f *memFilterFlags) filter() (memory.Filter, error) {
	mf := memory.Filter{PIDs: f.pids, Perm: f.perm, Regions: f.regions}
	if f.addrRange != "" {
		s, e, ok := strings.Cut(f.addrRange, "-")
		if !ok {
			return mf, fmt.Errorf("--addr-range %q: want 0xSTART-0xEND: %w", f.addrRange, memory.ErrBadFilter)
		}
		var err1, err2 error
		mf.AddrStart, err1 = parseAddr(s)
		mf.AddrEnd, err2 = parseAddr(e)
		if err := errors.Join(err1, err2); err != nil {
			return mf, fmt.Errorf("--addr-range %q: %w: %w", f.addrRange, memory.ErrBadFilter, err)
		}
	}
	return mf, mf.Validate()
}

type memsearchOptions struct {
	memFilterFlags
	regex   bool
	fold    bool
	hex     bool
	context int
	count   bool
	output  string
	workers int
	// exprs are the -e PATTERNs (grep's -e: a pattern that may start with '-'; repeatable,
	// any of them matches).
	exprs    []string
	noHeader bool
}

func newMemsearchCmd(a *app) *cobra.Command {
	o := &memsearchOptions{}
	cmd := &cobra.Command{
		Use:   "memsearch ARCHIVE|EVIDENCE-ID (PATTERN | -e PATTERN...)",
		Short: "Search a checkpoint's memory, shared memory, pipe buffers and socket queues",
		Long: `memsearch searches every process's memory in a checkpoint (or those of --pid), plus the contents
of shared memory and memfd objects, unread pipe buffers and queued socket data, each hit attributed
to its process, VMA (kind, path, permissions) and address, or to the object and the processes that
hold it.

PATTERN is a literal byte string by default; -i makes ASCII letters match either case; --hex takes
bytes such as "90 90 ?? 4d" with ?? for any byte; --regex takes a Go (RE2) regular expression,
which runs in time linear in the input, so no pattern can be catastrophically slow (memory is not
UTF-8: a regex sees invalid bytes as U+FFFD; use --hex for arbitrary bytes; a regex match is
reported in full up to 4096 bytes).

The search streams the page images in bounded chunks on all cores: memory use does not grow with
the checkpoint, and a match that crosses a page, pagemap-entry or VMA boundary of contiguous
addresses is found exactly once. Pages the checkpoint does not hold are not searched.

As with grep, -e PATTERN gives a pattern that starts with '-' (or put it after --), and several
-e search for any of them (literal or --regex; --hex takes one). --count prints a header line
(PID COMM HITS) before one line per process; --no-header leaves it out.`,
		Example: `  podsleuth memsearch ckpt.tar 'http://'
  podsleuth memsearch ckpt.tar -i password --context 32
  podsleuth memsearch ckpt.tar --hex '7f 45 4c 46' --perm x --region anon
  podsleuth memsearch ckpt.tar --regex '[A-Z0-9]{20}' --pid 1 -o json
  podsleuth memsearch ckpt.tar --count MARKER
  podsleuth memsearch ckpt.tar -e '-----BEGIN' -e 'ssh-rsa '`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(o.exprs) > 0 {
				if len(args) != 1 {
					return fmt.Errorf("with -e, give only ARCHIVE|EVIDENCE-ID (got %d arguments)", len(args))
				}
				return nil
			}
			if len(args) == 1 {
				return errors.New("no PATTERN: give it after the archive, or with -e PATTERN (for one that starts with '-')")
			}
			return cobra.ExactArgs(2)(cmd, args)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			exprs := o.exprs
			if len(exprs) == 0 {
				exprs = args[1:2]
			}
			pat, err := o.pattern(exprs)
			if err != nil {
				return err
			}
			f, err := o.filter()
			if err != nil {
				return err
			}
			switch o.output {
			case "text", "json":
			default:
				return fmt.Errorf("--output %q: want text or json", o.output)
			}
			mc, closeCase, err := a.memOpen(cmd, args[0])
			if err != nil {
				return err
			}
			defer closeCase()
			// the saved files (ghost, tmpfs, /dev/shm, rootfs changes) are searched too
			set, err := content.List(cmd.Context(), mc.arc, mc.cp, mc.mem, content.Options{})
			if err != nil {
				return err
			}
			defer set.Close()
			set.Attach(mc.mem)
			for _, pid := range f.PIDs {
				if mc.mem.Proc(pid) == nil {
					return fmt.Errorf("--pid %d: %w", pid, memory.ErrNoProcess)
				}
			}
			opt := memory.SearchOptions{Filter: f, Context: o.context, Workers: o.workers}
			if o.count {
				opt.Context = 0
			}
			return o.run(cmd, a.Out, a.ErrOut, mc, pat, opt)
		},
	}
	o.add(cmd)
	cmd.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return fmt.Errorf("%w\n(a PATTERN that starts with '-' is given with -e PATTERN, or after --: podsleuth memsearch ARCHIVE -- -PATTERN)", err)
	})
	fl := cmd.Flags()
	fl.BoolVar(&o.regex, "regex", false, "PATTERN is a Go RE2 regular expression (linear time)")
	fl.BoolVarP(&o.fold, "ignore-case", "i", false, "ASCII case-insensitive")
	fl.BoolVar(&o.hex, "hex", false, `PATTERN is hex bytes, "??" for any byte: "90 90 ?? 4d"`)
	fl.IntVarP(&o.context, "context", "C", 0, "bytes of context to show around each hit")
	fl.BoolVar(&o.count, "count", false, "print PID<TAB>COMM<TAB>HITS per process (hits in its memory and in what it holds), after a header line")
	fl.BoolVar(&o.noHeader, "no-header", false, "--count: leave out the header line")
	fl.StringArrayVarP(&o.exprs, "regexp", "e", nil, "a PATTERN (may start with '-'); repeat for any of several")
	fl.StringVarP(&o.output, "output", "o", "text", "output format: text|json")
	fl.IntVar(&o.workers, "workers", 0, "scanning goroutines (default: all cores)")
	return cmd
}

func (o *memsearchOptions) pattern(exprs []string) (*memory.Pattern, error) {
	if len(exprs) > 1 {
		if o.hex {
			return nil, errors.New("--hex takes one pattern: give one -e")
		}
		alt := make([]string, len(exprs))
		for i, e := range exprs {
			if e == "" {
				return nil, errors.New("-e: empty pattern")
			}
			if o.regex {
				alt[i] = "(?:" + e + ")"
			} else {
				alt[i] = regexp.QuoteMeta(e)
			}
		}
		return memory.Regex(strings.Join(alt, "|"), o.fold)
	}
	s := exprs[0]
	switch {
	case o.regex && o.hex:
		return nil, errors.New("--regex and --hex are exclusive")
	case o.hex:
		if o.fold {
			return nil, errors.New("-i does not apply to --hex")
		}
		return memory.Hex(s)
	case o.regex:
		return memory.Regex(s, o.fold)
	default:
		return memory.Literal(s, o.fold)
	}
}

func (o *memsearchOptions) run(cmd *cobra.Command, out, errOut io.Writer, mc *memCheckpoint, pat *memory.Pattern, opt memory.SearchOptions) error {
	ctx := cmd.Context()
	bw := bufio.NewWriterSize(out, 1<<16)
	defer bw.Flush()
	if o.count {
		counts := map[int]int{}
		err := mc.mem.Search(ctx, pat, opt, func(h memory.Hit) error {
			if h.Kind == memory.KindMemory {
				counts[h.PID]++
				return nil
			}
			seen := map[int]bool{}
			for _, hd := range h.Holders {
				if !seen[hd.PID] {
					seen[hd.PID] = true
					counts[hd.PID]++
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		if o.output == "json" {
			type row struct {
				PID  int    `json:"pid"`
				Comm string `json:"comm"`
				Hits int    `json:"hits"`
			}
			rows := []row{}
			for _, p := range mc.mem.Procs {
				if len(opt.PIDs) == 0 || contains(opt.PIDs, p.PID) {
					rows = append(rows, row{p.PID, p.Comm, counts[p.PID]})
				}
			}
			return writeJSON(bw, rows)
		}
		if !o.noHeader {
			fmt.Fprintf(bw, "PID\tCOMM\tHITS\n")
		}
		for _, p := range mc.mem.Procs {
			if len(opt.PIDs) == 0 || contains(opt.PIDs, p.PID) {
				fmt.Fprintf(bw, "%d\t%s\t%d\n", p.PID, quote(p.Comm), counts[p.PID])
			}
		}
		return nil
	}
	n := 0
	if o.output == "json" {
		// streamed: one JSON document whatever the number of hits
		fmt.Fprintf(bw, "{\n  \"pattern\": %s,\n  \"hits\": [", jsonString(pat.Desc))
		err := mc.mem.Search(ctx, pat, opt, func(h memory.Hit) error {
			b, err := json.Marshal(h)
			if err != nil {
				return err
			}
			if n > 0 {
				bw.WriteString(",")
			}
			bw.WriteString("\n    ")
			bw.Write(b)
			n++
			return nil
		})
		fmt.Fprintf(bw, "\n  ],\n  \"total\": %d\n}\n", n)
		return err
	}
	fmt.Fprintf(bw, "PID\tCOMM\tADDRESS\tREGION\tMATCH\n")
	err := mc.mem.Search(ctx, pat, opt, func(h memory.Hit) error {
		n++
		_, err := bw.WriteString(hitLine(h))
		return err
	})
	if err != nil {
		return err
	}
	bw.Flush()
	fmt.Fprintf(errOut, "%d hit(s) for %s\n", n, pat.Desc)
	return nil
}

func contains(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// hitLine renders a hit as one tab-separated line; bytes are Go-quoted so the line stays one line.
func hitLine(h memory.Hit) string {
	addr := "-"
	if h.Addr != 0 {
		addr = fmt.Sprintf("0x%016x", h.Addr)
	}
	region := h.Region
	if h.VMA != nil {
		region = memory.Region(h.VMA) + " " + h.VMA.Prot
	}
	if h.Kind != memory.KindMemory {
		region = h.Object
		if h.VMA != nil {
			region += " mapped " + h.VMA.Prot
		}
		region += fmt.Sprintf(" +0x%x", h.Offset)
		var hs []string
		for _, hd := range h.Holders {
			s := fmt.Sprintf("%d", hd.PID)
			if hd.FD >= 0 {
				s += " fd " + strconv.Itoa(hd.FD)
			}
			if hd.VMA != nil {
				s += fmt.Sprintf(" @0x%x", hd.VMA.Start)
			}
			hs = append(hs, s)
		}
		if len(hs) > 0 {
			region += " held by pid " + strings.Join(hs, ", ")
		}
	}
	m := strconv.Quote(string(h.Match))
	if len(h.Before) > 0 || len(h.After) > 0 {
		q := strconv.Quote(string(h.Before)) + " [" + m + "] " + strconv.Quote(string(h.After))
		m = q
	}
	return fmt.Sprintf("%d\t%s\t%s\t%s\t%s\n", h.PID, quote(h.Comm), addr, quote(region), m)
}
