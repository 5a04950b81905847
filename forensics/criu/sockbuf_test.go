package criu_test

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/podsleuth/podsleuth/forensics"
	"github.com/podsleuth/podsleuth/forensics/render"
	"github.com/podsleuth/podsleuth/test/fixture"
)

// TestSocketBufferSizes: SO_SNDBUF/SO_RCVBUF come from CRIU's sk-opts. target.c (images/full)
// asks for a 2048-byte receive buffer on the client end of the port-47792 pair and an 8192-byte
// send buffer on its server end; the kernel doubles both (socket(7)), so the image holds 4096
// and 16384. Both show in the JSON and in inspect's text.
func TestSocketBufferSizes(t *testing.T) {
	_, cp := fixture.Decode(t, "images/full")
	var client, server *forensics.Socket
	for i, s := range cp.Sockets {
		if s.Protocol != "tcp" || s.State != "ESTABLISHED" {
			continue
		}
		switch {
		case s.LocalPort == 47792:
			client = &cp.Sockets[i]
		case s.RemotePort == 47792:
			server = &cp.Sockets[i]
		}
	}
	require.NotNil(t, client)
	require.NotNil(t, server)
	require.Equal(t, uint32(2*2048), client.RecvBuf)
	require.Equal(t, uint32(2*8192), server.SendBuf)
	for _, s := range cp.Sockets {
		require.NotZero(t, s.SendBuf, "socket:[%d]", s.Ino)
		require.NotZero(t, s.RecvBuf, "socket:[%d]", s.Ino)
	}

	j, err := json.Marshal(client)
	require.NoError(t, err)
	require.Contains(t, string(j), `"recv_buf":4096`)

	var b bytes.Buffer
	require.NoError(t, render.Text(context.Background(), &b, cp, render.Sections{Sockets: true}))
	var line string
	for _, l := range strings.Split(b.String(), "\n") {
		if strings.Contains(l, "127.0.0.1:47792 -> 127.0.0.1:47777") {
			line = l
		}
	}
	require.Contains(t, line, "sndbuf 3939840 rcvbuf 4096", b.String())
}
