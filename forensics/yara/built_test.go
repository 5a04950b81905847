package yara_test

import (
	"errors"
	"os"
	"testing"

	"github.com/podsleuth/podsleuth/forensics/yara"
)

// TestBuiltWithYARA: the YARA tests need the engine (go test -tags yara, as make test runs
// them). Without it they would silently not exist, so under CI=true this fails instead.
func TestBuiltWithYARA(t *testing.T) {
	if yara.Built {
		return
	}
	_, err := yara.Load(yara.LoadOptions{Default: true})
	if !errors.Is(err, yara.ErrNotBuilt) {
		t.Fatalf("Load without the engine: %v, want ErrNotBuilt", err)
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("built without YARA: the YARA tests did not run; run them with -tags yara (make test does; needs apt-get install libyara-dev golang-github-hillu-go-yara-dev)")
	}
	t.Skip("built without YARA (-tags yara): the YARA tests did not run")
}
