package main

import (
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/podsleuth/podsleuth/forensics"
	"github.com/podsleuth/podsleuth/forensics/analysis"
	"github.com/podsleuth/podsleuth/forensics/ioc"
)

type iocsOptions struct {
	memFilterFlags
	reveal bool
	types  []string
	output string
	noMem  bool
	system bool
}

func newIOCsCmd(a *app) *cobra.Command {
	o := &iocsOptions{}
	cmd := &cobra.Command{
		Use:   "iocs ARCHIVE|EVIDENCE-ID",
		Short: "Extract indicators of compromise (addresses, URLs, keys, tokens, secrets) from a checkpoint",
		Long: `iocs scans the environment and command line of every process, the container's configuration and
every printable string (6+ characters) of process memory, shared memory, memfds, pipe buffers,
socket queues and the files of the container's rootfs changes (rootfs-diff.tar) for: IPv4/IPv6 addresses, URLs, domains, e-mail addresses, AWS access key ids and
secret keys, GCP API keys and service-account markers, Azure storage keys, JWTs, PEM private keys,
bearer tokens, and secrets in environment variables (names like *PASSWORD*, *SECRET*, *TOKEN*,
*KEY*). Each indicator is listed once with every place it was seen.

Domains are reported when they are a URL's host or an e-mail domain, or stand alone with a known
TLD (common generic, country and reserved TLDs; TLDs that look like file extensions such as .so,
.py, .sh are left out), to keep library and file names out.

Secret values are redacted by default (first and last two characters and a SHA-256 prefix, so
redacted values can still be correlated); --reveal prints them.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := o.filter()
			if err != nil {
				return err
			}
			if o.output != "text" && o.output != "json" {
				return fmt.Errorf("--output %q: want text or json", o.output)
			}
			mc, closeCase, err := a.memOpenBeside(cmd, args[0])
			if err != nil {
				return err
			}
			defer closeCase()
			var src analysis.Memory = mc.mem
			if o.noMem {
				src = nil
			}
			an, err := analysis.Run(cmd.Context(), mc.cp, src, analysis.Options{Reveal: o.reveal, Filter: f, Types: o.types, Archive: mc.arc, ShowSystem: o.system})
			// the hash and verification ran beside the analysis: known before any output
			if err := a.settle(cmd.Context(), mc.cs); err != nil {
				return err
			}
			if err != nil {
				return err
			}
			defer an.Close()
			res := an.Indicators
			if errors.Is(an.IndicatorsErr, ioc.ErrRootfs) {
				fmt.Fprintf(a.ErrOut, "warning: %v\n", an.IndicatorsErr) // the other indicators are still complete
			} else if an.IndicatorsErr != nil {
				return an.IndicatorsErr
			}
			if an.HiddenIndicators > 0 {
				fmt.Fprintf(a.ErrOut, "%d indicators seen only in read-only mappings of unchanged system files not shown (--show-system)\n", an.HiddenIndicators)
			}
			if an.ContextIndicators > 0 {
				fmt.Fprintf(a.ErrOut, "%d values of Kubernetes service variables (KUBERNETES_*, *_SERVICE_HOST/PORT) left out: context, not indicators\n", an.ContextIndicators)
			}
			if o.output == "json" {
				if res == nil {
					res = []forensics.IOC{}
				}
				return writeJSON(a.Out, res)
			}
			return printIOCs(a.Out, res)
		},
	}
	o.add(cmd)
	fl := cmd.Flags()
	fl.BoolVar(&o.system, "show-system", false, "also show indicators seen only in read-only mappings of unchanged system files (confidence low)")
	fl.BoolVar(&o.reveal, "reveal", false, "show secret values instead of redacting them")
	fl.StringSliceVar(&o.types, "type", nil, "only these types (ipv4, ipv6, url, domain, email, aws-access-key-id, aws-secret-access-key, gcp-api-key, gcp-service-account, azure-storage-key, jwt, private-key, bearer-token, env-secret)")
	fl.BoolVar(&o.noMem, "no-memory", false, "scan only environment and command lines, not memory")
	fl.StringVarP(&o.output, "output", "o", "text", "output format: text|json")
	return cmd
}

func printIOCs(w interface{ Write([]byte) (int, error) }, res []forensics.IOC) error {
	if len(res) == 0 {
		_, err := fmt.Fprintln(w, "no indicators found")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TYPE\tVALUE\tCOUNT\tWHERE")
	for _, i := range res {
		v := quote(i.Value)
		if len(v) > 100 {
			v = v[:97] + "..."
		}
		var where []string
		for j, l := range i.Where {
			if j == 3 {
				where = append(where, fmt.Sprintf("+%d more", i.Count-3))
				break
			}
			where = append(where, quote(locString(l)))
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\n", i.Type, v, i.Count, strings.Join(where, "; "))
	}
	return tw.Flush()
}

// locString renders a location in one short phrase.
func locString(l forensics.Location) string {
	var s []string
	s = append(s, l.Kind)
	if l.PID != 0 {
		s = append(s, fmt.Sprintf("pid %d (%s)", l.PID, l.Comm))
	}
	if l.Addr != 0 {
		s = append(s, fmt.Sprintf("0x%x", l.Addr))
	}
	if l.Start != 0 || l.End != 0 {
		s = append(s, fmt.Sprintf("0x%x-0x%x", l.Start, l.End))
	}
	if l.Region != "" && l.Region != l.Path && l.Region != l.Socket {
		s = append(s, l.Region)
	}
	if l.Path != "" {
		s = append(s, l.Path)
	}
	if l.FD != 0 {
		s = append(s, fmt.Sprintf("fd %d", l.FD))
	}
	if l.Socket != "" {
		s = append(s, l.Socket)
	}
	return strings.Join(s, " ")
}
