package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/impetus-llm/impetus/engine"
	"github.com/impetus-llm/impetus/store"
)

func init() { registerCommand(newRunCommand) }

// runSettings is the sampling configuration stored with a conversation and
// its messages.
type runSettings struct {
	Temperature       float64  `json:"temperature"`
	TopP              float64  `json:"top_p,omitempty"`
	TopK              int      `json:"top_k,omitempty"`
	MinP              float64  `json:"min_p,omitempty"`
	RepetitionPenalty float64  `json:"repetition_penalty,omitempty"`
	MaxTokens         int      `json:"max_tokens,omitempty"`
	Seed              *int64   `json:"seed,omitempty"`
	Stop              []string `json:"stop,omitempty"`
	Raw               bool     `json:"raw,omitempty"`
}

// runOutput is the --format json object.
type runOutput struct {
	Text           string       `json:"text"`
	Tokens         []int32      `json:"tokens"`
	FinishReason   string       `json:"finish_reason"`
	StopString     string       `json:"stop_string,omitempty"`
	Error          string       `json:"error,omitempty"` // with finish_reason "error"
	Model          string       `json:"model"`
	Usage          engine.Usage `json:"usage"`
	Timings        runTimings   `json:"timings"`
	ConversationID string       `json:"conversation_id,omitempty"`
	MessageID      string       `json:"message_id,omitempty"`
}

