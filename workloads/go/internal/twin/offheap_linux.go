//go:build linux

package twin

import "syscall"

const mapNoReserve = syscall.MAP_NORESERVE
