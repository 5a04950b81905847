package local

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/podsleuth/podsleuth/sandbox"
)

// The sinkhole's addresses, inside the two namespaces only (RFC 2544 benchmarking range, never
// routed on the Internet). Nothing outside those namespaces ever sees them.
const (
	sinkAddr    = "198.18.0.1"
	sandboxAddr = "198.18.0.2"
	sinkPrefix  = "/30"
	// IPv6: a unique local prefix (RFC 4193), equally unrouted
	sinkAddr6    = "fd00:5e1f::1"
	sandboxAddr6 = "fd00:5e1f::2"
	sinkPrefix6  = "/64"
	sinkIf       = "sink0"
	sandboxIf    = "eth0"
	tcpPort      = 15001
	udpPort      = 15002
	// SinkholeLog is the JSON-lines log of attempts in the sandbox directory.
	SinkholeLog = "sinkhole.jsonl"
	sinkReady   = "sinkhole.ready"
	firstBytes  = 256
)

// startSinkhole starts the sinkhole server in a namespace of its own, links it to the sandbox
// netns with one veth pair and steers every TCP and UDP packet from the sandbox to it with
// nftables TPROXY. The sinkhole netns has no other interface and forwards nothing, so no
// packet can leave for the host or beyond.
func (l *Local) startSinkhole(ctx context.Context, info *sandbox.Info, ls *localState, undo *sandbox.Cleanup, netPID int) error {
	args := append([]string{"--net", "--"}, l.cfg.SinkholeCommand...)
	args = append(args, info.Dir)
	cmd := exec.Command("unshare", args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	cmd.Dir = "/"
	logf, err := os.OpenFile(filepath.Join(info.Dir, "sinkhole.stderr"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start sinkhole server: %w", err)
	}
	go func() { _ = cmd.Wait() }()
	pid := cmd.Process.Pid
	ls.SinkStart, _ = startTime(pid)
	undo.Push(func() error { return killWait(pid, ls.SinkStart, 5*time.Second) })
	info.Sinkhole = &sandbox.SinkholeInfo{Address: sinkAddr, SandboxAddress: sandboxAddr, PID: pid, NetPID: netPID,
		Log: filepath.Join(info.Dir, SinkholeLog)}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Stat(filepath.Join(info.Dir, sinkReady)); err == nil {
			break
		}
		if !alive(pid, ls.SinkStart) || time.Now().After(deadline) {
			b, _ := os.ReadFile(filepath.Join(info.Dir, "sinkhole.stderr"))
			return fmt.Errorf("sinkhole server did not start: %s", strings.TrimSpace(string(b)))
		}
		time.Sleep(20 * time.Millisecond)
	}
	if nsInode(pid, "net") == nsInode(os.Getpid(), "net") {
		return errors.New("sinkhole server shares the host network namespace")
	}
	// the veth pair is created directly between the two namespaces: it never exists in the
	// host's network namespace
	if err := execLook(ctx, "ip", "link", "add", sandboxIf, "netns", strconv.Itoa(netPID), "type", "veth",
		"peer", "name", sinkIf, "netns", strconv.Itoa(pid)); err != nil {
		return err
	}
	sandboxSide := "ip addr add " + sandboxAddr + sinkPrefix + " dev " + sandboxIf +
		" && ip -6 addr add " + sandboxAddr6 + sinkPrefix6 + " dev " + sandboxIf + " nodad && ip link set " + sandboxIf +
		" up && ip route add default via " + sinkAddr + " dev " + sandboxIf +
		" && ip -6 route add default via " + sinkAddr6 + " dev " + sandboxIf
	if err := l.nsRun(ctx, netPID, "-n", "sh", "-c", sandboxSide); err != nil {
		return err
	}
	sinkSide := "ip link set lo up && ip addr add " + sinkAddr + sinkPrefix + " dev " + sinkIf +
		" && ip -6 addr add " + sinkAddr6 + sinkPrefix6 + " dev " + sinkIf + " nodad && ip link set " + sinkIf +
		" up && ip rule add fwmark 1 lookup 100 && ip route add local 0.0.0.0/0 dev lo table 100" +
		" && ip -6 rule add fwmark 1 lookup 100 && ip -6 route add local ::/0 dev lo table 100" +
		" && sysctl -qw net.ipv4.ip_forward=0 && sysctl -qw net.ipv6.conf.all.forwarding=0 && nft -f -"
	rules := fmt.Sprintf(`table inet podsleuth_sinkhole {
	chain pre {
		type filter hook prerouting priority mangle; policy drop;
		iifname "lo" accept
		iifname "%[1]s" meta l4proto tcp tproxy ip to :%[2]d meta mark set 1 accept
		iifname "%[1]s" meta l4proto udp tproxy ip to :%[3]d meta mark set 1 accept
		iifname "%[1]s" meta l4proto tcp tproxy ip6 to :%[2]d meta mark set 1 accept
		iifname "%[1]s" meta l4proto udp tproxy ip6 to :%[3]d meta mark set 1 accept
		iifname "%[1]s" meta l4proto { icmp, icmpv6 } accept
	}
	chain forward_drop {
		type filter hook forward priority filter; policy drop;
	}
}
`, sinkIf, tcpPort, udpPort)
	c := exec.CommandContext(ctx, "nsenter", "-t", strconv.Itoa(pid), "-n", "--", "sh", "-c", sinkSide)
	c.Stdin = strings.NewReader(rules)
	if out, err := c.CombinedOutput(); err != nil {
		return fmt.Errorf("configure sinkhole namespace: %w: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}

// SinkholeServer is the sinkhole's server side: it runs (as its own process) inside the
// sinkhole network namespace.
type SinkholeServer struct {
	// Dir is the sandbox directory: the log is written there and sandbox.json names the
	// sandbox's processes for attribution.
	Dir string
	// OnEvent, when set, also receives every event (e.g. to write the custody log).
	OnEvent func(sandbox.SinkholeEvent)

	mu  sync.Mutex
	log *os.File
}

// Serve listens on the TPROXY ports and logs until ctx ends.
func (s *SinkholeServer) Serve(ctx context.Context) error {
	f, err := os.OpenFile(filepath.Join(s.Dir, SinkholeLog), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	s.log = f
	defer f.Close()
	lc := net.ListenConfig{Control: func(network, address string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			if strings.HasSuffix(network, "6") {
				serr = unix.SetsockoptInt(int(fd), unix.SOL_IPV6, unix.IPV6_TRANSPARENT, 1)
				if serr == nil && strings.HasPrefix(network, "udp") {
					serr = unix.SetsockoptInt(int(fd), unix.SOL_IPV6, unix.IPV6_RECVORIGDSTADDR, 1)
				}
				return
			}
			serr = unix.SetsockoptInt(int(fd), unix.SOL_IP, unix.IP_TRANSPARENT, 1)
			if serr == nil && strings.HasPrefix(network, "udp") {
				serr = unix.SetsockoptInt(int(fd), unix.SOL_IP, unix.IP_RECVORIGDSTADDR, 1)
			}
		})
		if err != nil {
			return err
		}
		return serr
	}}
	// one TCP and one UDP listener per family ("tcp6"/"udp6" are IPv6-only sockets)
	var tls []net.Listener
	var pcs []*net.UDPConn
	closeAll := func() {
		for _, l := range tls {
			l.Close()
		}
		for _, p := range pcs {
			p.Close()
		}
	}
	for _, fam := range []struct{ tcp, udp, any string }{{"tcp4", "udp4", "0.0.0.0"}, {"tcp6", "udp6", "::"}} {
		tl, err := lc.Listen(ctx, fam.tcp, net.JoinHostPort(fam.any, strconv.Itoa(tcpPort)))
		if err != nil {
			closeAll()
			return fmt.Errorf("sinkhole %s listener: %w", fam.tcp, err)
		}
		tls = append(tls, tl)
		pc, err := lc.ListenPacket(ctx, fam.udp, net.JoinHostPort(fam.any, strconv.Itoa(udpPort)))
		if err != nil {
			closeAll()
			return fmt.Errorf("sinkhole %s listener: %w", fam.udp, err)
		}
		pcs = append(pcs, pc.(*net.UDPConn))
	}
	if err := os.WriteFile(filepath.Join(s.Dir, sinkReady), []byte(strconv.Itoa(os.Getpid())), 0o600); err != nil {
		closeAll()
		return err
	}
	go func() { <-ctx.Done(); closeAll() }()
	for _, pc := range pcs {
		go s.serveUDP(pc)
	}
	errs := make(chan error, len(tls))
	for _, tl := range tls {
		go func() {
			for {
				c, err := tl.Accept()
				if err != nil {
					errs <- err
					return
				}
				go s.serveTCP(c)
			}
		}()
	}
	err = <-errs
	if ctx.Err() != nil {
		return nil
	}
	closeAll()
	return err
}

func (s *SinkholeServer) emit(e sandbox.SinkholeEvent) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, _ := json.Marshal(e)
	_, _ = s.log.Write(append(b, '\n'))
	if s.OnEvent != nil {
		s.OnEvent(e)
	}
}

func (s *SinkholeServer) serveTCP(c net.Conn) {
	defer c.Close()
	// with TPROXY the accepted socket's local address is the destination the process dialled
	e := sandbox.SinkholeEvent{Time: time.Now().UTC(), Proto: "tcp", Src: c.RemoteAddr().String(), Dst: c.LocalAddr().String()}
	if ra, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		e.PID, e.Comm = s.owner(table("tcp", ra.IP), ra.Port)
	}
	_ = c.SetReadDeadline(time.Now().Add(3 * time.Second))
	buf := make([]byte, firstBytes)
	n, _ := readSome(c, buf)
	e.Bytes = n
	e.FirstBytes = strconv.Quote(string(buf[:n]))
	s.emit(e)
}

// readSome reads until buf is full, the peer stops sending for the deadline, or EOF.
func readSome(c net.Conn, buf []byte) (int, error) {
	n := 0
	for n < len(buf) {
		m, err := c.Read(buf[n:])
		n += m
		if err != nil {
			return n, err
		}
		_ = c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	}
	return n, nil
}

func (s *SinkholeServer) serveUDP(pc *net.UDPConn) {
	buf := make([]byte, 65536)
	oob := make([]byte, 256)
	for {
		n, oobn, _, src, err := pc.ReadMsgUDP(buf, oob)
		if err != nil {
			return
		}
		dst := origDst(oob[:oobn])
		e := sandbox.SinkholeEvent{Time: time.Now().UTC(), Proto: "udp", Src: src.String(), Bytes: n}
		if dst != nil {
			e.Dst = dst.String()
		}
		e.PID, e.Comm = s.owner(table("udp", src.IP), src.Port)
		p := buf[:min(n, firstBytes)]
		e.FirstBytes = strconv.Quote(string(p))
		if dst != nil && dst.Port == 53 {
			if q, resp := dnsAnswer(buf[:n], net.ParseIP(sinkAddr), net.ParseIP(sinkAddr6)); resp != nil {
				e.Proto, e.Query = "dns", q
				replyFrom(dst, src, resp)
			}
		}
		s.emit(e)
	}
}

// table is the /proc/net table of a socket of proto ("tcp", "udp") from address ip.
func table(proto string, ip net.IP) string {
	if ip.To4() == nil {
		return proto + "6"
	}
	return proto
}

// origDst parses the IP_ORIGDSTADDR or IPV6_ORIGDSTADDR control message (a sockaddr_in or
// sockaddr_in6: family, port, then the address).
func origDst(oob []byte) *net.UDPAddr {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return nil
	}
	for _, m := range msgs {
		switch {
		case m.Header.Level == unix.SOL_IP && m.Header.Type == unix.IP_ORIGDSTADDR && len(m.Data) >= 8:
			port := binary.BigEndian.Uint16(m.Data[2:4])
			return &net.UDPAddr{IP: net.IPv4(m.Data[4], m.Data[5], m.Data[6], m.Data[7]), Port: int(port)}
		case m.Header.Level == unix.SOL_IPV6 && m.Header.Type == unix.IPV6_ORIGDSTADDR && len(m.Data) >= 24:
			port := binary.BigEndian.Uint16(m.Data[2:4])
			return &net.UDPAddr{IP: net.IP(append([]byte(nil), m.Data[8:24]...)), Port: int(port)}
		}
	}
	return nil
}

