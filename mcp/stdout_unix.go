//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package mcp

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// ProtectStdout reserves the process's standard output for the protocol: it
// returns a new file for the original stdout and points file descriptor 1
// (and os.Stdout) at stderr, so that nothing else in the process — a stray
// print, a library, C code such as the MLX runtime — can write a byte the
// client would take for JSON-RPC. Call it once, before anything else runs.
func ProtectStdout() (*os.File, error) {
	fd, err := unix.Dup(int(os.Stdout.Fd()))
	if err != nil {
		return nil, fmt.Errorf("keeping stdout for the protocol: %w", err)
	}
	unix.CloseOnExec(fd)
	if err := unix.Dup2(int(os.Stderr.Fd()), int(os.Stdout.Fd())); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("redirecting stdout to stderr: %w", err)
	}
	return os.NewFile(uintptr(fd), "/dev/stdout"), nil
}
