// Command impetus is a local-first LLM workbench for the terminal: chat, history,
// MCP and OpenAI-compatible serving over one engine and one SQLite store.
//
// This file holds only flags and wiring: the root command, configuration and
// logging. Each subcommand lives in its own cmd_<name>.go and registers itself
// with registerCommand; the packages under engine/, store/, ui/, mcp/ and api/
// do the work.
package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"

	"github.com/spf13/cobra"

	"github.com/impetus-llm/impetus/config"
	"github.com/impetus-llm/impetus/engine"
	"github.com/impetus-llm/impetus/engine/registry"
	"github.com/impetus-llm/impetus/mlx"
)

func init() {
	// MLX registers here, not in engine, so that engine never imports the cgo
	// bridge; "auto" picks it only where its device is a GPU.
	engine.RegisterBackendAuto("mlx", mlx.NewBackend, 10, mlx.AutoReason)
}

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// app is the wiring every subcommand receives: resolved configuration and paths.
type app struct {
	cfg        *config.Config
	configPath string
	dbPath     string
	logFile    string
	verbose    bool
	log        *slog.Logger
	stdout     io.Writer
	stderr     io.Writer
	stdin      io.Reader
	// closers run when the command finishes (log file, ...).
	closers []func() error
}

// DBPath is the history database in use: --db, IMPETUS_DB, or the XDG default.
func (a *app) DBPath() string { return a.dbPath }

// exitError carries a specific process exit code with its message.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// commandFactories are the subcommands registered by cmd_*.go files.
var commandFactories []func(a *app) *cobra.Command

// registerCommand adds a subcommand; call it from an init function.
func registerCommand(f func(a *app) *cobra.Command) { commandFactories = append(commandFactories, f) }

// plannedCommands are every subcommand impetus has, with a one-line summary
// (each cmd_<name>.go uses its line as the command's Short help).
var plannedCommands = map[string]string{
	"chat":     "Full-screen chat (the default command)",
	"run":      "One-shot generation to stdout",
	"mcp":      "MCP server on stdio (or Streamable HTTP)",
	"serve":    "OpenAI-compatible HTTP API",
	"export":   "Export conversation history (md, json, jsonl, html)",
	"import":   "Import conversations from impetus JSON or JSONL",
	"models":   "List local models",
	"pull":     "Download a model from the Hugging Face hub",
	"convert":  "Convert a Hugging Face model to MLX format (quantize)",
	"tokenize": "Token ids of a text (or text of ids)",
	"template": "Render a chat prompt with the model's template",
	"bench":    "Measure prefill and decode speed",
	"doctor":   "Show versions, paths, backends in use",
	"history":  "List, show, search, rename and delete conversations",
	"version":  "Print the impetus version",
}

