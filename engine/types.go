package engine

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Message is one chat turn handed to the model's chat template.
type Message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
	// Raw, when set, is the full JSON object of the message (tool_calls,
	// name, ...) and is given to the template instead of Role/Content.
	Raw json.RawMessage `json:"-"`
}

// Request is one generation. Exactly one of Messages (chat, rendered with the
// model's chat template), Prompt (plain completion text) or PromptTokens
// (pre-tokenized completion) must be set.
type Request struct {
	// Model is a model reference (path, hub id ORG/NAME, or name in the models
	// dir). Empty means the loaded model, or Options.DefaultModel when none is
	// loaded yet. A different reference replaces the resident model when this
	// request's turn comes.
	Model string

	Messages []Message
	// System is prepended as a system message unless Messages already starts
	// with one. Ignored for raw prompts.
	System string
	// Tools are JSON tool definitions passed to the template as `tools`.
	Tools []json.RawMessage
	// TemplateVars are extra template variables (e.g. "enable_thinking": false).
	TemplateVars map[string]any

	// Prompt is a plain completion prompt, tokenized with the tokenizer's
	// default special tokens (e.g. BOS) and no chat template.
	Prompt string
	// PromptTokens is a pre-tokenized completion prompt, used as is.
	PromptTokens []int32

	// MaxTokens caps the completion. 0 means "until the context is full";
	// negative is an error. Prompt + MaxTokens must fit the context.
	MaxTokens int
	// ClampMaxTokens reduces a MaxTokens larger than the room the context
	// leaves instead of failing (for configured defaults, not user demands).
	ClampMaxTokens bool
	Sampling       Sampling
	// Stop strings end the generation; no part of a stop string is ever
	// emitted.
	Stop []string
	// IgnoreEOS keeps generating past end-of-sequence tokens (benchmarks).
	IgnoreEOS bool
	// Logprobs reports each generated token's log-probability under the
	// model (Event.Logprob, Result.Logprobs), with the TopLogprobs (0..20)
	// most likely alternatives.
	Logprobs    bool
	TopLogprobs int

	// CacheKey names a prompt cache (typically a conversation id). Requests
	// with the same key reuse the KV cache of the previous turn and prefill
	// only the tokens past the longest common prefix. Requests without a key
	// share a small pool of anonymous caches matched by prefix.
	CacheKey string
}

// Sampling settings. The zero value is greedy decoding.
type Sampling struct {
	// Temperature 0 selects the most likely token (deterministic).
	Temperature float64
	// TopK keeps the K most likely tokens; 0 disables.
	TopK int
	// TopP keeps the smallest set of tokens whose probability sums to TopP;
	// 0 or 1 disables.
	TopP float64
	// MinP drops tokens less likely than MinP × the top token; 0 disables.
	MinP float64
	// RepetitionPenalty (>1 discourages) divides positive logits / multiplies
	// negative ones of tokens seen in the penalty window; 0 or 1 disables.
	RepetitionPenalty float64
	// PresencePenalty is subtracted once from every token seen in the window;
	// FrequencyPenalty once per occurrence (OpenAI semantics).
	PresencePenalty  float64
	FrequencyPenalty float64
	// PenaltyWindow is how many recent tokens (prompt and completion) the
	// penalties look at: 0 means 64, negative means all.
	PenaltyWindow int
	// LogitBias is added to the logits of the given token ids.
	LogitBias map[int32]float32
	// Seed makes sampling repeatable: same seed + same input = same tokens.
	// nil draws a random seed.
	Seed *int64
}

// Seed returns a pointer to n, for Sampling.Seed.
func Seed(n int64) *int64 { return &n }

// FinishReason says why a generation ended.
type FinishReason string

const (
	FinishStop      FinishReason = "stop"      // EOS token or stop string
	FinishLength    FinishReason = "length"    // MaxTokens or the context length reached
	FinishCancelled FinishReason = "cancelled" // the request's context was cancelled
	FinishError     FinishReason = "error"     // the model failed (e.g. NaN logits)
)

// EventKind tells which fields of an Event are set.
type EventKind uint8

const (
	// EventStart: the request left the queue and its prompt is about to be
	// prefilled. PromptTokens and CachedTokens are set.
	EventStart EventKind = iota + 1
	// EventToken: one generated token. Text is the new text it completes
	// (possibly empty: a partial UTF-8 character, an EOS token, or text held
	// back because it may begin a stop string). The final flush of held-back
	// text, if any, comes as an EventToken with Token -1.
	EventToken
	// EventDone: the last event; Result is set.
	EventDone
	// EventPrefill: progress through a prompt that takes several forward
	// passes (PrefillDone of PrefillTotal tokens); sent after each one.
	// Consumers that do not show progress ignore it.
	EventPrefill
)

// Event is one item of a generation's stream.
type Event struct {
	Kind         EventKind
	Token        int32
	Text         string
	PromptTokens int
	CachedTokens int
	PrefillDone  int
	PrefillTotal int
	Result       *Result
	// Logprob of Token, when Request.Logprobs (nil otherwise and for the
	// final flush).
	Logprob *TokenLogprob
}

