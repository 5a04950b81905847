package testenv

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// BusyboxRootfs is a busybox image's root filesystem in a temporary directory, as
// test/e2e/cluster.sh builds the test image: busybox-static at /bin/busybox and a symlink per
// applet.
func BusyboxRootfs(t testing.TB, busybox string) string {
	t.Helper()
	r := filepath.Join(t.TempDir(), "rootfs")
	must(t, os.MkdirAll(filepath.Join(r, "bin"), 0o755))
	copyFile(t, busybox, filepath.Join(r, "bin", "busybox"))
	list, err := exec.Command(busybox, "--list").Output()
	must(t, err)
	for _, a := range strings.Fields(string(list)) {
		if a != "busybox" {
			must(t, os.Symlink("busybox", filepath.Join(r, "bin", a)))
		}
	}
	return r
}

// PodmanFixtureRootfs rebuilds the base root filesystem the Podman fixtures ran on, with
// test/fixtures/gen.sh's make_rootfs recipe: busybox-static, the fixture program at /target
// (built from src/target.c, reproducible), /etc/passwd and group, and the log file the
// workload deletes.
func PodmanFixtureRootfs(t testing.TB, busybox string) string {
	t.Helper()
	gcc := Tool(t, "gcc")
	r := filepath.Join(t.TempDir(), "rootfs")
	for _, d := range []string{"bin", "work", "tmp", "proc", "sys", "dev", "etc", "var/log", "root"} {
		must(t, os.MkdirAll(filepath.Join(r, d), 0o755))
	}
	must(t, os.Chmod(filepath.Join(r, "tmp"), 0o1777))
	copyFile(t, busybox, filepath.Join(r, "bin", "busybox"))
	for _, a := range []string{"sh", "ls", "cat", "cp", "mkdir", "chmod", "rm", "sleep", "ps", "id"} {
		must(t, os.Symlink("busybox", filepath.Join(r, "bin", a)))
	}
	if out, err := exec.Command(gcc, "-static", "-O1", "-s", "-w", "-o", filepath.Join(r, "target"),
		filepath.Join(Root(), "test", "fixtures", "src", "target.c")).CombinedOutput(); err != nil {
		t.Fatalf("build the fixture program: %v: %s", err, out)
	}
	must(t, os.WriteFile(filepath.Join(r, "etc", "passwd"), []byte("root:x:0:0:root:/root:/bin/sh\n"), 0o644))
	must(t, os.WriteFile(filepath.Join(r, "etc", "group"), []byte("root:x:0:\n"), 0o644))
	must(t, os.WriteFile(filepath.Join(r, "var", "log", "auth.log"), []byte("Jan 10 03:14:07 web-7f9c sshd[811]: Accepted publickey\n"), 0o644))
	return r
}

func copyFile(t testing.TB, from, to string) {
	t.Helper()
	if out, err := exec.Command("cp", from, to).CombinedOutput(); err != nil {
		t.Fatalf("cp %s %s: %v: %s", from, to, err, out)
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
