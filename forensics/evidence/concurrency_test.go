package evidence

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// The concurrency test runs real podsleuth-like processes: this test binary re-executed as a
// worker that opens, verifies and exports one item of a shared store.
const workerEnv = "PODSLEUTH_CUSTODY_WORKER"

func TestMain(m *testing.M) {
	if spec := os.Getenv(workerEnv); spec != "" {
		os.Exit(custodyWorker(spec))
	}
	os.Exit(m.Run())
}

// custodyWorker: spec is "STOREDIR ID ROUNDS"; each round records an open, verifies and exports
// (which verifies again and records the export), as `podsleuth findings`, `evidence verify` and
// `evidence export` do.
func custodyWorker(spec string) int {
	var dir, id string
	var rounds int
	if _, err := fmt.Sscan(spec, &dir, &id, &rounds); err != nil {
		fmt.Fprintln(os.Stderr, "worker:", err)
		return 2
	}
	s, err := Open(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "worker:", err)
		return 1
	}
	it, err := s.Get(id)
	if err != nil {
		fmt.Fprintln(os.Stderr, "worker:", err)
		return 1
	}
	for i := 0; i < rounds; i++ {
		if _, err := s.RecordOpen(it.Archive, map[string]string{"by": "worker " + strconv.Itoa(os.Getpid())}); err != nil {
			fmt.Fprintln(os.Stderr, "worker open:", err)
			return 1
		}
		if _, err := s.Verify(context.Background(), id); err != nil {
			fmt.Fprintln(os.Stderr, "worker verify:", err)
			return 1
		}
		if _, err := s.Export(context.Background(), id, io.Discard, ExportOptions{To: "/dev/null"}); err != nil {
			fmt.Fprintln(os.Stderr, "worker export:", err)
			return 1
		}
	}
	return 0
}

// TestConcurrentProcessesKeepTheCustodyChain: eight processes opening, verifying and exporting
// the same item at once (the reproduction was eight parallel `podsleuth findings`) leave
// a custody log whose chain is intact, with every event of every process in it; each process's
// own verifications pass while the others append.
func TestConcurrentProcessesKeepTheCustodyChain(t *testing.T) {
	s := newStore(t)
	it, err := s.Acquire(context.Background(), bytes.NewReader(bytes.Repeat([]byte("x"), 1<<16)), Manifest{ArchiveName: "c.tar"})
	require.NoError(t, err)
	const workers, rounds = 8, 4
	var wg sync.WaitGroup
	outs := make([]bytes.Buffer, workers)
	errs := make([]error, workers)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s %s %d", workerEnv, s.Dir(), it.ID, rounds))
			cmd.Stdout, cmd.Stderr = &outs[w], &outs[w]
			errs[w] = cmd.Run()
		}(w)
	}
	wg.Wait()
	for w := range errs {
		require.NoError(t, errs[w], "worker %d: %s", w, outs[w].String())
	}
	evs, problems, err := readChain(it.Dir)
	require.NoError(t, err)
	require.Empty(t, problems, "the chain must survive concurrent appends")
	// acquired + per round: opened, verified, verified (by export), exported
	require.Len(t, evs, 1+workers*rounds*4)
	res, err := s.Verify(context.Background(), it.ID)
	require.NoError(t, err)
	require.True(t, res.OK)
	var buf bytes.Buffer
	_, err = s.Export(context.Background(), it.ID, &buf, ExportOptions{To: filepath.Join(t.TempDir(), "b.tar")})
	require.NoError(t, err, "the item still exports")
}
