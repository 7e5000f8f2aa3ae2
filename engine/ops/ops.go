// Package ops is the seam between model definitions and compute backends.
//
// A Backend offers a small set of coarse, fused operations on opaque tensors.
// Model code (engine/model) builds one forward step out of them; the pure-Go
// backend (engine/cpu) executes each op eagerly, a lazy backend (MLX) records a
// graph and evaluates it once per step, in Logits. The rules that make both
// work are:
//
//   - Activations are 2-D: rows are token positions of the step, columns the
//     feature dimension. Heads are a view: a [T, H·D] tensor holds H heads of
//     width D side by side (Hugging Face layout).
//   - Ops never fail immediately. A backend that detects a problem (shape
//     mismatch, a NaN) remembers the first error and returns it from Logits;
//     the step's remaining ops may return placeholder tensors.
//   - Tensors returned by ops live until Release, which ends the step. Weights
//     (Linear, Vector) and KV caches live until the backend or cache is closed.
//   - A Backend runs one step at a time; callers serialize steps.
package ops

import (
	"errors"
	"fmt"
	"math"
	"slices"
)

// ErrNonFinite is wrapped by the error Logits returns when a value is NaN or
// infinite (corrupt weights, overflow): such logits must never be sampled.
var ErrNonFinite = errors.New("non-finite logits")

// DType names a stored element type as spelled in safetensors headers.
type DType string

// Stored element types a backend must accept.
const (
	F32  DType = "F32"
	F16  DType = "F16"
	BF16 DType = "BF16"
	U32  DType = "U32"
)

// Size is the bytes of one element; 0 for a type no backend stores.
func (d DType) Size() int {
	switch d {
	case F32, U32, "I32":
		return 4
	case F16, BF16:
		return 2
	}
	return 0
}

// Raw is one stored tensor: its bytes as found in the file (little-endian),
// zero-copy when the file is memory-mapped. Name and File are for messages.
type Raw struct {
	Name  string
	File  string
	DType DType
	Shape []int
	Data  []byte
}

// Check validates a stored tensor against what a backend expects: one of
// dtypes, exactly shape, and the byte length they imply.
// Errors name the file and the tensor.
func (r *Raw) Check(shape []int, dtypes ...DType) error {
	if r == nil {
		return fmt.Errorf("missing tensor")
	}
	if !slices.Contains(dtypes, r.DType) {
		return fmt.Errorf("%s: tensor %s has dtype %s; want one of %v", r.File, r.Name, r.DType, dtypes)
	}
	if !slices.Equal(r.Shape, shape) {
		return fmt.Errorf("%s: tensor %s has shape %v; want %v", r.File, r.Name, r.Shape, shape)
	}
	n := 1
	for _, d := range shape {
		n *= d
	}
	if want := n * r.DType.Size(); len(r.Data) != want {
		return fmt.Errorf("%s: tensor %s holds %d bytes; shape %v of %s needs %d", r.File, r.Name, len(r.Data), shape, r.DType, want)
	}
	return nil
}

// Quant describes MLX affine quantization: w = scale·q + bias per group of
// GroupSize consecutive input elements, q an unsigned Bits-bit integer packed
// into little-endian uint32 words, element 0 in the lowest bits. 3-, 5- and
// 6-bit values straddle word boundaries.
type Quant struct {
	Bits, GroupSize int
}

// LinearSpec is the stored form of a linear layer y = x·Wᵀ (+ Bias), W of
// shape [out, in]. Dense: Weight is F32/F16/BF16 [out, in]. MLX-quantized:
// Quant is set, Weight is U32 [out, in·bits/32], Scales and Biases are
// [out, in/group]. Bias (the additive one, e.g. Qwen2's q/k/v) is optional.
// Embedding tables are loaded as a LinearSpec too (out = vocab, in = hidden),
// which is what makes tied embeddings one weight.
type LinearSpec struct {
	Weight, Scales, Biases, Bias *Raw
	Quant                        *Quant
}

