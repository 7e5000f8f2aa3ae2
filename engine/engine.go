package engine

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"
)

// Options configure an Engine. The zero value works: auto backend, one
// thread per core, no default model, unbounded queue.
type Options struct {
	// ModelsDir and HFHome are where model references are looked up
	// (registry.Options); empty HFHome means $HF_HOME or ~/.cache/huggingface.
	ModelsDir, HFHome string
	// Backend is "auto" (or ""), "cpu", or another registered backend ("mlx").
	Backend string
	// Threads for the CPU backend; <= 0 means one per core.
	Threads int
	// Logger receives diagnostics; nil discards them.
	Logger *slog.Logger
	// DefaultModel is loaded by the first request that names no model when
	// none is resident (lazy loading for servers).
	DefaultModel string
	// MaxQueue bounds the requests waiting for the model; beyond it Generate
	// fails with ErrQueueFull. 0 means unbounded.
	MaxQueue int
	// PromptCaches is how many conversation KV caches are kept (LRU).
	// 0 means 4; negative disables prompt caching.
	PromptCaches int
	// PrefillChunk is the number of prompt tokens per forward pass during
	// prefill (bounds memory, lets cancellation in between). 0 picks one for
	// the backend: 64 on the CPU, 512 elsewhere.
	PrefillChunk int
}

// Engine owns one resident model and serializes requests to it. All methods
// are safe for concurrent use.
type Engine struct {
	opts Options
	log  *slog.Logger
	slot slot

	// resolve turns a reference into a model directory; load loads that
	// directory. Tests replace both.
	resolve func(ref string) (string, error)
	load    func(ctx context.Context, ref, dir string, progress func(LoadProgress)) (*loaded, error)

	mu     sync.Mutex // guards cur and closed (cur changes only under slot)
	cur    *loaded
	closed bool

	caches cachePool
}

// New creates an engine. Nothing is loaded until Load or the first Generate.
func New(opts Options) (*Engine, error) {
	switch opts.Backend {
	case "", "auto":
	default:
		backendsMu.Lock()
		_, ok := backends[opts.Backend]
		backendsMu.Unlock()
		if !ok {
			return nil, fmt.Errorf("backend %q is not available in this build (choose one of %v)", opts.Backend, Backends())
		}
	}
	if opts.MaxQueue < 0 {
		return nil, fmt.Errorf("engine: MaxQueue %d must be >= 0", opts.MaxQueue)
	}
	if opts.PrefillChunk < 0 {
		return nil, fmt.Errorf("engine: PrefillChunk %d must be >= 0", opts.PrefillChunk)
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	e := &Engine{opts: opts, log: log}
	e.slot.maxQueue = opts.MaxQueue
	switch {
	case opts.PromptCaches == 0:
		e.caches.max = 4
	case opts.PromptCaches > 0:
		e.caches.max = opts.PromptCaches
	}
	e.resolve = e.resolveModel
	e.load = e.loadModel
	return e, nil
}

// Load makes ref the resident model (replacing any other) and returns its
// description. It waits its turn behind running generations. progress, if
// not nil, is called from the loading goroutine.
func (e *Engine) Load(ctx context.Context, ref string, progress func(LoadProgress)) (ModelInfo, error) {
	if ref == "" {
		return ModelInfo{}, ErrNoModel
	}
	if err := e.slot.acquire(ctx); err != nil {
		return ModelInfo{}, err
	}
	defer e.slot.release()
	m, err := e.ensureModel(ctx, ref, progress)
	if err != nil {
		return ModelInfo{}, err
	}
	return m.info, nil
}

// Loaded describes the resident model, if any.
func (e *Engine) Loaded() (ModelInfo, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.cur == nil {
		return ModelInfo{}, false
	}
	return e.cur.info, true
}

// Unload frees the resident model (after the running request finishes).
func (e *Engine) Unload(ctx context.Context) error {
	if err := e.slot.acquire(ctx); err != nil {
		return err
	}
	defer e.slot.release()
	return e.unloadLocked()
}

// unloadLocked frees the resident model; the caller holds the slot.
func (e *Engine) unloadLocked() error {
	e.caches.clear()
	e.mu.Lock()
	m := e.cur
	e.cur = nil
	e.mu.Unlock()
	if m == nil {
		return nil
	}
	return m.close()
}

// Queued is the number of requests waiting for the model.
func (e *Engine) Queued() int { return e.slot.waiting() }

// ForgetCache drops the prompt cache kept under key (e.g. a deleted
// conversation).
func (e *Engine) ForgetCache(key string) { e.caches.forget(key) }

// Close waits for the running request, fails queued ones with ErrClosed and
// frees the model.
func (e *Engine) Close() error {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil
	}
	e.closed = true
	e.mu.Unlock()
	e.slot.closeAndAcquire()
	return e.unloadLocked()
}

