package cluster

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strconv"
	"sync"
	"time"

	"github.com/podsleuth/podsleuth/forensics/evidence"
)

// The stream plumbing of a pull: the node's hash beside the stream, the exec'd `cat`/`tail`
// into a bounded in-memory pipe, resuming a broken stream, and progress counting.

// pullBufferChunks bounds how far a stream runs ahead of the store (exec writes arrive in
// chunks of at most 32 KiB: about 2 MiB). The store takes the stream from its first byte, so a
// deep buffer would only hold a second copy of the archive in memory.
const pullBufferChunks = 64

// notSymlink starts the collector's shell commands on "$1", the archive: it must be a regular
// file, not a symlink (the kubelet writes plain files; a link would read something else, say
// the node's /etc/shadow through the checkpoint directory's mount). A missing archive keeps the
// shell's own "No such file or directory".
const notSymlink = `if [ -L "$1" ]; then echo "$1: a symlink: refused" >&2; exit 3; fi; ` +
	`if [ ! -e "$1" ]; then echo "$1: No such file or directory" >&2; exit 1; fi; ` +
	`if [ ! -f "$1" ]; then echo "$1: not a regular file: refused" >&2; exit 3; fi; `

// nodeHash is the `stat` + `sha256sum` of the archive, run in the collector beside the stream.
type nodeHash struct {
	cancel    context.CancelFunc
	sizeKnown chan struct{} // closed once stat answered (or the exec ended)
	done      chan struct{} // closed when the exec ended
	// sz and szErr are set before sizeKnown closes, sum, err and took before done closes
	sz    int64
	szErr error
	sum   string
	err   error
	took  time.Duration
}

func (c *Conn) startNodeHash(ctx context.Context, ns, pod, file string) *nodeHash {
	hctx, cancel := context.WithCancel(ctx)
	h := &nodeHash{cancel: cancel, sizeKnown: make(chan struct{}), done: make(chan struct{})}
	var once sync.Once
	w := &lineWatcher{first: func(line string) {
		once.Do(func() {
			h.sz, h.szErr = parseSize(line)
			close(h.sizeKnown)
		})
	}}
	go func() {
		t := time.Now()
		err := c.exec(hctx, ns, pod, []string{"sh", "-c", notSymlink + `stat -c %s "$1" && sha256sum "$1"`, "sh", file}, w)
		h.took = time.Since(t)
		if err != nil {
			err = fmt.Errorf("%w: hash on the node: %v", ErrStream, err)
		} else {
			var size int64
			size, h.sum, err = parseStatSum(w.buf.String())
			if err == nil && size != h.sz {
				err = fmt.Errorf("%w: the archive changed size on the node while it was read", ErrStream)
			}
		}
		once.Do(func() { h.szErr = err; close(h.sizeKnown) })
		h.err = err
		close(h.done)
	}()
	return h
}

