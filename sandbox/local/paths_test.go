package local

import (
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestMakePlan(t *testing.T) {
	d := t.TempDir()
	live := filepath.Join(d, "live")
	require.NoError(t, os.MkdirAll(live, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(live, "data.txt"), []byte("x"), 0o644))
	tests := []struct {
		name     string
		held     []HeldPath
		overlays []string
		create   int
		err      string
	}{
		{"open file: its directory overlaid", []HeldPath{{Path: filepath.Join(live, "data.txt"), Kind: "file", Size: 1, Mode: 0o100644}}, []string{live}, 0, ""},
		{"host file of another size: resized in the private copy", []HeldPath{{Path: filepath.Join(live, "data.txt"), Kind: "file", Size: 19, Mode: 0o100644}}, []string{live}, 1, ""},
		{"host file of another mode: given the recorded one privately", []HeldPath{{Path: filepath.Join(live, "data.txt"), Kind: "file", Size: 1, Mode: 0o100600}}, []string{live}, 1, ""},
		{"socket path too", []HeldPath{{Path: filepath.Join(live, "s.sock"), Kind: "socket"}}, []string{live}, 0, ""},
		{"missing file recreated privately, nothing of its host parents shown", []HeldPath{{Path: filepath.Join(live, "gone", "f"), Kind: "file", Size: 9}}, nil, 1, ""},
		{"missing mapped file refused", []HeldPath{{Path: filepath.Join(live, "lib.so"), Kind: "file", Mapped: true}}, nil, 0, "mapped by the process"},
		{"devices and /proc untouched", []HeldPath{{Path: "/dev/null", Kind: "file"}, {Path: "/proc/self/status", Kind: "file"}}, nil, 0, ""},
		{"root dir shared, not overlaid", []HeldPath{{Path: "/", Kind: "dir"}}, nil, 0, ""},
		{"no parent on the host: created in the private root", []HeldPath{{Path: "/podsleuth-no-such-dir/f", Kind: "file"}}, nil, 1, ""},
		{"mapped file bound read-only, not overlaid", []HeldPath{{Path: filepath.Join(live, "data.txt"), Kind: "file", Mapped: true}}, nil, 0, ""},
		{"nested dirs collapse", []HeldPath{{Path: filepath.Join(live, "data.txt"), Kind: "file", Size: 1}, {Path: filepath.Join(live, "sub", "x"), Kind: "file"}}, []string{live}, 1, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := MakePlan(tt.held, nil)
			if tt.err != "" {
				require.ErrorIs(t, err, ErrHeldPath)
				require.ErrorContains(t, err, tt.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.overlays, p.Overlays)
			require.Len(t, p.Create, tt.create)
			for _, h := range tt.held {
				if h.Mapped && len(tt.overlays) == 0 && tt.err == "" {
					require.Equal(t, []string{h.Path}, p.ReadOnly)
				}
			}
		})
	}
}

func TestDNSAnswer(t *testing.T) {
	// a real query for c2.evil.example A, id 0xbeef, RD
	q := []byte{0xbe, 0xef, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0,
		2, 'c', '2', 4, 'e', 'v', 'i', 'l', 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 0, 0, 1, 0, 1}
	name, resp := dnsAnswer(q, net.ParseIP("198.18.0.1"), nil)
	require.Equal(t, "c2.evil.example", name)
	require.Equal(t, []byte{0xbe, 0xef}, resp[:2])
	require.Equal(t, byte(0x81), resp[2], "response, RD kept")
	require.Equal(t, []byte{0, 1}, resp[6:8], "one answer")
	require.Equal(t, []byte{198, 18, 0, 1}, resp[len(resp)-4:])
	// the same name, AAAA: answered with the IPv6 address when there is one, else empty
	q6 := append(append([]byte{}, q[:len(q)-4]...), 0, 28, 0, 1)
	_, resp = dnsAnswer(q6, net.ParseIP("198.18.0.1"), net.ParseIP("fd00:5e1f::1"))
	require.Equal(t, []byte{0, 1}, resp[6:8], "one answer")
	require.Equal(t, []byte{0, 28, 0, 1}, resp[len(q6)+2:len(q6)+6], "type AAAA, class IN")
	require.Equal(t, net.ParseIP("fd00:5e1f::1").To16(), net.IP(resp[len(resp)-16:]))
	_, resp = dnsAnswer(q6, net.ParseIP("198.18.0.1"), nil)
	require.Equal(t, []byte{0, 0}, resp[6:8], "no IPv6 address: no answer")
	tests := [][]byte{nil, q[:11], append(append([]byte{}, q[:12]...), 63), {0, 0, 0x80, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1}}
	for _, bad := range tests {
		_, r := dnsAnswer(bad, net.ParseIP("198.18.0.1"), nil)
		require.Nil(t, r, "%x", bad)
	}
}