// Linear is a loaded linear layer (or embedding table), owned by the backend.
type Linear interface {
	Dims() (out, in int)
}

// Vector is a loaded 1-D weight such as a norm scale.
type Vector interface {
	Len() int
}

// Tensor is an activation of the current step, shape [rows, cols].
type Tensor interface {
	Dims() (rows, cols int)
}

// KVCache holds the keys and values of one sequence for every layer. Its
// length is tracked by the caller (the model's Cache); the backend grows
// storage as positions are written.
type KVCache interface {
	// Release frees the cache's memory; it must not be used afterwards.
	Release()
}

// KVSpec sizes a KV cache.
type KVSpec struct {
	Layers, KVHeads, HeadDim int
	MaxLen                   int  // context length: positions beyond it are an error
	F16                      bool // store keys/values as float16 (halves memory)
}

// Act is the activation of a gated MLP: out = act(gate) · up.
type Act int

const (
	// SiLU gating (SwiGLU): Llama, Qwen, Mistral.
	SiLU Act = iota
	// GELUTanh is the tanh approximation of GELU: Gemma.
	GELUTanh
)

func (a Act) String() string {
	switch a {
	case SiLU:
		return "silu"
	case GELUTanh:
		return "gelu_tanh"
	}
	return fmt.Sprintf("Act(%d)", int(a))
}

// Attn describes one attention call.
type Attn struct {
	Heads, KVHeads, HeadDim int
	Scale                   float32 // multiplies q·k, usually 1/sqrt(HeadDim)
	Window                  int     // sliding window: attend to the last Window positions; 0 = all
	SoftCap                 float32 // if > 0: scores = SoftCap·tanh(scores/SoftCap) (Gemma 2)
}

// Check validates an Attention call's arguments, the same for every
// backend: q is T×(Heads·HeadDim), k and v T×(KVHeads·HeadDim), the heads
// group evenly, the layer and head sizes fit the cache, and positions
// pos..pos+T-1 fit its context. qCols, kCols, vCols, kRows, vRows are the
// tensors' shapes; T is q's row count.
func (a Attn) Check(spec KVSpec, layer, pos, T, qCols, kRows, kCols, vRows, vCols int) error {
	D := a.HeadDim
	switch {
	case a.KVHeads <= 0 || a.Heads%a.KVHeads != 0:
		return fmt.Errorf("attention: %d heads is not a multiple of %d kv heads", a.Heads, a.KVHeads)
	case qCols != a.Heads*D || kCols != a.KVHeads*D || vCols != a.KVHeads*D || kRows != T || vRows != T:
		return fmt.Errorf("attention: q %dx%d, k %dx%d, v %dx%d do not match %d heads, %d kv heads of %d", T, qCols, kRows, kCols, vRows, vCols, a.Heads, a.KVHeads, D)
	case a.KVHeads != spec.KVHeads || D != spec.HeadDim || layer < 0 || layer >= spec.Layers:
		return fmt.Errorf("attention: layer %d with %d kv heads of %d does not fit the cache %+v", layer, a.KVHeads, D, spec)
	case spec.MaxLen > 0 && pos+T > spec.MaxLen:
		return fmt.Errorf("attention: positions up to %d exceed the context length %d", pos+T, spec.MaxLen)
	case pos < 0:
		return fmt.Errorf("attention: negative position %d", pos)
	}
	return nil
}

// DeviceDescriber is optionally implemented by a backend that can say, for
// people, what it computes on (status bars, doctor): "CPU, 2 threads, AVX-512",
// "Metal GPU (Apple M2)".
type DeviceDescriber interface {
	Device() string
}

