package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/podsleuth/podsleuth/forensics"
	"github.com/podsleuth/podsleuth/forensics/base"
	"github.com/podsleuth/podsleuth/forensics/content"
	"github.com/podsleuth/podsleuth/forensics/memory"
	"github.com/podsleuth/podsleuth/forensics/open"
)

// filesSet opens ARCHIVE and lists its contents; the memory index is used when it can be built.
func (a *app) filesSet(cmd *cobra.Command, arg string) (*content.Set, func(), error) {
	cs, err := a.openArg(cmd, arg, func(c *open.Config) { c.Memory = true })
	if err != nil {
		return nil, nil, err
	}
	var mem *memory.Memory
	if cs.MemoryErr != nil {
		fmt.Fprintf(a.ErrOut, "warning: %v: memfd, shared memory, pipe and socket contents are not listed\n", cs.MemoryErr)
	} else {
		mem = cs.Memory
	}
	set, err := content.List(cmd.Context(), cs.Archive, cs.Checkpoint, mem, content.Options{})
	if err != nil {
		_ = cs.Close()
		return nil, nil, err
	}
	for _, w := range set.Warnings {
		fmt.Fprintf(a.ErrOut, "warning: %s\n", forensics.Printable(w))
	}
	return set, func() { set.Close(); cs.Close() }, nil
}

// savedContent opens ARCHIVE and finds OBJECT among its saved contents, with the reader of its
// bytes; an object the checkpoint lists but did not save is an error naming why.
func (a *app) savedContent(cmd *cobra.Command, arg, object string) (*content.Object, *io.SectionReader, func(), error) {
	set, done, err := a.filesSet(cmd, arg)
	if err != nil {
		return nil, nil, nil, err
	}
	o, err := set.Find(object)
	if err != nil {
		done()
		return nil, nil, nil, err
	}
	r := o.Reader()
	if r == nil {
		done()
		return nil, nil, nil, fmt.Errorf("%s: not saved in this checkpoint: %s", forensics.Printable(o.ID), o.Note)
	}
	return o, r, done, nil
}

func newFilesCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "files",
		Short: "List, view and extract the contents a checkpoint saved (ghost files, memfds, pipes, sockets, tmpfs, rootfs changes)",
		Long: `Every content a checkpoint holds besides process memory: deleted files kept open (CRIU ghost
files), memfd and shared memory contents, files of tmpfs mounts and of /dev/shm, unread pipe and
socket data, and the files of the container's rootfs changes, each with the processes and file
descriptors that hold it. Files the processes held whose contents CRIU did not save (volumes and
other external mounts, unchanged image files) are listed too, with the reason.

An OBJECT is an ID from 'files ls' (ghost:/tmp/x, memfd:payload, pipe:[123], socket:[456]/recv,
rootfs:/etc/passwd, ...), its number in the listing, or a path.`,
	}
	cmd.AddCommand(newFilesLsCmd(a), newFilesCatCmd(a), newFilesExtractCmd(a))
	return cmd
}

