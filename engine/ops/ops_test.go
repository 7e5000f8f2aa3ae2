package ops

import (
	"math"
	"testing"
)

func TestNewRoPEPlain(t *testing.T) {
	r, err := NewRoPE(8, 10000, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i, f := range r.InvFreq {
		want := math.Pow(10000, -float64(2*i)/8)
		if math.Abs(f-want) > 1e-15 {
			t.Errorf("inv_freq[%d] = %g, want %g", i, f, want)
		}
	}
	if r.PosScale != 1 {
		t.Errorf("PosScale %g", r.PosScale)
	}
}

// TestNewRoPELlama3 checks the three bands of Llama 3 scaling: high
// frequencies unchanged, low ones divided by factor, the middle smoothed.
func TestNewRoPELlama3(t *testing.T) {
	s := &RopeScaling{Type: "llama3", Factor: 8, LowFreqFactor: 1, HighFreqFactor: 4, OriginalMaxPositionEmbeddings: 8192}
	r, err := NewRoPE(128, 500000, s)
	if err != nil {
		t.Fatal(err)
	}
	plain, _ := NewRoPE(128, 500000, nil)
	var high, low, mid int
	for i, f := range r.InvFreq {
		p := plain.InvFreq[i]
		wavelen := 2 * math.Pi / p
		switch {
		case wavelen < 8192/4.0:
			high++
			if f != p {
				t.Errorf("high-frequency %d changed: %g vs %g", i, f, p)
			}
		case wavelen > 8192/1.0:
			low++
			if math.Abs(f-p/8) > 1e-18 {
				t.Errorf("low-frequency %d: %g, want %g", i, f, p/8)
			}
		default:
			mid++
			if !(f < p && f > p/8) {
				t.Errorf("mid-frequency %d: %g not between %g and %g", i, f, p/8, p)
			}
		}
	}
	if high == 0 || low == 0 || mid == 0 {
		t.Errorf("bands high=%d mid=%d low=%d: test does not cover all three", high, mid, low)
	}
}

func TestNewRoPEErrors(t *testing.T) {
	for _, c := range []struct {
		hd    int
		theta float64
		s     *RopeScaling
	}{
		{7, 10000, nil},
		{8, 0, nil},
		{8, 10000, &RopeScaling{Type: "yarn", Factor: 2}},
		{8, 10000, &RopeScaling{Type: "llama3", Factor: 8}},
		{8, 10000, &RopeScaling{Type: "linear"}},
	} {
		if _, err := NewRoPE(c.hd, c.theta, c.s); err == nil {
			t.Errorf("NewRoPE(%d, %g, %+v): want an error", c.hd, c.theta, c.s)
		}
	}
	r, err := NewRoPE(8, 10000, &RopeScaling{Type: "linear", Factor: 4})
	if err != nil || r.PosScale != 0.25 {
		t.Errorf("linear scaling: %v, PosScale %v", err, r)
	}
}
