package huntimage_test

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/stretchr/testify/require"

	"github.com/podsleuth/podsleuth/cluster/huntimage"
	"github.com/podsleuth/podsleuth/test/testenv"
)

var (
	buildOnce sync.Map // flags -> *built
)

// TestMain removes the binaries the tests built.
func TestMain(m *testing.M) {
	code := m.Run()
	buildOnce.Range(func(_, v any) bool {
		if p := v.(*built).path; p != "" {
			os.RemoveAll(filepath.Dir(p))
		}
		return true
	})
	os.Exit(code)
}

type built struct {
	once sync.Once
	path string
	err  error
	out  string
}

// podsleuthBinary builds the real podsleuth command once per set of build arguments. With
// trimpath it builds as `make analyzer-image` does (GOFLAGS cleared, -trimpath: the e2e tests'
// analyzer image then reuses the compiled packages); without, as the other tests' builds do
// (the caller's GOFLAGS, no -trimpath), so a cold CI compiles the program's packages once for
// those rather than once more for this package alone.
func podsleuthBinary(t *testing.T, trimpath bool, tags string, extra ...string) string {
	t.Helper()
	key := fmt.Sprint(trimpath) + " " + tags + " " + strings.Join(extra, " ")
	v, _ := buildOnce.LoadOrStore(key, &built{})
	b := v.(*built)
	b.once.Do(func() {
		dir, err := os.MkdirTemp("", "huntimage-bin-")
		if err != nil {
			b.err = err
			return
		}
		b.path = filepath.Join(dir, "podsleuth")
		args := append([]string{"build", "-tags", tags, "-o", b.path}, extra...)
		env := os.Environ()
		if trimpath {
			args = append([]string{"build", "-trimpath"}, args[1:]...)
			env = append(env, "GOFLAGS=")
		}
		cmd := exec.Command("go", append(args, "./cmd/podsleuth")...)
		cmd.Dir = testenv.Root()
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		b.err, b.out = err, string(out)
	})
	require.NoError(t, b.err, b.out)
	return b.path
}

func dynamicBinary(t *testing.T) string {
	return podsleuthBinary(t, false, "yara", "-ldflags", "-s -w")
}

// staticBinary is built the way `make analyzer-image` builds it.
func staticBinary(t *testing.T) string {
	return podsleuthBinary(t, true, "yara,netgo,osusergo", "-ldflags",
		"-s -w -linkmode external -extldflags '-static -Wl,--start-group -lyara -lmagic -ljansson -lcrypto -lz -lbz2 -llzma -lm -ldl -lpthread -Wl,--end-group'")
}

var created = time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)

func build(t *testing.T, bin string, c time.Time) *huntimage.Image {
	t.Helper()
	img, err := huntimage.Build(context.Background(), huntimage.Config{Binary: bin, Created: c, Revision: "0123abc", Version: "v9.9.9"})
	require.NoError(t, err)
	return img
}

