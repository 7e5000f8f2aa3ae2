// Package api is impetus' OpenAI-compatible HTTP server: /v1/chat/completions
// (streaming with SSE), /v1/completions, /v1/models and /health over the
// engine, with OpenAI-shaped errors. Any OpenAI client library works against it.
package api

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/impetus-llm/impetus/engine"
	"github.com/impetus-llm/impetus/engine/registry"
	"github.com/impetus-llm/impetus/session"
)

// Server serves the OpenAI API over one engine. Set the fields, then use
// Handler. The zero value of every optional field is a safe default.
type Server struct {
	Engine *engine.Engine
	// History, when set, records every exchange as a conversation (--save).
	History *session.Runner
	// APIKey, when set, is required as "Authorization: Bearer KEY" on /v1/*.
	APIKey string
	// CORSOrigins may call the API from a browser ("*" for any). Empty: CORS off.
	CORSOrigins []string
	Logger      *slog.Logger
	// Models lists the models on this machine for /v1/models and for
	// checking a request's model before it waits in the queue.
	Models func() []registry.Entry
	// Defaults are used for sampling fields a request leaves out.
	Defaults engine.Sampling
	// DefaultMaxTokens caps replies whose request sets no max_tokens; 0
	// means until the context is full.
	DefaultMaxTokens int
	modelsMu         sync.Mutex
	modelsAt         time.Time
	modelsList       []registry.Entry

	// WriteTimeout bounds one write to a streaming client: a client that
	// stops reading for longer is dropped and its generation cancelled, so
	// it cannot hold the model from everyone else. 0 means 30 s.
	WriteTimeout time.Duration
}

// maxBody bounds a request body: a long conversation fits, a flood does not.
const maxBody = 16 << 20

const fingerprint = "impetus"

// Handler routes the API.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/chat/completions", s.chatCompletions)
	mux.HandleFunc("POST /v1/completions", s.completions)
	mux.HandleFunc("GET /v1/models", s.listModels)
	mux.HandleFunc("GET /v1/models/{id...}", s.getModel)
	mux.HandleFunc("GET /health", s.health)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/v1/") && slices.Contains([]string{"/v1/chat/completions", "/v1/completions", "/v1/models"}, r.URL.Path) {
			writeError(w, http.StatusMethodNotAllowed, "invalid_request_error", "", "method_not_allowed",
				fmt.Sprintf("%s is not allowed on %s", r.Method, r.URL.Path))
			return
		}
		writeError(w, http.StatusNotFound, "invalid_request_error", "", "not_found",
			fmt.Sprintf("unknown endpoint %s %s: impetus serves POST /v1/chat/completions, POST /v1/completions, GET /v1/models and GET /health", r.Method, r.URL.Path))
	})
	return s.cors(s.auth(mux))
}

