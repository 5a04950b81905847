package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/podsleuth/podsleuth/forensics/yara"
)

type yaraOptions struct {
	rules      []string
	withDef    bool
	output     string
	pids       []int
	timeout    time.Duration
	maxHits    int
	maxStrings int
	workers    int
	noMemory   bool
	noObjects  bool
	show       bool
}

func newYaraCmd(a *app) *cobra.Command {
	o := &yaraOptions{}
	cmd := &cobra.Command{
		Use:   "yara [RULES] ARCHIVE|EVIDENCE-ID",
		Short: "Scan a checkpoint's memory and saved objects with YARA rules",
		Long: `yara runs YARA rules (libyara) over a checkpoint: every process's memory, one scan per mapping
with its resident pages as memory blocks at their real virtual addresses (read on demand from the
page images, never written to disk), and every saved object: memfd and shared memory, unread pipe
and socket data, deleted files CRIU saved, tmpfs and /dev/shm files, and the files of the
container's rootfs changes. Each hit names the rule (tags, meta), the process, address, region
kind, permissions and backing file, or the object and the processes holding it.

RULES is a rule file or a directory (every *.yar, *.yara, *.yr, *.rule, *.rules below it; files
another one includes are compiled through it), or "default" for podsleuth's own set (fileless ELF
in anonymous or memfd memory, shellcode stubs, miners, reverse shells, webshells); --rules adds
more. Without RULES: yara.rules from the config, else the default set. A file that does not
compile is reported with its file and line and left out; the others run.

Rules may use YARA's modules (pe, elf, math, hash, ...) and these externals: filename, filepath,
extension, filetype, owner, ps_kind (memory, memfd, shmem, pipe, socket, ghost, tmpfs, devshm,
rootfs), ps_region (heap, stack, anon, memfd:NAME, file:/path, ...), ps_perm ("rwxp"), ps_pid,
ps_comm, ps_base (the mapping's address: "$mz at ps_base"), ps_exec. Severity comes from the
rule's meta "severity" (or a 0-100 "score"), the ATT&CK id from "mitre_attack".

Hits are capped per rule (--max-hits) and strings per hit (--max-strings), with counts; a scan
stops at --timeout. Both are reported. This binary must be built with -tags yara (make build does).`,
		Example: `  podsleuth yara ckpt.tar
  podsleuth yara ./rules/ ckpt.tar -o json
  podsleuth yara default ckpt.tar --rules extra.yar --pid 1
  podsleuth yara --show-default`,
		Args: func(cmd *cobra.Command, args []string) error {
			if o.show {
				return cobra.NoArgs(cmd, args)
			}
			return cobra.RangeArgs(1, 2)(cmd, args)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.show {
				return showDefaultRules(a)
			}
			if o.output != "text" && o.output != "json" {
				return fmt.Errorf("--output %q: want text or json", o.output)
			}
			c, err := a.config(cmd)
			if err != nil {
				return err
			}
			paths := append([]string(nil), o.rules...)
			if len(args) == 2 {
				paths = append([]string{args[0]}, paths...)
				args = args[1:]
			} else if len(paths) == 0 {
				paths = c.Yara.Rules
			}
			req := yara.Request{Rules: paths, Default: o.withDef, CacheDir: c.CacheDir}
			opt := yara.Options{Timeout: c.Yara.Timeout, MaxHitsPerRule: c.Yara.MaxHitsPerRule, MaxStrings: o.maxStrings,
				Workers: o.workers, PIDs: o.pids, NoMemory: o.noMemory, NoObjects: o.noObjects}
			if cmd.Flags().Changed("timeout") {
				opt.Timeout = o.timeout
			}
			if cmd.Flags().Changed("max-hits") {
				opt.MaxHitsPerRule = o.maxHits
			}
			mc, closeFn, err := a.memOpen(cmd, args[0])
			if err != nil {
				return err
			}
			defer closeFn()
			for _, pid := range o.pids {
				if mc.mem.Proc(pid) == nil {
					return fmt.Errorf("--pid %d: no such process in the checkpoint", pid)
				}
			}
			req.Archive, req.Checkpoint, req.Options = mc.arc, mc.cp, opt
			res, err := yara.Run(cmd.Context(), mc.mem, req)
			if err != nil {
				return err
			}
			if o.output == "json" {
				return writeJSON(a.Out, res)
			}
			return yara.WriteText(a.Out, res)
		},
	}
	fl := cmd.Flags()
	fl.StringArrayVar(&o.rules, "rules", nil, `rule file or directory ("default": podsleuth's set); repeatable`)
	fl.BoolVar(&o.withDef, "default", false, "also run podsleuth's default rule set")
	fl.StringVarP(&o.output, "output", "o", "text", "output format: text|json")
	fl.IntSliceVar(&o.pids, "pid", nil, "only these processes (and the objects they hold); repeatable or comma-separated")
	fl.DurationVar(&o.timeout, "timeout", yara.DefaultTimeout, "stop the scan after this long (config yara.timeout)")
	fl.IntVar(&o.maxHits, "max-hits", yara.DefaultMaxHitsPerRule, "hits kept per rule; the others are counted (config yara.max_hits_per_rule)")
	fl.IntVar(&o.maxStrings, "max-strings", yara.DefaultMaxStrings, "matched strings shown per hit; all are counted")
	fl.IntVar(&o.workers, "workers", 0, "parallel scanners (default: all cores)")
	fl.BoolVar(&o.noMemory, "no-memory", false, "skip process memory")
	fl.BoolVar(&o.noObjects, "no-objects", false, "skip saved objects (memfd, shmem, pipes, sockets, files)")
	fl.BoolVar(&o.show, "show-default", false, "print podsleuth's default rules and exit")
	return cmd
}

func showDefaultRules(a *app) error {
	for _, n := range yara.DefaultFiles() {
		b, err := yara.DefaultSource(n)
		if err != nil {
			return err
		}
		if _, err := fmt.Fprintf(a.Out, "// ==== %s\n%s\n", n, b); err != nil {
			return err
		}
	}
	return nil
}
