package tui

import (
	"reflect"

	tea "charm.land/bubbletea/v2"
)

var cmdType = reflect.TypeOf(tea.Cmd(nil))

// subCmds returns the commands inside a batch (tea.Batch) or a sequence (tea.Sequence, whose
// message type Bubble Tea does not export), in order, for the tests' stand-ins of the runtime.
func subCmds(msg tea.Msg) ([]tea.Cmd, bool) {
	if b, ok := msg.(tea.BatchMsg); ok {
		return b, true
	}
	v := reflect.ValueOf(msg)
	if !v.IsValid() || v.Kind() != reflect.Slice || v.Type().Elem() != cmdType {
		return nil, false
	}
	out := make([]tea.Cmd, v.Len())
	for i := range out {
		out[i] = v.Index(i).Interface().(tea.Cmd)
	}
	return out, true
}
