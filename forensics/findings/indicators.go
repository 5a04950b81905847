package findings

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/podsleuth/podsleuth/forensics"
)

// secretNames name the secret indicator types in finding titles.
var secretNames = map[string]string{
	"env-secret": "secret in an environment variable", "private-key": "private key",
	"aws-secret-access-key": "AWS secret access key", "jwt": "JSON Web Token", "bearer-token": "bearer token",
	"gcp-api-key": "GCP API key", "gcp-service-account": "GCP service account key", "azure-storage-key": "Azure storage key",
}

// networkTypes are the indicator types that point at infrastructure outside the container.
var networkTypes = []string{"url", "domain", "ipv4", "ipv6", "email"}

// indicatorFindings turns one checkpoint's indicators into findings: one per exposed secret
// (high when it sits in process memory, medium when only in an environment, where
// orchestrators put secrets by design), and one summarising the network indicators.
func indicatorFindings(iocs []forensics.IOC) []forensics.Finding {
	var out []forensics.Finding
	byType := map[string][]string{}
	var first forensics.Location
	for _, i := range iocs {
		if i.Secret {
			sev := forensics.SeverityMedium
			kinds := map[string]bool{}
			for _, w := range i.Where {
				kinds[w.Kind] = true
				// an environment variable's value also sits on the stack (the env area), so
				// only other secret types are raised for being in memory
				if i.Type != "env-secret" && (w.Kind == "memory" || w.Kind == "pipe" || w.Kind == "socket" || w.Kind == "shmem") {
					sev = forensics.SeverityHigh
				}
			}
			loc := forensics.Location{Kind: "memory"}
			if len(i.Where) > 0 {
				loc = i.Where[0]
			}
			places := make([]string, 0, len(kinds))
			for k := range kinds {
				places = append(places, k)
			}
			slices.Sort(places)
			out = append(out, forensics.Finding{Rule: RuleSecretExposed, Severity: sev,
				Title: "Exposed credential: " + cmp.Or(secretNames[i.Type], strings.ReplaceAll(i.Type, "-", " ")),
				Reason: fmt.Sprintf("The checkpoint holds this %s %d time(s), in %s: anyone holding the archive holds the credential, so rotate it. Value: %s",
					i.Type, i.Count, strings.Join(places, ", "), redacted(i)),
				Technique: techniques[RuleSecretExposed], Location: loc})
			continue
		}
		if !slices.Contains(networkTypes, i.Type) || internal(i.Type, i.Value) {
			continue
		}
		if len(byType) == 0 && len(i.Where) > 0 {
			first = i.Where[0]
		}
		byType[i.Type] = append(byType[i.Type], i.Value)
	}
	if len(byType) > 0 {
		var counts, values []string
		for _, t := range networkTypes {
			v := byType[t]
			if len(v) == 0 {
				continue
			}
			slices.Sort(v)
			counts = append(counts, fmt.Sprintf("%d %s", len(v), t))
			for _, x := range v {
				if len(values) < 10 {
					values = append(values, x)
				}
			}
		}
		if first.Kind == "" {
			first.Kind = "memory"
		}
		out = append(out, forensics.Finding{Rule: RuleNetworkIndicators, Severity: forensics.SeverityMedium,
			Title:    "Network indicators: " + strings.Join(counts, ", "),
			Reason:   "Addresses and names of infrastructure outside the container were found in its memory or configuration (see the indicator table): " + strings.Join(values, ", ") + ".",
			Location: first})
	}
	return out
}

// redacted shows a secret indicator's value only as its redacted form or hash prefix: finding
// reasons are shown where indicator values are masked (TUI) or redacted (reports).
func redacted(i forensics.IOC) string {
	if i.Redacted {
		return i.Value
	}
	h := i.SHA256
	if len(h) > 8 {
		h = h[:8]
	}
	return "sha256:" + h + " (see the indicator table)"
}

// internal says whether an address indicator points at this host or a private network, which
// is not an indicator of outside infrastructure.
func internal(typ, v string) bool {
	if typ != "ipv4" && typ != "ipv6" {
		return false
	}
	a, err := netip.ParseAddr(v)
	if err != nil {
		return false
	}
	return a.IsLoopback() || a.IsPrivate() || a.IsLinkLocalUnicast() || a.IsUnspecified() || a.IsMulticast()
}
