// Command informer measures podsleuth's cluster browser on a large cluster: it creates N pods
// (bound to a node that does not exist, so nothing runs them) in the test cluster's API server,
// then starts cluster.NewBrowser over all namespaces in a fresh process and reports the time to
// the first full list and the process's RSS. Used by test/bench/informer.sh.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"
	"k8s.io/utils/ptr"

	"github.com/podsleuth/podsleuth/cluster"
)

func main() {
	kubeconfig := flag.String("kubeconfig", os.Getenv("KUBECONFIG"), "kubeconfig")
	mode := flag.String("mode", "list", "create|list|delete")
	n := flag.Int("n", 10000, "pods")
	ns := flag.String("namespace", "bench-informer", "namespace of the pods")
	flag.Parse()
	klog.SetOutput(os.Stderr)
	cfg, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	if err != nil {
		fail(err)
	}
	cfg.QPS, cfg.Burst = 500, 1000
	cs := kubernetes.NewForConfigOrDie(cfg)
	ctx := context.Background()
	switch *mode {
	case "create":
		create(ctx, cs, *ns, *n)
	case "delete":
		err := cs.CoreV1().Pods(*ns).DeleteCollection(ctx, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}, metav1.ListOptions{})
		if err != nil {
			fail(err)
		}
	case "list":
		start := time.Now()
		b, err := cluster.NewBrowser(ctx, cs, cluster.BrowserOptions{SyncTimeout: 5 * time.Minute})
		if err != nil {
			fail(err)
		}
		synced := time.Since(start)
		t := time.Now()
		rows := b.Pods("")
		snap := time.Since(t)
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		fmt.Printf("pods=%d first_full_list_s=%.2f snapshot_ms=%.1f rss_mib=%.1f heap_inuse_mib=%.1f\n",
			len(rows), synced.Seconds(), float64(snap.Microseconds())/1000, rssMiB(), float64(ms.HeapInuse)/(1<<20))
		b.Stop()
	default:
		fail(fmt.Errorf("unknown mode %q", *mode))
	}
}

func create(ctx context.Context, cs kubernetes.Interface, ns string, n int) {
	_, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		fail(err)
	}
	_, err = cs.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default"}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		fail(err)
	}
	have, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{ResourceVersion: "0"})
	if err != nil {
		fail(err)
	}
	start := time.Now()
	jobs := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				p := &corev1.Pod{
					ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("pod-%05d", i), Namespace: ns,
						Labels: map[string]string{"app": fmt.Sprintf("app-%d", i%50)}},
					Spec: corev1.PodSpec{
						NodeName:                     "bench-ghost-node", // never runs: no such kubelet
						AutomountServiceAccountToken: ptr.To(false),
						Containers: []corev1.Container{{Name: "app", Image: "podsleuth.local/busybox:1",
							Command: []string{"sleep", "3600"}, Env: []corev1.EnvVar{{Name: "N", Value: fmt.Sprint(i)}}}},
					},
				}
				if _, err := cs.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
					fail(err)
				}
			}
		}()
	}
	for i := len(have.Items); i < n; i++ {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	fmt.Printf("created %d pods in %.1fs\n", n-len(have.Items), time.Since(start).Seconds())
}

func rssMiB() float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmRSS:") {
			var kb float64
			fmt.Sscanf(strings.TrimSpace(strings.TrimPrefix(l, "VmRSS:")), "%f", &kb)
			return kb / 1024
		}
	}
	return 0
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "informer bench:", err)
	os.Exit(1)
}
