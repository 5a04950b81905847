package cluster

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// CollectorOptions configure a CollectorPool.
type CollectorOptions struct {
	// Namespace of the collector pods (config cluster.collector_namespace); created if missing.
	Namespace string
	// Image of the collector pods: it needs sh, cat, tail, stat and sha256sum (busybox has them).
	Image string
	// CheckpointDir is the kubelets' checkpoint directory (config cluster.kubelet_checkpoint_dir):
	// Prestart mounts it before the kubelet has named the archive.
	CheckpointDir string
	// StartTimeout bounds the wait for a collector to run (default 2 min: image pull).
	StartTimeout time.Duration
}

// CollectorPool starts the collector pods of one run and shares them between its pulls: one pod
// per node and checkpoint directory, deleted by Close.
//
// A pod with a volume starts no sooner than about 0.3 s after the kubelet sees it, because the
// kubelet's volume manager polls the mounts every 300 ms (pkg/kubelet/volumemanager); here a
// collector took 0.55-0.65 s to run against 0.25-0.35 s for the same pod without its hostPath.
// Prestart hides that behind the checkpoint itself, which takes longer (1.4 s for 256 MiB).
type CollectorPool struct {
	c      *Conn
	o      CollectorOptions
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup // start goroutines

	nsOnce sync.Once
	nsErr  error

	mu     sync.Mutex
	pods   map[collectorKey]*collector
	closed bool
}

type collectorKey struct{ node, dir string }

// collector is one collector pod; ready closes once it runs or failed to (err).
type collector struct {
	ns, name string
	began    time.Time
	ready    chan struct{}
	// set before ready closes
	err     error
	running time.Time
	created bool
}

// NewCollectorPool makes an empty pool; ctx bounds every start (Close cancels them too).
func (c *Conn) NewCollectorPool(ctx context.Context, o CollectorOptions) *CollectorPool {
	if o.StartTimeout <= 0 {
		o.StartTimeout = 2 * time.Minute
	}
	pctx, cancel := context.WithCancel(ctx)
	return &CollectorPool{c: c, o: o, ctx: pctx, cancel: cancel, pods: map[collectorKey]*collector{}}
}

// Prestart starts the collector for node in the configured checkpoint directory, unless it is
// already starting, and returns at once. It does nothing in read-only mode, without a configured
// directory, or after Close. When the kubelet then names an archive in another directory, the
// pull starts a collector for that one and this one is deleted by Close.
func (p *CollectorPool) Prestart(node string) {
	if p == nil || p.c.Readonly || node == "" || p.o.CheckpointDir == "" {
		return
	}
	p.start(node, p.o.CheckpointDir)
}

// get waits for the collector of node and dir, starting it when needed.
func (p *CollectorPool) get(ctx context.Context, node, dir string) (*collector, error) {
	k := p.start(node, dir)
	select {
	case <-k.ready:
		return k, k.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (p *CollectorPool) start(node, dir string) *collector {
	p.mu.Lock()
	defer p.mu.Unlock()
	key := collectorKey{node, dir}
	if k := p.pods[key]; k != nil {
		return k
	}
	pod := collectorPod(p.o.Namespace, node, dir, p.o.Image, true, []string{"sleep", "3600"})
	k := &collector{ns: p.o.Namespace, name: pod.Name, began: time.Now(), ready: make(chan struct{})}
	if p.closed {
		k.err = fmt.Errorf("%w: the run is over (collector pool closed)", ErrCollector)
		close(k.ready)
		return k
	}
	p.pods[key] = k
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		k.err = p.run(k, pod)
		k.running = time.Now()
		close(k.ready)
	}()
	return k
}

func (p *CollectorPool) run(k *collector, pod *corev1.Pod) error {
	p.nsOnce.Do(func() { p.nsErr = p.c.ensureNamespace(p.ctx, p.o.Namespace) })
	if p.nsErr != nil {
		return p.nsErr
	}
	if err := p.ctx.Err(); err != nil {
		return err
	}
	// Close does not abort a create: a create cancelled on the client may still land on the
	// server after Close's delete. Bounded instead, and Close waits for it.
	cctx, cancel := context.WithTimeout(context.WithoutCancel(p.ctx), 30*time.Second)
	_, err := p.c.Client.CoreV1().Pods(k.ns).Create(cctx, pod, metav1.CreateOptions{})
	cancel()
	if err != nil {
		return fmt.Errorf("create collector pod in %s: %w", k.ns, collectorCreateError(err, k.ns))
	}
	k.created = true
	return p.c.waitRunning(p.ctx, k.ns, k.name, p.o.StartTimeout)
}

// Close stops the starts still waiting and deletes every collector pod of the pool, with a fresh
// context (the caller's may be the cancelled one of a Ctrl-C). It is safe to call twice.
func (p *CollectorPool) Close() error {
	if p == nil {
		return nil
	}
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	p.cancel()
	p.wg.Wait()
	p.mu.Lock()
	defer p.mu.Unlock()
	var errs []error
	for key, k := range p.pods {
		if k.created {
			if err := p.c.deletePod(k.ns, k.name); err != nil {
				errs = append(errs, err)
				continue
			}
		}
		delete(p.pods, key)
	}
	return errors.Join(errs...)
}
