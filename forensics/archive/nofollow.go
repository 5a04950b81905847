package archive

import "syscall"

// noFollow makes opening a directory member fail when it became a symbolic link after
// indexing (open(2) then fails with ELOOP).
const noFollow = syscall.O_NOFOLLOW

var errSymlink error = syscall.ELOOP
