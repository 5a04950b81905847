package cluster

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/kubernetes"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// Names for completion (the TUI's ":" prompt, shell completion). The kubeconfig names are read
// from the kubeconfig files only; the cluster names ask the API server and answer within ctx's
// deadline, or with ErrUnreachable: a completion that waits for a silent cluster freezes the
// responder's shell.

// NameTimeout is the time a completion may wait for the API server (the issue's "answers within
// 1 s or offers nothing").
const NameTimeout = time.Second

// KubeconfigNames lists the names of one kind of kubeconfig entry ("contexts", "clusters" or
// "users"), sorted; no network.
func KubeconfigNames(flags genericclioptions.RESTClientGetter, kind string) ([]string, error) {
	raw, err := flags.ToRawKubeConfigLoader().RawConfig()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNoKubeconfig, err)
	}
	return kubeconfigNames(raw, kind)
}

func kubeconfigNames(raw clientcmdapi.Config, kind string) ([]string, error) {
	var out []string
	switch kind {
	case "contexts":
		for n := range raw.Contexts {
			out = append(out, n)
		}
	case "clusters":
		for n := range raw.Clusters {
			out = append(out, n)
		}
	case "users":
		for n := range raw.AuthInfos {
			out = append(out, n)
		}
	default:
		return nil, fmt.Errorf("kubeconfig names: unknown kind %q", kind)
	}
	sort.Strings(out)
	return out, nil
}

// NamespaceNames lists the namespaces, sorted; without permission to list them, the namespaces
// of the pods the user may list.
func NamespaceNames(ctx context.Context, client kubernetes.Interface) ([]string, error) {
	return bounded(ctx, func(ctx context.Context) ([]string, error) {
		l, err := client.CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
		if err == nil {
			out := make([]string, 0, len(l.Items))
			for _, n := range l.Items {
				out = append(out, n.Name)
			}
			sort.Strings(out)
			return out, nil
		}
		pods, perr := client.CoreV1().Pods("").List(ctx, metav1.ListOptions{})
		if perr != nil {
			return nil, classify(err)
		}
		set := map[string]bool{}
		for _, p := range pods.Items {
			set[p.Namespace] = true
		}
		out := make([]string, 0, len(set))
		for n := range set {
			out = append(out, n)
		}
		sort.Strings(out)
		return out, nil
	})
}

// PodNames lists the names of the pods of namespace ns, sorted.
func PodNames(ctx context.Context, client kubernetes.Interface, ns string) ([]string, error) {
	return bounded(ctx, func(ctx context.Context) ([]string, error) {
		l, err := client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return nil, classify(err)
		}
		out := make([]string, 0, len(l.Items))
		for _, p := range l.Items {
			out = append(out, p.Name)
		}
		sort.Strings(out)
		return out, nil
	})
}

// ContainerNames lists the containers (init containers included) of pod ns/name.
func ContainerNames(ctx context.Context, client kubernetes.Interface, ns, name string) ([]string, error) {
	return bounded(ctx, func(ctx context.Context) ([]string, error) {
		p, err := client.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return nil, classify(err)
		}
		var out []string
		for _, c := range p.Spec.Containers {
			out = append(out, c.Name)
		}
		for _, c := range p.Spec.InitContainers {
			out = append(out, c.Name)
		}
		return out, nil
	})
}

// NameLister is a client for completion and the namespace names are listed in by default.
type NameLister struct {
	Client kubernetes.Interface
	// Namespace is the flags' namespace: -n, else the context's, else "default".
	Namespace string
}

// NewNameLister builds a client for completion from kubectl-style flags without contacting the
// API server. Its requests time out with ctx's deadline (NameTimeout when there is none).
func NewNameLister(ctx context.Context, flags genericclioptions.RESTClientGetter) (*NameLister, error) {
	loader := flags.ToRawKubeConfigLoader()
	raw, err := loader.RawConfig()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNoKubeconfig, err)
	}
	if noKubeconfig(flags, raw) {
		return nil, fmt.Errorf("%w: no kubeconfig found", ErrNoKubeconfig)
	}
	cfg, err := flags.ToRESTConfig()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNoKubeconfig, err)
	}
	ns, _, err := loader.Namespace()
	if err != nil || ns == "" {
		ns = "default"
	}
	cfg.Timeout = NameTimeout
	if dl, ok := ctx.Deadline(); ok {
		cfg.Timeout = max(time.Until(dl), time.Millisecond)
	}
	cfg.UserAgent = "podsleuth-completion"
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("client for %s: %w", cfg.Host, err)
	}
	return &NameLister{Client: cs, Namespace: ns}, nil
}

// bounded runs list and returns by ctx's deadline (NameTimeout when it has none) even when
// list does not: a credential plugin or a blackholed address may ignore the context. On time
// out the error wraps ErrUnreachable.
func bounded(ctx context.Context, list func(context.Context) ([]string, error)) ([]string, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, NameTimeout)
		defer cancel()
	}
	type result struct {
		names []string
		err   error
	}
	ch := make(chan result, 1)
	go func() {
		names, err := list(ctx)
		ch <- result{names, err}
	}()
	select {
	case r := <-ch:
		if r.err != nil && (errors.Is(r.err, context.DeadlineExceeded) || strings.Contains(r.err.Error(), "deadline exceeded") || strings.Contains(r.err.Error(), "Client.Timeout")) {
			return nil, fmt.Errorf("%w: no answer within the completion timeout: %v", ErrUnreachable, r.err)
		}
		return r.names, r.err
	case <-ctx.Done():
		return nil, fmt.Errorf("%w: no answer within the completion timeout", ErrUnreachable)
	}
}
