package cluster

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"sort"
	"strings"
	"time"

	authnv1 "k8s.io/api/authentication/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// Errors callers test with errors.Is. Every error this package returns for a cluster failure
// wraps one of them and says how to fix it.
var (
	// ErrUnreachable: the API server did not answer within the connect timeout.
	ErrUnreachable = errors.New("cluster unreachable")
	// ErrUnauthorized: the API server rejected the credentials (HTTP 401).
	ErrUnauthorized = errors.New("credentials rejected")
	// ErrForbidden: RBAC denies a permission podsleuth needs (HTTP 403).
	ErrForbidden = errors.New("permission denied")
	// ErrReadonly: a mutating request was refused before it was sent (--readonly).
	ErrReadonly = errors.New("refused in read-only mode")
	// ErrNoKubeconfig: no usable kubeconfig/context.
	ErrNoKubeconfig = errors.New("no usable kubeconfig")
)

// ConnectOptions tune Connect.
type ConnectOptions struct {
	// Timeout bounds the first contact with the API server (config cluster.connect_timeout).
	Timeout time.Duration
	// Readonly installs a transport guard that refuses every mutating request before it is sent.
	Readonly bool
	// UserAgent overrides client-go's default ("podsleuth/<version>").
	UserAgent string
}

// Conn is a connection to one cluster through one kubeconfig context.
type Conn struct {
	Client    kubernetes.Interface
	Config    *rest.Config
	Context   string // kubeconfig context name
	Server    string // API server URL
	Namespace string // the context's (or -n) namespace, "default" when none
	Readonly  bool
	identity  *Identity
}

// Identity is the user as the API server sees it (SelfSubjectReview).
type Identity struct {
	Username string   `json:"username"`
	UID      string   `json:"uid,omitempty"`
	Groups   []string `json:"groups,omitempty"`
}

// Connect builds a client from kubectl-style flags (KUBECONFIG, --kubeconfig, --context, -n,
// --token, ...) and checks within o.Timeout that the API server answers.
func Connect(ctx context.Context, flags genericclioptions.RESTClientGetter, o ConnectOptions) (*Conn, error) {
	loader := flags.ToRawKubeConfigLoader()
	raw, err := loader.RawConfig()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNoKubeconfig, err)
	}
	if noKubeconfig(flags, raw) {
		// client-go would fall back to http://localhost:8080 and report a refused connection,
		// which hides the real reason.
		return nil, fmt.Errorf("%w: no kubeconfig found (set KUBECONFIG or --kubeconfig, or pass --server)", ErrNoKubeconfig)
	}
	cfg, err := flags.ToRESTConfig()
	if err != nil {
		if clientcmd.IsEmptyConfig(err) {
			return nil, fmt.Errorf("%w: no kubeconfig found (set KUBECONFIG or --kubeconfig)", ErrNoKubeconfig)
		}
		return nil, fmt.Errorf("%w: %v", ErrNoKubeconfig, err)
	}
	ns, _, err := loader.Namespace()
	if err != nil || ns == "" {
		ns = "default"
	}
	ctxName := raw.CurrentContext
	if cf, ok := flags.(*genericclioptions.ConfigFlags); ok && cf.Context != nil && *cf.Context != "" {
		ctxName = *cf.Context
	}
	return connectConfig(ctx, cfg, ctxName, ns, o)
}

// noKubeconfig reports that there is nothing to connect to: no cluster in any kubeconfig, no
// --server flag and not running inside a pod (in-cluster config).
func noKubeconfig(flags genericclioptions.RESTClientGetter, raw clientcmdapi.Config) bool {
	if len(raw.Clusters) > 0 || os.Getenv("KUBERNETES_SERVICE_HOST") != "" {
		return false
	}
	if cf, ok := flags.(*genericclioptions.ConfigFlags); ok && cf.APIServer != nil && *cf.APIServer != "" {
		return false
	}
	return true
}

// ConnectConfig is Connect for an already built rest.Config (tests, the TUI's context switch).
func ConnectConfig(ctx context.Context, cfg *rest.Config, contextName, namespace string, o ConnectOptions) (*Conn, error) {
	return connectConfig(ctx, rest.CopyConfig(cfg), contextName, namespace, o)
}

