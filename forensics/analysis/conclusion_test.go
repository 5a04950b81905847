package analysis_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/podsleuth/podsleuth/forensics"
	"github.com/podsleuth/podsleuth/forensics/analysis"
	"github.com/podsleuth/podsleuth/forensics/findings"
)

// stage returns the conclusion's stage of a technique.
func stage(t *testing.T, c *analysis.Conclusion, technique string) analysis.Stage {
	t.Helper()
	for _, s := range c.Stages {
		if s.Technique == technique {
			return s
		}
	}
	t.Fatalf("no stage %s in %+v", technique, c.Stages)
	return analysis.Stage{}
}

// action returns the conclusion's action of a kind.
func action(t *testing.T, c *analysis.Conclusion, kind string) analysis.Action {
	t.Helper()
	for _, a := range c.Actions {
		if a.Kind == kind {
			return a
		}
	}
	t.Fatalf("no %s action in %+v", kind, c.Actions)
	return analysis.Action{}
}

func kinds(c *analysis.Conclusion) []string {
	var out []string
	for _, a := range c.Actions {
		out = append(out, a.Kind)
	}
	return out
}

func hasProc(s analysis.Stage, pid int) bool {
	for _, p := range s.Processes {
		if p.PID == pid {
			return true
		}
	}
	return false
}

// TestConclusionFileless: the story names the reflective loading (memfd ELF, the ELF copied into
// anonymous memory, the script in a pipe, the deleted stage-2 script) with both processes,
// blocks the two C2 URLs only the script and the pipe hold, and extracts each payload with a
// command that reaches it.
func TestConclusionFileless(t *testing.T) {
	cp, res := run(t, "images/triage-fileless")
	c := res.Conclusion
	require.Equal(t, analysis.VerdictCompromised, c.Verdict)
	require.Equal(t, forensics.SeverityCritical, c.Severity)
	require.Equal(t, "high", c.Confidence)
	require.Contains(t, c.Reason, "critical")
	st := stage(t, c, "T1620")
	require.Equal(t, "Defense Evasion", st.Tactic)
	require.Equal(t, "Reflective Code Loading", st.TechniqueName)
	attack := pidOf(t, cp, "attack", "--mode fileless")
	sh := pidOf(t, cp, "sh", ".stage2.sh")
	require.True(t, hasProc(st, attack) && hasProc(st, sh), "%+v", st.Processes)
	require.Contains(t, st.Objects, "memfd:kworkerd")
	require.Contains(t, c.Summary, "Defense Evasion")

	block := action(t, c, "block")
	require.Equal(t, []string{"http://c2-stage2.evil.example:8080/gate.php", "http://stage3.evil.example/p.sh"}, block.Targets)
	ex := action(t, c, "extract")
	require.Contains(t, ex.Targets, "memfd:kworkerd")
	require.Contains(t, ex.Targets, "ghost:/tmp/podsleuth-fx-fileless/.stage2.sh")
	require.Contains(t, strings.Join(ex.Commands, "\n"), "podsleuth files extract "+cp.Source.Path+" memfd:kworkerd -O memfd_kworkerd.bin")
	anon := hits(res, findings.RuleAnonELF)[0].Location
	require.Contains(t, ex.Commands, fmt.Sprintf("podsleuth memdump %s --pid %d --addr 0x%x --len %d -o raw --out pid%d-0x%x.bin",
		cp.Source.Path, attack, anon.Start, anon.End-anon.Start, attack, anon.Start))
	rot := action(t, c, "rotate-credentials")
	require.Contains(t, rot.Targets, "DB_PASSWORD")
	for _, tg := range rot.Targets {
		require.NotContains(t, tg, "s3cr", "a credential's value never reaches the conclusion")
	}
	require.Equal(t, []string{"isolate", "block", "rotate-credentials", "preserve-evidence", "extract", "cordon-node", "hunt"}, kinds(c))
}

