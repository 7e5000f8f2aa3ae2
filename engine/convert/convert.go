// Package convert turns a Hugging Face safetensors model into an MLX model
// directory, quantized the way mlx-lm's `convert -q` does it: every linear
// and embedding weight whose input size is a multiple of the group size is
// stored as MLX affine-quantized `.weight` (uint32), `.scales` and `.biases`
// under the same tensor names; everything else is cast to the chosen dtype;
// config.json gains "quantization" and "quantization_config"
// ({"group_size", "bits", "mode": "affine"}). The result loads in impetus,
// mlx-lm and anything else that reads the mlx-community layout.
package convert

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/impetus-llm/impetus/engine/modelfile"
	"github.com/impetus-llm/impetus/engine/safetensors"
)

// Options choose the output.
type Options struct {
	// Bits and GroupSize of the quantization; Bits 0 means no quantization
	// (a dtype conversion only).
	Bits, GroupSize int
	// DType of every float tensor that is not quantized, and of scales and
	// biases: "float16", "bfloat16" or "float32". "" keeps the model's
	// torch_dtype (float32 when it names none), as mlx-lm does.
	DType string
	// Force replaces an existing, non-empty destination.
	Force bool
	// Progress is called as source bytes are processed.
	Progress func(done, total int64)
}

// shardBytes bounds one output file; mlx-lm's limit is 5 GB, a smaller one
// keeps the memory a conversion needs low.
const shardBytes = 2 << 30

var dtypeNames = map[string]safetensors.DType{"float16": safetensors.F16, "bfloat16": safetensors.BF16, "float32": safetensors.F32}

// Convert writes the MLX form of the model in src to dst. dst is written in
// a temporary directory beside it and renamed into place at the end, so a
// failed conversion leaves nothing half-written under dst.
func Convert(src, dst string, opts Options) error {
	if opts.Bits != 0 {
		if opts.GroupSize == 0 {
			opts.GroupSize = 64
		}
		if err := CheckQuantization(opts.Bits, opts.GroupSize); err != nil {
			return fmt.Errorf("convert: %w", err)
		}
	}
	md, err := modelfile.Open(src)
	if err != nil {
		return err
	}
	if md.Config.Quantization != nil {
		return fmt.Errorf("%s is already MLX-quantized (%s): convert needs a float16/bfloat16/float32 model", src, md.Config.Quantization)
	}
	outType, err := chooseDType(opts.DType, md.Config.Raw)
	if err != nil {
		return err
	}
	if err := checkDestination(src, dst, opts.Force); err != nil {
		return err
	}
	set, err := md.OpenWeights()
	if err != nil {
		return err
	}
	defer set.Close()
	// Check the source against its config before spending time on it.
	if err := md.Config.CheckWeights(set); err != nil {
		return err
	}

	tmp, err := os.MkdirTemp(filepath.Dir(filepath.Clean(dst)), "."+filepath.Base(dst)+".tmp-")
	if err != nil {
		return fmt.Errorf("convert: cannot write beside %s: %w", dst, err)
	}
	defer os.RemoveAll(tmp) // a no-op once renamed
	if err := writeWeights(tmp, set, md.Config, outType, opts); err != nil {
		return err
	}
	if err := writeConfig(tmp, md.Config.Raw, outType, opts); err != nil {
		return err
	}
	if err := copyOtherFiles(src, tmp); err != nil {
		return err
	}
	if opts.Force {
		if err := os.RemoveAll(dst); err != nil {
			return fmt.Errorf("convert: replacing %s: %w", dst, err)
		}
	} else {
		os.Remove(dst) // an empty directory may stand there
	}
	if err := os.Rename(tmp, dst); err != nil {
		return fmt.Errorf("convert: %w", err)
	}
	return nil
}

func chooseDType(name string, raw map[string]any) (safetensors.DType, error) {
	if name == "" {
		for _, key := range []string{"torch_dtype", "dtype"} {
			if s, ok := raw[key].(string); ok {
				if dt, ok := dtypeNames[s]; ok {
					return dt, nil
				}
			}
		}
		return safetensors.F32, nil
	}
	dt, ok := dtypeNames[name]
	if !ok {
		return "", fmt.Errorf("--dtype %q: want float16, bfloat16 or float32", name)
	}
	return dt, nil
}