// ensureModel returns the resident model for ref ("" = current or default),
// loading it when needed. The caller holds the slot.
func (e *Engine) ensureModel(ctx context.Context, ref string, progress func(LoadProgress)) (*loaded, error) {
	e.mu.Lock()
	cur := e.cur
	e.mu.Unlock()
	if ref == "" {
		if cur != nil {
			return cur, nil
		}
		ref = e.opts.DefaultModel
		if ref == "" {
			return nil, ErrNoModel
		}
	}
	if cur != nil && (cur.info.Ref == ref || cur.info.Path == ref) {
		return cur, nil
	}
	if progress != nil {
		progress(LoadProgress{Stage: "resolve"})
	}
	// Resolve before touching the resident model: a reference that does not
	// exist must not unload the one in use.
	dir, err := e.resolve(ref)
	if err != nil {
		return nil, err
	}
	if cur != nil && cur.info.Path == dir {
		return cur, nil
	}
	if cur != nil {
		// Only one model is resident: free the old one before loading the
		// new, so peak memory is one model.
		if err := e.unloadLocked(); err != nil {
			e.log.Warn("closing previous model", "model", cur.info.Ref, "err", err)
		}
	}
	start := time.Now()
	m, err := e.load(ctx, ref, dir, progress)
	if err != nil {
		return nil, err
	}
	m.info.LoadTime = time.Since(start)
	e.log.Debug("model loaded", "model", ref, "path", m.info.Path, "arch", m.info.Arch, "backend", m.info.Backend, "took", m.info.LoadTime.Round(time.Millisecond))
	e.mu.Lock()
	e.cur = m
	e.mu.Unlock()
	return m, nil
}

// Prompt is a request rendered and tokenized as Generate would.
type Prompt struct {
	Text   string // rendered chat template (or the raw prompt)
	Tokens []int32
}

// Tokenize renders and tokenizes req with the resident model (loading the
// default when none is). Use it to show context usage or to check a request
// before committing to it: when the prompt (plus MaxTokens) would not fit,
// it returns the Prompt together with the ContextLengthError Generate would.
func (e *Engine) Tokenize(ctx context.Context, req Request) (Prompt, error) {
	if err := validateRequest(req); err != nil {
		return Prompt{}, err
	}
	e.mu.Lock()
	m := e.cur
	e.mu.Unlock()
	if m == nil || (req.Model != "" && req.Model != m.info.Ref && req.Model != m.info.Path) {
		var err error
		if err = e.slot.acquire(ctx); err != nil {
			return Prompt{}, err
		}
		m, err = e.ensureModel(ctx, req.Model, nil)
		e.slot.release()
		if err != nil {
			return Prompt{}, err
		}
	}
	p, err := m.prompt(req)
	if err != nil {
		return p, err
	}
	_, err = m.fit(req, len(p.Tokens))
	return p, err
}

func validateRequest(req Request) error {
	n := 0
	if len(req.Messages) > 0 {
		n++
	}
	if req.Prompt != "" {
		n++
	}
	if len(req.PromptTokens) > 0 {
		n++
	}
	switch {
	case n == 0:
		return &RequestError{Field: "messages", Message: "the request has no messages and no prompt"}
	case n > 1:
		return &RequestError{Field: "prompt", Message: "set only one of messages, prompt or prompt tokens"}
	case req.TopLogprobs < 0 || req.TopLogprobs > 20:
		return &RequestError{Field: "top_logprobs", Message: fmt.Sprintf("%d: must be between 0 and 20", req.TopLogprobs)}
	case req.TopLogprobs > 0 && !req.Logprobs:
		return &RequestError{Field: "top_logprobs", Message: "needs logprobs to be enabled"}
	case req.MaxTokens < 0:
		return &RequestError{Field: "max_tokens", Message: fmt.Sprintf("%d: must be >= 1 (or 0 for: until the context is full)", req.MaxTokens)}
	}
	for i, m := range req.Messages {
		if m.Role == "" && len(m.Raw) == 0 {
			return &RequestError{Field: fmt.Sprintf("messages[%d].role", i), Message: "missing"}
		}
		if len(m.Raw) > 0 && !json.Valid(m.Raw) {
			return &RequestError{Field: fmt.Sprintf("messages[%d]", i), Message: "raw message is not valid JSON"}
		}
	}
	return validateSampling(req.Sampling)
}

// Generate runs req on the resident model and calls onEvent (which may be
// nil) for each event, in order, from the calling goroutine; the last event
// is EventDone. It returns after the generation ends.
//
// Errors found before generation starts (invalid request, ErrQueueFull,
// ErrNoModel, load failure, ErrContextLength) return (nil, err) with no
// events. Once started, the Result is always returned: FinishReason is stop,
// length or cancelled with a nil error, or error with the error (partial
// text kept in the Result). Cancellation (ctx) is not an error: the request
// leaves the queue at once, or generation stops within one token, with
// FinishReason cancelled.
func (e *Engine) Generate(ctx context.Context, req Request, onEvent func(Event)) (*Result, error) {
	if onEvent == nil {
		onEvent = func(Event) {}
	}
	if err := validateRequest(req); err != nil {
		return nil, err
	}
	queued := time.Now()
	if err := e.slot.acquire(ctx); err != nil {
		if ctx.Err() != nil && !errors.Is(err, ErrQueueFull) && !errors.Is(err, ErrClosed) {
			res := &Result{FinishReason: FinishCancelled}
			res.Timings.Queue = time.Since(queued)
			onEvent(Event{Kind: EventDone, Result: res})
			return res, nil
		}
		return nil, err
	}
	defer e.slot.release()
	m, err := e.ensureModel(ctx, req.Model, nil)
	if err != nil {
		if ctx.Err() != nil {
			res := &Result{FinishReason: FinishCancelled}
			res.Timings.Queue = time.Since(queued)
			onEvent(Event{Kind: EventDone, Result: res})
			return res, nil
		}
		return nil, err
	}
	queue := time.Since(queued)
	res, err := e.generate(ctx, m, req, queue, onEvent)
	if res != nil {
		onEvent(Event{Kind: EventDone, Result: res})
	}
	return res, err
}

// randomSeed draws a seed when the request gives none.
func randomSeed() uint64 {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return uint64(time.Now().UnixNano())
	}
	return binary.LittleEndian.Uint64(b[:])
}
