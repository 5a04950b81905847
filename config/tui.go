package config

import (
	"fmt"

	"github.com/spf13/viper"
)

// TUI holds the workbench's settings.
type TUI struct {
	// Keys overrides key bindings: action name -> keys (e.g. "checkpoint": ["c"]).
	Keys map[string][]string `mapstructure:"keys"`
	// Theme is "auto", "dark" or "light".
	Theme string `mapstructure:"theme"`
	// Mouse enables mouse wheel scrolling.
	Mouse bool `mapstructure:"mouse"`
}

func tuiDefaults(v *viper.Viper) {
	v.SetDefault("tui.theme", "auto")
	v.SetDefault("tui.mouse", true)
}

func (t TUI) validate() error {
	switch t.Theme {
	case "auto", "dark", "light":
		return nil
	}
	return fmt.Errorf("tui.theme must be auto, dark or light, got %q", t.Theme)
}