// Backend is a compute backend. See the package comment for the rules.
type Backend interface {
	// Name is a short identifier such as "cpu" or "mlx".
	Name() string

	// LoadLinear validates and loads a linear layer or embedding table,
	// keeping quantized weights quantized.
	LoadLinear(s LinearSpec) (Linear, error)
	// LoadVector loads a 1-D weight; addOne adds 1 to every element
	// (Gemma's RMSNorm scales by 1+w).
	LoadVector(r *Raw, addOne bool) (Vector, error)
	// NewKVCache allocates an empty cache.
	NewKVCache(s KVSpec) (KVCache, error)

	// Embed gathers rows ids of table: [len(ids), in].
	Embed(table Linear, ids []int32) Tensor
	// RMSNorm normalizes every w.Len()-wide chunk of every row of x (so a
	// [T, H·D] tensor with a D-wide w is normalized per head) and scales it
	// by w: x / sqrt(mean(x²) + eps) · w.
	RMSNorm(x Tensor, w Vector, eps float32) Tensor
	// Linear computes x·Wᵀ (+ bias): [T, in] → [T, out].
	Linear(x Tensor, w Linear) Tensor
	// RoPE rotates every head of x (rows at positions pos, pos+1, ...) with
	// the rotate-half (GPT-NeoX / Hugging Face) layout.
	RoPE(x Tensor, pos int, r *RoPE) Tensor
	// Attention writes k and v (roped) into layer of c at positions
	// pos..pos+T-1 and attends q (roped, [T, Heads·HeadDim]) causally over
	// positions 0..pos+T-1 (limited by a.Window), grouped-query style.
	// Returns [T, Heads·HeadDim].
	Attention(q, k, v Tensor, c KVCache, layer, pos int, a Attn) Tensor
	// Gate computes act(gate)·up elementwise.
	Gate(act Act, gate, up Tensor) Tensor
	// Add and Mul are elementwise; Scale multiplies by a constant.
	Add(a, b Tensor) Tensor
	Mul(a, b Tensor) Tensor
	Scale(x Tensor, s float32) Tensor
	// LastRow keeps only the last row: [T, n] → [1, n].
	LastRow(x Tensor) Tensor
	// Logits evaluates the step and copies x (one row) to a new host slice.
	// It returns the first error of the step, and an error wrapping
	// ErrNonFinite if any value is NaN or infinite.
	Logits(x Tensor) ([]float32, error)
	// Sync evaluates the step without reading anything back (a prefill
	// chunk whose logits are not needed: its KV cache writes must happen)
	// and returns the step's first error.
	Sync() error
	// Release ends the step, freeing its temporaries (and its error).
	Release()
	// Close frees everything the backend holds.
	Close() error
}

// ColumnSlicer is an optional Backend capability, needed by architectures
// with fused projections (Phi-3's qkv_proj and gate_up_proj).
type ColumnSlicer interface {
	// Columns keeps columns [from, to) of every row: [T, n] → [T, to-from].
	Columns(x Tensor, from, to int) Tensor
}

// MultiLinear is an optional Backend capability: several linears applied
// to one input (q/k/v, gate/up) in one call, which an eager backend runs as
// one parallel section. out[i] = Linear(x, ws[i]); out must have len(ws).
type MultiLinear interface {
	LinearN(x Tensor, ws []Linear, out []Tensor)
}

// RoPE describes rotary position embeddings.
type RoPE struct {
	// Dims is the number of rotated features per head (= head_dim for all
	// supported architectures); HeadDim the head width.
	Dims, HeadDim int
	// InvFreq[i] is the angle per position of the pair (i, i+Dims/2),
	// already including any frequency scaling.
	InvFreq []float64
	// PosScale multiplies positions (linear rope scaling: 1/factor); 1 if none.
	PosScale float64
}

// RopeScaling mirrors config.json's rope_scaling.
type RopeScaling struct {
	Type                          string // "llama3", "linear", "default"
	Factor                        float64
	LowFreqFactor, HighFreqFactor float64
	OriginalMaxPositionEmbeddings int
}

