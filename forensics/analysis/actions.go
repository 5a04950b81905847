package analysis

import (
	"fmt"
	"net/netip"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"github.com/podsleuth/podsleuth/forensics"
	"github.com/podsleuth/podsleuth/forensics/findings"
	"github.com/podsleuth/podsleuth/forensics/ioc"
)

// persistenceRules leave something in the container's writable layer that outlives the
// processes.
var persistenceRules = []string{findings.RuleAccountUID0, findings.RuleAccountNoPass, findings.RuleSudoers,
	findings.RuleCron, findings.RuleAuthorizedKeys, findings.RuleLDPreload, findings.RuleShellRC, findings.RuleRootfsNewExec}

// payloadRules point at code worth extracting for malware analysis.
var payloadRules = []string{findings.RuleFileless, findings.RuleAnonELF, findings.RuleAnonRWX, findings.RuleAnonExec,
	findings.RuleExecMemfd, findings.RuleExecDeleted, findings.RuleRootfsNewExec, findings.RuleExecFromTemp,
	findings.RuleSystemCopy}

// networkIOCTypes are the indicator types an egress block can use.
var networkIOCTypes = []string{"url", "domain", "ipv4", "ipv6"}

// actions draws the responder's next steps from the findings, most urgent first.
func actions(cp *forensics.Checkpoint, all []forensics.Finding, atk []*forensics.Finding, iocs []forensics.IOC, c *Conclusion, o ConcludeOptions) []Action {
	out := []Action{}
	attacked := c.Verdict != VerdictNoAttack
	ref := shellQuote(cp.Source.Path)
	if o.EvidenceID != "" {
		ref = shellQuote(o.EvidenceID)
	}
	pod := cp.Container != nil && cp.Container.Pod != nil
	who := workload(cp)
	if c.Verdict == VerdictCompromised || c.Verdict == VerdictLikelyCompromised {
		a := Action{Kind: "isolate",
			Text: fmt.Sprintf("Isolate %s: deny all its ingress and egress and keep it running; deleting or restarting it destroys the live state, and an exec into it may be watched.", who)}
		if cp.Container != nil {
			a.Targets = []string{who}
		}
		if pod {
			p := cp.Container.Pod
			ns, name := shellQuote(p.Namespace), shellQuote(p.Name)
			a.Commands = []string{
				fmt.Sprintf("kubectl -n %s label pod %s podsleuth.io/quarantine=true", ns, name),
				fmt.Sprintf(`kubectl -n %s apply -f - <<<'{"apiVersion":"networking.k8s.io/v1","kind":"NetworkPolicy","metadata":{"name":"podsleuth-quarantine"},"spec":{"podSelector":{"matchLabels":{"podsleuth.io/quarantine":"true"}},"policyTypes":["Ingress","Egress"]}}'`, ns),
			}
		}
		out = append(out, a)
	}
	remote, local := endpoints(atk)
	ri, li := attackIndicators(cp, atk, iocs)
	remote, local = merge(remote, ri), merge(local, li)
	if len(remote) > 0 {
		out = append(out, Action{Kind: "block", Targets: bound(remote),
			Text:     "Block these command-and-control and pool endpoints at the egress (firewall, proxy, DNS) and search flow and DNS logs for other clients of them.",
			Commands: []string{fmt.Sprintf("podsleuth iocs %s --type %s", ref, strings.Join(networkIOCTypes, ","))}})
	}
	if len(local) > 0 {
		out = append(out, Action{Kind: "trace-peer", Targets: bound(local),
			Text: "The other end of these connections is on loopback: inside the pod's network namespace but not among the checkpointed processes. Find it in the pod's other containers (sidecars) or on the node, and checkpoint it too."})
	}
	if attacked {
		if m := serviceAccountMount(cp); m != "" {
			a := Action{Kind: "revoke-token", Targets: []string{m},
				Text: fmt.Sprintf("The attacker could read the Kubernetes service account token mounted at %s: review what that account may do and invalidate the token (delete the pod once acquisition is done; rotate a legacy token secret).", m)}
			if pod {
				a.Commands = []string{fmt.Sprintf("kubectl -n %s get pod %s -o jsonpath='{.spec.serviceAccountName}'", shellQuote(cp.Container.Pod.Namespace), shellQuote(cp.Container.Pod.Name))}
			}
			out = append(out, a)
		}
	}
	if len(c.Exposure) > 0 {
		text := "Rotate these credentials, or restrict who may read the archive: whoever holds the checkpoint holds them."
		if attacked {
			text = "Rotate these credentials now: the compromised processes could read them, and the archive holds them."
		}
		out = append(out, Action{Kind: "rotate-credentials", Targets: c.Exposure, Text: text,
			Commands: []string{fmt.Sprintf("podsleuth iocs %s --type %s", ref, strings.Join(secretTypes(iocs), ","))}})
	}
	if attacked {
		a := Action{Kind: "preserve-evidence"}
		sum := ""
		if cp.Source.SHA256 != "" {
			sum = " (sha256 " + cp.Source.SHA256 + ")"
		}
		if o.EvidenceID != "" {
			a.Targets = []string{o.EvidenceID}
			a.Text = fmt.Sprintf("Preserve evidence %s%s: keep it in the store, verify it and its custody before sharing, and hand it over as a signed bundle.", forensics.Printable(o.EvidenceID), sum)
			a.Commands = []string{"podsleuth evidence verify " + ref, "podsleuth evidence export " + ref}
		} else {
			a.Targets = []string{forensics.Printable(cp.Source.Path)}
			if cp.Source.Format == "dir" {
				a.Text = "Preserve the CRIU image directory: make it read-only, pack it into a tar and add that to the evidence store, so its hash and every use of it are recorded in a signed chain of custody."
			} else {
				a.Text = fmt.Sprintf("Preserve the checkpoint%s: add it to the evidence store, so its hash and every use of it are recorded in a signed chain of custody.", sum)
				a.Commands = []string{"podsleuth evidence add " + ref}
			}
		}
		out = append(out, a)
	}
	if ex := extractions(cp, atk, ref); len(ex.Targets) > 0 {
		out = append(out, ex)
	}
	if paths := persistencePaths(atk); len(paths) > 0 {
		out = append(out, Action{Kind: "rebuild", Targets: bound(paths),
			Text: "Do not restart or commit this container: its writable layer carries these changes, which outlive the processes. Redeploy from the image by digest, and check that the image itself holds none of them."})
	}
	if c.Verdict == VerdictCompromised {
		if p := privileged(cp, atk); p != "" {
			a := Action{Kind: "cordon-node", Targets: []string{p},
				Text: fmt.Sprintf("Treat the node as exposed: %s, enough to leave the container. Cordon the node and examine it.", p)}
			if pod {
				a.Commands = []string{fmt.Sprintf(`kubectl cordon "$(kubectl -n %s get pod %s -o jsonpath='{.spec.nodeName}')"`, shellQuote(cp.Container.Pod.Namespace), shellQuote(cp.Container.Pod.Name))}
			}
			out = append(out, a)
		}
	}
	if attacked {
		out = append(out, hunt(cp, atk, iocs, remote))
	}
	return out
}