func newRootCommand(a *app) *cobra.Command {
	root := &cobra.Command{
		Use:   "impetus",
		Short: "A local-first LLM workbench for the terminal",
		Long: `impetus runs language models on your own machine: a full-screen chat, a history
kept and searched in SQLite, an MCP server for editors and agents, an OpenAI-compatible API,
and exports of everything you said. With no subcommand it opens the chat.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			return a.setup(cmd)
		},
	}
	root.SetOut(a.stdout)
	root.SetErr(a.stderr)
	root.SetIn(a.stdin)
	pf := root.PersistentFlags()
	pf.StringVar(&a.configPath, "config", "", "config file (default $XDG_CONFIG_HOME/impetus/config.toml)")
	pf.StringVar(&a.dbPath, "db", "", "history database (default $XDG_DATA_HOME/impetus/impetus.db, env IMPETUS_DB)")
	pf.StringVar(&a.logFile, "log-file", "", "write logs to this file instead of stderr")
	pf.BoolVarP(&a.verbose, "verbose", "v", false, "debug logging")

	for _, f := range commandFactories {
		root.AddCommand(f(a))
	}
	root.AddCommand(&cobra.Command{
		Use:   "version",
		Short: plannedCommands["version"],
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fmt.Fprintf(a.stdout, "impetus %s\n", buildVersion())
			return nil
		},
	})
	// With no subcommand, impetus opens the chat, so `impetus -m MODEL`
	// takes the chat's flags (they share the chat command's variables).
	if chat, _, err := root.Find([]string{"chat"}); err == nil && chat != root {
		root.Flags().AddFlagSet(chat.LocalFlags())
	}
	root.RunE = func(cmd *cobra.Command, args []string) error {
		chat, _, err := cmd.Find([]string{"chat"})
		if err != nil || chat == cmd {
			return fmt.Errorf("the chat command is missing from this build")
		}
		if chat.RunE == nil {
			return nil
		}
		return chat.RunE(chat, args)
	}
	root.Args = cobra.NoArgs
	return root
}

// setup loads configuration and logging before any subcommand runs.
func (a *app) setup(cmd *cobra.Command) error {
	if a.configPath == "" {
		if p, ok := os.LookupEnv("IMPETUS_CONFIG"); ok && p != "" {
			a.configPath = p
		} else {
			a.configPath = config.DefaultPath()
		}
	}
	cfg, warnings, err := config.Load(a.configPath)
	if err != nil {
		return err
	}
	a.cfg = cfg
	if a.dbPath == "" {
		if p := os.Getenv("IMPETUS_DB"); p != "" {
			a.dbPath = p
		} else {
			a.dbPath = config.DefaultDBPath()
		}
	}
	if a.logFile == "" {
		a.logFile = cfg.LogFile
	}
	level := slog.LevelInfo
	if a.verbose {
		level = slog.LevelDebug
	}
	var logOut io.Writer = a.stderr
	if a.logFile != "" {
		if err := os.MkdirAll(filepath.Dir(a.logFile), 0o755); err != nil {
			return fmt.Errorf("log file %s: %w", a.logFile, err)
		}
		f, err := os.OpenFile(a.logFile, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			return fmt.Errorf("log file %s: %w", a.logFile, err)
		}
		a.closers = append(a.closers, f.Close)
		logOut = f
	}
	// Logs never go to stdout: it belongs to `impetus run` text and the MCP protocol.
	a.log = slog.New(slog.NewTextHandler(logOut, &slog.HandlerOptions{Level: level}))
	for _, w := range warnings {
		a.log.Warn(w)
	}
	return nil
}

func buildVersion() string {
	if version != "dev" {
		return version
	}
	if info, ok := debug.ReadBuildInfo(); ok && info.Main.Version != "" && info.Main.Version != "(devel)" {
		return info.Main.Version
	}
	return version
}

// run executes impetus with args and returns the process exit code.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	a := &app{stdout: stdout, stderr: stderr, stdin: stdin}
	root := newRootCommand(a)
	root.SetArgs(args)
	err := root.Execute()
	for _, c := range a.closers {
		c()
	}
	if err == nil {
		return 0
	}
	fmt.Fprintf(stderr, "impetus: %v\n", err)
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	return 1
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// defaultSampling is the configuration's sampling section in the engine's terms.
func (a *app) defaultSampling() engine.Sampling {
	c := a.cfg.Sampling
	s := engine.Sampling{
		Temperature: c.Temperature, TopP: c.TopP, TopK: c.TopK, MinP: c.MinP,
		RepetitionPenalty: c.RepetitionPenalty,
	}
	if c.Seed != 0 {
		s.Seed = engine.Seed(c.Seed)
	}
	return s
}

// engineOptions builds the engine options every command shares from the
// configuration; backend and threads override the config when not empty/0.
func engineOptions(a *app, backend string, threads int) engine.Options {
	o := engine.Options{
		ModelsDir: a.cfg.ModelsDir,
		HFHome:    os.Getenv("HF_HOME"),
		Backend:   a.cfg.Backend,
		Threads:   a.cfg.Threads,
		Logger:    a.log,
	}
	if backend != "" {
		o.Backend = backend
	}
	if threads != 0 {
		o.Threads = threads
	}
	return o
}

// registryOptions are the model lookup places the configuration selects;
// the Hugging Face cache comes from the environment (HF_HUB_CACHE, HF_HOME).
func (a *app) registryOptions() registry.Options {
	var o registry.Options
	if a.cfg != nil {
		o.ModelsDir = a.cfg.ModelsDir
	}
	return o
}
