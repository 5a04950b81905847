package criu

import (
	"encoding/base64"
	"encoding/json"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/podsleuth/podsleuth/forensics"
)

func TestFDDetailNames(t *testing.T) {
	tests := []struct {
		name, got, want string
	}{
		{"inotify mask", InotifyMask(0x2 | 0x100), "IN_MODIFY|IN_CREATE"},
		{"inotify unknown bit", InotifyMask(0x8 | 0x1000), "IN_CLOSE_WRITE|0x1000"},
		{"inotify internal bit", InotifyMask(0x08000200), "IN_DELETE|FS_EVENT_ON_CHILD"},
		{"inotify none", InotifyMask(0), ""},
		{"epoll", EpollEvents(0x80000019), "EPOLLIN|EPOLLERR|EPOLLHUP|EPOLLET"},
		{"epoll exclusive", EpollEvents(1<<28 | 4), "EPOLLOUT|EPOLLEXCLUSIVE"},
		{"signals", SignalMask(0x801), "SIGHUP|SIGUSR2"},
		{"signal 64", SignalMask(1 << 63), "SIGRTMIN+30"},
		{"glibc's own", SignalMask(1<<31 | 1<<32 | 1<<33), "SIG32|SIG33|SIGRTMIN"},
		{"signal 31", SignalName(31), "SIGSYS"},
		{"signal 0", SignalName(0), "SIG0"},
		{"clock", ClockName(7), "CLOCK_BOOTTIME"},
		{"unknown clock", ClockName(11), "CLOCK_11"},
		{"kernel dev", kernelDev(0xfe00000), "254:0"},
		{"kernel dev, large minor", kernelDev(8<<20 | 0x12345), "8:74565"},
		{"user dev", userDev(0x8800), "136:0"},
		{"user dev, minor >= 256", userDev(0x1208834), "136:4660"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, tt.got)
		})
	}
}

func TestDurationSaturates(t *testing.T) {
	tests := []struct {
		name      string
		sec, nsec uint64
		want      time.Duration
	}{
		{"5 s", 5, 0, 5 * time.Second},
		{"sec and nsec", 3599, 819016886, 3599*time.Second + 819016886},
		{"too many seconds", math.MaxUint64, 0, math.MaxInt64},
		{"too many nanoseconds", 0, math.MaxUint64, math.MaxInt64},
		{"sum overflows", uint64(math.MaxInt64 / int64(time.Second)), 999999999, math.MaxInt64},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, duration(tt.sec, tt.nsec))
		})
	}
}

func TestInvalidUTF8IsRecoverable(t *testing.T) {
	cp := &forensics.Checkpoint{
		Processes: []forensics.Process{{PID: 1, Comm: "ok"}, {PID: 2, Comm: "bad\xff\xfe", Cmdline: []string{"x", "a\x80b"}}},
		Container: &forensics.Container{Labels: map[string]string{"k/\xc3": "v\xe2\x82"}},
	}
	recordInvalidUTF8(cp)
	require.Equal(t, map[string]string{
		"/processes/1/comm":               "YmFk//4=",
		"/processes/1/cmdline/1":          "YYBi",
		"/container/labels/k~1\uFFFD#key": "ay/D",
		"/container/labels/k~1\uFFFD":     "duKC",
	}, cp.InvalidUTF8)
	b, err := json.Marshal(cp)
	require.NoError(t, err)
	var back forensics.Checkpoint
	require.NoError(t, json.Unmarshal(b, &back))
	raw, err := base64.StdEncoding.DecodeString(back.InvalidUTF8["/processes/1/comm"])
	require.NoError(t, err)
	require.Equal(t, "bad\xff\xfe", string(raw), "the exact bytes come back from the JSON")
	require.NotEqual(t, "bad\xff\xfe", back.Processes[1].Comm, "the string itself carries U+FFFD")
}