func sha(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

func fileSHA(t *testing.T, p string) string {
	b, err := os.ReadFile(p)
	require.NoError(t, err)
	return sha(b)
}

// TestInspectMatchesLdd: the libraries and interpreter found for a dynamic podsleuth are
// exactly those the system's dynamic loader loads (ldd), as the same files.
func TestInspectMatchesLdd(t *testing.T) {
	bin := dynamicBinary(t)
	b, err := huntimage.Inspect(bin, nil)
	require.NoError(t, err)
	require.False(t, b.Static)
	require.True(t, b.YARA())
	out, err := exec.Command("ldd", bin).Output()
	require.NoError(t, err)
	want := map[string]string{}
	interp := ""
	re := regexp.MustCompile(`^\s*(\S+) => (\S+) \(0x`)
	for _, l := range strings.Split(string(out), "\n") {
		if m := re.FindStringSubmatch(l); m != nil {
			want[m[1]] = m[2]
		} else if f := strings.Fields(l); len(f) == 2 && strings.HasPrefix(f[0], "/") {
			interp = f[0]
		}
	}
	got := map[string]string{}
	for _, l := range b.Libs {
		got[l.Name] = l.Path
	}
	require.Contains(t, want, "libyara.so.9")
	require.Equal(t, keys(want), keys(got))
	for n, p := range want {
		rp, _ := filepath.EvalSymlinks(p)
		rg, _ := filepath.EvalSymlinks(got[n])
		require.Equal(t, rp, rg, n)
	}
	require.Equal(t, interp, b.Interp)
}

func keys(m map[string]string) []string {
	var k []string
	for x := range m {
		k = append(k, x)
	}
	sort.Strings(k)
	return k
}

// TestBuildReproducible: the same binary and time give the same digest and the same archive
// bytes; another time or another binary give another digest.
func TestBuildReproducible(t *testing.T) {
	bin := dynamicBinary(t)
	a, b := build(t, bin, created), build(t, bin, created)
	require.Equal(t, a.Digest, b.Digest)
	dir := t.TempDir()
	ref, err := huntimage.Reference("", "v9.9.9")
	require.NoError(t, err)
	require.NoError(t, a.WriteArchive(filepath.Join(dir, "a.tar"), ref))
	require.NoError(t, b.WriteArchive(filepath.Join(dir, "b.tar"), ref))
	require.Equal(t, fileSHA(t, filepath.Join(dir, "a.tar")), fileSHA(t, filepath.Join(dir, "b.tar")))

	require.NotEqual(t, a.Digest, build(t, bin, created.Add(time.Second)).Digest)
	// one byte more at the end of the file: still the same program, another binary
	data, err := os.ReadFile(bin)
	require.NoError(t, err)
	other := filepath.Join(dir, "podsleuth")
	require.NoError(t, os.WriteFile(other, append(data, 0), 0o755))
	c := build(t, other, created)
	require.NotEqual(t, a.Digest, c.Digest)
	require.Equal(t, sha(append(data, 0)), label(t, c, huntimage.LabelBinarySHA))
}

func label(t *testing.T, img *huntimage.Image, k string) string {
	cf, err := img.Image.ConfigFile()
	require.NoError(t, err)
	return cf.Config.Labels[k]
}

// layerFiles reads the image's single layer: name -> header, and the binary's content.
func layerFiles(t *testing.T, img v1.Image) (map[string]*tar.Header, map[string][]byte) {
	ls, err := img.Layers()
	require.NoError(t, err)
	require.Len(t, ls, 1)
	rc, err := ls[0].Uncompressed()
	require.NoError(t, err)
	defer rc.Close()
	hs, data := map[string]*tar.Header{}, map[string][]byte{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		hs[h.Name] = h
		b, err := io.ReadAll(tr)
		require.NoError(t, err)
		data[h.Name] = b
	}
	return hs, data
}

// TestImageContents: what a Job can rely on: the entrypoint, the non-root numeric user, the
// environment, the labels; the layer holds the binary, its interpreter and libraries, passwd,
// group and /tmp, nothing else (no shell), every entry owned by 0:0 at the creation time.
func TestImageContents(t *testing.T) {
	bin := dynamicBinary(t)
	img := build(t, bin, created)
	ib, err := huntimage.Inspect(bin, nil)
	require.NoError(t, err)
	cf, err := img.Image.ConfigFile()
	require.NoError(t, err)
	require.Equal(t, []string{"/usr/bin/podsleuth"}, cf.Config.Entrypoint)
	require.Equal(t, []string{"version"}, cf.Config.Cmd)
	require.Equal(t, "65532:65532", cf.Config.User)
	require.Contains(t, cf.Config.Env, "LD_LIBRARY_PATH=/usr/lib/podsleuth")
	require.Contains(t, cf.Config.Env, "HOME=/tmp")
	require.Equal(t, "amd64", cf.Architecture)
	require.Equal(t, created, cf.Created.Time.UTC())
	require.Equal(t, "0123abc", cf.Config.Labels[huntimage.LabelRevision])
	require.Equal(t, "v9.9.9", cf.Config.Labels[huntimage.LabelVersion])
	require.Equal(t, "dynamic", cf.Config.Labels[huntimage.LabelLinking])
	require.Equal(t, "true", cf.Config.Labels[huntimage.LabelYARA])
	require.Equal(t, fileSHA(t, bin), cf.Config.Labels[huntimage.LabelBinarySHA])

	hs, data := layerFiles(t, img.Image)
	want := []string{"etc/", "etc/group", "etc/passwd", "tmp/", "usr/", "usr/bin/", "usr/bin/podsleuth", "usr/lib/", "usr/lib/podsleuth/",
		strings.TrimPrefix(filepath.Dir(ib.Interp), "/") + "/", strings.TrimPrefix(ib.Interp, "/")}
	for _, l := range ib.Libs {
		want = append(want, "usr/lib/podsleuth/"+l.Name)
		rp, err := filepath.EvalSymlinks(l.Path)
		require.NoError(t, err)
		require.Equal(t, fileSHA(t, rp), sha(data["usr/lib/podsleuth/"+l.Name]), l.Name)
	}
	sort.Strings(want)
	require.Equal(t, want, sortedKeys(hs))
	require.Equal(t, fileSHA(t, bin), sha(data["usr/bin/podsleuth"]))
	for n, h := range hs {
		require.Equal(t, 0, h.Uid, n)
		require.Equal(t, 0, h.Gid, n)
		require.Equal(t, created, h.ModTime.UTC(), n)
	}
	require.Equal(t, int64(0o1777), hs["tmp/"].Mode)
	require.Contains(t, string(data["etc/passwd"]), "nonroot:x:65532:65532:")
}

func sortedKeys(m map[string]*tar.Header) []string {
	var k []string
	for x := range m {
		k = append(k, x)
	}
	sort.Strings(k)
	return k
}

// TestImageRuns extracts the image's filesystem and runs its entrypoint there (chroot) as the
// image's user with only the image's environment: the binary, its libraries and YARA work with
// nothing from the host, no shell. Both a dynamic and a static (make analyzer-image) binary.
func TestImageRuns(t *testing.T) {
	testenv.RequireRoot(t)
	for _, tc := range []struct {
		name    string
		bin     func(*testing.T) string
		linking string
	}{{"dynamic", dynamicBinary, "dynamic"}, {"static", staticBinary, "static"}} {
		t.Run(tc.name, func(t *testing.T) {
			img := build(t, tc.bin(t), created)
			require.Equal(t, tc.linking, label(t, img, huntimage.LabelLinking))
			root := t.TempDir()
			require.NoError(t, os.Chmod(root, 0o755))
			require.NoError(t, extractTo(mutate.Extract(img.Image), root))
			cf, err := img.Image.ConfigFile()
			require.NoError(t, err)
			cmd := exec.Command(cf.Config.Entrypoint[0], "hunt", "image", "selftest", "-o", "json")
			cmd.Env, cmd.Dir = cf.Config.Env, "/"
			cmd.SysProcAttr = &syscall.SysProcAttr{Chroot: root, Credential: &syscall.Credential{Uid: huntimage.UID, Gid: huntimage.GID}}
			out, err := cmd.Output()
			require.NoError(t, err, "%s", out)
			var r huntimage.SelfTestReport
			require.NoError(t, json.Unmarshal(out, &r))
			require.True(t, r.OK, "%s", out)
			require.Equal(t, huntimage.UID, r.UID)
			require.True(t, r.YARA.Built)
			require.Greater(t, r.YARA.Rules, 5)
			require.Equal(t, []string{huntimage.SelfTestRule}, r.YARA.Hits)
			require.False(t, r.ServiceAccountToken)
			_, err = os.Stat(filepath.Join(root, "bin", "sh"))
			require.ErrorIs(t, err, os.ErrNotExist)
		})
	}
}

func extractTo(rc io.ReadCloser, root string) error {
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		p := filepath.Join(root, filepath.Clean("/"+h.Name))
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(p, os.FileMode(h.Mode)&os.ModePerm); err != nil {
				return err
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				return err
			}
			b, err := io.ReadAll(tr)
			if err != nil {
				return err
			}
			if err := os.WriteFile(p, b, os.FileMode(h.Mode)&os.ModePerm); err != nil {
				return err
			}
		}
	}
}