func checkDestination(src, dst string, force bool) error {
	as, _ := filepath.Abs(src)
	ad, _ := filepath.Abs(dst)
	if as == ad {
		return errors.New("convert: the destination is the source; choose another directory")
	}
	entries, err := os.ReadDir(dst)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil
	case err != nil:
		return fmt.Errorf("convert: destination %s: %w", dst, err)
	case len(entries) > 0 && !force:
		return fmt.Errorf("convert: destination %s exists and is not empty; choose another or pass --force to replace it", dst)
	}
	return nil
}

// quantizable reports whether mlx-lm's default predicate would quantize the
// module owning this tensor: a Linear or Embedding weight (2-D, float) whose
// input size is a multiple of the group size.
func quantizable(t *safetensors.Tensor, group int) bool {
	return strings.HasSuffix(t.Name, ".weight") && len(t.Shape) == 2 && t.DType.IsFloat() && t.Shape[1]%group == 0
}

// skipped are tensors mlx-lm's model sanitizers drop.
func skipped(name string, cfg *modelfile.Config) bool {
	return strings.Contains(name, "rotary_emb.inv_freq") || (cfg.TieWordEmbeddings && name == "lm_head.weight")
}

func writeWeights(dir string, set *safetensors.Set, cfg *modelfile.Config, outType safetensors.DType, opts Options) error {
	names := set.Names()
	sort.Strings(names)
	var total, done int64
	for _, n := range names {
		t, _ := set.Tensor(n)
		total += int64(len(t.Data))
	}
	var (
		shards  [][]safetensors.NewTensor
		cur     []safetensors.NewTensor
		curSize int64
	)
	add := func(ts ...safetensors.NewTensor) {
		for _, t := range ts {
			if curSize > 0 && curSize+int64(len(t.Data)) > shardBytes {
				shards = append(shards, cur)
				cur, curSize = nil, 0
			}
			cur = append(cur, t)
			curSize += int64(len(t.Data))
		}
	}
	for _, name := range names {
		t, _ := set.Tensor(name)
		if skipped(name, cfg) {
			done += int64(len(t.Data))
			continue
		}
		out, err := convertTensor(t, outType, opts)
		if err != nil {
			return err
		}
		add(out...)
		done += int64(len(t.Data))
		if opts.Progress != nil {
			opts.Progress(done, total)
		}
	}
	if len(cur) > 0 {
		shards = append(shards, cur)
	}
	return writeShards(dir, shards)
}

// convertTensor returns the tensors that replace t in the output.
func convertTensor(t *safetensors.Tensor, outType safetensors.DType, opts Options) ([]safetensors.NewTensor, error) {
	if !t.DType.IsFloat() {
		return []safetensors.NewTensor{{Name: t.Name, DType: t.DType, Shape: t.Shape, Data: t.Data}}, nil
	}
	vals, err := t.ToFloat32()
	if err != nil {
		return nil, err
	}
	if opts.Bits != 0 && quantizable(t, opts.GroupSize) {
		// MLX quantizes the weights as stored in the target dtype.
		roundTo(vals, outType)
		rows, cols := t.Shape[0], t.Shape[1]
		packed, scales, biases, err := QuantizeAffine(vals, rows, cols, opts.GroupSize, opts.Bits)
		if err != nil {
			return nil, fmt.Errorf("%s: tensor %s: %w", t.File, t.Name, err)
		}
		words := make([]byte, 4*len(packed))
		for i, w := range packed {
			words[4*i], words[4*i+1], words[4*i+2], words[4*i+3] = byte(w), byte(w>>8), byte(w>>16), byte(w>>24)
		}
		sb, _ := safetensors.EncodeFloat32(scales, outType)
		bb, _ := safetensors.EncodeFloat32(biases, outType)
		base := strings.TrimSuffix(t.Name, ".weight")
		gshape := []int{rows, cols / opts.GroupSize}
		return []safetensors.NewTensor{
			{Name: t.Name, DType: safetensors.U32, Shape: []int{rows, cols * opts.Bits / 32}, Data: words},
			{Name: base + ".scales", DType: outType, Shape: gshape, Data: sb},
			{Name: base + ".biases", DType: outType, Shape: gshape, Data: bb},
		}, nil
	}
	data := t.Data
	if t.DType != outType {
		if data, err = safetensors.EncodeFloat32(vals, outType); err != nil {
			return nil, err
		}
	}
	return []safetensors.NewTensor{{Name: t.Name, DType: outType, Shape: t.Shape, Data: data}}, nil
}