// TestConclusionShells: the story is Execution (Unix shell) with the reverse shell, the socat
// listener and the shell it served; the peers are on loopback, so the action is to find them in
// the pod, not to block a remote address.
func TestConclusionShells(t *testing.T) {
	cp, res := run(t, "images/triage-shells")
	c := res.Conclusion
	require.Equal(t, analysis.VerdictCompromised, c.Verdict)
	st := stage(t, c, "T1059.004")
	require.Equal(t, "Execution", st.Tactic)
	require.Equal(t, c.Stages[0].Technique, "T1059.004", "Execution comes first in the kill chain")
	var rules []string
	for _, it := range st.Items {
		rules = append(rules, it.Rule)
	}
	require.ElementsMatch(t, []string{findings.RuleBindShell, findings.RuleBindShell, findings.RuleReverseShell}, rules)
	for _, f := range append(hits(res, findings.RuleReverseShell), hits(res, findings.RuleBindShell)...) {
		require.True(t, hasProc(st, f.Location.PID), "pid %d", f.Location.PID)
	}
	peer := action(t, c, "trace-peer")
	require.Contains(t, peer.Targets, "127.0.0.1:9001", "the reverse shell's controller")
	require.NotContains(t, peer.Targets, "127.0.0.1:14445", "the listener is the container's own port")
	for _, a := range c.Actions {
		require.NotEqual(t, "block", a.Kind, "%+v: a version string is no C2 address", a.Targets)
	}
	require.Equal(t, cp.Source.Path, action(t, c, "preserve-evidence").Targets[0])
}

// TestConclusionMasquerade: Defense Evasion (masquerading) and the tool dropped into /dev/shm,
// hunted by its path.
func TestConclusionMasquerade(t *testing.T) {
	cp, res := run(t, "images/triage-masq")
	c := res.Conclusion
	require.Equal(t, analysis.VerdictCompromised, c.Verdict)
	require.Equal(t, forensics.SeverityHigh, c.Severity)
	pid := pidOf(t, cp, "sshd", "/usr/sbin/sshd")
	st := stage(t, c, "T1036.005")
	require.True(t, hasProc(st, pid))
	require.Len(t, st.Items, 4) // two kernel-named threads, argv[0] and comm
	require.True(t, hasProc(stage(t, c, "T1105"), pid))
	require.Contains(t, action(t, c, "hunt").Targets, "executable /dev/shm/.x/updater")
}

// TestConclusionMiner: Impact (resource hijacking) with the pool, the stratum URL and the three
// wallets; the wallets are hunted, the loopback pool is traced.
func TestConclusionMiner(t *testing.T) {
	cp, res := run(t, "images/triage-miner")
	c := res.Conclusion
	require.Equal(t, analysis.VerdictCompromised, c.Verdict)
	st := stage(t, c, "T1496")
	require.Equal(t, "Impact", st.Tactic)
	require.Equal(t, "Impact", c.Stages[len(c.Stages)-1].Tactic, "Impact comes last")
	text := ""
	for _, it := range st.Items {
		text += it.Text + "\n"
	}
	require.Contains(t, text, "stratum+tcp://127.0.0.1:3333")
	require.Contains(t, text, "48edfHu7V9Z84YzzMa6fUueoELZ9ZRXq9VetWzYGzKt52XU5xvqgzYnDK9URnRoJMk1j8nLwEVsaSWJ4fhdUyZijBGUicoD")
	require.True(t, hasProc(st, pidOf(t, cp, "xmrig", "stratum+tcp://")))
	h := action(t, c, "hunt")
	require.Contains(t, h.Targets, "wallet bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq")
	require.Contains(t, h.Targets, "executable /tmp/.xm/xmrig")
	require.Contains(t, action(t, c, "trace-peer").Targets, "127.0.0.1:3333")
}

// TestConclusionBenign: nothing attacker-like, so no stage and no containment; the planted
// environment credentials are still named for rotation.
func TestConclusionBenign(t *testing.T) {
	_, res := run(t, "images/triage-benign")
	c := res.Conclusion
	require.Equal(t, analysis.VerdictNoAttack, c.Verdict)
	require.Empty(t, c.Stages)
	require.Equal(t, []string{"rotate-credentials"}, kinds(c))
	require.Contains(t, c.Exposure, "FORENSIC_SECRET")
	require.Equal(t, len(res.Findings), c.Context)
}

