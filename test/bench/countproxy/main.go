// Command countproxy is a TCP proxy that counts the bytes crossing it in each direction: the
// hunt benchmark puts it between podsleuth and the API server (TLS passes through untouched, so
// the count is what crossed the wire) and reads the totals from its -report file on SIGTERM.
package main

import (
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "address to listen on")
	target := flag.String("target", "", "address to forward to (the API server)")
	report := flag.String("report", "", "file the totals are written to on SIGTERM/SIGINT")
	flag.Parse()
	l, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println(l.Addr().String())
	var up, down atomic.Int64
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, os.Interrupt)
	go func() {
		<-sig
		_ = os.WriteFile(*report, fmt.Appendf(nil, "%d %d\n", up.Load(), down.Load()), 0o644)
		os.Exit(0)
	}()
	for {
		c, err := l.Accept()
		if err != nil {
			continue
		}
		go func() {
			defer c.Close()
			s, err := net.Dial("tcp", *target)
			if err != nil {
				return
			}
			defer s.Close()
			done := make(chan struct{}, 2)
			cp := func(dst, src net.Conn, n *atomic.Int64) {
				// counted as it flows: a stream still open at the report (a watch) is included
				_, _ = io.Copy(counter{dst, n}, src)
				if tc, ok := dst.(*net.TCPConn); ok {
					_ = tc.CloseWrite()
				}
				done <- struct{}{}
			}
			go cp(s, c, &up)
			go cp(c, s, &down)
			<-done
			<-done
		}()
	}
}

// counter counts the bytes written through it.
type counter struct {
	w io.Writer
	n *atomic.Int64
}

func (c counter) Write(p []byte) (int, error) {
	k, err := c.w.Write(p)
	c.n.Add(int64(k))
	return k, err
}
