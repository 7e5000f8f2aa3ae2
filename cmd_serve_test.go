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
