package config

import (
	"fmt"
	"path/filepath"

	"github.com/spf13/viper"
)

// Signing holds the analyst's signing key and the keys trusted when checking custody.
type Signing struct {
	// Key is the analyst's ed25519 private key (PEM, PKCS#8), created on first use with mode
	// 0600 (default CONFIG_DIR/analyst-ed25519.pem). "none" signs nothing: new custody events
	// are then unsigned.
	Key string `mapstructure:"key"`
	// TrustedKeys is the file of trusted public keys, each with the time it was added and,
	// once revoked, of its revocation (default CONFIG_DIR/trusted-keys.json).
	TrustedKeys string `mapstructure:"trusted_keys"`
}

func signingDefaults(v *viper.Viper) {
	v.SetDefault("signing.key", filepath.Join(ConfigDir(), "analyst-ed25519.pem"))
	v.SetDefault("signing.trusted_keys", filepath.Join(ConfigDir(), "trusted-keys.json"))
}

func (s Signing) validate() error {
	if s.Key != "" && s.Key != "none" && !filepath.IsAbs(s.Key) {
		return fmt.Errorf("signing.key must be an absolute path or \"none\", got %q", s.Key)
	}
	if s.TrustedKeys != "" && !filepath.IsAbs(s.TrustedKeys) {
		return fmt.Errorf("signing.trusted_keys must be an absolute path, got %q", s.TrustedKeys)
	}
	return nil
}
