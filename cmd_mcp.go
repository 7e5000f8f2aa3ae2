package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/impetus-llm/impetus/internal/listen"

	"github.com/spf13/cobra"

	"github.com/impetus-llm/impetus/engine"
	"github.com/impetus-llm/impetus/engine/registry"
	"github.com/impetus-llm/impetus/mcp"
	"github.com/impetus-llm/impetus/store"
)

func init() { registerCommand(newMCPCommand) }

func newMCPCommand(a *app) *cobra.Command {
	var (
		model, backend, httpAddr, token, printConfig string
		threads                                      int
		allowRemote                                  bool
	)
	cmd := &cobra.Command{
		Use:   "mcp [-m MODEL] [--http ADDR]",
		Short: plannedCommands["mcp"],
		Long: `Serve the Model Context Protocol so editors and agents (Claude, VS Code, Cursor, Zed, ...)
can use the local model and the conversation history: tools generate, list_models,
search_conversations, list_conversations, get_conversation and export_conversation; resources
impetus://conversations/{id} and impetus://models; prompts summarize_conversation and
continue_conversation.

By default it speaks newline-delimited JSON-RPC on stdin/stdout (stdout carries nothing else;
logs go to stderr or --log-file) and exits when stdin closes. --http ADDR serves Streamable
HTTP at http://ADDR/mcp instead, on loopback unless told otherwise: a bare port or ":PORT"
means 127.0.0.1, requests must name a loopback host (DNS rebinding protection), and binding
another interface needs --allow-remote and a --token (or IMPETUS_MCP_TOKEN) that clients send
as "Authorization: Bearer TOKEN".

The model loads on the first generate call and stays resident; concurrent calls wait their
turn. --print-config CLIENT prints the configuration that makes a client start this server.`,
		Example: `  impetus mcp -m mlx-community/Qwen2.5-0.5B-Instruct-4bit
  impetus mcp --print-config claude-code -m mlx-community/Qwen2.5-0.5B-Instruct-4bit
  impetus mcp --http 127.0.0.1:8765
  npx @modelcontextprotocol/inspector --cli impetus mcp --method tools/list`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			usage := func(format string, args ...any) error {
				return &exitError{code: 2, err: fmt.Errorf(format, args...)}
			}
			if token == "" {
				token = os.Getenv("IMPETUS_MCP_TOKEN")
			}
			if threads < 0 {
				return usage("--threads %d: must be 0 (one per core) or more", threads)
			}
			var listenAddr string
			if httpAddr != "" {
				addr, err := defaultLoopback(httpAddr)
				if err != nil {
					return usage("--http %q: %v", httpAddr, err)
				}
				loopback, err := listen.IsLoopback(addr)
				if err != nil {
					return usage("--http %q: %v", httpAddr, err)
				}
				if !loopback && (!allowRemote || token == "") {
					return usage("--http %s listens beyond this machine: add --allow-remote and --token TOKEN (or IMPETUS_MCP_TOKEN) so that only clients holding the token get in, or use 127.0.0.1", addr)
				}
				listenAddr = addr
			} else if allowRemote || token != "" && cmd.Flags().Changed("token") {
				return usage("--allow-remote and --token apply to --http; stdio is reachable only by the process that started this one")
			}

			flags := cmd.Flags()
			if printConfig != "" {
				var extra []string
				for _, name := range []string{"config", "db"} {
					if flags.Changed(name) {
						p, _ := filepath.Abs(flags.Lookup(name).Value.String())
						extra = append(extra, "--"+name, p)
					}
				}
				return printMCPConfig(a, printConfig, model, flags.Changed("backend"), backend, threads, listenAddr, token, extra)
			}
			if model == "" {
				model = a.cfg.Model
			}
			if model == "" {
				a.log.Warn("no model configured: generate calls must name one (set -m MODEL or `model` in config.toml)", "config", a.configPath)
			} else if _, err := registry.Resolve(model, a.registryOptions()); err != nil {
				// Not fatal: the history tools work without a model, and
				// generate reports this error to the client.
				a.log.Warn("the default model is not available", "model", model, "err", err)
			}

			// In stdio mode, fd 1 belongs to the protocol: point it at stderr
			// so nothing else in the process can write there.
			out := a.stdout
			if listenAddr == "" {
				if f, ok := out.(*os.File); ok && f == os.Stdout {
					protocol, err := mcp.ProtectStdout()
					if err != nil {
						return err
					}
					defer protocol.Close()
					out = protocol
				}
			}

			st, err := store.Open(a.DBPath())
			if err != nil {
				return err
			}
			defer st.Close()
			opts := engineOptions(a, backend, threads)
			opts.DefaultModel = model
			eng, err := engine.New(opts)
			if err != nil {
				return usage("%v", err)
			}
			defer eng.Close()

			srv, err := mcp.New(mcp.Options{
				Engine: eng, Store: st, DefaultModel: model, Logger: a.log, Version: buildVersion(),
				Sampling: a.defaultSampling(), MaxTokens: a.cfg.Sampling.MaxTokens,
				Models: func() ([]registry.Entry, []error) { return registry.List(a.registryOptions()) },
			})
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()

			if listenAddr == "" {
				a.log.Info("MCP server on stdio", "model", model, "db", a.DBPath())
				if isTerminal(a.stdin) {
					fmt.Fprintln(a.stderr, "impetus: speaking MCP (JSON-RPC) on stdin/stdout: an editor or agent starts this command (see impetus mcp --print-config CLIENT); Ctrl-D or Ctrl-C ends it")
				}
				err := srv.ServeStdio(ctx, a.stdin, out)
				if errors.Is(err, context.Canceled) {
					return nil
				}
				return err
			}
			return serveMCPHTTP(ctx, a, srv, listenAddr, token, allowRemote)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&model, "model", "m", "", "model generate uses by default, loaded on first use (default: config `model`)")
	f.StringVar(&backend, "backend", "", "auto, cpu or mlx (default: config `backend`)")
	f.IntVar(&threads, "threads", 0, "CPU backend threads (default: config, else one per core)")
	f.StringVar(&httpAddr, "http", "", "serve Streamable HTTP at http://ADDR/mcp instead of stdio (a bare PORT means 127.0.0.1:PORT)")
	f.BoolVar(&allowRemote, "allow-remote", false, "with --http: allow a non-loopback address (needs --token)")
	f.StringVar(&token, "token", "", "with --http: require 'Authorization: Bearer TOKEN' (env IMPETUS_MCP_TOKEN)")
	f.StringVar(&printConfig, "print-config", "", "print the client configuration for "+strings.Join(mcp.ClientNames(), ", ")+" and exit")
	return cmd
}

