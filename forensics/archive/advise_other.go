//go:build !linux

package archive

import "os"

// adviseSequential has no equivalent here.
func adviseSequential(*os.File) {}
