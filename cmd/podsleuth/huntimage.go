package main

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/spf13/cobra"

	"github.com/podsleuth/podsleuth/cluster/huntimage"
)

type huntImageOptions struct {
	binary   string
	out      string
	name     string
	from     string
	created  string
	revision string
	source   string
	insecure bool
	output   string
	refFile  string
}

// newHuntImageCmd is `hunt image build|push|selftest`: the analyzer image a hunt's Jobs run.
func newHuntImageCmd(a *app) *cobra.Command {
	o := &huntImageOptions{}
	cmd := &cobra.Command{
		Use:   "image",
		Short: "Build, push and self-test the analyzer image a hunt runs on the nodes",
		Long: `The analyzer image holds one file that matters: a podsleuth binary built with YARA (make
analyzer-image links libyara statically; a dynamic binary gets its ELF interpreter and shared
libraries copied in). No shell; user 65532:65532; entrypoint /usr/bin/podsleuth, default
arguments "version"; HOME and TMPDIR are /tmp (mount an emptyDir there under a read-only root
filesystem). Labels name the source commit and the binary's SHA-256. The same binary gives the
same digest: every time in the image is the binary's commit time (or --created).`,
		Args: cobra.NoArgs,
	}
	cmd.PersistentFlags().StringVarP(&o.output, "output", "o", "text", "output format: text|json")
	build := &cobra.Command{
		Use:   "build",
		Short: "Build the analyzer image into an OCI archive (FILE.tar) or layout directory",
		Example: `  podsleuth hunt image build --binary bin/podsleuth-analyzer -f bin/analyzer-image.tar
  test/e2e/cluster.sh import-image bin/analyzer-image.tar     # or: ctr -n k8s.io images import ...`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.out == "" {
				return fmt.Errorf("--file: where to write the image (FILE.tar for an archive, else a layout directory)")
			}
			img, ref, err := o.build(cmd.Context())
			if err != nil {
				return err
			}
			defer img.Close()
			if isTar(o.out) {
				err = img.WriteArchive(o.out, ref)
			} else {
				err = img.WriteLayout(o.out, ref)
			}
			if err != nil {
				return err
			}
			if o.refFile != "" {
				if err := os.WriteFile(o.refFile, []byte(img.Pinned(ref)+"\n"), 0o644); err != nil {
					return err
				}
			}
			return printImage(a, o.output, img, ref.Name(), img.Pinned(ref), o.out)
		},
	}
	build.Flags().StringVar(&o.refFile, "ref-file", "", "also write the pinned reference (NAME@sha256:...) to this file")
	build.Flags().StringVarP(&o.out, "file", "f", "", "write the image here: FILE.tar (OCI archive) or a directory (OCI layout)")
	push := &cobra.Command{
		Use:   "push REGISTRY/REPOSITORY[:TAG]",
		Short: "Push the analyzer image to a registry; prints the pinned reference a hunt uses",
		Long: `push uploads the image built from --binary (default: this podsleuth), or the archive or layout
--from names, and prints REGISTRY/REPOSITORY@sha256:... for the hunt's --image. Credentials come
from the Docker config file ($DOCKER_CONFIG/config.json or ~/.docker/config.json) and its
credential helpers, as written by "docker login", "crane auth login" or "podman login
--authfile ~/.docker/config.json". Registries on localhost and private addresses are spoken to
over HTTP; --insecure allows it for others.`,
		Example: `  podsleuth hunt image push --from bin/analyzer-image.tar registry.example.com/sec/podsleuth-analyzer:0.4`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var img *huntimage.Image
			var err error
			if o.from != "" {
				img, err = huntimage.Load(o.from)
			} else {
				img, _, err = o.build(cmd.Context())
			}
			if err != nil {
				return err
			}
			defer img.Close()
			pinned, err := img.Push(cmd.Context(), args[0], huntimage.PushOptions{Insecure: o.insecure})
			if err != nil {
				return err
			}
			return printImage(a, o.output, img, args[0], pinned, "")
		},
	}
	push.Flags().StringVar(&o.from, "from", "", "push this OCI archive (FILE.tar) or layout directory instead of building")
	push.Flags().BoolVar(&o.insecure, "insecure", false, "allow plain HTTP to the registry")
	for _, c := range []*cobra.Command{build, push} {
		fl := c.Flags()
		fl.StringVar(&o.binary, "binary", "", "the podsleuth binary to ship (default: this one); built with -tags yara")
		fl.StringVar(&o.name, "name", huntimage.DefaultRepository, "image name in the archive (REPOSITORY[:TAG]; tag default: the version)")
		fl.StringVar(&o.created, "created", "", "creation time, RFC 3339 (default: the binary's commit time)")
		fl.StringVar(&o.revision, "revision", "", "source commit label (default: the binary's vcs.revision)")
		fl.StringVar(&o.source, "source", "", "source repository URL label")
	}
	selftest := &cobra.Command{
		Use:   "selftest",
		Short: "Run inside the image: YARA compiles and scans, user, read-only root, no token",
		Long: `selftest checks where it runs what a hunt's analyzer needs: libyara compiles the default rules
and a real scan of a planted stratum URL hits ` + huntimage.SelfTestRule + `; it reports the user and group,
whether the root filesystem is read-only and whether a service account token is mounted. It
writes nothing. Exit status 1 when YARA does not work.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			r := huntimage.SelfTest(cmd.Context(), version)
			var err error
			if o.output == "json" {
				err = writeJSON(a.Out, r)
			} else {
				_, err = fmt.Fprintf(a.Out, "version %s (%s)\nuser %d:%d, root filesystem read-only: %t, service account token: %t\nyara: built %t, %d rules, hits %v, %d bytes scanned %s\n",
					r.Version, r.Revision, r.UID, r.GID, r.RootReadOnly, r.ServiceAccountToken, r.YARA.Built, r.YARA.Rules, r.YARA.Hits, r.YARA.Scanned, r.YARA.Error)
			}
			if err == nil && !r.OK {
				err = fmt.Errorf("self-test failed: %s", r.YARA.Error)
			}
			return err
		},
	}
	cmd.AddCommand(build, push, selftest)
	return cmd
}

func (o *huntImageOptions) build(ctx context.Context) (*huntimage.Image, name.Tag, error) {
	cfg := huntimage.Config{Binary: o.binary, Revision: o.revision, Version: version, Source: o.source}
	if o.created != "" {
		t, err := time.Parse(time.RFC3339, o.created)
		if err != nil {
			return nil, name.Tag{}, fmt.Errorf("--created: %w", err)
		}
		cfg.Created = t
	}
	ref, err := huntimage.Reference(o.name, tagFor(version))
	if err != nil {
		return nil, name.Tag{}, err
	}
	img, err := huntimage.Build(ctx, cfg)
	return img, ref, err
}

// tagRE is what a registry accepts as a tag (distribution spec).
var tagRE = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)

// tagFor is the image tag for a podsleuth version ("latest" when the version is no valid tag).
func tagFor(v string) string {
	if tagRE.MatchString(v) {
		return v
	}
	return "latest"
}

func isTar(p string) bool { return strings.HasSuffix(p, ".tar") }

// imageInfo is what build and push print.
type imageInfo struct {
	Name   string            `json:"name"`
	Digest string            `json:"digest"`
	Pinned string            `json:"pinned"`
	Size   int64             `json:"size"`
	File   string            `json:"file,omitempty"`
	Binary *huntimage.Binary `json:"binary,omitempty"`
	Labels map[string]string `json:"labels,omitempty"`
}

func printImage(a *app, output string, img *huntimage.Image, ref, pinned, file string) error {
	info := imageInfo{Name: ref, Digest: img.Digest.String(), Pinned: pinned, Size: img.Size, File: file, Binary: img.Binary}
	if cf, err := img.Image.ConfigFile(); err == nil {
		info.Labels = cf.Config.Labels
	}
	if output == "json" {
		return writeJSON(a.Out, info)
	}
	if output != "text" {
		return fmt.Errorf("--output %q: want text or json", output)
	}
	fmt.Fprintf(a.Out, "image   %s\ndigest  %s\npinned  %s\nsize    %.1f MiB (compressed)\n", info.Name, info.Digest, info.Pinned, float64(info.Size)/(1<<20))
	if b := img.Binary; b != nil {
		link := "static"
		if !b.Static {
			link = fmt.Sprintf("dynamic, %d libraries", len(b.Libs))
		}
		fmt.Fprintf(a.Out, "binary  %s (%s, %s, yara %t, revision %s)\n", b.SHA256, b.Arch, link, b.YARA(), info.Labels[huntimage.LabelRevision])
	}
	if file != "" {
		fmt.Fprintf(a.Out, "written %s\n", file)
	}
	return nil
}