// replyFrom sends b to dst from the address the process sent to (a transparent socket bound
// to the original destination), so its resolver accepts the answer.
func replyFrom(from, to *net.UDPAddr, b []byte) {
	family, level, opt := unix.AF_INET, unix.SOL_IP, unix.IP_TRANSPARENT
	if from.IP.To4() == nil {
		family, level, opt = unix.AF_INET6, unix.SOL_IPV6, unix.IPV6_TRANSPARENT
	}
	fd, err := unix.Socket(family, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return
	}
	defer unix.Close(fd)
	_ = unix.SetsockoptInt(fd, level, opt, 1)
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1)
	if err := unix.Bind(fd, sockaddr(from)); err != nil {
		return
	}
	_ = unix.Sendto(fd, b, 0, sockaddr(to))
}

// sockaddr converts a UDP address to the socket address of its family.
func sockaddr(a *net.UDPAddr) unix.Sockaddr {
	if ip4 := a.IP.To4(); ip4 != nil {
		sa := &unix.SockaddrInet4{Port: a.Port}
		copy(sa.Addr[:], ip4)
		return sa
	}
	sa := &unix.SockaddrInet6{Port: a.Port}
	copy(sa.Addr[:], a.IP.To16())
	return sa
}

// dnsAnswer parses a DNS query and answers an A question with addr and an AAAA question with
// addr6 (others get an empty NOERROR answer). It returns the queried name and the response, or
// nil for non-queries.
func dnsAnswer(q []byte, addr, addr6 net.IP) (string, []byte) {
	if len(q) < 12 || q[2]&0x80 != 0 || binary.BigEndian.Uint16(q[4:6]) < 1 {
		return "", nil
	}
	var labels []string
	i := 12
	for {
		if i >= len(q) {
			return "", nil
		}
		l := int(q[i])
		if l == 0 {
			i++
			break
		}
		if l&0xc0 != 0 || i+1+l > len(q) {
			return "", nil
		}
		labels = append(labels, string(q[i+1:i+1+l]))
		i += 1 + l
	}
	if i+4 > len(q) {
		return "", nil
	}
	qtype := binary.BigEndian.Uint16(q[i : i+2])
	qend := i + 4
	name := strings.Join(labels, ".")
	resp := make([]byte, 0, qend+16)
	resp = append(resp, q[0], q[1], 0x80|q[2]&0x01, 0x80) // QR, RD copied, RA
	resp = binary.BigEndian.AppendUint16(resp, 1)         // qdcount
	an := uint16(0)
	if qtype == 1 || qtype == 28 && addr6 != nil {
		an = 1
	}
	resp = binary.BigEndian.AppendUint16(resp, an)
	resp = append(resp, 0, 0, 0, 0) // nscount, arcount
	resp = append(resp, q[12:qend]...)
	switch {
	case an == 1 && qtype == 1:
		resp = append(resp, 0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4)
		resp = append(resp, addr.To4()...)
	case an == 1:
		resp = append(resp, 0xc0, 0x0c, 0, 28, 0, 1, 0, 0, 0, 60, 0, 16)
		resp = append(resp, addr6.To16()...)
	}
	return name, resp
}

