package cluster

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestFreezeFailedIsRetried: the runtime's "unable to freeze" (a 500 from the kubelet, as
// containerd 2 and runc word it on this cluster under load) is the one checkpoint failure
// asked again; CRIU's own failures, timeouts and unreachable nodes are not.
func TestFreezeFailedIsRetried(t *testing.T) {
	ctx := context.Background()
	c := &Conn{}
	tg := Target{Namespace: "ns", Pod: "p", Container: "app"}
	classify := func(status int, text string) error {
		return c.checkpointError(ctx, ctx, tg, "node-1", status, errors.New(text), []byte(text), 30)
	}
	freeze := `checkpointing of ns/p/app failed (rpc error: code = Unknown desc = checkpointing container "0a93997cbb47" failed: OCI runtime pause failed: unable to freeze)`
	err := classify(500, freeze)
	require.ErrorIs(t, err, ErrRuntime)
	require.True(t, freezeFailed(err), "%v", err)

	require.False(t, freezeFailed(classify(500, `checkpointing container "x" failed: criu failed: type NOTIFY errno 0: (00.012) Error (criu/sk-unix.c:1234): unix: Can't dump external socket`)))
	require.False(t, freezeFailed(classify(502, "unable to freeze")), "an unreachable node is not a freeze")
	require.False(t, freezeFailed(errors.New("unable to freeze")), "only a classified checkpoint error")
	require.Equal(t, 2, freezeAttempts, "one more request, never a loop")
}
