// Package engine is impetus' model-agnostic inference layer: it loads one
// model and keeps it resident, renders chat prompts, generates text as a
// stream of events, samples, keeps per-conversation prompt caches, and
// queues concurrent callers fairly. The TUI, `impetus run`, the MCP server
// and the OpenAI-compatible API all use it through this API only.
//
// # Lifecycle
//
//	eng, err := engine.New(engine.Options{
//		ModelsDir: cfg.ModelsDir, Backend: "auto", Threads: 0, Logger: log,
//		DefaultModel: cfg.Model, // loaded lazily by the first request naming no model
//		MaxQueue: 0,             // >0: extra waiters get ErrQueueFull (HTTP 429)
//	})
//	defer eng.Close()
//	info, err := eng.Load(ctx, "mlx-community/Qwen2.5-0.5B-Instruct-4bit", func(p engine.LoadProgress) { ... })
//
// Load resolves the reference (a path, a hub id ORG/NAME[@rev] in the
// Hugging Face cache, or a name in the models dir), reads config.json and
// generation_config.json, the tokenizer and chat template, and the weights
// with the selected backend. One model is resident at a time; loading another
// (Load, or a Request.Model naming another) replaces it once running requests
// finish. Loaded reports the resident ModelInfo (context length, backend, ...).
//
// # Generating
//
//	res, err := eng.Generate(ctx, engine.Request{
//		Messages: []engine.Message{{Role: "user", Content: "Hello"}},
//		System:   "You are terse.",
//		MaxTokens: 256,
//		Sampling: engine.Sampling{Temperature: 0.7, TopP: 0.9, Seed: engine.Seed(42)},
//		Stop:     []string{"\n\n"},
//		CacheKey: conversationID, // reuse this conversation's KV cache next turn
//	}, func(ev engine.Event) {
//		switch ev.Kind {
//		case engine.EventStart: // left the queue; ev.PromptTokens, ev.CachedTokens
//		case engine.EventPrefill: // long prompts: ev.PrefillDone of ev.PrefillTotal tokens
//		case engine.EventToken: // ev.Token, ev.Text (whole UTF-8, never part of a stop string; may be "")
//		case engine.EventDone:  // ev.Result, same as the return value
//		}
//	})
//
// Generate is synchronous: it waits its turn (FIFO), runs, and calls onEvent
// from the calling goroutine. Run it in a goroutine to stay responsive (TUI),
// or write SSE chunks from onEvent (API). A slow onEvent slows the model for
// everyone: hand events off if the consumer may block. onEvent must not call
// Engine methods that wait for the model (Load, Generate, Unload, Close).
//
// Errors before the start — RequestError (errors.Is ErrInvalidRequest; Field
// names the parameter), ContextLengthError (ErrContextLength: prompt plus
// max_tokens exceed the context), ErrQueueFull, ErrNoModel, ErrClosed, load
// failures — return (nil, err) and no events. Once started, a *Result is
// always returned, with FinishReason:
//
//   - stop: an EOS token (config.json, generation_config.json, tokenizer
//     specials such as <|im_end|>, <|eot_id|>) or a stop string (StopString);
//   - length: MaxTokens or the context filled;
//   - cancelled: ctx ended (while queued: at once; while running: within one
//     token); err is nil and the partial text is kept;
//   - error: the model failed, e.g. ErrBadLogits for NaN logits; err is set.
//
// Request forms: Messages (chat, rendered by the model's Jinja template with
// add_generation_prompt, Tools and TemplateVars such as enable_thinking),
// Prompt (raw completion text, tokenized with BOS as the tokenizer does), or
// PromptTokens (ids as is). MaxTokens 0 means "until the context is full";
// callers that treat 0 as invalid (--max-tokens 0) reject it themselves.
//
// Sampling's zero value is greedy (deterministic). Temperature, TopK, TopP,
// MinP, RepetitionPenalty, PresencePenalty, FrequencyPenalty over the last
// PenaltyWindow tokens, LogitBias and Seed (same seed + same input = same
// tokens) are supported; out-of-range values are RequestErrors.
//
// Result carries Text, Tokens (ids, including a final EOS), Usage (prompt,
// completion, cached tokens) and Timings (queue, TTFT, prefill and decode
// durations and tokens/s). With Request.Logprobs, each token's
// log-probability under the model (and TopLogprobs alternatives) comes in
// Event.Logprob and Result.Logprobs. IgnoreEOS (benchmarks) generates
// exactly MaxTokens; ClampMaxTokens trims a configured default MaxTokens to
// the room the context leaves instead of failing.
//
// # Prompt cache
//
// A request with CacheKey continues the KV cache kept under that key: the
// longest common prefix of token ids is kept and only the rest is prefilled
// (Usage.CachedTokens, Timings.PrefillTokens). Requests without a key reuse
// anonymous caches by prefix, which helps API clients that resend a whole
// conversation. Options.PromptCaches bounds how many are kept (LRU);
// ForgetCache drops one.
//
// # Helpers
//
// Tokenize renders and tokenizes a request as Generate would (context usage
// in a status bar). Queued is the number of waiting requests.
//
// # Backends
//
// Options.Backend is "auto", "cpu" or another name registered with
// RegisterBackend. The engine registers the pure-Go "cpu" backend itself. The
// MLX backend must not import engine, so package main registers it, with a
// predicate so that "auto" picks it only where it pays (a GPU):
//
//	engine.RegisterBackendAuto("mlx", mlx.NewBackend, 10, mlx.AutoReason)
//
// "auto" uses the highest-priority allowed backend whose factory succeeds;
// AutoBackend tells which that is and why others were passed over (doctor).
// Each loaded model gets its own backend instance, closed with the model.
package engine
