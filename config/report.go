package config

import (
	"fmt"

	"github.com/spf13/viper"
)

// Report holds the settings of report generation.
type Report struct {
	// Reveal puts secret values unredacted into reports and output.
	Reveal bool `mapstructure:"reveal"`
	// Format is the format of reports exported from the TUI: "html", "md" or "json".
	Format string `mapstructure:"format"`
	// Dir is where the TUI exports reports; empty means DATA_DIR/reports.
	Dir string `mapstructure:"dir"`
}

func reportDefaults(v *viper.Viper) {
	v.SetDefault("report.reveal", false)
	v.SetDefault("report.format", "html")
	v.SetDefault("report.dir", "")
}

func (r Report) validate() error {
	switch r.Format {
	case "html", "md", "markdown", "json":
	default:
		return fmt.Errorf("report.format must be html, md or json, got %q", r.Format)
	}
	return nil
}