func (s *Server) log() *slog.Logger {
	if s.Logger == nil {
		return slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return s.Logger
}

// auth requires the API key on /v1/* when one is set; /health stays open
// for load balancers and scripts.
func (s *Server) auth(next http.Handler) http.Handler {
	if s.APIKey == "" {
		return next
	}
	want := []byte("Bearer " + s.APIKey)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/health" || r.Method == http.MethodOptions {
			next.ServeHTTP(w, r)
			return
		}
		got := []byte(r.Header.Get("Authorization"))
		if subtle.ConstantTimeCompare(got, want) != 1 {
			msg := "missing API key: send it as 'Authorization: Bearer KEY'"
			if len(got) > 0 {
				msg = "incorrect API key provided"
			}
			writeError(w, http.StatusUnauthorized, "invalid_request_error", "", "invalid_api_key", msg)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// cors answers preflights and tags responses for the allowed origins only.
func (s *Server) cors(next http.Handler) http.Handler {
	if len(s.CORSOrigins) == 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		allowed := origin != "" && (slices.Contains(s.CORSOrigins, "*") || slices.Contains(s.CORSOrigins, origin))
		if allowed {
			h := w.Header()
			h.Set("Access-Control-Allow-Origin", origin)
			h.Add("Vary", "Origin")
			h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type")
			h.Set("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
			h.Set("Access-Control-Max-Age", "600")
		}
		if r.Method == http.MethodOptions {
			if !allowed {
				w.WriteHeader(http.StatusForbidden)
				return
			}
			w.WriteHeader(http.StatusNoContent)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// apiError is OpenAI's error body.
type apiError struct {
	Message string  `json:"message"`
	Type    string  `json:"type"`
	Param   *string `json:"param"`
	Code    *string `json:"code"`
}

func writeError(w http.ResponseWriter, status int, typ, param, code, msg string) {
	e := apiError{Message: msg, Type: typ}
	if param != "" {
		e.Param = &param
	}
	if code != "" {
		e.Code = &code
	}
	writeJSON(w, status, map[string]apiError{"error": e})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.Encode(v)
}

// badRequest is a 400 naming the parameter at fault.
type badRequest struct {
	param, msg string
}

func (e *badRequest) Error() string { return e.param + ": " + e.msg }

// writeEngineError maps an error from before generation started to its status.
func (s *Server) writeEngineError(w http.ResponseWriter, err error) {
	var br *badRequest
	var re *engine.RequestError
	var nf *registry.NotFoundError
	switch {
	case errors.As(err, &br):
		writeError(w, http.StatusBadRequest, "invalid_request_error", br.param, "", br.Error())
	case errors.As(err, &re):
		writeError(w, http.StatusBadRequest, "invalid_request_error", openAIParam(re.Field), "", err.Error())
	case errors.Is(err, engine.ErrContextLength):
		writeError(w, http.StatusBadRequest, "invalid_request_error", "messages", "context_length_exceeded", err.Error())
	case errors.Is(err, engine.ErrQueueFull):
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusTooManyRequests, "rate_limit_error", "", "rate_limit_exceeded", err.Error())
	case errors.As(err, &nf):
		writeError(w, http.StatusNotFound, "invalid_request_error", "model", "model_not_found", oneLine(err.Error()))
	case errors.Is(err, engine.ErrNoModel):
		writeError(w, http.StatusBadRequest, "invalid_request_error", "model", "model_not_found",
			"no model given and none loaded: set \"model\" in the request or start impetus serve with -m MODEL")
	case errors.Is(err, engine.ErrClosed):
		writeError(w, http.StatusServiceUnavailable, "server_error", "", "shutting_down", "the server is shutting down")
	default:
		s.log().Error("request failed", "err", err)
		writeError(w, http.StatusInternalServerError, "server_error", "", "", oneLine(err.Error()))
	}
}

// openAIParam maps the engine's field names to OpenAI's.
func openAIParam(field string) string {
	switch field {
	case "sampling.temperature", "Temperature":
		return "temperature"
	}
	return strings.TrimPrefix(field, "sampling.")
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

func newID(prefix string) string {
	var b [12]byte
	rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

// decode reads a JSON body into v with OpenAI-style errors.
func decode(w http.ResponseWriter, r *http.Request, v any) error {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return &badRequest{"body", fmt.Sprintf("request body larger than %d bytes", maxBody)}
		}
		return &badRequest{"body", "reading the request body: " + err.Error()}
	}
	if len(strings.TrimSpace(string(body))) == 0 {
		return &badRequest{"body", "empty request body: send a JSON object"}
	}
	if err := json.Unmarshal(body, v); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) && typeErr.Field != "" {
			// Fields of the embedded samplingFields carry its name as a prefix.
			field := strings.TrimPrefix(typeErr.Field, "samplingFields.")
			return &badRequest{field, fmt.Sprintf("want a JSON %s, got %s", jsonKind(typeErr.Type.Kind().String()), typeErr.Value)}
		}
		return &badRequest{"body", "we could not parse the JSON body of your request: " + err.Error()}
	}
	return nil
}

func jsonKind(goKind string) string {
	switch goKind {
	case "string":
		return "string"
	case "bool":
		return "boolean"
	case "slice", "array":
		return "array"
	case "map", "struct", "ptr":
		return "object"
	}
	return "number"
}

// resolveModel picks the engine reference for a request's model field: empty
// means the resident (or default) model; otherwise it must name the resident
// model or one on this machine, so a typo is a 404 before any queueing.
func (s *Server) resolveModel(name string) (string, error) {
	if name == "" {
		return "", nil
	}
	if info, ok := s.Engine.Loaded(); ok && (name == info.Ref || name == info.Path) {
		return name, nil
	}
	if s.Models != nil {
		for _, m := range s.localModels() {
			if m.ID == name || m.Path == name {
				return m.Path, nil
			}
		}
	}
	return "", &registry.NotFoundError{Ref: name, Looked: []string{"the models this server has (GET /v1/models lists them)"}}
}

// sampling builds the engine's settings from the request, filling defaults
// and checking ranges OpenAI documents.
func (s *Server) sampling(f samplingFields) (engine.Sampling, []string, error) {
	sp := s.Defaults
	sp.LogitBias = nil
	set := func(dst *float64, v *float64, name string, lo, hi float64) error {
		if v == nil {
			return nil
		}
		if *v < lo || *v > hi {
			return &badRequest{name, fmt.Sprintf("%g is out of range [%g, %g]", *v, lo, hi)}
		}
		*dst = *v
		return nil
	}
	if err := set(&sp.Temperature, f.Temperature, "temperature", 0, 2); err != nil {
		return sp, nil, err
	}
	if err := set(&sp.TopP, f.TopP, "top_p", 0, 1); err != nil {
		return sp, nil, err
	}
	if err := set(&sp.MinP, f.MinP, "min_p", 0, 1); err != nil {
		return sp, nil, err
	}
	if err := set(&sp.PresencePenalty, f.PresencePenalty, "presence_penalty", -2, 2); err != nil {
		return sp, nil, err
	}
	if err := set(&sp.FrequencyPenalty, f.FrequencyPenalty, "frequency_penalty", -2, 2); err != nil {
		return sp, nil, err
	}
	if err := set(&sp.RepetitionPenalty, f.RepetitionPenalty, "repetition_penalty", 0, 10); err != nil {
		return sp, nil, err
	}
	if f.TopK != nil {
		if *f.TopK < 0 {
			return sp, nil, &badRequest{"top_k", fmt.Sprintf("%d must be >= 0", *f.TopK)}
		}
		sp.TopK = *f.TopK
	}
	if f.Seed != nil {
		sp.Seed = engine.Seed(*f.Seed)
	}
	if len(f.LogitBias) > 0 {
		sp.LogitBias = make(map[int32]float32, len(f.LogitBias))
		for k, v := range f.LogitBias {
			id, err := strconv.ParseInt(k, 10, 32)
			if err != nil || id < 0 {
				return sp, nil, &badRequest{"logit_bias", fmt.Sprintf("key %q is not a token id", k)}
			}
			if v < -100 || v > 100 {
				return sp, nil, &badRequest{"logit_bias", fmt.Sprintf("bias %g for token %s is out of range [-100, 100]", v, k)}
			}
			sp.LogitBias[int32(id)] = float32(v)
		}
	}
	stop, err := stopStrings(f.Stop)
	if err != nil {
		return sp, nil, &badRequest{"stop", err.Error()}
	}
	return sp, stop, nil
}

// maxTokens reads a request's limit; clamp is set when the server's default
// applies, which the engine then fits into the context instead of failing.
func (s *Server) maxTokens(v *int, param string) (n int, clamp bool, err error) {
	if v == nil {
		return s.DefaultMaxTokens, true, nil
	}
	if *v < 1 {
		return 0, false, &badRequest{param, fmt.Sprintf("%d must be at least 1", *v)}
	}
	return *v, false, nil
}

// modelsTTL is how long a scan of the models on disk is reused: listing
// reads every model's config and weight headers, too much for each request.
const modelsTTL = 5 * time.Second

// localModels is s.Models(), scanned at most once per modelsTTL.
func (s *Server) localModels() []registry.Entry {
	s.modelsMu.Lock()
	defer s.modelsMu.Unlock()
	if s.modelsAt.IsZero() || time.Since(s.modelsAt) > modelsTTL {
		s.modelsList, s.modelsAt = s.Models(), time.Now()
	}
	return s.modelsList
}

func (s *Server) listModels(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, modelList{Object: "list", Data: s.modelObjects()})
}

func (s *Server) getModel(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	for _, m := range s.modelObjects() {
		if m.ID == id {
			writeJSON(w, http.StatusOK, m)
			return
		}
	}
	writeError(w, http.StatusNotFound, "invalid_request_error", "model", "model_not_found",
		fmt.Sprintf("the model %q does not exist here; GET /v1/models lists the available ones", id))
}

// modelObjects lists the resident model first, then every local model.
func (s *Server) modelObjects() []modelObject {
	var out []modelObject
	seen := map[string]bool{}
	add := func(id string, created int64) {
		if id == "" || seen[id] {
			return
		}
		seen[id] = true
		out = append(out, modelObject{ID: id, Object: "model", Created: created, OwnedBy: "impetus"})
	}
	if info, ok := s.Engine.Loaded(); ok {
		add(info.Ref, time.Now().Unix())
	}
	if s.Models != nil {
		for _, m := range s.localModels() {
			add(m.ID, 0)
		}
	}
	if out == nil {
		out = []modelObject{}
	}
	return out
}

func (s *Server) health(w http.ResponseWriter, r *http.Request) {
	body := map[string]any{"status": "ok", "queued": s.Engine.Queued(), "model": nil}
	if info, ok := s.Engine.Loaded(); ok {
		body["model"] = info.Ref
		body["backend"] = info.Backend
	}
	writeJSON(w, http.StatusOK, body)
}

// generate runs req, recording it in history when enabled. prior are the
// conversation's messages when saving a chat.
func (s *Server) generate(ctx context.Context, req engine.Request, onEvent func(engine.Event)) (*engine.Result, error) {
	if s.History == nil || len(req.Messages) == 0 {
		return s.Engine.Generate(ctx, req, onEvent)
	}
	// Saved chats: the client's messages become a new conversation and the
	// reply streams into it.
	msgs := req.Messages
	t := session.Turn{Model: req.Model, MaxTokens: req.MaxTokens, ClampMaxTokens: req.ClampMaxTokens,
		Sampling: req.Sampling, Stop: req.Stop, Tools: req.Tools, TemplateVars: req.TemplateVars,
		CacheByPrefix: true}
	if len(msgs) > 0 && msgs[0].Role == "system" {
		t.System = msgs[0].Content
		msgs = msgs[1:]
	}
	if n := len(msgs); n > 0 && msgs[n-1].Role == "user" {
		t.User = msgs[n-1].Content
		msgs = msgs[:n-1]
	}
	t.Prior = msgs
	reply, err := s.History.Run(ctx, t, onEvent)
	if reply == nil {
		return nil, err
	}
	return reply.Result, err
}