type runTimings struct {
	LoadMs              float64 `json:"load_ms"`
	QueueMs             float64 `json:"queue_ms"`
	TTFTMs              float64 `json:"ttft_ms"`
	PrefillMs           float64 `json:"prefill_ms"`
	PrefillTokens       int     `json:"prefill_tokens"`
	PrefillTokensPerSec float64 `json:"prefill_tokens_per_sec"`
	DecodeMs            float64 `json:"decode_ms"`
	DecodeTokensPerSec  float64 `json:"decode_tokens_per_sec"`
	TotalMs             float64 `json:"total_ms"`
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func newRunCommand(a *app) *cobra.Command {
	var (
		model, system, backend, format, continueID string
		raw, noSave, showStats                     bool
		temperature, topP, minP, repPenalty        float64
		topK, maxTokens, threads                   int
		seed                                       int64
		stops                                      []string
	)
	cmd := &cobra.Command{
		Use:   "run -m MODEL [flags] [PROMPT]",
		Short: plannedCommands["run"],
		Long: `Generate one reply and stream it to stdout. The prompt is the arguments, or stdin when
there are none. By default it is a chat turn rendered with the model's chat template;
--raw sends it as plain completion text. Only the generated text goes to stdout (logs go to
stderr); --format json prints one JSON object at the end instead. The exchange is saved to
the history as a new conversation unless --no-save; --continue ID adds a turn to an
existing conversation (its messages become the context).`,
		Example: `  impetus run -m mlx-community/Qwen2.5-0.5B-Instruct-4bit "Why is the sky blue?"
  echo "Summarize: ..." | impetus run -m ./my-model --temperature 0 --max-tokens 100
  impetus run -m ./my-model --raw --stop $'\n\n' "Once upon a time"   # bash: a real blank line
  impetus run --continue 01J8Z... "And then?"`,
		RunE: func(cmd *cobra.Command, args []string) error {
			flags := cmd.Flags()
			usage := func(format string, args ...any) error {
				return &exitError{code: 2, err: fmt.Errorf(format, args...)}
			}
			if format != "text" && format != "json" {
				return usage("--format %q: must be text or json", format)
			}
			if flags.Changed("max-tokens") && maxTokens < 1 {
				return usage("--max-tokens %d: must be at least 1 (leave it out to use the config default, %d)", maxTokens, a.cfg.Sampling.MaxTokens)
			}
			if raw && continueID != "" {
				return usage("--raw and --continue cannot be combined: a conversation is a chat")
			}
			if raw && system != "" {
				return usage("--system has no effect with --raw (there is no chat template); put it in the prompt")
			}

			prompt, err := readPrompt(a, args)
			if err != nil {
				return err
			}

			// Sampling: config defaults, then flags.
			sc := a.cfg.Sampling
			set := runSettings{Temperature: sc.Temperature, TopP: sc.TopP, TopK: sc.TopK, MinP: sc.MinP,
				RepetitionPenalty: sc.RepetitionPenalty, MaxTokens: sc.MaxTokens, Stop: stops, Raw: raw}
			if sc.Seed != 0 {
				set.Seed = engine.Seed(sc.Seed)
			}
			if flags.Changed("temperature") {
				set.Temperature = temperature
			}
			if flags.Changed("top-p") {
				set.TopP = topP
			}
			if flags.Changed("top-k") {
				set.TopK = topK
			}
			if flags.Changed("min-p") {
				set.MinP = minP
			}
			if flags.Changed("repetition-penalty") {
				set.RepetitionPenalty = repPenalty
			}
			if flags.Changed("seed") {
				set.Seed = engine.Seed(seed)
			}
			explicitMax := flags.Changed("max-tokens")
			if explicitMax {
				set.MaxTokens = maxTokens
			}

			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()

			// History: open it first so a bad --continue fails before loading a model.
			var st *store.Store
			var conv *store.Conversation
			var history []store.Message
			if !noSave || continueID != "" {
				st, err = store.Open(a.DBPath())
				if err != nil {
					if continueID == "" {
						return fmt.Errorf("%w (--no-save runs without the history)", err)
					}
					return err
				}
				defer st.Close()
			}
			if continueID != "" {
				id, err := st.ResolveConversationID(ctx, continueID)
				if err != nil {
					return fmt.Errorf("--continue %s: %w", continueID, err)
				}
				if conv, err = st.GetConversation(ctx, id); err != nil {
					return err
				}
				if history, err = st.ActivePath(ctx, id); err != nil {
					return err
				}
				if model == "" {
					model = conv.Model
				}
				if system == "" {
					system = conv.SystemPrompt
				}
			}
			if model == "" {
				model = a.cfg.Model
			}
			if model == "" {
				return usage("no model: pass -m MODEL (a model directory, a hub id such as mlx-community/Qwen2.5-0.5B-Instruct-4bit in the Hugging Face cache, or a name in %s), or set `model` in %s", a.cfg.ModelsDir, a.configPath)
			}

			eng, err := engine.New(engineOptions(a, backend, threads))
			if err != nil {
				return usage("%v", err)
			}
			defer eng.Close()
			info, err := eng.Load(ctx, model, nil)
			if err != nil {
				if ctx.Err() != nil {
					return &exitError{code: 130, err: errors.New("interrupted while loading the model")}
				}
				return err
			}

			req := engine.Request{
				Stop:     stops,
				Sampling: engine.Sampling{Temperature: set.Temperature, TopP: set.TopP, TopK: set.TopK, MinP: set.MinP, RepetitionPenalty: set.RepetitionPenalty, Seed: set.Seed},
				// The config default is a cap, not a demand: trim it to the
				// room the context leaves. An explicit --max-tokens that does
				// not fit is an error.
				MaxTokens:      set.MaxTokens,
				ClampMaxTokens: !explicitMax,
			}
			if raw {
				req.Prompt = prompt
			} else {
				req.System = system
				for _, m := range history {
					if m.Role == store.RoleSystem {
						continue // the conversation's system prompt is req.System
					}
					if m.Role == store.RoleAssistant && m.Status == store.StatusError && m.Content == "" {
						continue
					}
					req.Messages = append(req.Messages, engine.Message{Role: string(m.Role), Content: m.Content})
				}
				req.Messages = append(req.Messages, engine.Message{Role: "user", Content: prompt})
			}
			// Check the request (template, context length) before writing history.
			if _, err := eng.Tokenize(ctx, req); err != nil {
				return err
			}

			settingsJSON, _ := json.Marshal(set)
			var w *store.Writer
			if !noSave {
				if conv == nil {
					conv, err = st.CreateConversation(ctx, store.NewConversation{
						Title: conversationTitle(prompt), Model: model, SystemPrompt: system, Settings: settingsJSON,
					})
					if err != nil {
						return err
					}
				}
				if _, err := st.AppendMessage(ctx, store.NewMessage{ConversationID: conv.ID, Role: store.RoleUser, Content: prompt}); err != nil {
					return err
				}
				w, err = st.BeginMessage(ctx, store.NewMessage{ConversationID: conv.ID, Role: store.RoleAssistant, Model: model, Settings: settingsJSON})
				if err != nil {
					return err
				}
			}

			out := a.stdout
			res, genErr := eng.Generate(ctx, req, func(ev engine.Event) {
				if ev.Kind != engine.EventToken || ev.Text == "" {
					return
				}
				if format == "text" {
					io.WriteString(out, ev.Text)
				}
				if w != nil {
					w.Append(ev.Text)
				}
			})
			if genErr != nil && res == nil {
				if w != nil {
					w.Abort(genErr.Error())
				}
				return genErr
			}
			if w != nil {
				stats := store.Stats{
					PromptTokens: res.Usage.PromptTokens, CompletionTokens: res.Usage.CompletionTokens,
					TTFTMs: ms(res.Timings.TTFT), TokensPerSec: res.Timings.DecodeTokensPerSec,
					PrefillTokensPerSec: res.Timings.PrefillTokensPerSec, FinishReason: string(res.FinishReason),
				}
				var serr error
				switch res.FinishReason {
				case engine.FinishCancelled:
					serr = w.AbortWithStats("stopped", stats)
				case engine.FinishError:
					serr = w.AbortWithStats(genErr.Error(), stats)
				default:
					serr = w.Finish(stats)
				}
				if serr != nil {
					a.log.Error("saving the reply to history", "err", serr)
				}
			}
			if format == "json" {
				o := runOutput{
					Text: res.Text, Tokens: res.Tokens, FinishReason: string(res.FinishReason), StopString: res.StopString,
					Model: info.Path, Usage: res.Usage,
					Timings: runTimings{
						LoadMs: ms(info.LoadTime), QueueMs: ms(res.Timings.Queue), TTFTMs: ms(res.Timings.TTFT),
						PrefillMs: ms(res.Timings.Prefill), PrefillTokens: res.Timings.PrefillTokens,
						PrefillTokensPerSec: res.Timings.PrefillTokensPerSec, DecodeMs: ms(res.Timings.Decode),
						DecodeTokensPerSec: res.Timings.DecodeTokensPerSec, TotalMs: ms(res.Timings.Total),
					},
				}
				if genErr != nil {
					o.Error = genErr.Error()
				}
				if o.Tokens == nil {
					o.Tokens = []int32{}
				}
				if w != nil {
					o.ConversationID, o.MessageID = w.ConversationID(), w.ID()
				}
				enc := json.NewEncoder(out)
				enc.SetEscapeHTML(false)
				if err := enc.Encode(o); err != nil {
					return err
				}
			} else if isTerminal(out) && res.Text != "" && !strings.HasSuffix(res.Text, "\n") {
				io.WriteString(out, "\n")
			}
			if w != nil {
				a.log.Debug("saved", "conversation", w.ConversationID(), "message", w.ID())
			}
			if showStats {
				saved := ""
				if w != nil {
					saved = "; conversation " + w.ConversationID()
				}
				fmt.Fprintf(a.stderr, "%d prompt tokens (%d cached), %d generated, %s; TTFT %.0f ms, prefill %.1f tok/s, decode %.1f tok/s%s\n",
					res.Usage.PromptTokens, res.Usage.CachedTokens, res.Usage.CompletionTokens, res.FinishReason,
					ms(res.Timings.TTFT), res.Timings.PrefillTokensPerSec, res.Timings.DecodeTokensPerSec, saved)
			}
			a.log.Debug("generation", "finish", res.FinishReason, "prompt_tokens", res.Usage.PromptTokens,
				"completion_tokens", res.Usage.CompletionTokens, "ttft", res.Timings.TTFT,
				"decode_tok_s", res.Timings.DecodeTokensPerSec, "prefill_tok_s", res.Timings.PrefillTokensPerSec)
			switch res.FinishReason {
			case engine.FinishError:
				return genErr
			case engine.FinishCancelled:
				return &exitError{code: 130, err: errors.New("interrupted")}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVarP(&model, "model", "m", "", "model: directory, hub id (ORG/NAME) in the HF cache, or name in models_dir (default: config `model`)")
	f.BoolVar(&raw, "raw", false, "plain completion: no chat template")
	f.StringVar(&system, "system", "", "system prompt")
	f.Float64Var(&temperature, "temperature", 0, "sampling temperature; 0 = greedy (default from config)")
	f.Float64Var(&topP, "top-p", 0, "nucleus sampling threshold (default from config)")
	f.IntVar(&topK, "top-k", 0, "keep the K most likely tokens; 0 = off (default from config)")
	f.Float64Var(&minP, "min-p", 0, "drop tokens less likely than min-p × the top one (default from config)")
	f.Float64Var(&repPenalty, "repetition-penalty", 0, "penalize repeated tokens; 1 = off (default from config)")
	f.Int64Var(&seed, "seed", 0, "random seed: same seed + same input = same text")
	f.IntVar(&maxTokens, "max-tokens", 0, "maximum tokens to generate (default from config)")
	f.StringArrayVar(&stops, "stop", nil, "stop when this string is generated (repeatable; not printed)")
	f.StringVar(&backend, "backend", "", "compute backend: auto, cpu or mlx (default from config)")
	f.IntVar(&threads, "threads", 0, "CPU threads (default from config; 0 = one per core)")
	f.StringVar(&format, "format", "text", "output: text (streamed) or json (one object at the end)")
	f.BoolVar(&noSave, "no-save", false, "do not save this exchange to the history")
	f.BoolVar(&showStats, "stats", false, "print token counts and speed to stderr at the end")
	f.StringVar(&continueID, "continue", "", "continue the conversation with this id (or unique prefix)")
	return cmd
}

// readPrompt takes the prompt from the arguments or, without any, stdin.
func readPrompt(a *app, args []string) (string, error) {
	if len(args) > 0 && !(len(args) == 1 && args[0] == "-") {
		p := strings.Join(args, " ")
		if strings.TrimSpace(p) == "" {
			return "", &exitError{code: 2, err: errors.New("the prompt is empty")}
		}
		return p, nil
	}
	if isTerminal(a.stdin) && len(args) == 0 {
		return "", &exitError{code: 2, err: errors.New("no prompt: pass it as an argument or pipe it on stdin (impetus run -m MODEL \"Hello\")")}
	}
	data, err := io.ReadAll(a.stdin)
	if err != nil {
		return "", fmt.Errorf("reading the prompt from stdin: %w", err)
	}
	p := strings.TrimRight(string(data), "\r\n")
	if strings.TrimSpace(p) == "" {
		return "", &exitError{code: 2, err: errors.New("the prompt on stdin is empty")}
	}
	return p, nil
}

// conversationTitle is the first line of the prompt, shortened.
func conversationTitle(prompt string) string {
	line := strings.TrimSpace(prompt)
	if i := strings.IndexByte(line, '\n'); i >= 0 {
		line = strings.TrimSpace(line[:i])
	}
	r := []rune(line)
	if len(r) > 60 {
		line = strings.TrimSpace(string(r[:57])) + "…"
	}
	if line == "" {
		line = "run"
	}
	return line
}