// workload names the container in a sentence.
func workload(cp *forensics.Checkpoint) string {
	ct := cp.Container
	switch {
	case ct == nil:
		return "the container"
	case ct.Pod != nil:
		s := fmt.Sprintf("pod %s/%s", ct.Pod.Namespace, ct.Pod.Name)
		if ct.Pod.ContainerName != "" {
			s += " (container " + ct.Pod.ContainerName + ")"
		}
		return forensics.Printable(s)
	case ct.Name != "":
		return forensics.Printable("container " + ct.Name)
	}
	return "the container"
}

// endpoints returns the far ends of the attack findings' connections, split into outside
// endpoints and loopback ones.
func endpoints(atk []*forensics.Finding) (remote, local []string) {
	rs, ls := set{}, set{}
	for _, f := range atk {
		s := f.Location.Socket
		if s == "" {
			continue
		}
		fields := strings.Fields(s)
		var ep string
		// a listener's own address is the container's, not a peer: isolation closes it
		if i := slices.Index(fields, "->"); i >= 0 && i+1 < len(fields) {
			ep = fields[i+1]
		}
		ap, err := netip.ParseAddrPort(ep)
		if err != nil {
			continue
		}
		a := ap.Addr().Unmap()
		ep = forensics.HostPort(a.String(), uint32(ap.Port()))
		if a.IsLoopback() || a.IsUnspecified() {
			ls.add(ep)
		} else {
			rs.add(ep)
		}
	}
	return rs.sorted(), ls.sorted()
}

