package main

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/impetus-llm/impetus/internal/listen"

	"github.com/spf13/cobra"

	"github.com/impetus-llm/impetus/api"
	"github.com/impetus-llm/impetus/engine"
	"github.com/impetus-llm/impetus/engine/registry"
	"github.com/impetus-llm/impetus/session"
	"github.com/impetus-llm/impetus/store"
)

func init() { registerCommand(newServeCommand) }

func newServeCommand(a *app) *cobra.Command {
	var (
		addr, model, apiKey, backend string
		threads, maxQueue            int
		save                         bool
		cors                         []string
	)
	cmd := &cobra.Command{
		Use:   "serve",
		Short: plannedCommands["serve"],
		Long: `Serve the OpenAI API over the local model: POST /v1/chat/completions (streaming with
SSE), POST /v1/completions, GET /v1/models, GET /health. Any OpenAI client works:
point its base URL at http://ADDR/v1.

The server listens on loopback unless told otherwise; binding any other address needs
--api-key (or IMPETUS_API_KEY). Requests wait their turn for the model in order; with
--max-queue, requests beyond that many waiting get HTTP 429.`,
		Example: `  impetus serve -m mlx-community/Qwen2.5-0.5B-Instruct-4bit
  curl http://127.0.0.1:8080/v1/chat/completions -H 'Content-Type: application/json' \
       -d '{"messages":[{"role":"user","content":"Hello"}],"stream":true}'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if apiKey == "" {
				apiKey = os.Getenv("IMPETUS_API_KEY")
			}
			if maxQueue < 0 {
				return fmt.Errorf("--max-queue %d: must be 0 (unbounded) or more", maxQueue)
			}
			loopback, err := listen.IsLoopback(addr)
			if err != nil {
				return fmt.Errorf("--addr %q: %w", addr, err)
			}
			if !loopback && apiKey == "" {
				return fmt.Errorf("--addr %s is reachable from other machines: set --api-key (or IMPETUS_API_KEY) to bind it, or use 127.0.0.1", addr)
			}
			if model == "" {
				model = a.cfg.Model
			}
			opts := engineOptions(a, backend, threads)
			opts.DefaultModel = model
			opts.MaxQueue = maxQueue
			eng, err := engine.New(opts)
			if err != nil {
				return err
			}
			defer eng.Close()

			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			if model != "" {
				info, err := eng.Load(ctx, model, nil)
				if err != nil {
					return err
				}
				a.log.Info("model loaded", "model", info.Ref, "backend", info.Backend, "load", info.LoadTime.Round(time.Millisecond))
			} else {
				a.log.Warn("no model given: requests must name one (-m MODEL or `model` in config.toml sets a default)")
			}
			srv := &api.Server{
				Engine: eng, APIKey: apiKey, CORSOrigins: cors, Logger: a.log,
				Defaults: a.defaultSampling(), DefaultMaxTokens: a.cfg.Sampling.MaxTokens,
				Models: func() []registry.Entry {
					entries, _ := registry.List(a.registryOptions())
					return entries
				},
			}
			if save {
				st, err := store.Open(a.DBPath())
				if err != nil {
					return err
				}
				defer st.Close()
				srv.History = &session.Runner{Engine: eng, Store: st}
			}
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				return fmt.Errorf("--addr %s: %w", addr, err)
			}
			httpSrv := &http.Server{
				Handler:           srv.Handler(),
				ReadHeaderTimeout: 10 * time.Second,
				IdleTimeout:       2 * time.Minute,
			}
			a.log.Info("serving the OpenAI API", "url", "http://"+ln.Addr().String()+"/v1", "auth", apiKey != "", "save", save)
			// The address goes to stderr too, so scripts using --addr 127.0.0.1:0 can find the port.
			fmt.Fprintf(a.stderr, "impetus: listening on http://%s\n", ln.Addr())
			return listen.Serve(ctx, httpSrv, ln, 10*time.Second)
		},
	}
	f := cmd.Flags()
	f.StringVar(&addr, "addr", "127.0.0.1:8080", "listen address (non-loopback needs --api-key)")
	f.StringVarP(&model, "model", "m", "", "model to load at start and use by default (default: config `model`)")
	f.StringVar(&apiKey, "api-key", "", "require 'Authorization: Bearer KEY' (env IMPETUS_API_KEY)")
	f.StringVar(&backend, "backend", "", "auto, cpu or mlx (default: config `backend`)")
	f.IntVar(&threads, "threads", 0, "CPU backend threads (default: config, else one per core)")
	f.IntVar(&maxQueue, "max-queue", 0, "requests allowed to wait for the model; beyond it HTTP 429 (0 = unbounded)")
	f.BoolVar(&save, "save", false, "record every chat exchange in the history database")
	f.StringArrayVar(&cors, "cors", nil, "allow browser calls from this origin (repeatable; '*' for any)")
	return cmd
}