// TestPushPull pushes to a registry (go-containerregistry's, in process), pulls back by the
// pinned digest and finds the same image and binary; pushing the archive gives the same.
func TestPushPull(t *testing.T) {
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	bin := dynamicBinary(t)
	img := build(t, bin, created)
	pinned, err := img.Push(context.Background(), host+"/sec/podsleuth-analyzer:v9", huntimage.PushOptions{})
	require.NoError(t, err)
	require.Equal(t, host+"/sec/podsleuth-analyzer@"+img.Digest.String(), pinned)

	ref, err := name.ParseReference(pinned)
	require.NoError(t, err)
	got, err := remote.Image(ref)
	require.NoError(t, err)
	d, err := got.Digest()
	require.NoError(t, err)
	require.Equal(t, img.Digest, d)
	_, data := layerFiles(t, got)
	require.Equal(t, fileSHA(t, bin), sha(data["usr/bin/podsleuth"]))
	tref, err := name.ParseReference(host + "/sec/podsleuth-analyzer:v9")
	require.NoError(t, err)
	tagged, err := remote.Head(tref)
	require.NoError(t, err)
	require.Equal(t, img.Digest, tagged.Digest)

	// the archive, loaded and pushed elsewhere, is the same image
	file := filepath.Join(t.TempDir(), "img.tar")
	tag, err := huntimage.Reference("", "v9")
	require.NoError(t, err)
	require.NoError(t, img.WriteArchive(file, tag))
	loaded, err := huntimage.Load(file)
	require.NoError(t, err)
	defer loaded.Close()
	pinned2, err := loaded.Push(context.Background(), host+"/other/analyzer", huntimage.PushOptions{})
	require.NoError(t, err)
	require.Equal(t, host+"/other/analyzer@"+img.Digest.String(), pinned2)

	_, err = img.Push(context.Background(), pinned, huntimage.PushOptions{})
	require.ErrorContains(t, err, "not a digest")
}

