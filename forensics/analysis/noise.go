package analysis

import (
	"regexp"
	"strings"

	"github.com/podsleuth/podsleuth/forensics"
)

// Indicator confidence levels.
const (
	ConfidenceHigh   = "high"
	ConfidenceMedium = "medium"
	ConfidenceLow    = "low"
)

// reK8sVar names the variables Kubernetes (and Docker links) put into every container:
// KUBERNETES_SERVICE_HOST, FOO_SERVICE_PORT_HTTP, FOO_PORT_80_TCP_ADDR, ...
var reK8sVar = regexp.MustCompile(`^(KUBERNETES_[A-Z0-9_]*|[A-Z0-9_]+_SERVICE_(HOST|PORT)(_[A-Z0-9_]+)?|[A-Z0-9_]+_PORT(_[0-9]+_(TCP|UDP|SCTP)(_(ADDR|PORT|PROTO))?)?)$`)

// K8sServiceVar reports whether an environment entry NAME=VALUE is one of Kubernetes' service
// variables: context about the cluster, not an indicator.
func K8sServiceVar(env string) bool {
	name, _, ok := strings.Cut(env, "=")
	return ok && reK8sVar.MatchString(name)
}

// grade sets each indicator's confidence, drops the values that only Kubernetes' service
// variables carry (counted in ContextIndicators) and, unless show, hides the indicators seen
// only inside read-only mappings of unchanged system files (counted in HiddenIndicators).
func grade(cp *forensics.Checkpoint, res *Result, show bool) {
	context := map[string]bool{}
	for _, p := range cp.Processes {
		for _, e := range p.Environ {
			if K8sServiceVar(e) {
				_, v, _ := strings.Cut(e, "=")
				context[v] = true
				// tcp://10.96.0.1:443 -> 10.96.0.1
				if _, rest, ok := strings.Cut(v, "://"); ok {
					host, _, _ := strings.Cut(rest, ":")
					context[host] = true
				}
			}
		}
	}
	changed := map[string]bool{}
	for _, c := range cp.Rootfs {
		changed[c.Path] = true
	}
	out := res.Indicators[:0:0]
	for _, i := range res.Indicators {
		if context[i.Value] && onlyEnvOrStack(i) {
			res.ContextIndicators++
			continue
		}
		i.Confidence = ConfidenceHigh
		switch {
		case len(i.Where) > 0 && allSystem(cp, i.Where, changed):
			i.Confidence = ConfidenceLow
		case (i.Type == "domain" || i.Type == "ipv4" || i.Type == "ipv6") && allKind(i.Where, "memory"):
			i.Confidence = ConfidenceMedium
		}
		if i.Confidence == ConfidenceLow && !show {
			res.HiddenIndicators++
			continue
		}
		out = append(out, i)
	}
	res.Indicators = out
}

func onlyEnvOrStack(i forensics.IOC) bool {
	for _, w := range i.Where {
		if w.Kind != "env" && !(w.Kind == "memory" && w.Region == "stack") {
			return false
		}
	}
	return true
}

func allKind(ws []forensics.Location, kind string) bool {
	for _, w := range ws {
		if w.Kind != kind {
			return false
		}
	}
	return len(ws) > 0
}

// allSystem: every place is a read-only, file-backed mapping of a file that is neither in the
// rootfs changes nor in a temporary place, deleted or a memfd.
func allSystem(cp *forensics.Checkpoint, ws []forensics.Location, changed map[string]bool) bool {
	for _, w := range ws {
		if w.Kind != "memory" || !strings.HasPrefix(w.Region, "file:") {
			return false
		}
		p := cp.Process(w.PID)
		if p == nil {
			return false
		}
		var v *forensics.VMA
		for k := range p.Maps {
			if m := &p.Maps[k]; w.Addr >= m.Start && w.Addr < m.End {
				v = m
				break
			}
		}
		if v == nil || v.Kind != "file" || v.Writable() || v.Deleted || changed[v.Path] {
			return false
		}
		for _, d := range []string{"/tmp/", "/var/tmp/", "/dev/shm/", "/memfd:", "/run/user/"} {
			if strings.HasPrefix(v.Path, d) {
				return false
			}
		}
	}
	return true
}
