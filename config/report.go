package config

import "github.com/spf13/viper"

// Report holds the settings of report generation.
type Report struct {
	// Reveal puts secret values unredacted into reports and output.
	Reveal bool `mapstructure:"reveal"`
}

func reportDefaults(v *viper.Viper) {
	v.SetDefault("report.reveal", false)
}

func (r Report) validate() error { return nil }
