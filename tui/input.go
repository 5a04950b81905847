package tui

import (
	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"github.com/podsleuth/podsleuth/tui/components/prompt"
	"github.com/podsleuth/podsleuth/tui/screens/checkpoint"
)

func (a *App) updateKey(msg tea.KeyPressMsg) tea.Cmd {
	km := a.km
	switch a.mode {
	case modeHelp:
		if key.Matches(msg, km.Quit) && msg.String() == "ctrl+c" {
			return a.quit()
		}
		_, h := a.bodySize()
		switch {
		case key.Matches(msg, km.Down):
			a.scrollHelp(1)
		case key.Matches(msg, km.Up):
			a.scrollHelp(-1)
		case key.Matches(msg, km.PageDown):
			a.scrollHelp(max(h-2, 1))
		case key.Matches(msg, km.PageUp):
			a.scrollHelp(-max(h-2, 1))
		case key.Matches(msg, km.Top):
			a.helpOff = 0
		case key.Matches(msg, km.Bottom):
			a.scrollHelp(1 << 20)
		default:
			a.mode = modeNormal
		}
		return nil
	case modeCommand, modeFilter:
		return a.updatePrompt(msg)
	}
	if msg.String() == "ctrl+c" {
		return a.quit()
	}
	if c, ok := a.top().Unwrap().(capturer); ok && c.Capturing() {
		return a.toTop(msg)
	}
	switch {
	case key.Matches(msg, km.Quit):
		return a.quit()
	case key.Matches(msg, km.Help):
		a.mode, a.helpOff = modeHelp, 0
		return nil
	case key.Matches(msg, km.Command):
		a.mode = modeCommand
		a.prompt = prompt.New(":")
		a.prompt.History = a.hist[histCommand]
		a.prompt.Reset("")
		a.names = map[string][]string{} // listed again for each prompt: new evidence, files
		return nil
	case key.Matches(msg, km.Filter):
		f, ok := a.top().Unwrap().(filterer)
		if !ok {
			return nil
		}
		prefix, val, live := f.FilterPrompt()
		if prefix == "" {
			return nil
		}
		a.mode = modeFilter
		a.prompt = prompt.New(prefix)
		a.filterPrev, a.filterLive = val, live
		a.prompt.History = a.hist[a.histKey()]
		a.prompt.Reset(val)
		return nil
	case key.Matches(msg, km.Back):
		// esc unwinds one thing at a time, innermost first (k9s): an active filter, then the
		// screen's inner state (a detail view, a hexdump, a running search), then one level back
		if f, ok := a.top().Unwrap().(filterer); ok {
			if _, v, live := f.FilterPrompt(); live && v != "" {
				cmd, _ := f.ApplyFilter("", true)
				a.status, a.err, a.hint = "filter cleared", "", ""
				return cmd
			}
		}
		if b, ok := a.top().Unwrap().(backHandler); ok && b.HandlesBack() {
			return a.toTop(msg)
		}
		if len(a.stack) > 1 {
			a.err, a.hint = "", ""
			return a.pop()
		}
		return nil
	}
	return a.toTop(msg)
}

// Prompt histories: up/down on a prompt walk the earlier values of the same kind of prompt.
const (
	histCommand = "command"
	histFilter  = "filter"
	histSearch  = "search"
)

// histKey is the history of the open "/" prompt: a search (submitted only, like the memory
// search) keeps its queries apart from the table filters.
func (a *App) histKey() string {
	if a.filterLive {
		return histFilter
	}
	return histSearch
}

func (a *App) updatePrompt(msg tea.KeyPressMsg) tea.Cmd {
	// ctrl+t on the memory search prompt cycles the search mode without leaving the prompt
	if a.mode == modeFilter && msg.String() == "ctrl+t" {
		if c, ok := a.top().Unwrap().(*checkpoint.Model); ok && c.Tab() == checkpoint.TabMemory {
			c.CycleSearchMode()
			a.prompt.Prefix, _, _ = c.FilterPrompt()
		}
		return nil
	}
	if a.mode == modeCommand {
		switch msg.String() {
		case "tab":
			return a.tab(true)
		case "shift+tab":
			return a.tab(false)
		}
	}
	before := a.prompt.Value
	p, res := a.prompt.Update(msg)
	a.prompt = p
	switch a.mode {
	case modeCommand:
		switch res {
		case prompt.Cancelled:
			a.mode = modeNormal
		case prompt.Submitted:
			a.mode = modeNormal
			a.hist[histCommand] = a.prompt.History
			return a.runCommand(a.prompt.Value)
		}
		if a.prompt.Value != before {
			return a.suggest()
		}
		return nil
	}
	f, ok := a.top().Unwrap().(filterer)
	if !ok {
		a.mode = modeNormal
		return nil
	}
	switch res {
	case prompt.Cancelled:
		a.mode = modeNormal
		if a.filterLive {
			cmd, _ := f.ApplyFilter(a.filterPrev, true)
			return cmd
		}
		return nil
	case prompt.Submitted:
		a.mode = modeNormal
		a.hist[a.histKey()] = a.prompt.History
		cmd, err := f.ApplyFilter(a.prompt.Value, true)
		if err != nil {
			a.setErr(err, "")
			return nil
		}
		a.err, a.hint = "", ""
		return cmd
	}
	if a.filterLive {
		if _, err := f.ApplyFilter(a.prompt.Value, false); err != nil {
			// keep typing: the error shows until the regex is valid again
			a.err, a.hint = err.Error(), ""
		} else {
			a.err, a.hint = "", ""
		}
	}
	return nil
}
