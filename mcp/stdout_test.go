//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package mcp

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"testing"
)

// TestProtectStdout runs itself in a child process: after ProtectStdout,
// writes to os.Stdout and straight to file descriptor 1 (as C code would)
// land on stderr, and only what goes to the returned file reaches stdout.
func TestProtectStdout(t *testing.T) {
	if os.Getenv("IMPETUS_PROTECT_STDOUT_CHILD") == "1" {
		protocol, err := ProtectStdout()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(3)
		}
		fmt.Println("stray fmt.Println")
		os.Stdout.WriteString("stray os.Stdout\n")
		syscall.Write(1, []byte("stray fd 1\n"))
		protocol.WriteString(`{"jsonrpc":"2.0","method":"ok"}` + "\n")
		os.Exit(0)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestProtectStdout$")
	cmd.Env = append(os.Environ(), "IMPETUS_PROTECT_STDOUT_CHILD=1")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("child: %v\n%s", err, stderr.String())
	}
	if stdout.String() != `{"jsonrpc":"2.0","method":"ok"}`+"\n" {
		t.Fatalf("stdout %q", stdout.String())
	}
	for _, s := range []string{"stray fmt.Println", "stray os.Stdout", "stray fd 1"} {
		if !bytes.Contains(stderr.Bytes(), []byte(s)) {
			t.Errorf("%q did not go to stderr: %q", s, stderr.String())
		}
	}
}