func connectConfig(ctx context.Context, cfg *rest.Config, ctxName, ns string, o ConnectOptions) (*Conn, error) {
	if o.Timeout <= 0 {
		o.Timeout = 5 * time.Second
	}
	if o.UserAgent != "" {
		cfg.UserAgent = o.UserAgent
	} else if cfg.UserAgent == "" {
		cfg.UserAgent = "podsleuth"
	}
	// A responder's laptop talking to a busy API server: be generous but bounded.
	if cfg.QPS == 0 {
		cfg.QPS, cfg.Burst = 50, 100
	}
	if o.Readonly {
		cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper { return readonlyTransport{rt} })
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("client for %s: %w", cfg.Host, err)
	}
	c := &Conn{Client: cs, Config: cfg, Context: ctxName, Server: cfg.Host, Namespace: ns, Readonly: o.Readonly}
	pctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	if _, err := cs.Discovery().RESTClient().Get().AbsPath("/version").Do(pctx).Raw(); err != nil {
		switch {
		case apierrors.IsUnauthorized(err):
			return nil, fmt.Errorf("%w by %s (context %q): refresh your token or client certificate", ErrUnauthorized, cfg.Host, ctxName)
		case apierrors.IsForbidden(err):
			// /version is readable by everyone with default RBAC; a 403 still proves it answers.
		default:
			return nil, fmt.Errorf("%w: %s (context %q) did not answer within %s: %v; check the context (podsleuth contexts), VPN or --request-timeout",
				ErrUnreachable, cfg.Host, ctxName, o.Timeout, err)
		}
	}
	return c, nil
}

// WhoAmI returns the identity the API server sees (SelfSubjectReview, GA since 1.28), cached.
func (c *Conn) WhoAmI(ctx context.Context) (*Identity, error) {
	if c.identity != nil {
		return c.identity, nil
	}
	r, err := c.Client.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authnv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil {
		return nil, fmt.Errorf("who am I (SelfSubjectReview): %w", classify(err))
	}
	u := r.Status.UserInfo
	c.identity = &Identity{Username: u.Username, UID: u.UID, Groups: u.Groups}
	return c.identity, nil
}

// classify wraps API errors with this package's sentinels.
func classify(err error) error {
	switch {
	case err == nil:
		return nil
	case apierrors.IsUnauthorized(err):
		return fmt.Errorf("%w: %v", ErrUnauthorized, err)
	case apierrors.IsForbidden(err):
		return fmt.Errorf("%w: %v", ErrForbidden, err)
	case errors.Is(err, ErrReadonly):
		return err
	}
	return err
}

// readonlyTransport refuses every request that could change the cluster. Reviews (who am I,
// may I) are POSTs that change nothing and stay allowed.
type readonlyTransport struct{ next http.RoundTripper }

func (t readonlyTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if !MutatingRequest(r.Method, r.URL.Path) {
		return t.next.RoundTrip(r)
	}
	if r.Body != nil {
		_ = r.Body.Close()
	}
	return nil, fmt.Errorf("%w: %s %s", ErrReadonly, r.Method, r.URL.Path)
}

// MutatingRequest reports whether an API request can change the cluster (every verb but
// get/list/watch, except the review APIs that only answer questions). An exec is a POST too:
// it runs a process in a pod, so it counts as mutating.
func MutatingRequest(method, path string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		// websocket exec/attach/portforward upgrades are GETs that run something
		return strings.HasSuffix(path, "/exec") || strings.HasSuffix(path, "/attach") || strings.HasSuffix(path, "/portforward")
	case http.MethodPost:
		for _, ok := range []string{"/selfsubjectreviews", "/selfsubjectaccessreviews", "/selfsubjectrulesreviews"} {
			if strings.HasSuffix(path, ok) {
				return false
			}
		}
	}
	return true
}

// ContextRow is one kubeconfig context.
type ContextRow struct {
	Name      string `json:"name"`
	Cluster   string `json:"cluster"`
	Server    string `json:"server"`
	User      string `json:"user"`
	Namespace string `json:"namespace,omitempty"`
	Current   bool   `json:"current"`
}

// Contexts lists the kubeconfig's contexts, sorted by name.
func Contexts(flags genericclioptions.RESTClientGetter) ([]ContextRow, error) {
	raw, err := flags.ToRawKubeConfigLoader().RawConfig()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNoKubeconfig, err)
	}
	return contextRows(raw), nil
}

func contextRows(raw clientcmdapi.Config) []ContextRow {
	rows := make([]ContextRow, 0, len(raw.Contexts))
	for name, c := range raw.Contexts {
		r := ContextRow{Name: name, Cluster: c.Cluster, User: c.AuthInfo, Namespace: c.Namespace, Current: name == raw.CurrentContext}
		if cl, ok := raw.Clusters[c.Cluster]; ok {
			r.Server = cl.Server
		}
		rows = append(rows, r)
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].Name < rows[j].Name })
	return rows
}
