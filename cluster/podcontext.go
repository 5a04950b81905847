package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/rest"

	"github.com/podsleuth/podsleuth/forensics/evidence"
)

// podContext collects what the API server knows of the checkpointed pod at the time, as
// evidence artifacts acquired with the archive: the pod object, its events and the target
// container's logs (the current instance, and the previous one after a restart). The bytes are
// kept as the API server sent them. A part that cannot be read (RBAC: pods/log, events) is left
// out and said in a note; it does not stop the pull.
func (c *Conn) podContext(ctx context.Context, r *CheckpointResult, logLimit int64) ([]evidence.ArtifactData, []string) {
	if logLimit <= 0 {
		logLimit = 16 << 20
	}
	rc := c.Client.CoreV1().RESTClient()
	var (
		mu    sync.Mutex
		arts  []evidence.ArtifactData
		notes []string
	)
	get := func(name, what string, req *rest.Request) []byte {
		src := "GET " + req.URL().RequestURI()
		b, err := req.SetHeader("Accept", "application/json, */*").DoRaw(ctx)
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			notes = append(notes, fmt.Sprintf("%s not acquired: %v", what, classify(err)))
			return nil
		}
		arts = append(arts, evidence.ArtifactData{Artifact: evidence.Artifact{Name: name, Description: what, Source: src,
			CollectedAt: time.Now().UTC()}, Data: b})
		return b
	}
	logs := func(name, what string, previous bool, tail int) []byte {
		return get(name, what, c.LogsRequest(r.Namespace, r.Pod, r.Container,
			LogOptions{Timestamps: true, LimitBytes: logLimit, Previous: previous, TailLines: tail}))
	}

	var wg sync.WaitGroup
	wg.Go(func() {
		get("events.json", "events of the pod", rc.Get().Namespace(r.Namespace).Resource("events").
			Param("fieldSelector", "involvedObject.uid="+r.PodUID))
	})
	wg.Go(func() {
		cur := logs("logs-"+r.Container+".txt", "logs of container "+r.Container+" (current instance, with timestamps)", false, 0)
		if int64(len(cur)) >= logLimit {
			logs("logs-"+r.Container+"-tail.txt", "the last 10000 lines of container "+r.Container+"'s log (the whole log is longer than cluster.log_limit_bytes)", false, 10000)
		}
	})
	pod := get("pod.json", "the pod object as the API server returned it", rc.Get().Namespace(r.Namespace).Resource("pods").Name(r.Pod))
	if pod != nil {
		var p struct {
			Metadata struct {
				UID string `json:"uid"`
			} `json:"metadata"`
			Status struct {
				ContainerStatuses []struct {
					Name         string `json:"name"`
					RestartCount int    `json:"restartCount"`
				} `json:"containerStatuses"`
			} `json:"status"`
		}
		if err := json.Unmarshal(pod, &p); err == nil {
			if r.PodUID != "" && p.Metadata.UID != r.PodUID {
				mu.Lock()
				notes = append(notes, fmt.Sprintf("the pod was replaced since the checkpoint: uid %s, checkpointed %s", p.Metadata.UID, r.PodUID))
				mu.Unlock()
			}
			for _, cs := range p.Status.ContainerStatuses {
				if cs.Name == r.Container && cs.RestartCount > 0 {
					logs("logs-"+r.Container+"-previous.txt", fmt.Sprintf("logs of container %s's previous instance (restarted %d time(s))", r.Container, cs.RestartCount), true, 0)
				}
			}
		}
	}
	wg.Wait()
	sort.Slice(arts, func(i, j int) bool { return arts[i].Name < arts[j].Name })
	return arts, notes
}

// LogOptions select a container log.
type LogOptions struct {
	// Previous reads the previous instance's log (after a restart).
	Previous bool
	// TailLines keeps the last lines only (0: all).
	TailLines int
	// LimitBytes bounds what the kubelet sends (0: no bound).
	LimitBytes int64
	// Timestamps prefixes each line with its RFC 3339 time.
	Timestamps bool
	// Follow keeps the stream open for new lines (LogsStream only).
	Follow bool
}

// LogsRequest is the API request for a container's log (GET pods/log, read-only).
func (c *Conn) LogsRequest(ns, pod, container string, o LogOptions) *rest.Request {
	req := c.Client.CoreV1().RESTClient().Get().Namespace(ns).Resource("pods").Name(pod).SubResource("log").
		Param("container", container)
	if o.Timestamps {
		req = req.Param("timestamps", "true")
	}
	if o.Previous {
		req = req.Param("previous", "true")
	}
	if o.TailLines > 0 {
		req = req.Param("tailLines", strconv.Itoa(o.TailLines))
	}
	if o.LimitBytes > 0 {
		req = req.Param("limitBytes", strconv.FormatInt(o.LimitBytes, 10))
	}
	if o.Follow {
		req = req.Param("follow", "true")
	}
	return req
}

// LogsStream opens a container's log as a stream (with o.Follow, until ctx ends or the
// container stops); the caller closes it.
func (c *Conn) LogsStream(ctx context.Context, ns, pod, container string, o LogOptions) (io.ReadCloser, error) {
	rc, err := c.LogsRequest(ns, pod, container, o).Stream(ctx)
	if err != nil {
		return nil, logsError(err, ns, pod, container)
	}
	return rc, nil
}

func logsError(err error, ns, pod, container string) error {
	if apierrors.IsForbidden(err) {
		return fmt.Errorf("%w: missing permission get on pods/log in namespace %s (ClusterRole podsleuth-responder in docs/rbac.yaml): %v", ErrForbidden, ns, apiMessage(err))
	}
	return fmt.Errorf("logs of %s/%s/%s: %w", ns, pod, container, classify(err))
}

// Logs reads a container's log as the kubelet sends it.
func (c *Conn) Logs(ctx context.Context, ns, pod, container string, o LogOptions) ([]byte, error) {
	o.Follow = false
	b, err := c.LogsRequest(ns, pod, container, o).DoRaw(ctx)
	if err != nil {
		return nil, logsError(err, ns, pod, container)
	}
	return b, nil
}
