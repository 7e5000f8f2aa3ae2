package modelfile

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/impetus-llm/impetus/engine/safetensors"
)

// GenerationConfig is generation_config.json: the model vendor's default
// sampling settings and stop ids. Pointers are nil when a field is absent.
type GenerationConfig struct {
	EOSTokenIDs       []int
	BOSTokenID        *int
	Temperature, TopP *float64
	TopK              *int
	RepetitionPenalty *float64
	DoSample          *bool
	Raw               map[string]any
}

// Dir is one model directory on disk, its configuration parsed.
type Dir struct {
	Path       string
	Config     *Config
	Generation *GenerationConfig // nil if generation_config.json is absent
}

// Open reads and validates dir/config.json (and generation_config.json if
// present) and checks the architecture is supported. Errors name the file
// and the field. Weights are not opened; see OpenWeights.
func Open(dir string) (*Dir, error) {
	d, err := OpenUnchecked(dir)
	if err != nil {
		return nil, err
	}
	if err := CheckArchitecture(d.Config.ModelType); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, ConfigFile), err)
	}
	return d, nil
}

// OpenUnchecked is Open without the architecture check, for tools that
// describe models they cannot run (listing, conversion).
func OpenUnchecked(dir string) (*Dir, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("model directory: %w", err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("%s: not a directory (a model is a directory holding config.json and *.safetensors)", dir)
	}
	cfgPath := filepath.Join(dir, ConfigFile)
	data, err := os.ReadFile(cfgPath)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%s: no %s: not a model directory (a model directory holds config.json and *.safetensors weights)", dir, ConfigFile)
	}
	if err != nil {
		return nil, err
	}
	cfg, err := ParseConfig(cfgPath, data)
	if err != nil {
		return nil, err
	}
	d := &Dir{Path: dir, Config: cfg}
	genPath := filepath.Join(dir, GenerationConfigFile)
	if gdata, err := os.ReadFile(genPath); err == nil {
		if d.Generation, err = ParseGenerationConfig(genPath, gdata); err != nil {
			return nil, err
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	return d, nil
}

// ParseGenerationConfig parses generation_config.json content.
func ParseGenerationConfig(file string, data []byte) (*GenerationConfig, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var raw map[string]any
	if err := dec.Decode(&raw); err != nil {
		return nil, fmt.Errorf("%s: invalid JSON: %v", file, err)
	}
	f := fields{file: file, m: raw}
	g := &GenerationConfig{Raw: raw}
	var err error
	if g.EOSTokenIDs, err = f.ints("eos_token_id"); err != nil {
		return nil, err
	}
	intPtr := func(key string) (*int, error) {
		if !f.present(key) {
			return nil, nil
		}
		v, err := f.int(key, 0)
		return &v, err
	}
	floatPtr := func(key string) (*float64, error) {
		if !f.present(key) {
			return nil, nil
		}
		v, err := f.float(key, 0)
		return &v, err
	}
	if g.BOSTokenID, err = intPtr("bos_token_id"); err != nil {
		return nil, err
	}
	if g.TopK, err = intPtr("top_k"); err != nil {
		return nil, err
	}
	if g.Temperature, err = floatPtr("temperature"); err != nil {
		return nil, err
	}
	if g.TopP, err = floatPtr("top_p"); err != nil {
		return nil, err
	}
	if g.RepetitionPenalty, err = floatPtr("repetition_penalty"); err != nil {
		return nil, err
	}
	if f.present("do_sample") {
		b, err := f.bool("do_sample", false)
		if err != nil {
			return nil, err
		}
		g.DoSample = &b
	}
	return g, nil
}

// EOSTokenIDs is the union of config.json's and generation_config.json's
// eos ids (generation_config's first, as transformers prefers it), deduplicated.
func (d *Dir) EOSTokenIDs() []int {
	var out []int
	seen := map[int]bool{}
	add := func(ids []int) {
		for _, id := range ids {
			if !seen[id] {
				seen[id] = true
				out = append(out, id)
			}
		}
	}
	if d.Generation != nil {
		add(d.Generation.EOSTokenIDs)
	}
	add(d.Config.EOSTokenIDs)
	return out
}

// OpenWeights memory-maps the directory's safetensors weights.
func (d *Dir) OpenWeights() (*safetensors.Set, error) {
	return safetensors.OpenDir(d.Path)
}
