package sharedtestdata

import (
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"
)

// ReferencePrompt is the prompt every reference model's outputs answer.
var ReferencePrompt = []int32{1, 450, 4996, 17354, 1701, 432, 10, 29871, 13}

// Reference is what an independent float32 implementation computed for one
// shared model (models/NAME/reference.json and reference-logits.f32).
type Reference struct {
	LogitsLast   []float32 `json:"logits_last"`   // first 16 logits at the last prompt position
	LogitsArgmax int       `json:"logits_argmax"` // argmax of all of them
	LogitsNorm   float64   `json:"logits_norm"`   // their L2 norm
	Greedy       []int32   `json:"greedy"`        // the next 32 tokens by argmax
	// Logits are all logits at the last prompt position.
	Logits []float32 `json:"-"`
}

// LoadReference reads the reference outputs stored beside a shared model.
func LoadReference(t testing.TB, modelDir string) Reference {
	t.Helper()
	var ref Reference
	data, err := os.ReadFile(filepath.Join(modelDir, "reference.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &ref); err != nil {
		t.Fatalf("%s: %v", filepath.Join(modelDir, "reference.json"), err)
	}
	raw, err := os.ReadFile(filepath.Join(modelDir, "reference-logits.f32"))
	if err != nil {
		t.Fatal(err)
	}
	ref.Logits = make([]float32, len(raw)/4)
	for i := range ref.Logits {
		ref.Logits[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
	}
	return ref
}

// RelL2 is the relative L2 error ‖got − want‖ / ‖want‖.
func RelL2(got, want []float32) float64 {
	var num, den float64
	for i := range want {
		d := float64(got[i]) - float64(want[i])
		num += d * d
		den += float64(want[i]) * float64(want[i])
	}
	return math.Sqrt(num / den)
}