// TestConclusionArchive: a Podman archive with persistence in its writable layer, a dropped
// miner and injected code: the container is named, the rootfs change must not be restarted,
// the C2 addresses in the implant's heap are blocked but not the strings of the dropped binary,
// and the evidence ID, when given, is what the commands use.
func TestConclusionArchive(t *testing.T) {
	a, cp, m := open(t, "archives/podman-crun.tar")
	res, err := analysis.Run(context.Background(), cp, m, analysis.Options{Archive: a, EvidenceID: "ev-2026-0001"})
	require.NoError(t, err)
	defer res.Close()
	c := res.Conclusion
	require.Equal(t, analysis.VerdictCompromised, c.Verdict)
	iso := action(t, c, "isolate")
	require.Equal(t, []string{"container fx-crun"}, iso.Targets)
	require.Equal(t, []string{"/tmp/.x/miner"}, action(t, c, "rebuild").Targets)
	block := action(t, c, "block")
	require.Contains(t, block.Targets, "http://c2.evil.example:8443/beacon")
	require.Contains(t, block.Targets, "203.0.113.66")
	require.NotContains(t, block.Targets, "www.debian.org")
	require.NotContains(t, block.Targets, "http://www.debian.org/Bugs/")
	pres := action(t, c, "preserve-evidence")
	require.Equal(t, []string{"ev-2026-0001"}, pres.Targets)
	require.Contains(t, pres.Commands, "podsleuth evidence verify ev-2026-0001")
	require.Contains(t, action(t, c, "extract").Commands, "podsleuth files extract ev-2026-0001 rootfs:/tmp/.x/miner -O tmp_.x_miner.bin")
	require.Contains(t, action(t, c, "hunt").Targets, "image localhost/podsleuth-fixture:latest (no digest recorded: a tag can move)")
}

// TestConclusionDeterministic: two analyses of the same checkpoint give the same conclusion,
// byte for byte, and without memory the conclusion says what could not be seen.
func TestConclusionDeterministic(t *testing.T) {
	var out [2][]byte
	for i := range out {
		_, res := run(t, "images/triage-fileless")
		b, err := json.Marshal(res.Conclusion)
		require.NoError(t, err)
		out[i] = b
	}
	require.Equal(t, string(out[0]), string(out[1]))

	_, cp, _ := open(t, "images/triage-benign")
	res, err := analysis.Run(context.Background(), cp, nil, analysis.Options{})
	require.NoError(t, err)
	require.Equal(t, "low", res.Conclusion.Confidence)
	require.Contains(t, res.Conclusion.Reason, "Process memory was not analysed")
}

// TestConclusionBounded: a rule that fires everywhere (the real findings repeated for ten
// thousand processes) keeps the conclusion small, counting what it leaves out; hostile names
// reach it only terminal-safe.
func TestConclusionBounded(t *testing.T) {
	cp, res := run(t, "archives/podman-crun.tar")
	var many []forensics.Finding
	for i := range 10000 {
		for _, f := range res.Findings {
			f.Location.PID += i * 100
			f.Location.Comm = "\x1b]0;owned\x07" + f.Location.Comm
			many = append(many, f)
		}
	}
	c := analysis.Conclude(cp, many, res.Indicators, analysis.ConcludeOptions{MemoryScanned: true})
	b, err := json.Marshal(c)
	require.NoError(t, err)
	require.Less(t, len(b), 64<<10, "the conclusion of 10,000 processes' findings stays small")
	require.NotContains(t, string(b), "\\u001b")
	for _, s := range c.Stages {
		require.LessOrEqual(t, len(s.Items), 6)
		require.LessOrEqual(t, len(s.Processes), 8)
		require.LessOrEqual(t, len(s.Objects), 8)
	}
	st := stage(t, c, "T1036.005")
	require.Equal(t, 3*10000-len(st.Items), st.More)
	for _, a := range c.Actions {
		require.LessOrEqual(t, len(a.Targets), 11, a.Kind)
	}
}
