package main

import (
	"strings"
	"testing"
)

func TestServeRefusesAPublicBindWithoutAKey(t *testing.T) {
	code, out, errOut := runImpetus(t, "serve", "--addr", "0.0.0.0:0")
	if code == 0 || out != "" || !strings.Contains(errOut, "--api-key") {
		t.Fatalf("code %d stdout %q stderr %q", code, out, errOut)
	}
	code, _, errOut = runImpetus(t, "serve", "--addr", "nonsense")
	if code == 0 || !strings.Contains(errOut, "--addr") {
		t.Fatalf("bad addr: code %d stderr %q", code, errOut)
	}
}

func TestLoopbackDetection(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1:8080": true, "[::1]:80": true, "localhost:1": true,
		":8080": false, "0.0.0.0:80": false, "[::]:80": false, "192.0.2.1:80": false,
	} {
		got, err := isLoopbackAddr(addr)
		if err != nil || got != want {
			t.Errorf("%s: %v %v, want %v", addr, got, err, want)
		}
	}
}
