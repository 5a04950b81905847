package config

import "github.com/spf13/viper"

// Sandbox holds the settings of restores into isolation.
type Sandbox struct {
	// CRIU is the criu binary (>= 4.2); empty means "criu" from PATH.
	CRIU string `mapstructure:"criu"`
	// Runtime is the OCI runtime binary (runc or crun); empty means "runc" from PATH.
	Runtime string `mapstructure:"runtime"`
	// StateDir holds the sandboxes' state (default under the cache dir).
	StateDir string `mapstructure:"state_dir"`
}

func sandboxDefaults(v *viper.Viper) {
	v.SetDefault("sandbox.criu", "")
	v.SetDefault("sandbox.runtime", "")
	v.SetDefault("sandbox.state_dir", "")
}

func (s Sandbox) validate() error { return nil }
