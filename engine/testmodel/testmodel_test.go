package testmodel_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/impetus-llm/impetus/engine/modelfile"
	"github.com/impetus-llm/impetus/engine/testmodel"
)

// TestWriteEveryArchitecture writes each architecture dense and quantized
// and checks the directory parses and passes the weight checks of
// engine/modelfile, holds the tokenizer, and is byte-for-byte deterministic.
func TestWriteEveryArchitecture(t *testing.T) {
	if _, err := testmodel.DefaultTokenizerDir(); err != nil {
		t.Skip(err)
	}
	for _, arch := range testmodel.Archs {
		for _, v := range []struct {
			dtype string
			bits  int
		}{{"f32", 0}, {"bf16", 0}, {"f16", 0}, {"bf16", 4}, {"f16", 8}, {"f32", 3}} {
			spec := testmodel.Tiny(arch, v.dtype, v.bits)
			spec.Vocab = 2000 // small and quick; the tokenizer does not matter here
			a, b := t.TempDir(), t.TempDir()
			if err := testmodel.Write(a, spec); err != nil {
				t.Fatalf("%s %s q%d: %v", arch, v.dtype, v.bits, err)
			}
			if err := testmodel.Write(b, spec); err != nil {
				t.Fatal(err)
			}
			d, err := modelfile.Open(a)
			if err != nil {
				t.Fatalf("%s %s q%d: %v", arch, v.dtype, v.bits, err)
			}
			if d.Config.ModelType != arch || (v.bits > 0) != (d.Config.Quantization != nil) {
				t.Errorf("%s: config model_type %q quantization %v", arch, d.Config.ModelType, d.Config.Quantization)
			}
			set, err := d.OpenWeights()
			if err != nil {
				t.Fatal(err)
			}
			if err := d.Config.CheckWeights(set); err != nil {
				t.Errorf("%s %s q%d: %v", arch, v.dtype, v.bits, err)
			}
			set.Close()
			for _, f := range []string{"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"} {
				x, err := os.ReadFile(filepath.Join(a, f))
				if err != nil {
					t.Fatal(err)
				}
				y, _ := os.ReadFile(filepath.Join(b, f))
				if !bytes.Equal(x, y) {
					t.Errorf("%s: %s differs between two writes of the same spec", arch, f)
				}
			}
		}
	}
}

func TestWriteRejectsBadSpec(t *testing.T) {
	for _, spec := range []testmodel.Spec{
		{Arch: "gpt2"},
		{Arch: "llama", DType: "f64"},
		{Arch: "llama", Bits: 7},
		{Arch: "llama", Bits: 4, GroupSize: 48},
	} {
		if err := testmodel.Write(t.TempDir(), spec); err == nil {
			t.Errorf("spec %+v: want an error", spec)
		}
	}
}
