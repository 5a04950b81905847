package archive

import (
	"os"

	"golang.org/x/sys/unix"
)

// adviseSequential asks for a large readahead on f (a hint: its failure changes nothing).
func adviseSequential(f *os.File) {
	_ = unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_SEQUENTIAL)
}
