// Package config loads podsleuth's settings with viper. Precedence: flag > PODSLEUTH_* environment
// variable > config file (XDG config dir, podsleuth/config.yaml) > default. It is the only package
// that imports viper, and it imports no other podsleuth package.
package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/pflag"
	"github.com/spf13/viper"
)

// Config is the typed result of Load. Each section lives in its own file.
type Config struct {
	// File is the config file that was read, empty when none.
	File string `mapstructure:"-"`
	// Readonly refuses every action that changes a cluster (checkpoint, collector pods,
	// deletes, cluster sandboxes).
	Readonly bool `mapstructure:"readonly"`
	// DataDir is where the evidence store lives (default $XDG_DATA_HOME/podsleuth).
	DataDir string `mapstructure:"data_dir"`
	// CacheDir holds temporary decompressed archives and work files ($XDG_CACHE_HOME/podsleuth).
	CacheDir string `mapstructure:"cache_dir"`
	// LogFile receives podsleuth's and client-go's logs while the TUI runs.
	LogFile string `mapstructure:"log_file"`

	Case    Case    `mapstructure:"case"`
	Limits  Limits  `mapstructure:"limits"`
	Cluster Cluster `mapstructure:"cluster"`
	TUI     TUI     `mapstructure:"tui"`
	Sandbox Sandbox `mapstructure:"sandbox"`
	Report  Report  `mapstructure:"report"`
	Signing Signing `mapstructure:"signing"`
	Yara    Yara    `mapstructure:"yara"`
}

// Case identifies the investigation that evidence and reports belong to.
type Case struct {
	ID      string `mapstructure:"id"`
	Analyst string `mapstructure:"analyst"`
	Notes   string `mapstructure:"notes"`
}

// Limits bound what decoding a hostile archive may cost.
type Limits struct {
	// MaxMemberBytes caps the uncompressed size of one archive member.
	MaxMemberBytes int64 `mapstructure:"max_member_bytes"`
	// MaxTotalBytes caps the uncompressed size of a whole archive.
	MaxTotalBytes int64 `mapstructure:"max_total_bytes"`
	// MaxEntries caps the number of members of an archive.
	MaxEntries int `mapstructure:"max_entries"`
}

// xdg returns $env or $HOME/fallback.
func xdg(env, fallback string) string {
	if d := os.Getenv(env); d != "" && filepath.IsAbs(d) {
		return d
	}
	home, err := os.UserHomeDir()
	if err != nil {
		home = os.TempDir()
	}
	return filepath.Join(home, fallback)
}

// ConfigDir is the directory searched for config.yaml.
func ConfigDir() string { return filepath.Join(xdg("XDG_CONFIG_HOME", ".config"), "podsleuth") }

// setDefaults registers every default. Sections add theirs in their own files.
func setDefaults(v *viper.Viper) {
	v.SetDefault("readonly", false)
	v.SetDefault("data_dir", filepath.Join(xdg("XDG_DATA_HOME", ".local/share"), "podsleuth"))
	v.SetDefault("cache_dir", filepath.Join(xdg("XDG_CACHE_HOME", ".cache"), "podsleuth"))
	v.SetDefault("log_file", filepath.Join(xdg("XDG_STATE_HOME", ".local/state"), "podsleuth", "podsleuth.log"))
	v.SetDefault("case.id", "")
	v.SetDefault("case.analyst", "")
	v.SetDefault("case.notes", "")
	v.SetDefault("limits.max_member_bytes", int64(16)<<30)
	v.SetDefault("limits.max_total_bytes", int64(64)<<30)
	v.SetDefault("limits.max_entries", 1_000_000)
	clusterDefaults(v)
	tuiDefaults(v)
	sandboxDefaults(v)
	reportDefaults(v)
	signingDefaults(v)
	yaraDefaults(v)
}

// Options tell Load where to look. Zero values mean the defaults.
type Options struct {
	// File is an explicit config file (--config); it must exist.
	File string
	// Flags are bound by name: a flag "case-id" sets key "case.id" ('-' after the section
	// prefix becomes '.', other '-' become '_'); only flags the user changed take effect.
	Flags *pflag.FlagSet
	// FlagKeys maps flag names to keys where the rule above does not fit.
	FlagKeys map[string]string
}

// ErrInvalid is wrapped by every validation error.
var ErrInvalid = errors.New("invalid configuration")

// Load reads the configuration with precedence flag > PODSLEUTH_* env > file > default and
// validates it.
func Load(o Options) (*Config, error) {
	v := viper.New()
	setDefaults(v)
	v.SetEnvPrefix("PODSLEUTH")
	v.SetEnvKeyReplacer(strings.NewReplacer(".", "_"))
	v.AutomaticEnv()
	v.SetConfigType("yaml")
	if o.File != "" {
		v.SetConfigFile(o.File)
		if err := v.ReadInConfig(); err != nil {
			return nil, fmt.Errorf("read config %s: %w", o.File, err)
		}
	} else {
		v.SetConfigName("config")
		v.AddConfigPath(ConfigDir())
		if err := v.ReadInConfig(); err != nil {
			var nf viper.ConfigFileNotFoundError
			if !errors.As(err, &nf) {
				return nil, fmt.Errorf("read config: %w", err)
			}
		}
	}
	if o.Flags != nil {
		var bindErr error
		o.Flags.VisitAll(func(f *pflag.Flag) {
			key, ok := o.FlagKeys[f.Name]
			if !ok {
				key = flagKey(v, f.Name)
			}
			if key == "" || !f.Changed {
				return
			}
			if err := v.BindPFlag(key, f); err != nil && bindErr == nil {
				bindErr = err
			}
		})
		if bindErr != nil {
			return nil, bindErr
		}
	}
	var c Config
	if err := v.Unmarshal(&c); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	c.File = v.ConfigFileUsed()
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

// flagKey maps a flag name to a known key: "case-id" -> "case.id", "data-dir" -> "data_dir".
// Flags that match no key return "".
// Only leaf keys are bound: a flag named like a section ("--cluster") is not a setting.
func flagKey(v *viper.Viper, name string) string {
	leaf := func(k string) bool {
		if !v.IsSet(k) {
			return false
		}
		_, section := v.Get(k).(map[string]any)
		return !section
	}
	plain := strings.ReplaceAll(name, "-", "_")
	if leaf(plain) {
		return plain
	}
	if i := strings.IndexByte(name, '-'); i > 0 {
		k := name[:i] + "." + strings.ReplaceAll(name[i+1:], "-", "_")
		if leaf(k) {
			return k
		}
	}
	return ""
}

// Validate checks the values that have rules.
func (c *Config) Validate() error {
	if c.DataDir == "" || !filepath.IsAbs(c.DataDir) {
		return fmt.Errorf("%w: data_dir must be an absolute path, got %q", ErrInvalid, c.DataDir)
	}
	if c.CacheDir == "" || !filepath.IsAbs(c.CacheDir) {
		return fmt.Errorf("%w: cache_dir must be an absolute path, got %q", ErrInvalid, c.CacheDir)
	}
	if c.Limits.MaxMemberBytes <= 0 || c.Limits.MaxTotalBytes <= 0 || c.Limits.MaxEntries <= 0 {
		return fmt.Errorf("%w: limits must be positive", ErrInvalid)
	}
	for _, f := range []func() error{c.Cluster.validate, c.TUI.validate, c.Sandbox.validate, c.Report.validate, c.Signing.validate, c.Yara.validate} {
		if err := f(); err != nil {
			return fmt.Errorf("%w: %v", ErrInvalid, err)
		}
	}
	return nil
}
