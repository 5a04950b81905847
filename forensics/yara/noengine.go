//go:build !yara

package yara

// Built says whether this binary has the YARA engine.
const Built = false

// Load reports ErrNotBuilt: this binary was built without the "yara" build tag.
func Load(LoadOptions) (*Rules, error) { return nil, ErrNotBuilt }
