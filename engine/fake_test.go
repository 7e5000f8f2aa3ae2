package engine

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"
)

// This file holds a scripted language model for testing the generation
// loop, scheduler and prompt cache in isolation (timing and exact token
// sequences under the test's control). Real models are exercised in
// model_test.go.

// byteCodec is a byte-level tokenizer: token id b < 256 is the byte b.
type byteCodec struct{}

func (byteCodec) encode(text string, addSpecial bool) []int32 {
	var ids []int32
	if addSpecial {
		ids = append(ids, fakeBOS)
	}
	for i := 0; i < len(text); i++ {
		ids = append(ids, int32(text[i]))
	}
	return ids
}

func (byteCodec) newStream() streamDecoder { return &byteStream{} }

func (byteCodec) decode(ids []int32) string {
	var b []byte
	for _, id := range ids {
		if id < 256 {
			b = append(b, byte(id))
		}
	}
	return string(b)
}

type byteStream struct{ buf []byte }

func (s *byteStream) Add(id int32) string {
	if id >= 256 {
		return "" // special
	}
	s.buf = append(s.buf, byte(id))
	// emit the longest prefix of whole characters
	n := 0
	for n < len(s.buf) {
		r, size := utf8.DecodeRune(s.buf[n:])
		if r == utf8.RuneError && size <= 1 && !utf8.FullRune(s.buf[n:]) {
			break
		}
		n += size
	}
	out := string(s.buf[:n])
	s.buf = s.buf[n:]
	return out
}

func (s *byteStream) Flush() string { out := string(s.buf); s.buf = nil; return out }

// lineTemplate renders "role: content\n" per message and "assistant:".
type lineTemplate struct{}

func (lineTemplate) render(msgs []Message, tools []json.RawMessage, vars map[string]any) (string, error) {
	var b strings.Builder
	for _, m := range msgs {
		b.WriteString(m.Role + ": " + m.Content + "\n")
	}
	b.WriteString("assistant:")
	return b.String(), nil
}

const (
	fakeVocab = 260
	fakeBOS   = 256
	fakeEOS   = 257
)

// scriptLM returns logits peaking at next(history).
type scriptLM struct {
	next func(hist []int32) int32
	// gate, if set, is received from before every forward call (lets a test
	// hold the model mid-generation).
	gate chan struct{}

	mu        sync.Mutex
	forwarded []int // tokens per forward call
	closed    bool
	nan       bool
}

type fakeCache struct {
	toks     []int32
	released bool
}

func (c *fakeCache) Len() int       { return len(c.toks) }
func (c *fakeCache) Truncate(n int) { c.toks = c.toks[:n] }
func (c *fakeCache) Release()       { c.released = true }

func (m *scriptLM) newCache() (kvCache, error) { return &fakeCache{}, nil }

func (m *scriptLM) forward(ctx context.Context, c kvCache, tokens []int32) ([]float32, error) {
	if m.gate != nil {
		select {
		case <-m.gate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	fc := c.(*fakeCache)
	if fc.released {
		panic("forward on a released cache")
	}
	fc.toks = append(fc.toks, tokens...)
	m.mu.Lock()
	m.forwarded = append(m.forwarded, len(tokens))
	nan := m.nan
	m.mu.Unlock()
	logits := make([]float32, fakeVocab)
	for i := range logits {
		logits[i] = float32(i%7) * 0.1
	}
	logits[m.next(fc.toks)] = 10
	if nan {
		logits[3] = float32(nanValue())
	}
	return logits, nil
}

func nanValue() float64 { var z float64; return z / z }

func (m *scriptLM) close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	return nil
}

func (m *scriptLM) isClosed() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.closed
}

func (m *scriptLM) forwardCalls() []int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]int(nil), m.forwarded...)
}

// scripted continues any prompt with reply, then EOS.
func scripted(reply string) func(hist []int32) int32 {
	return func(hist []int32) int32 {
		// position in the reply = tokens after the last ':' (the template's
		// "assistant:" or a raw prompt's end)
		last := -1
		for i, t := range hist {
			if t == ':' {
				last = i
			}
		}
		k := len(hist) - last - 1
		if last < 0 {
			k = 0
		}
		if k < len(reply) {
			return int32(reply[k])
		}
		return fakeEOS
	}
}

// newFakeEngine serves l (a scripted or fake-device model) with a byte
// tokenizer and a line template.
func newFakeEngine(t *testing.T, l lm, opts Options) *Engine {
	t.Helper()
	e, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	e.resolve = func(ref string) (string, error) { return "/fake/" + ref, nil }
	e.load = func(ctx context.Context, ref, dir string, progress func(LoadProgress)) (*loaded, error) {
		return &loaded{
			info: ModelInfo{Ref: ref, Path: dir, Arch: "fake", ContextLength: 128, VocabSize: fakeVocab, Backend: "fake"},
			lm:   l, tok: byteCodec{}, tmpl: lineTemplate{},
			eos: map[int32]bool{fakeEOS: true},
		}, nil
	}
	if _, err := e.Load(context.Background(), "m", nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}
