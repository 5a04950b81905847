// Command fakekubelet is a kubelet stand-in for podsleuth's e2e suite: an HTTPS server registered
// as a Node behind the real API server, answering POST /checkpoint/{ns}/{pod}/{container} with
// the replies a real kubelet gives in situations a real kubelet cannot be made to produce on
// demand. The reply is chosen by the pod's name prefix (see replies); the texts are the kubelet's
// own (pkg/kubelet/server/server.go, (*Server).checkpoint, v1.37.2).
package main

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// reply is what the stand-in answers for pods whose name starts with prefix.
type reply struct {
	prefix string
	status int
	body   string // {ns}, {pod} and {ctr} are replaced
	delay  time.Duration
}

// replies: the first matching prefix wins; a pod matching none gets a successful checkpoint.
var replies = []reply{
	// ContainerCheckpoint gate off: the kubelet never registers the /checkpoint route, so its
	// mux answers with the stdlib's not-found page.
	{prefix: "gate-off", status: http.StatusNotFound, body: "404 page not found\n"},
	// the kubelet does not know the pod (not on this node, or deleted meanwhile)
	{prefix: "no-pod", status: http.StatusNotFound, body: "pod does not exist"},
	// the kubelet knows the pod but not the container
	{prefix: "no-container", status: http.StatusNotFound, body: "container {ctr} does not exist"},
	// the runtime (containerd -> runc -> CRIU) failed, e.g. on a device CRIU cannot dump
	{prefix: "criu-fail", status: http.StatusInternalServerError, body: "checkpointing of {ns}/{pod}/{ctr} failed " +
		"(rpc error: code = Unknown desc = checkpointing container \"4b1c0ffee\" failed: /usr/sbin/runc did not " +
		"terminate successfully: exit status 1: criu failed: type NOTIFY errno 0 path= " +
		"/run/containerd/io.containerd.runtime.v2.task/k8s.io/4b1c0ffee/criu-dump.log: " +
		"Error (criu/files-ext.c:96): Can't dump file 5 of that type [1f] (chr 195:0 /dev/nvidia0))"},
	// a dump that takes longer than the caller waits
	{prefix: "slow", status: http.StatusOK, delay: 30 * time.Second},
}

func main() {
	addr := flag.String("addr", "", "listen address (the node's InternalIP:port)")
	cert := flag.String("cert", "", "serving certificate")
	key := flag.String("key", "", "serving key")
	ca := flag.String("client-ca", "", "CA of the API server's kubelet client certificate")
	dir := flag.String("checkpoint-dir", "/var/lib/kubelet/checkpoints", "directory named in successful replies")
	flag.Parse()
	if *addr == "" || *cert == "" || *key == "" || *ca == "" {
		log.Fatal("fakekubelet: -addr, -cert, -key and -client-ca are required")
	}
	pem, err := os.ReadFile(*ca)
	if err != nil {
		log.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		log.Fatalf("fakekubelet: no certificate in %s", *ca)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /checkpoint/{ns}/{pod}/{ctr}", func(w http.ResponseWriter, r *http.Request) {
		ns, pod, ctr := r.PathValue("ns"), r.PathValue("pod"), r.PathValue("ctr")
		log.Printf("checkpoint ns=%s pod=%s container=%s query=%q client=%s", ns, pod, ctr, r.URL.RawQuery,
			r.TLS.PeerCertificates[0].Subject.CommonName)
		for _, rp := range replies {
			if !strings.HasPrefix(pod, rp.prefix) {
				continue
			}
			if rp.delay > 0 {
				select {
				case <-time.After(rp.delay):
				case <-r.Context().Done():
					return
				}
			}
			if rp.status != http.StatusOK {
				w.Header().Set("Content-Type", "text/plain; charset=utf-8")
				w.WriteHeader(rp.status)
				_, _ = strings.NewReplacer("{ns}", ns, "{pod}", pod, "{ctr}", ctr).WriteString(w, rp.body)
				return
			}
			break
		}
		loc := filepath.Join(*dir, fmt.Sprintf("checkpoint-%s_%s-%s-%s.tar", pod, ns, ctr, time.Now().UTC().Format(time.RFC3339)))
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string][]string{"items": {loc}})
	})
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) })
	srv := &http.Server{
		Addr:              *addr,
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		// Like the kubelet: only the API server (a client certificate of our CA) may call.
		TLSConfig: &tls.Config{ClientCAs: pool, ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS12},
	}
	log.Printf("fakekubelet listening on %s", *addr)
	log.Fatal(srv.ListenAndServeTLS(*cert, *key))
}