// owner finds the sandbox process that owns the socket with local port port: the socket's
// inode from the sandbox netns's /proc/PID/net/{tcp,udp}, then the process holding it.
func (s *SinkholeServer) owner(proto string, port int) (int, string) {
	info, err := sandbox.States{Root: filepath.Dir(s.Dir)}.Load(filepath.Base(s.Dir))
	if err != nil || info.Sinkhole == nil || info.Sinkhole.NetPID == 0 {
		return 0, ""
	}
	netPID := info.Sinkhole.NetPID
	ino := socketInode(fmt.Sprintf("/proc/%d/net/%s", netPID, proto), port)
	if ino == "" {
		return 0, ""
	}
	target := "socket:[" + ino + "]"
	netns := nsInode(netPID, "net")
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || nsInode(pid, "net") != netns {
			continue
		}
		fds, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
		for _, fd := range fds {
			if l, _ := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name())); l == target {
				st, _ := readStatus(pid)
				if st != nil {
					return pid, st.Name
				}
				return pid, ""
			}
		}
	}
	return 0, ""
}

// socketInode finds the inode of the socket bound to local port port in a /proc/net table.
func socketInode(table string, port int) string {
	f, err := os.Open(table)
	if err != nil {
		return ""
	}
	defer f.Close()
	want := fmt.Sprintf(":%04X", port)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fl := strings.Fields(sc.Text())
		if len(fl) > 9 && strings.HasSuffix(fl[1], want) {
			return fl[9]
		}
	}
	return ""
}

// ReadSinkholeLog reads a sandbox's sinkhole log.
func ReadSinkholeLog(dir string) ([]sandbox.SinkholeEvent, error) {
	f, err := os.Open(filepath.Join(dir, SinkholeLog))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []sandbox.SinkholeEvent
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() {
		var e sandbox.SinkholeEvent
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			return out, fmt.Errorf("%s: %w", SinkholeLog, err)
		}
		out = append(out, e)
	}
	return out, sc.Err()
}
