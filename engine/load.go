package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/impetus-llm/impetus/engine/chattmpl"
	"github.com/impetus-llm/impetus/engine/cpu"
	"github.com/impetus-llm/impetus/engine/model"
	"github.com/impetus-llm/impetus/engine/modelfile"
	"github.com/impetus-llm/impetus/engine/ops"
	"github.com/impetus-llm/impetus/engine/registry"
	"github.com/impetus-llm/impetus/engine/tokenizer"
)

func init() {
	RegisterBackend("cpu", func(threads int) (ops.Backend, error) { return cpu.New(threads), nil }, 0)
}

// resolveModel finds the directory of a model reference.
func (e *Engine) resolveModel(ref string) (string, error) {
	return registry.Resolve(ref, registry.Options{ModelsDir: e.opts.ModelsDir, HFHome: e.opts.HFHome})
}

// loadModel loads the model directory dir (ref is how the caller named it):
// modelfile → tokenizer + chat template → weights on the backend.
func (e *Engine) loadModel(ctx context.Context, ref, dir string, progress func(LoadProgress)) (*loaded, error) {
	report := func(stage, path string, frac float64) {
		if progress != nil {
			progress(LoadProgress{Stage: stage, Path: path, Fraction: frac})
		}
	}
	return e.loadDir(ctx, ref, dir, report)
}

// loadDir loads the model directory dir (ref is how the caller named it).
func (e *Engine) loadDir(ctx context.Context, ref, dir string, report func(stage, path string, frac float64)) (*loaded, error) {
	report("config", dir, 0.05)
	md, err := modelfile.Open(dir)
	if err != nil {
		return nil, err
	}
	report("tokenizer", dir, 0.1)
	tok, err := tokenizer.Load(dir)
	if err != nil {
		return nil, fmt.Errorf("tokenizer of %s: %w", dir, err)
	}
	report("template", dir, 0.2)
	var tmpl renderer
	bos, _, _ := tok.BOS()
	eos, _, _ := tok.EOS()
	if t, err := chattmpl.Load(dir); err == nil {
		// tokenizer_config.json's bos/eos strings, as transformers passes them.
		if t.BOSToken != "" {
			bos = t.BOSToken
		}
		if t.EOSToken != "" {
			eos = t.EOSToken
		}
		tmpl = &tmplRenderer{t: t, bos: bos, eos: eos}
	} else {
		// Raw prompts still work; a chat request reports why it cannot.
		tmpl = &noTemplate{err: err}
		e.log.Debug("no usable chat template", "model", dir, "err", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	report("weights", dir, 0.25)
	backend, passedOver, err := newBackend(e.opts.Backend, e.opts.Threads)
	if err != nil {
		return nil, err
	}
	for _, why := range passedOver {
		// The one-line notice "auto" owes when it falls back.
		e.log.Info("backend auto: using "+backend.Name()+" instead", "reason", why)
	}
	m, err := model.Load(md, backend)
	if err != nil {
		backend.Close()
		return nil, err
	}
	mi := m.Info()
	if mi.ContextLength <= 0 {
		m.Close()
		backend.Close()
		return nil, fmt.Errorf("%s: config.json max_position_embeddings is missing or 0; impetus needs the context length", dir)
	}
	l := &loaded{
		info: ModelInfo{
			Ref: ref, Path: dir, Arch: mi.Arch, ContextLength: mi.ContextLength, VocabSize: mi.VocabSize,
			NumLayers: mi.NumLayers, HiddenSize: mi.Hidden, Backend: mi.Backend, WeightBytes: mi.WeightBytes,
			Quantization: mi.Quantization,
		},
		lm:   &modelLM{m: m, backend: backend},
		tok:  tokCodec{tok},
		tmpl: tmpl,
		eos:  map[int32]bool{},
	}
	if d, ok := backend.(ops.DeviceDescriber); ok {
		l.info.Device = d.Device()
	}
	_, isNone := tmpl.(*noTemplate)
	l.info.ChatTemplate = !isNone
	for _, id := range md.EOSTokenIDs() {
		l.eos[int32(id)] = true
	}
	for _, id := range tok.SpecialEOSIDs() {
		l.eos[id] = true
	}
	if _, id, ok := tok.EOS(); ok {
		l.eos[id] = true
	}
	for id := range l.eos {
		l.info.EOSTokenIDs = append(l.info.EOSTokenIDs, id)
	}
	slices.Sort(l.info.EOSTokenIDs)
	if g := md.Generation; g != nil {
		l.info.DefaultTemperature, l.info.DefaultTopP, l.info.DefaultTopK, l.info.DefaultRepetitionPenalty = g.Temperature, g.TopP, g.TopK, g.RepetitionPenalty
	}
	report("ready", dir, 1)
	return l, nil
}

// modelLM adapts model.Model (and owns its backend).
type modelLM struct {
	m       model.Model
	backend ops.Backend
}

func (a *modelLM) newCache() (kvCache, error) { return a.m.NewCache(), nil }

func (a *modelLM) forward(ctx context.Context, c kvCache, tokens []int32) ([]float32, error) {
	mc, ok := c.(model.Cache)
	if !ok {
		return nil, errors.New("engine: KV cache of another model")
	}
	return a.m.Forward(ctx, mc, tokens)
}

func (a *modelLM) close() error {
	return errors.Join(a.m.Close(), a.backend.Close())
}

// tokCodec adapts tokenizer.Tokenizer.
type tokCodec struct{ t *tokenizer.Tokenizer }

func (c tokCodec) encode(text string, addSpecial bool) []int32 { return c.t.Encode(text, addSpecial) }
func (c tokCodec) decode(ids []int32) string                   { return c.t.Decode(ids, false) }
func (c tokCodec) newStream() streamDecoder                    { return c.t.NewStreamDecoder(true) }

// tmplRenderer adapts chattmpl.Template.
type tmplRenderer struct {
	t        *chattmpl.Template
	bos, eos string
}

func (r *tmplRenderer) render(msgs []Message, tools []json.RawMessage, vars map[string]any) (string, error) {
	in := chattmpl.Input{Tools: tools, AddGenerationPrompt: true, BOSToken: r.bos, EOSToken: r.eos, Extra: vars}
	for _, m := range msgs {
		in.Messages = append(in.Messages, chattmpl.Message{Role: m.Role, Content: m.Content, Raw: m.Raw})
	}
	return r.t.Render(in)
}

// noTemplate stands for a model without a usable chat template.
type noTemplate struct{ err error }

func (n *noTemplate) render([]Message, []json.RawMessage, map[string]any) (string, error) {
	return "", n.err
}