// TestLoad: archives and layouts round-trip to the same digest; a changed blob, a foreign
// name, a link or a second image are refused as ErrBadArchive.
func TestLoad(t *testing.T) {
	img := build(t, dynamicBinary(t), created)
	dir := t.TempDir()
	ref, err := huntimage.Reference("registry.example/a/b", "t1")
	require.NoError(t, err)
	file := filepath.Join(dir, "img.tar")
	require.NoError(t, img.WriteArchive(file, ref))
	require.NoError(t, img.WriteLayout(filepath.Join(dir, "layout"), ref))
	for _, p := range []string{file, filepath.Join(dir, "layout")} {
		l, err := huntimage.Load(p)
		require.NoError(t, err, p)
		require.Equal(t, img.Digest, l.Digest)
		require.Equal(t, img.Size, l.Size)
		l.Close()
	}
	// the index names the image for containerd (ctr import) and carries the tag
	idx := readTarFile(t, file, "index.json")
	require.Contains(t, string(idx), `"io.containerd.image.name":"registry.example/a/b:t1"`)
	require.Contains(t, string(idx), `"org.opencontainers.image.ref.name":"t1"`)

	tamper := func(t *testing.T, f func(n string, h *tar.Header, b []byte) (*tar.Header, []byte)) string {
		in, err := os.Open(file)
		require.NoError(t, err)
		defer in.Close()
		out := filepath.Join(t.TempDir(), "bad.tar")
		o, err := os.Create(out)
		require.NoError(t, err)
		tw := tar.NewWriter(o)
		tr := tar.NewReader(in)
		for {
			h, err := tr.Next()
			if err == io.EOF {
				break
			}
			require.NoError(t, err)
			b, err := io.ReadAll(tr)
			require.NoError(t, err)
			h, b = f(h.Name, h, b)
			if h == nil {
				continue
			}
			h.Size = int64(len(b))
			require.NoError(t, tw.WriteHeader(h))
			_, err = tw.Write(b)
			require.NoError(t, err)
		}
		require.NoError(t, tw.Close())
		require.NoError(t, o.Close())
		return out
	}
	cases := map[string]func(n string, h *tar.Header, b []byte) (*tar.Header, []byte){
		"flipped byte": func(n string, h *tar.Header, b []byte) (*tar.Header, []byte) {
			if h.Size > 1<<20 {
				b = bytes.Clone(b)
				b[len(b)/2] ^= 1
			}
			return h, b
		},
		"traversal": func(n string, h *tar.Header, b []byte) (*tar.Header, []byte) {
			if n == "oci-layout" {
				h.Name = "../../oci-layout"
			}
			return h, b
		},
		"symlink": func(n string, h *tar.Header, b []byte) (*tar.Header, []byte) {
			if n == "oci-layout" {
				h.Typeflag, h.Linkname = tar.TypeSymlink, "/etc/passwd"
				return h, nil
			}
			return h, b
		},
		"no index": func(n string, h *tar.Header, b []byte) (*tar.Header, []byte) {
			if n == "index.json" {
				return nil, nil
			}
			return h, b
		},
		"two images": func(n string, h *tar.Header, b []byte) (*tar.Header, []byte) {
			if n == "index.json" {
				var m v1.IndexManifest
				require.NoError(t, json.Unmarshal(b, &m))
				m.Manifests = append(m.Manifests, m.Manifests[0])
				b, _ = json.Marshal(m)
			}
			return h, b
		},
	}
	for n, f := range cases {
		t.Run(n, func(t *testing.T) {
			_, err := huntimage.Load(tamper(t, f))
			require.ErrorIs(t, err, huntimage.ErrBadArchive)
		})
	}
}

