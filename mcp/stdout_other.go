//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package mcp

import "os"

// ProtectStdout returns os.Stdout for the protocol and points os.Stdout at
// stderr, so Go code printing to os.Stdout cannot corrupt the protocol (this
// platform has no descriptor-level redirection here).
func ProtectStdout() (*os.File, error) {
	out := os.Stdout
	os.Stdout = os.Stderr
	return out, nil
}