func newFilesLsCmd(a *app) *cobra.Command {
	var output, kind string
	cmd := &cobra.Command{
		Use:   "ls ARCHIVE|ID",
		Short: "List the saved contents with their holders",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if output != "text" && output != "json" {
				return fmt.Errorf("--output %q: want text or json", output)
			}
			set, done, err := a.filesSet(cmd, args[0])
			if err != nil {
				return err
			}
			defer done()
			objs := []*content.Object{}
			num := map[*content.Object]int{}
			for i, o := range set.Objects {
				num[o] = i + 1
				if kind == "" || o.Kind == kind {
					objs = append(objs, o)
				}
			}
			if output == "json" {
				return writeJSON(a.Out, objs)
			}
			if len(objs) == 0 {
				_, err := fmt.Fprintln(a.Out, "no saved contents")
				return err
			}
			tw := tabwriter.NewWriter(a.Out, 2, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "#\tID\tKIND\tSIZE\tMODE\tHELD BY\tNOTE")
			for _, o := range objs {
				size := fmt.Sprint(o.Size)
				if !o.Saved {
					size = "-"
				}
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", num[o], forensics.Printable(o.ID), o.Kind, size, orDash(o.Mode),
					forensics.Printable(holders(o.Holders)), forensics.Printable(notSaved(o)))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text|json")
	cmd.Flags().StringVar(&kind, "kind", "", "only this kind: ghost, memfd, shmem, devshm, tmpfs, pipe, socket, rootfs, file, mount")
	return cmd
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func notSaved(o *content.Object) string {
	if !o.Saved {
		return "NOT SAVED: " + o.Note
	}
	return o.Note
}

func holders(hs []memory.Holder) string {
	var s []string
	for _, h := range hs {
		switch {
		case h.FD >= 0:
			s = append(s, fmt.Sprintf("%d(%s) fd %d", h.PID, h.Comm, h.FD))
		case h.VMA != nil:
			s = append(s, fmt.Sprintf("%d(%s) map 0x%x", h.PID, h.Comm, h.VMA.Start))
		default:
			s = append(s, fmt.Sprintf("%d(%s) exe", h.PID, h.Comm))
		}
	}
	if len(s) == 0 {
		return "-"
	}
	return strings.Join(s, ", ")
}

// maxCat bounds what files cat prints unless --max says otherwise.
const maxCat = 1 << 20

func newFilesCatCmd(a *app) *cobra.Command {
	var mode, rootfs string
	var max int64
	var diff bool
	cmd := &cobra.Command{
		Use:   "cat ARCHIVE|ID OBJECT [--diff --rootfs BASE]",
		Short: "Print a saved content as text (terminal-safe) or as a hexdump",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if mode != "auto" && mode != "text" && mode != "hex" {
				return fmt.Errorf("--mode %q: want auto, text or hex", mode)
			}
			o, r, done, err := a.savedContent(cmd, args[0], args[1])
			if err != nil {
				return err
			}
			defer done()
			if diff {
				return catDiff(cmd.Context(), a.Out, o, r, rootfs)
			}
			n := min(o.Size, max)
			head := make([]byte, min(n, 4096))
			k, _ := r.ReadAt(head, 0)
			if mode == "auto" {
				mode = "hex"
				if content.LooksText(head[:k]) {
					mode = "text"
				}
			}
			src := io.NewSectionReader(r, 0, n)
			if mode == "hex" {
				d := hex.Dumper(a.Out)
				if _, err := io.Copy(d, src); err != nil {
					return err
				}
				d.Close()
			} else if err := catText(a.Out, src); err != nil {
				return err
			}
			if n < o.Size {
				fmt.Fprintf(a.ErrOut, "(%d of %d bytes shown: --max, or files extract for all of it)\n", n, o.Size)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&diff, "diff", false, "print a rootfs change as a unified diff against the base image (--rootfs)")
	cmd.Flags().StringVar(&rootfs, "rootfs", "", "the container's base image for --diff (registry reference, docker-archive/OCI tarball, OCI layout, or rootfs dir/tar; tarballs may be gzipped)")
	cmd.Flags().StringVar(&mode, "mode", "auto", "auto (text when it looks like text), text or hex")
	cmd.Flags().Int64Var(&max, "max", maxCat, "print at most this many bytes")
	return cmd
}

// catText prints text line by line, each made terminal-safe.
func catText(w io.Writer, r io.Reader) error {
	buf := make([]byte, 64<<10)
	var line []byte
	flush := func(nl bool) error {
		s := forensics.Printable(string(line))
		if nl {
			s += "\n"
		}
		line = line[:0]
		_, err := io.WriteString(w, s)
		return err
	}
	for {
		n, err := r.Read(buf)
		for _, c := range buf[:n] {
			if c == '\n' {
				if e := flush(true); e != nil {
					return e
				}
				continue
			}
			if line = append(line, c); len(line) >= 64<<10 {
				if e := flush(false); e != nil {
					return e
				}
			}
		}
		if errors.Is(err, io.EOF) {
			if len(line) > 0 {
				return flush(true)
			}
			return nil
		}
		if err != nil {
			return err
		}
	}
}

func newFilesExtractCmd(a *app) *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "extract ARCHIVE|ID OBJECT -O FILE",
		Short: "Write a saved content to a new file (never overwrites), streaming, and print its SHA-256",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if out == "" {
				return errors.New("-O FILE is required (use - for stdout)")
			}
			o, r, done, err := a.savedContent(cmd, args[0], args[1])
			if err != nil {
				return err
			}
			defer done()
			var w io.Writer = a.Out
			var f *os.File
			if out != "-" {
				if f, err = os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600); err != nil {
					return err
				}
				w = f
			}
			h := sha256.New()
			n, err := io.Copy(io.MultiWriter(w, h), r)
			if f != nil {
				if cerr := f.Close(); err == nil {
					err = cerr
				}
				if err != nil {
					os.Remove(out)
				}
			}
			if err != nil {
				return fmt.Errorf("%s: %w", forensics.Printable(o.ID), err)
			}
			fmt.Fprintf(a.ErrOut, "%s: %d bytes, sha256 %x\n", forensics.Printable(o.ID), n, h.Sum(nil))
			return nil
		},
	}
	cmd.Flags().StringVarP(&out, "output", "O", "", "file to create (- for stdout)")
	return cmd
}

// catDiff prints a rootfs change as a unified diff against the base image's copy (the whole
// file as added lines when the image has none).
func catDiff(ctx context.Context, w io.Writer, o *content.Object, r io.ReaderAt, rootfs string) error {
	if o.Kind != content.KindRootfs {
		return fmt.Errorf("--diff: %s is not a rootfs change", forensics.Printable(o.ID))
	}
	if rootfs == "" {
		return errors.New("--diff needs the base image: --rootfs BASE (registry reference, image tarball, OCI layout, or rootfs dir/tar)")
	}
	if o.Size > base.DefaultMaxFile {
		return fmt.Errorf("--diff: %s is %d bytes, more than the %d a diff reads", forensics.Printable(o.ID), o.Size, base.DefaultMaxFile)
	}
	now := make([]byte, o.Size)
	if n, err := r.ReadAt(now, 0); n < len(now) {
		return fmt.Errorf("read %s: %w", forensics.Printable(o.ID), err)
	}
	p := base.Clean(o.Path)
	img, err := base.Load(ctx, rootfs, base.Options{Want: func(q string) bool { return q == p }})
	if err != nil {
		return err
	}
	d, err := img.Diff(p, now)
	switch {
	case errors.Is(err, base.ErrNoBase):
		if _, ok := img.Lookup(p); !ok {
			fmt.Fprintf(w, "# %s: added (not in the base image %s)\n", forensics.Printable(p), forensics.Printable(img.Source))
			return catText(w, bytes.NewReader(now))
		}
		return fmt.Errorf("--diff: %s: the base image's copy is not a regular file of at most %d bytes", forensics.Printable(p), base.DefaultMaxFile)
	case err != nil:
		return fmt.Errorf("--diff %s: %w", forensics.Printable(p), err)
	case d == "":
		fmt.Fprintf(w, "# %s: same content as in the base image %s\n", forensics.Printable(p), forensics.Printable(img.Source))
		return nil
	}
	fmt.Fprintf(w, "# %s: modified from the base image %s\n", forensics.Printable(p), forensics.Printable(img.Source))
	return catText(w, strings.NewReader(d))
}