// size waits for the archive's size on the node.
func (h *nodeHash) size(ctx context.Context) (int64, error) {
	select {
	case <-h.sizeKnown:
		return h.sz, h.szErr
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

// knownSize is the size when stat has answered, else 0 (for progress).
func (h *nodeHash) knownSize() int64 {
	select {
	case <-h.sizeKnown:
		return h.sz
	default:
		return 0
	}
}

// sha256 waits for the node's hash.
func (h *nodeHash) sha256(ctx context.Context) (string, error) {
	select {
	case <-h.done:
		return h.sum, h.err
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

func (h *nodeHash) stop() {
	h.cancel()
	<-h.done
}

// lineWatcher keeps an exec's output and calls first with its first line once it is complete.
type lineWatcher struct {
	buf   bytes.Buffer
	first func(line string)
	seen  bool
}

func (l *lineWatcher) Write(p []byte) (int, error) {
	n, _ := l.buf.Write(p)
	if !l.seen {
		if i := bytes.IndexByte(l.buf.Bytes(), '\n'); i >= 0 {
			l.seen = true
			l.first(string(l.buf.Bytes()[:i]))
		}
	}
	return n, nil
}

// stream is one running `cat` of the archive in the collector.
type stream struct {
	pipe    *chunkPipe
	started time.Time
	cancel  context.CancelFunc
	done    chan error
}

func (c *Conn) startStream(ctx context.Context, ns, pod, file string, offset int64) *stream {
	sctx, cancel := context.WithCancel(ctx)
	s := &stream{pipe: newChunkPipe(pullBufferChunks), started: time.Now().UTC(), cancel: cancel, done: make(chan error, 1)}
	cmd := []string{"sh", "-c", notSymlink + `exec cat "$1"`, "sh", file}
	if offset > 0 {
		cmd = []string{"sh", "-c", notSymlink + `exec tail -c "+$2" "$1"`, "sh", file, strconv.FormatInt(offset+1, 10)}
	}
	go func() {
		err := c.exec(sctx, ns, pod, cmd, s.pipe)
		s.pipe.closeWrite(err)
		s.done <- err
	}()
	return s
}

// stop cancels the stream and waits for its exec to end.
func (s *stream) stop() {
	s.cancel()
	s.pipe.closeRead()
	<-s.done
	s.done <- nil // stop is idempotent
}

// sourceHash is where the node's SHA-256 comes from (a nodeHash; tests fake it).
type sourceHash interface {
	knownSize() int64
	sha256(ctx context.Context) (string, error)
}

// streamInto pipes the archive into the store, which asks for the node's hash at the end.
func (c *Conn) streamInto(ctx context.Context, st *evidence.Store, rr *resumingReader, nh sourceHash, arts func(context.Context) ([]evidence.ArtifactData, error), started time.Time, m evidence.Manifest, report func(Progress)) (*evidence.Item, time.Time, error) {
	defer rr.close()
	cr := &countingReader{r: rr, total: nh.knownSize, start: started, report: report, attempt: func() int { return rr.resumes + 1 }}
	item, err := st.AcquireWith(ctx, cr, m, evidence.AcquireOptions{NodeSHA256Func: nh.sha256, ArtifactsFunc: arts})
	cr.final()
	return item, cr.finished, err
}

// resumingReader reads the archive from a stream and, when the stream breaks (an error, or an
// end before size bytes), resumes from the byte it got to with a new exec of
// `tail -c +OFFSET`, at most max times. The store hashes the concatenation; the node's hash,
// from its own read of the whole file, proves it whole.
type resumingReader struct {
	ctx  context.Context
	cur  *stream
	open func(offset int64) *stream
	// size is the archive's size on the node; when sizeOf is set, it is asked for it the first
	// time a stream ends (stat runs beside the first stream), and its error ends the pull.
	n, size int64
	sizeOf  func(ctx context.Context) (int64, error)
	resumes int
	max     int
}

func (r *resumingReader) Read(p []byte) (int, error) {
	for {
		k, err := r.cur.pipe.Read(p)
		r.n += int64(k)
		if err == nil {
			return k, nil
		}
		if r.sizeOf != nil {
			size, serr := r.sizeOf(r.ctx)
			if serr != nil {
				return k, serr
			}
			r.size, r.sizeOf = size, nil
		}
		size := r.size
		if err == io.EOF && r.n == size {
			return k, io.EOF
		}
		if r.n > size {
			return k, fmt.Errorf("%w: received %d bytes, the node has %d", ErrStream, r.n, size)
		}
		if r.ctx.Err() != nil || r.resumes >= r.max {
			if err == io.EOF {
				err = fmt.Errorf("stream ended after %d of %d bytes", r.n, size)
			}
			return k, err
		}
		r.resumes++
		r.cur.stop()
		r.cur = r.open(r.n)
		if k > 0 {
			return k, nil
		}
	}
}

func (r *resumingReader) close() { r.cur.stop() }

// chunkPipe is an in-memory pipe with a bounded queue of chunks: the writer (the exec stream)
// runs ahead of the reader by at most cap chunks, then blocks.
type chunkPipe struct {
	ch        chan []byte
	cur       []byte
	err       error
	closed    chan struct{}
	readOnce  sync.Once
	writeOnce sync.Once
}

func newChunkPipe(n int) *chunkPipe {
	return &chunkPipe{ch: make(chan []byte, n), closed: make(chan struct{})}
}

func (p *chunkPipe) Write(b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	c := make([]byte, len(b))
	copy(c, b)
	select {
	case p.ch <- c:
		return len(b), nil
	case <-p.closed:
		return 0, io.ErrClosedPipe
	}
}

// closeWrite ends the stream: the reader sees err, or io.EOF when err is nil.
func (p *chunkPipe) closeWrite(err error) {
	p.writeOnce.Do(func() {
		if err == nil {
			err = io.EOF
		}
		p.err = err
		close(p.ch)
	})
}

// closeRead unblocks the writer for good.
func (p *chunkPipe) closeRead() { p.readOnce.Do(func() { close(p.closed) }) }

func (p *chunkPipe) Read(b []byte) (int, error) {
	for len(p.cur) == 0 {
		c, ok := <-p.ch
		if !ok {
			return 0, p.err
		}
		p.cur = c
	}
	n := copy(b, p.cur)
	p.cur = p.cur[n:]
	return n, nil
}

type countingReader struct {
	r       io.Reader
	n       int64
	total   func() int64
	attempt func() int
	start   time.Time
	last    time.Time
	report  func(Progress)
	// finished is when the last byte arrived.
	finished time.Time
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	if now := time.Now(); now.Sub(c.last) >= 100*time.Millisecond {
		c.last = now
		c.emit()
	}
	if err == io.EOF && c.finished.IsZero() {
		c.finished = time.Now().UTC()
	}
	return n, err
}

func (c *countingReader) emit() {
	el := time.Since(c.start).Seconds()
	rate := 0.0
	if el > 0 {
		rate = float64(c.n) / el
	}
	c.report(Progress{Phase: "stream", Bytes: c.n, Total: c.total(), Rate: rate, Attempt: c.attempt()})
}

func (c *countingReader) final() { c.emit() }
