package tui

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/podsleuth/podsleuth/forensics"
)

// TestPrintableStringsReachesEveryString: every string of the model, however deep (process
// fields, argv and environment, fd paths and inotify watches, map keys and values), is made
// terminal-safe; numbers and byte slices are left alone.
func TestPrintableStringsReachesEveryString(t *testing.T) {
	const evil = "x\x1b]52;c;ZXZpbA==\x07\x1b[2J"
	cp := &forensics.Checkpoint{
		Container: &forensics.Container{Name: evil, Labels: map[string]string{evil: evil}},
		Processes: []forensics.Process{{
			PID: 7, Comm: evil, Exe: "/tmp/" + evil, Cmdline: []string{evil, "-c", evil}, Environ: []string{"K=" + evil},
			FDs: []forensics.FD{{FD: 3, Path: evil, Inotify: &forensics.Inotify{Watches: []forensics.InotifyWatch{{WD: 1, Path: evil}}}}},
		}},
	}
	printableStrings(reflect.ValueOf(cp))
	b, err := json.Marshal(cp)
	require.NoError(t, err)
	require.NotContains(t, string(b), `\u001b`, "no escape character left anywhere")
	require.NotContains(t, string(b), `\u0007`)
	want := forensics.Printable(evil)
	p := cp.Processes[0]
	require.Equal(t, want, p.Comm)
	require.Equal(t, "/tmp/"+want, p.Exe)
	require.Equal(t, []string{want, "-c", want}, p.Cmdline)
	require.Equal(t, want, p.FDs[0].Inotify.Watches[0].Path)
	require.Equal(t, map[string]string{want: want}, cp.Container.Labels)
	require.Equal(t, 7, p.PID)
}
