package config

import (
	"fmt"
	"time"

	"github.com/spf13/viper"
)

// Yara holds the YARA settings.
type Yara struct {
	// Rules are rule files or directories; "default" names podsleuth's embedded set. When set,
	// the analysis that findings, report and the TUI run scans the checkpoint with them and
	// their hits join the findings; `podsleuth yara` uses them when no rules are given.
	Rules []string `mapstructure:"rules"`
	// Timeout bounds one scan with one rule set.
	Timeout time.Duration `mapstructure:"timeout"`
	// MaxHitsPerRule caps the hits kept per rule and checkpoint (the others are counted).
	MaxHitsPerRule int `mapstructure:"max_hits_per_rule"`
}

func yaraDefaults(v *viper.Viper) {
	v.SetDefault("yara.rules", []string{})
	v.SetDefault("yara.timeout", 10*time.Minute)
	v.SetDefault("yara.max_hits_per_rule", 100)
}

func (y Yara) validate() error {
	if y.Timeout <= 0 {
		return fmt.Errorf("yara.timeout must be positive, got %v", y.Timeout)
	}
	if y.MaxHitsPerRule <= 0 {
		return fmt.Errorf("yara.max_hits_per_rule must be positive, got %d", y.MaxHitsPerRule)
	}
	return nil
}
