package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/podsleuth/podsleuth/forensics/evidence"
)

// archiveArg resolves the ARCHIVE argument of an analysis command: a path (a file or a CRIU image
// directory), or else the ID of an evidence item (or a unique prefix of one). When it names
// evidence, by ID or by a path inside the store, the opening is recorded in the item's custody
// log with the command that opened it.
func (a *app) archiveArg(cmd *cobra.Command, arg string) (string, error) {
	return a.resolveArchive(cmd, arg, true)
}

// resolveArchive is archiveArg; record false leaves the custody log to the caller (the TUI's
// loader records the opening when it decodes).
func (a *app) resolveArchive(cmd *cobra.Command, arg string, record bool) (string, error) {
	c, err := a.config(cmd)
	if err != nil {
		return "", err
	}
	_, statErr := os.Stat(arg)
	if statErr == nil || !errors.Is(statErr, os.ErrNotExist) || strings.ContainsRune(arg, '/') {
		// a path: archive.Open reports any problem with it. The store is opened (which creates
		// it) only for a path inside it.
		if abs, aerr := filepath.Abs(arg); record && aerr == nil && statErr == nil && strings.HasPrefix(abs, filepath.Clean(c.DataDir)+string(filepath.Separator)) {
			if st, serr := evidence.Open(c.DataDir); serr == nil {
				a.recordOpen(st, cmd, arg)
			}
		}
		return arg, nil
	}
	st, serr := evidence.Open(c.DataDir)
	if serr != nil {
		return arg, nil
	}
	it, err := st.Get(arg)
	if err != nil {
		return "", fmt.Errorf("%s: no such file, and not an evidence ID (%v)", arg, err)
	}
	if record {
		a.recordOpen(st, cmd, it.Archive)
	}
	return it.Archive, nil
}

// recordOpen logs an "opened" custody event when path is an evidence archive; a failure to log
// is a warning, not a reason to refuse the analysis.
func (a *app) recordOpen(st *evidence.Store, cmd *cobra.Command, path string) {
	if _, err := st.RecordOpen(path, map[string]string{"by": cmd.CommandPath()}); err != nil {
		fmt.Fprintf(a.ErrOut, "warning: %v\n", err)
	}
}
