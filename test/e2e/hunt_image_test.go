package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/podsleuth/podsleuth/test/testenv"
)

var (
	interimOnce sync.Once
	interimRef  string
	interimErr  error
)

// interimAnalyzerImage builds the simplest analyzer image (the podsleuth binary built with YARA
// at /usr/bin/podsleuth with the shared libraries ldd names, at their host paths; /tmp), imports
// it into the test cluster's containerd and returns NAME@sha256:DIGEST, tagged by digest so the
// kubelet resolves it offline. The hunt-image engineer's analyzerImage(t) replaces it.
func interimAnalyzerImage(t *testing.T) string {
	t.Helper()
	interimOnce.Do(func() {
		dir, err := os.MkdirTemp("", "podsleuth-analyzer-")
		if err != nil {
			interimErr = err
			return
		}
		defer os.RemoveAll(dir)
		kc := testenv.Kubeconfig(t)
		r := filepath.Dir(kc)
		script := `set -euo pipefail
D=$1; R=$2; B=$3; ROOT=$D/root
mkdir -p $ROOT/usr/bin $ROOT/tmp $ROOT/etc
chmod 1777 $ROOT/tmp
go build -tags yara -o $ROOT/usr/bin/podsleuth ./cmd/podsleuth
for l in $(ldd $ROOT/usr/bin/podsleuth | grep -o '/[^ ]*'); do mkdir -p $ROOT$(dirname $l); cp -L $l $ROOT$l; done
echo 'root:x:0:0:root:/:/usr/bin/podsleuth' > $ROOT/etc/passwd
tar --sort=name --mtime=@0 --owner=0 --group=0 -C $ROOT -cf $D/layer.tar .
l=$(sha256sum $D/layer.tar | cut -d' ' -f1)
printf '{"architecture":"amd64","os":"linux","config":{"Entrypoint":["/usr/bin/podsleuth"],"Env":["PATH=/usr/bin","HOME=/tmp"]},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' $l > $D/config.json
printf '[{"Config":"config.json","RepoTags":["podsleuth.local/podsleuth-analyzer:interim"],"Layers":["layer.tar"]}]' > $D/manifest.json
tar -C $D -cf $D/image.tar config.json manifest.json layer.tar
ctr() { $B/ctr -a $R/containerd/containerd.sock -n k8s.io "$@"; }
ctr images import $D/image.tar >/dev/null
d=$(ctr images ls name==podsleuth.local/podsleuth-analyzer:interim | awk 'NR == 2 {print $3}')
ctr images tag --force podsleuth.local/podsleuth-analyzer:interim podsleuth.local/podsleuth-analyzer@$d >/dev/null
echo podsleuth.local/podsleuth-analyzer@$d`
		c := exec.Command("bash", "-c", script, "build", dir, r, testenv.K8sBin(t))
		c.Dir = testenv.Root()
		out, err := c.CombinedOutput()
		if err != nil {
			interimErr = err
			interimRef = string(out)
			return
		}
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		interimRef = lines[len(lines)-1]
	})
	require.NoError(t, interimErr, "analyzer image: %s", interimRef)
	require.Contains(t, interimRef, "@sha256:")
	return interimRef
}