// attackIndicators are the network indicators (URLs, domains, outside addresses) seen in a
// process or an object of an attack finding (the deleted script's C2 URL, the miner's pool),
// split like endpoints into outside and loopback ones. Strings inside a dropped executable file
// are left to the iocs table (a copied system binary carries its maintainers' addresses), as
// are the environment's (the orchestrator's, not the attacker's) and low-confidence ones.
func attackIndicators(cp *forensics.Checkpoint, atk []*forensics.Finding, iocs []forensics.IOC) (remote, local []string) {
	pids := map[int]bool{}
	objs := map[string]bool{}
	for _, f := range atk {
		if f.Location.PID != 0 {
			pids[f.Location.PID] = true
		}
		if f.Location.Path != "" {
			objs[f.Location.Path] = true
		}
	}
	binaries := map[string]bool{}
	for _, r := range cp.Rootfs {
		if r.Executable {
			binaries[r.Path] = true
		}
	}
	rs, ls, urlHosts := set{}, set{}, set{}
	for _, i := range iocs {
		if !slices.Contains(networkIOCTypes, i.Type) || i.Confidence == "low" || i.Secret {
			continue
		}
		var host string
		switch i.Type {
		case "ipv4", "ipv6":
			host = i.Value
		case "url":
			if u, err := url.Parse(i.Value); err == nil {
				host = u.Hostname()
			}
		}
		loop := false
		if a, err := netip.ParseAddr(host); err == nil {
			if a.IsUnspecified() || a.IsLinkLocalUnicast() || (i.Type != "url" && (a.IsPrivate() || a.IsLoopback())) {
				continue
			}
			loop = a.IsLoopback()
		} else if i.Type != "url" && i.Type != "domain" && host != "" {
			continue
		}
		for _, w := range i.Where {
			if w.Kind == "env" || !pids[w.PID] && !objs[w.Path] || w.Kind == "rootfs" && binaries[w.Path] {
				continue
			}
			v := forensics.Printable(i.Value)
			if loop {
				ls.add(v)
			} else {
				rs.add(v)
				if i.Type == "url" && host != "" {
					urlHosts.add(host)
				}
			}
			break
		}
	}
	// a domain is named by its URL already
	for h := range urlHosts {
		delete(rs, h)
	}
	return rs.sorted(), ls.sorted()
}

// merge adds the new values to a sorted list, once each.
func merge(list, add []string) []string {
	s := set{}
	s.add(list...)
	s.add(add...)
	return s.sorted()
}

// extractions are the commands that save the payloads for malware analysis.
func extractions(cp *forensics.Checkpoint, atk []*forensics.Finding, ref string) Action {
	a := Action{Kind: "extract", Text: "Extract the payloads for malware analysis (and hash them for a fleet search); the commands read them from the checkpoint, never from the live container."}
	add := func(target, cmd string) {
		if !slices.Contains(a.Targets, target) && len(a.Targets) < maxTargets {
			a.Targets = append(a.Targets, target)
			a.Commands = append(a.Commands, cmd)
		}
	}
	obj := regexp.MustCompile(`^(memfd|ghost|pipe|socket|shmem|tmpfs|devshm|rootfs):`)
	for _, f := range atk {
		if !slices.Contains(payloadRules, f.Rule) {
			continue
		}
		l := f.Location
		switch {
		case obj.MatchString(l.Path) && l.Kind != "memory":
			add(forensics.Printable(l.Path), fmt.Sprintf("podsleuth files extract %s %s -O %s", ref, shellQuote(l.Path), shellQuote(fileName(l.Path))))
		case l.Kind == "rootfs" && l.Path != "":
			add("rootfs:"+forensics.Printable(l.Path), fmt.Sprintf("podsleuth files extract %s %s -O %s", ref, shellQuote("rootfs:"+l.Path), shellQuote(fileName(l.Path))))
		case l.Start != 0 && l.End > l.Start && l.PID != 0:
			add(fmt.Sprintf("pid %d 0x%x-0x%x", l.PID, l.Start, l.End),
				fmt.Sprintf("podsleuth memdump %s --pid %d --addr 0x%x --len %d -o raw --out pid%d-0x%x.bin", ref, l.PID, l.Start, l.End-l.Start, l.PID, l.Start))
		case l.PID != 0:
			p := cp.Process(l.PID)
			if p == nil || p.Exe == "" {
				continue
			}
			if savedInRootfs(cp, p.Exe) {
				add("rootfs:"+forensics.Printable(p.Exe), fmt.Sprintf("podsleuth files extract %s %s -O %s", ref, shellQuote("rootfs:"+p.Exe), shellQuote(fileName(p.Exe))))
			}
		}
	}
	return a
}

func savedInRootfs(cp *forensics.Checkpoint, p string) bool {
	for _, r := range cp.Rootfs {
		if r.Path == p && r.Kind != "deleted" {
			return true
		}
	}
	return false
}

// fileName is a safe output file name for an extracted object.
func fileName(obj string) string {
	b := []byte(obj)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == '_') {
			b[i] = '_'
		}
	}
	s := strings.TrimLeft(string(b), "._")
	if len(s) > 80 {
		s = s[len(s)-80:]
	}
	if s == "" {
		s = "object"
	}
	return s + ".bin"
}

