package safetensors

import (
	"math"
	"testing"
)

func TestFloat16RoundTripAndRounding(t *testing.T) {
	// Every half value decodes and re-encodes to itself.
	for h := 0; h < 1<<16; h++ {
		f := F16ToFloat32(uint16(h))
		if f != f {
			if got := Float32ToF16(f); got&0x7c00 != 0x7c00 || got&0x3ff == 0 {
				t.Fatalf("NaN %#04x encoded as %#04x", h, got)
			}
			continue
		}
		if got := Float32ToF16(f); got != uint16(h) {
			t.Fatalf("%#04x -> %g -> %#04x", h, f, got)
		}
	}
	cases := map[float32]uint16{
		1 + 1.0/2048:          0x3c00, // tie: round to even (down)
		1 + 3.0/2048:          0x3c02, // tie: round to even (up)
		65520:                 0x7c00, // overflows to infinity
		float32(math.Inf(-1)): 0xfc00,
		5.960464477539063e-08: 0x0001, // smallest subnormal
	}
	for f, want := range cases {
		if got := Float32ToF16(f); got != want {
			t.Errorf("Float32ToF16(%g) = %#04x, want %#04x", f, got, want)
		}
	}
}

func TestBFloat16Rounding(t *testing.T) {
	cases := map[float32]uint16{
		1:                                0x3f80,
		math.Float32frombits(0x3f808000): 0x3f80, // tie, even stays
		math.Float32frombits(0x3f818000): 0x3f82, // tie, odd rounds up
		math.Float32frombits(0x3f808001): 0x3f81,
	}
	for f, want := range cases {
		if got := Float32ToBF16(f); got != want {
			t.Errorf("Float32ToBF16(%#08x) = %#04x, want %#04x", math.Float32bits(f), got, want)
		}
	}
	if got := Float32ToBF16(float32(math.NaN())); got&0x7f80 != 0x7f80 || got&0x7f == 0 {
		t.Errorf("NaN became %#04x", got)
	}
	b, err := EncodeFloat32([]float32{1, -2}, BF16)
	if err != nil || len(b) != 4 {
		t.Fatal(err)
	}
	if _, err := EncodeFloat32([]float32{1}, U32); err == nil {
		t.Fatal("encoding floats as U32 was accepted")
	}
}