// TokenLogprob is a token's log-probability under the model's own
// distribution (softmax of the raw logits: before temperature, penalties,
// top-k/top-p and logit bias).
type TokenLogprob struct {
	Token   int32
	Text    string // the token's text alone (special tokens spelled out)
	Logprob float32
	Top     []TokenLogprob // most likely alternatives, best first
}

// Usage counts tokens.
type Usage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
	TotalTokens      int `json:"total_tokens"`
	// CachedTokens of the prompt were reused from the prompt cache and not
	// prefilled again.
	CachedTokens int `json:"cached_tokens"`
}

// Timings of one generation.
type Timings struct {
	Queue time.Duration // waiting for the model (includes loading it when needed)
	// TTFT is from leaving the queue to the first sampled token: template,
	// tokenization, prefill and the first sample.
	TTFT    time.Duration
	Prefill time.Duration // forward passes over the prompt
	// PrefillTokens were actually processed (prompt minus cached tokens).
	PrefillTokens int
	Decode        time.Duration // from the first token to the last
	// DecodeSteps is the number of single-token forward passes in Decode.
	DecodeSteps         int
	Total               time.Duration // leaving the queue to the end
	PrefillTokensPerSec float64
	DecodeTokensPerSec  float64
}

// Result is the outcome of a generation.
type Result struct {
	Model        string // resolved model path
	Text         string // the full completion, without EOS or stop strings
	Tokens       []int32
	FinishReason FinishReason
	StopString   string // which stop string ended it, when one did
	// Logprobs has one entry per token of Tokens when Request.Logprobs.
	Logprobs []TokenLogprob
	Usage    Usage
	Timings  Timings
}

// Errors callers can tell apart with errors.Is.
var (
	// ErrQueueFull: Options.MaxQueue requests already wait (HTTP 429).
	ErrQueueFull = errors.New("engine: too many requests waiting for the model; try again later")
	// ErrNoModel: no model named in the request, none loaded, no default.
	ErrNoModel = errors.New("engine: no model loaded; pass a model (-m MODEL) or set `model` in config.toml")
	// ErrContextLength: prompt (+ max tokens) does not fit the context.
	ErrContextLength = errors.New("context length exceeded")
	// ErrInvalidRequest: a request field is out of range (see RequestError).
	ErrInvalidRequest = errors.New("invalid request")
	// ErrBadLogits: the model produced NaN or infinite logits.
	ErrBadLogits = errors.New("model produced NaN or infinite logits")
	// ErrClosed: the engine was closed.
	ErrClosed = errors.New("engine: closed")
)

// RequestError names the invalid request field (OpenAI "param").
type RequestError struct {
	Field   string
	Message string
}

func (e *RequestError) Error() string { return fmt.Sprintf("invalid %s: %s", e.Field, e.Message) }
func (e *RequestError) Is(target error) bool {
	return target == ErrInvalidRequest
}

// ContextLengthError reports a prompt that does not fit the model's context.
type ContextLengthError struct {
	PromptTokens  int
	MaxTokens     int // 0 when the prompt alone does not fit
	ContextLength int
}

func (e *ContextLengthError) Error() string {
	if e.MaxTokens > 0 {
		return fmt.Sprintf("context length exceeded: the prompt has %d tokens and max_tokens is %d, %d in all, but the model's context is %d tokens; lower max_tokens or shorten the prompt",
			e.PromptTokens, e.MaxTokens, e.PromptTokens+e.MaxTokens, e.ContextLength)
	}
	return fmt.Sprintf("context length exceeded: the prompt has %d tokens but the model's context is %d tokens (at least one must be left to generate); shorten the prompt or start a new conversation",
		e.PromptTokens, e.ContextLength)
}
func (e *ContextLengthError) Is(target error) bool { return target == ErrContextLength }

// LoadProgress reports model loading stages to a UI.
type LoadProgress struct {
	Stage string // "resolve", "config", "tokenizer", "template", "weights", "ready"
	Path  string // model directory once resolved
	// Fraction is the overall progress in [0,1].
	Fraction float64
}

// ModelInfo describes the resident model.
type ModelInfo struct {
	Ref           string // reference as requested
	Path          string // resolved directory
	Arch          string
	ContextLength int
	VocabSize     int
	NumLayers     int
	HiddenSize    int
	Backend       string
	Device        string // what the backend computes on, e.g. "CPU, 2 threads, AVX-512"
	WeightBytes   int64
	Quantization  string // e.g. "4-bit g64", "" when dense
	ChatTemplate  bool   // false: only raw prompts work
	EOSTokenIDs   []int32
	LoadTime      time.Duration
	// Defaults from generation_config.json (nil fields when absent).
	DefaultTemperature, DefaultTopP, DefaultRepetitionPenalty *float64
	DefaultTopK                                               *int
}