func persistencePaths(atk []*forensics.Finding) []string {
	out := set{}
	for _, f := range atk {
		if slices.Contains(persistenceRules, f.Rule) && f.Location.Path != "" {
			out.add(forensics.Printable(f.Location.Path))
		}
	}
	return out.sorted()
}

// serviceAccountMount is where a Kubernetes service account token is mounted, if anywhere.
func serviceAccountMount(cp *forensics.Checkpoint) string {
	for _, m := range cp.Mounts {
		if strings.Contains(m.Mountpoint, "kubernetes.io/serviceaccount") {
			return forensics.Printable(m.Mountpoint)
		}
	}
	return ""
}

// privileged says which attack process could leave the container (CAP_SYS_ADMIN, or every
// capability: a privileged container).
func privileged(cp *forensics.Checkpoint, atk []*forensics.Finding) string {
	seen := map[int]bool{}
	for _, f := range atk {
		pid := f.Location.PID
		if pid == 0 || seen[pid] {
			continue
		}
		seen[pid] = true
		p := cp.Process(pid)
		if p == nil {
			continue
		}
		if len(p.Creds.CapEff) > 30 {
			return forensics.Printable(fmt.Sprintf("pid %d (%s) holds every capability (a privileged container)", pid, p.Comm))
		}
		if slices.Contains(p.Creds.CapEff, "CAP_SYS_ADMIN") {
			return forensics.Printable(fmt.Sprintf("pid %d (%s) holds CAP_SYS_ADMIN", pid, p.Comm))
		}
	}
	return ""
}

// hunt looks for the same attack elsewhere: the image by digest, the dropped executables, the
// endpoints and wallets.
func hunt(cp *forensics.Checkpoint, atk []*forensics.Finding, iocs []forensics.IOC, remote []string) Action {
	a := Action{Kind: "hunt", Text: "Hunt across the fleet: other pods running the same image, and these executables, endpoints and wallets on other workloads and nodes."}
	if ct := cp.Container; ct != nil {
		img := ""
		switch {
		case strings.Contains(ct.ImageRef, "@sha256:"):
			img = ct.ImageRef[strings.Index(ct.ImageRef, "@")+1:]
		case strings.HasPrefix(ct.ImageID, "sha256:"):
			img = ct.ImageID
		case len(ct.ImageID) == 64:
			img = "sha256:" + ct.ImageID
		}
		if img != "" {
			img = forensics.Printable(img)
			a.Targets = append(a.Targets, "image "+img)
			a.Commands = append(a.Commands, fmt.Sprintf(`kubectl get pods -A -o jsonpath='{range .items[*]}{.metadata.namespace}/{.metadata.name}{"\t"}{.status.containerStatuses[*].imageID}{"\n"}{end}' | grep -F %s`, shellQuote(img)))
		} else if ct.Image != "" {
			a.Targets = append(a.Targets, "image "+forensics.Printable(ct.Image)+" (no digest recorded: a tag can move)")
		}
	}
	exes := set{}
	for _, f := range atk {
		if p := cp.Process(f.Location.PID); f.Location.PID != 0 && p != nil && p.Exe != "" && (f.Rule == findings.RuleExecFromTemp || f.Rule == findings.RuleDeletedExe ||
			f.Rule == findings.RuleCommMismatch || f.Rule == findings.RuleSystemCopy) {
			exes.add("executable " + forensics.Printable(p.Exe))
		}
	}
	a.Targets = append(a.Targets, exes.sorted()...)
	for _, r := range remote {
		a.Targets = append(a.Targets, "endpoint "+r)
	}
	for _, i := range iocs {
		if i.Type == ioc.TypeMonero || i.Type == ioc.TypeBitcoin || i.Type == ioc.TypeEthereum {
			a.Targets = append(a.Targets, "wallet "+forensics.Printable(i.Value))
		}
	}
	a.Targets = bound(a.Targets)
	return a
}

func secretTypes(iocs []forensics.IOC) []string {
	var out []string
	for _, i := range iocs {
		if i.Secret && !slices.Contains(out, i.Type) {
			out = append(out, i.Type)
		}
	}
	slices.Sort(out)
	return out
}

// bound keeps a target list short, saying how many it left out.
func bound(s []string) []string {
	if len(s) <= maxTargets {
		return s
	}
	return append(s[:maxTargets:maxTargets], fmt.Sprintf("and %d more", len(s)-maxTargets))
}

// shellQuote quotes s for a POSIX shell when it needs it (and makes it terminal-safe).
func shellQuote(s string) string {
	s = forensics.Printable(s)
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789@%+=:,./-_") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