// roundTo rounds values to what dtype can hold, in place.
func roundTo(v []float32, dt safetensors.DType) {
	switch dt {
	case safetensors.BF16:
		for i, f := range v {
			v[i] = bf16ToF32(safetensors.Float32ToBF16(f))
		}
	case safetensors.F16:
		for i, f := range v {
			v[i] = safetensors.F16ToFloat32(safetensors.Float32ToF16(f))
		}
	}
}

func bf16ToF32(h uint16) float32 { return math.Float32frombits(uint32(h) << 16) }

// writeShards writes model.safetensors (or numbered shards) and the index
// mlx-lm writes beside them.
func writeShards(dir string, shards [][]safetensors.NewTensor) error {
	weightMap := map[string]string{}
	var totalSize int64
	for i, shard := range shards {
		name := "model.safetensors"
		if len(shards) > 1 {
			name = fmt.Sprintf("model-%05d-of-%05d.safetensors", i+1, len(shards))
		}
		for _, t := range shard {
			weightMap[t.Name] = name
			totalSize += int64(len(t.Data))
		}
		if err := safetensors.WriteFile(filepath.Join(dir, name), shard, map[string]string{"format": "mlx"}); err != nil {
			return err
		}
	}
	index := map[string]any{"metadata": map[string]any{"total_size": totalSize}, "weight_map": weightMap}
	return writeJSON(filepath.Join(dir, "model.safetensors.index.json"), index)
}

// writeConfig adds the quantization to config.json, keys sorted as mlx-lm
// writes them.
func writeConfig(dir string, raw map[string]any, outType safetensors.DType, opts Options) error {
	cfg := make(map[string]any, len(raw)+2)
	for k, v := range raw {
		cfg[k] = v
	}
	delete(cfg, "_name_or_path")
	for name, dt := range dtypeNames {
		if dt == outType {
			cfg["torch_dtype"] = name
		}
	}
	if opts.Bits != 0 {
		q := map[string]any{"group_size": opts.GroupSize, "bits": opts.Bits, "mode": "affine"}
		cfg["quantization"] = q
		cfg["quantization_config"] = q
	}
	return writeJSON(filepath.Join(dir, "config.json"), cfg)
}

func writeJSON(path string, v any) error {
	data, err := json.MarshalIndent(v, "", "    ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(data, '\n'), 0o644)
}

// copyOtherFiles brings the tokenizer, chat template, generation config and
// other small files along; weights in other formats and the old index stay.
func copyOtherFiles(src, dst string) error {
	entries, err := os.ReadDir(src)
	if err != nil {
		return err
	}
	for _, e := range entries {
		name := e.Name()
		lower := strings.ToLower(name)
		if e.IsDir() || name == "config.json" || strings.HasPrefix(name, ".") ||
			strings.HasSuffix(lower, ".safetensors") || strings.HasSuffix(lower, ".index.json") ||
			strings.HasSuffix(lower, ".bin") || strings.HasSuffix(lower, ".pt") || strings.HasSuffix(lower, ".pth") ||
			strings.HasSuffix(lower, ".gguf") || strings.HasSuffix(lower, ".h5") || strings.HasSuffix(lower, ".msgpack") {
			continue
		}
		if err := copyFile(filepath.Join(src, name), filepath.Join(dst, name)); err != nil {
			return err
		}
	}
	return nil
}

func copyFile(from, to string) error {
	in, err := os.Open(from) // follows HF cache symlinks to their blobs
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(to)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("copying %s: %w", from, err)
	}
	return out.Close()
}