func readTarFile(t *testing.T, file, n string) []byte {
	f, err := os.Open(file)
	require.NoError(t, err)
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		require.NoError(t, err)
		if h.Name == n {
			b, err := io.ReadAll(tr)
			require.NoError(t, err)
			return b
		}
	}
}

// TestBuildRefuses: what cannot be an analyzer is refused by name.
func TestBuildRefuses(t *testing.T) {
	dir := t.TempDir()
	text := filepath.Join(dir, "script")
	require.NoError(t, os.WriteFile(text, []byte("#!/bin/sh\necho hi\n"), 0o755))
	_, err := huntimage.Build(context.Background(), huntimage.Config{Binary: text})
	require.ErrorIs(t, err, huntimage.ErrNotELF)

	// a real ELF that is not podsleuth
	_, err = huntimage.Build(context.Background(), huntimage.Config{Binary: "/bin/true"})
	require.ErrorIs(t, err, huntimage.ErrNotPodsleuth)

	// podsleuth built without YARA
	noYara := podsleuthBinary(t, false, "", "-ldflags", "-s -w")
	_, err = huntimage.Build(context.Background(), huntimage.Config{Binary: noYara})
	require.ErrorIs(t, err, huntimage.ErrNoYARA)

	// a library that is not where it is searched
	_, err = huntimage.Build(context.Background(), huntimage.Config{Binary: dynamicBinary(t), LibDirs: []string{dir}})
	require.ErrorIs(t, err, huntimage.ErrMissingLibrary)
	require.ErrorContains(t, err, "libyara.so.9")

	_, err = huntimage.Build(context.Background(), huntimage.Config{Binary: filepath.Join(dir, "absent")})
	require.True(t, errors.Is(err, os.ErrNotExist), "%v", err)
}
