package huntimage

import (
	"context"
	"fmt"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// PushOptions configure Push.
type PushOptions struct {
	// Insecure allows a registry over plain HTTP (localhost and private addresses are always).
	Insecure bool
	// Keychain gives the registry credentials (nil: authn.DefaultKeychain, the Docker config
	// file: $DOCKER_CONFIG/config.json or ~/.docker/config.json, with its credential helpers,
	// as written by `docker login`, `podman login --authfile` or `crane auth login`).
	Keychain authn.Keychain
}

// Push uploads the image to a registry as ref (REGISTRY/REPOSITORY[:TAG]; the tag defaults
// to latest) and returns the pinned reference a hunt uses, REGISTRY/REPOSITORY@DIGEST. Blobs
// the registry has already are not sent again.
func (i *Image) Push(ctx context.Context, ref string, o PushOptions) (string, error) {
	var opts []name.Option
	if o.Insecure {
		opts = append(opts, name.Insecure)
	}
	r, err := name.ParseReference(ref, opts...)
	if err != nil {
		return "", fmt.Errorf("image name %q: %w", ref, err)
	}
	if _, ok := r.(name.Digest); ok {
		return "", fmt.Errorf("image name %q: push to a tag (or a repository), not a digest", ref)
	}
	kc := o.Keychain
	if kc == nil {
		kc = authn.DefaultKeychain
	}
	if err := remote.Write(r, i.Image, remote.WithContext(ctx), remote.WithAuthFromKeychain(kc), remote.WithUserAgent("podsleuth")); err != nil {
		return "", fmt.Errorf("push %s: %w", r, err)
	}
	return i.Pinned(r), nil
}
