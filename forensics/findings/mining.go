package findings

import (
	"bytes"
	"fmt"
	"io"
	"strings"

	"github.com/podsleuth/podsleuth/forensics"
)

// poolPorts are TCP ports mining pools commonly serve stratum on.
var poolPorts = map[uint32]bool{3333: true, 3334: true, 4444: true, 5555: true, 5556: true, 6666: true, 7777: true, 8888: true,
	9999: true, 10128: true, 14433: true, 14444: true, 20535: true, 20580: true, 45560: true, 45700: true}

var stratumMarks = [][]byte{[]byte(`"mining.subscribe"`), []byte(`"mining.authorize"`), []byte(`"mining.notify"`),
	[]byte(`"method":"login"`), []byte(`"method": "login"`), []byte(`"method":"job"`), []byte(`"method": "job"`), []byte(`"method":"submit"`), []byte(`"job_id"`)}

func (a *analyzer) mining(cp *forensics.Checkpoint) {
	a.out = append(a.out, indicatorFindings(sortIOCs(a.iocs))...)
	stratum := false
	for _, i := range a.iocs {
		if i.Type == "url" && strings.HasPrefix(strings.ToLower(i.Value), "stratum") {
			stratum = true
			l := forensics.Location{Kind: "memory"}
			if len(i.Where) > 0 {
				l = i.Where[0]
			}
			a.add(RuleMiningStratum, forensics.SeverityHigh, "Mining pool URL",
				fmt.Sprintf("%s (seen %d times, first in %s): a cryptocurrency miner's pool address.", i.Value, i.Count, whereText(l)), l)
		}
	}
	for _, i := range a.iocs {
		switch i.Type {
		case "monero-address", "bitcoin-address", "ethereum-address":
			sev := forensics.SeverityMedium
			if stratum {
				sev = forensics.SeverityHigh
			}
			l := forensics.Location{Kind: "memory"}
			if len(i.Where) > 0 {
				l = i.Where[0]
			}
			a.add(RuleMiningWallet, sev, "Cryptocurrency wallet address",
				fmt.Sprintf("%s %s (seen %d times, first in %s): where mined coins or ransom go.", strings.TrimSuffix(i.Type, "-address"), i.Value, i.Count, whereText(l)), l)
		}
	}
	for i := range cp.Sockets {
		s := &cp.Sockets[i]
		if s.Protocol != "tcp" || s.RemotePort == 0 || !poolPorts[s.RemotePort] {
			continue
		}
		sev, why := forensics.SeverityMedium, "a port mining pools serve stratum on"
		if q := a.queued(s.Ino); q != "" {
			sev, why = forensics.SeverityHigh, "a port mining pools serve stratum on, and stratum JSON-RPC is queued on it ("+q+")"
		}
		l := forensics.Location{Kind: "socket", Socket: sockDesc(s)}
		if len(s.Owners) > 0 {
			l.PID = s.Owners[0]
			if p := cp.Process(l.PID); p != nil {
				l.Comm = p.Comm
				for _, fd := range p.FDs {
					if fd.SocketIno == s.Ino {
						l.FD = fd.FD
					}
				}
			}
		}
		a.add(RuleMiningPool, sev, "Connection to a mining pool port",
			fmt.Sprintf("TCP %s -> %s (%s), owned by %s: port %d is %s.", endpoint(s.LocalAddr, s.LocalPort), endpoint(s.RemoteAddr, s.RemotePort), s.State, owners(cp, s.Owners), s.RemotePort, why), l)
	}
}

// queued returns a stratum method found in the socket's queues, or "".
func (a *analyzer) queued(ino uint32) string {
	if a.content == nil {
		return ""
	}
	pre := fmt.Sprintf("socket:[%d]/", ino)
	for _, o := range a.content.Objects {
		if !strings.HasPrefix(o.ID, pre) || !o.Saved {
			continue
		}
		b, _ := io.ReadAll(io.LimitReader(o.Reader(), 1<<20))
		for _, m := range stratumMarks {
			if bytes.Contains(b, m) {
				return strings.TrimPrefix(o.ID, pre) + " queue: " + string(m)
			}
		}
	}
	return ""
}

func whereText(l forensics.Location) string {
	s := l.Kind
	if l.PID != 0 {
		s += fmt.Sprintf(" of pid %d (%s)", l.PID, l.Comm)
	}
	if l.Region != "" {
		s += " " + l.Region
	}
	if l.Path != "" {
		s += " " + l.Path
	}
	if l.Socket != "" {
		s += " " + l.Socket
	}
	return s
}
