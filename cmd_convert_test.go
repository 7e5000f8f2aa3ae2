package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/impetus-llm/impetus/engine/modelfile"
	"github.com/impetus-llm/impetus/engine/testmodel"
)

func TestConvertCommand(t *testing.T) {
	root := t.TempDir()
	src := filepath.Join(root, "src")
	if err := testmodel.Write(src, testmodel.Tiny("llama", "bf16", 0)); err != nil {
		t.Skipf("cannot write the test model: %v", err)
	}
	dst := filepath.Join(root, "dst")
	code, out, errOut := runImpetus(t, "convert", src, dst, "--bits", "8", "--group", "32")
	if code != 0 || strings.TrimSpace(out) != dst {
		t.Fatalf("code %d stdout %q stderr %q", code, out, errOut)
	}
	d, err := modelfile.Open(dst)
	if err != nil {
		t.Fatal(err)
	}
	if q := d.Config.Quantization; q == nil || q.Bits != 8 || q.GroupSize != 32 {
		t.Fatalf("quantization %+v", q)
	}
	code, _, errOut = runImpetus(t, "convert", src, dst)
	if code == 0 || !strings.Contains(errOut, "--force") || strings.Count(errOut, "\n") != 1 {
		t.Fatalf("existing destination: code %d stderr %q", code, errOut)
	}
}