// defaultLoopback makes a bare port or ":PORT" listen on 127.0.0.1.
func defaultLoopback(addr string) (string, error) {
	if !strings.Contains(addr, ":") {
		addr = ":" + addr
	}
	host, port, err := net.SplitHostPort(addr)
	if n, perr := strconv.Atoi(port); err != nil || perr != nil || n < 0 || n > 65535 {
		return "", errors.New("want HOST:PORT, :PORT or PORT with a port number, e.g. 127.0.0.1:8765")
	}
	if host == "" {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port), nil
}

func serveMCPHTTP(ctx context.Context, a *app, srv *mcp.Server, addr, token string, allowRemote bool) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("--http %s: %w", addr, err)
	}
	httpSrv := &http.Server{
		Handler:           srv.HTTPHandler(mcp.HTTPOptions{Token: token, AllowRemote: allowRemote}),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          nil,
	}
	url := "http://" + ln.Addr().String() + "/mcp"
	a.log.Info("MCP server on Streamable HTTP", "url", url, "auth", token != "", "remote", allowRemote)
	// The URL goes to stderr too, so that scripts using port 0 can find it.
	fmt.Fprintf(a.stderr, "impetus: MCP on %s\n", url)
	return listen.Serve(ctx, httpSrv, ln, 5*time.Second)
}

// printMCPConfig prints the snippet that makes client start (or reach)
// this server with the same model and backend.
func printMCPConfig(a *app, client, model string, backendSet bool, backend string, threads int, httpAddr, token string, extra []string) error {
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("finding the impetus executable: %w", err)
	}
	if resolved, err := filepath.EvalSymlinks(exe); err == nil {
		exe = resolved
	}
	args := append([]string{"mcp"}, extra...)
	if model != "" {
		args = append(args, "-m", model)
	}
	if backendSet && backend != "" {
		args = append(args, "--backend", backend)
	}
	if threads > 0 {
		args = append(args, "--threads", fmt.Sprint(threads))
	}
	url := ""
	if httpAddr != "" {
		url = "http://" + httpAddr + "/mcp"
	}
	snippet, err := mcp.ClientConfig(client, exe, args, url, token)
	if err != nil {
		return &exitError{code: 2, err: fmt.Errorf("--print-config: %w", err)}
	}
	fmt.Fprintln(a.stderr, "# "+mcp.Clients[client])
	_, err = io.WriteString(a.stdout, snippet)
	return err
}