// NewRoPE computes the rotary frequencies for a head of width headDim with
// base theta, applying Llama 3 or linear scaling when s says so.
func NewRoPE(headDim int, theta float64, s *RopeScaling) (*RoPE, error) {
	if headDim <= 0 || headDim%2 != 0 {
		return nil, fmt.Errorf("rope: head_dim %d must be even and positive", headDim)
	}
	if theta <= 0 {
		return nil, fmt.Errorf("rope: rope_theta %g must be positive", theta)
	}
	r := &RoPE{Dims: headDim, HeadDim: headDim, PosScale: 1, InvFreq: make([]float64, headDim/2)}
	for i := range r.InvFreq {
		r.InvFreq[i] = 1 / math.Pow(theta, float64(2*i)/float64(headDim))
	}
	if s == nil {
		return r, nil
	}
	switch s.Type {
	case "", "default":
	case "linear":
		if s.Factor <= 0 {
			return nil, fmt.Errorf("rope_scaling: linear factor %g must be positive", s.Factor)
		}
		r.PosScale = 1 / s.Factor
	case "llama3":
		if s.Factor <= 0 || s.LowFreqFactor <= 0 || s.HighFreqFactor <= s.LowFreqFactor || s.OriginalMaxPositionEmbeddings <= 0 {
			return nil, fmt.Errorf("rope_scaling: llama3 needs factor>0, 0<low_freq_factor<high_freq_factor, original_max_position_embeddings>0 (got %+v)", *s)
		}
		old := float64(s.OriginalMaxPositionEmbeddings)
		lowWavelen := old / s.LowFreqFactor
		highWavelen := old / s.HighFreqFactor
		for i, f := range r.InvFreq {
			wavelen := 2 * math.Pi / f
			switch {
			case wavelen < highWavelen:
				// high frequency: unchanged
			case wavelen > lowWavelen:
				r.InvFreq[i] = f / s.Factor
			default:
				smooth := (old/wavelen - s.LowFreqFactor) / (s.HighFreqFactor - s.LowFreqFactor)
				r.InvFreq[i] = (1-smooth)*f/s.Factor + smooth*f
			}
		}
	default:
		return nil, fmt.Errorf("rope_scaling: type %q is not supported (supported: llama3, linear)", s.Type)
	}
	return r, nil
}

// DeviceToken is a token id that stays on the device: the greedy choice of
// a step's logits, not yet read back. It is owned by the caller, who frees
// it with DeviceSampler.ReleaseToken; it outlives the step that made it.
type DeviceToken interface {
	isDeviceToken()
}

// DeviceTokenBase is embedded by a backend's DeviceToken implementation.
type DeviceTokenBase struct{}

func (DeviceTokenBase) isDeviceToken() {}

// DeviceSampler is an optional Backend capability for lazy backends (MLX):
// greedy sampling on the device, so decoding can be pipelined as mlx-lm
// does. The engine builds and schedules step n+1 from step n's token
// handle before it reads step n's token, so the device never waits for Go
// (sampling, detokenizing, stop strings) and Go never waits for the device
// except when it reads a value. Backends without it are driven through
// Logits, unchanged.
type DeviceSampler interface {
	// EmbedToken is Embed of one token held on the device: [1, in].
	EmbedToken(table Linear, t DeviceToken) Tensor
	// ScheduleArgmax ends the step like Logits does, but instead of
	// copying x (one row of logits) to the host it records the first index
	// of its largest value, after softCap·tanh(x/softCap) when softCap > 0,
	// and schedules the step (mlx_async_eval) without waiting for it. It
	// returns the step's first error (graph construction); errors of the
	// computation itself, such as non-finite logits (ErrNonFinite), are
	// returned by TokenValue.
	ScheduleArgmax(x Tensor, softCap float32) (DeviceToken, error)
	// TokenValue waits for t and returns its value. It wraps ErrNonFinite
	// when the logits t was chosen from held a NaN or infinity.
	TokenValue(t DeviceToken) (int32, error)
	// ReleaseToken frees t (a pending computation may still use it
	// internally). Releasing nil or twice is a no-op.
	ReleaseToken(t DeviceToken)
}
