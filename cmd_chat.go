package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/impetus-llm/impetus/engine"
	"github.com/impetus-llm/impetus/engine/registry"
	"github.com/impetus-llm/impetus/store"
	"github.com/impetus-llm/impetus/ui"
)

func init() { registerCommand(newChatCommand) }

func newChatCommand(a *app) *cobra.Command {
	var (
		model, backend, conversation string
		threads                      int
	)
	cmd := &cobra.Command{
		Use:   "chat",
		Short: plannedCommands["chat"],
		Long: `Open the full-screen chat: your conversations on the left, the transcript in the middle,
the input at the bottom, the model and its speed in the status bar. F1 lists every key;
keys are rebound in config.toml under [keys].

Without a model (no -m, no ` + "`model`" + ` in the config) the chat still opens to browse and
search the history; Ctrl-O picks a local model.`,
		Example: `  impetus
  impetus chat -m mlx-community/Qwen2.5-0.5B-Instruct-4bit
  impetus chat --conversation 01J8Z4`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !isTerminal(a.stdout) {
				return &exitError{code: 2, err: fmt.Errorf("the chat needs a terminal; for scripts use `impetus run -m MODEL \"prompt\"`")}
			}
			if threads < 0 {
				return &exitError{code: 2, err: fmt.Errorf("--threads %d: must be 0 (one per core) or more", threads)}
			}
			if model == "" {
				model = a.cfg.Model
			}
			st, err := store.Open(a.DBPath())
			if err != nil {
				return err
			}
			defer st.Close()
			// Logs would scribble over the screen: while the chat runs they
			// go to the log file only (log_file or --log-file keeps them).
			log := a.log
			if a.logFile == "" {
				log = slog.New(slog.NewTextHandler(io.Discard, nil))
			}
			eopts := engineOptions(a, backend, threads)
			eopts.Logger = log
			eng, err := engine.New(eopts)
			if err != nil {
				return err
			}
			defer eng.Close()
			sc := a.cfg.Sampling
			ropts := a.registryOptions()
			chat, err := ui.New(ui.Options{
				Store: st, Engine: eng, Model: model,
				Sampling: a.defaultSampling(), MaxTokens: sc.MaxTokens,
				Keys: a.cfg.Keys, Theme: a.cfg.Theme,
				ConversationID: conversation,
				ListModels:     func() ([]registry.Entry, []error) { return registry.List(ropts) },
				ConfigPath:     a.configPath, ModelsDir: a.cfg.ModelsDir,
				Logger: log,
			})
			if err != nil {
				return err
			}
			// SIGTERM or SIGHUP (the terminal closed) end the chat cleanly:
			// the reply being generated is stored as stopped.
			sigs := make(chan os.Signal, 1)
			signal.Notify(sigs, syscall.SIGTERM, syscall.SIGHUP)
			defer signal.Stop(sigs)
			go func() {
				if _, ok := <-sigs; ok {
					chat.Quit()
				}
			}()
			return chat.Run()
		},
	}
	f := cmd.Flags()
	f.StringVarP(&model, "model", "m", "", "model: a directory, a hub id in the Hugging Face cache, or a name in the models dir (default: config `model`)")
	f.StringVar(&backend, "backend", "", "inference backend: auto, cpu or mlx (default from config)")
	f.IntVar(&threads, "threads", 0, "CPU threads (default from config; 0 = one per core)")
	f.StringVar(&conversation, "conversation", "", "open this conversation (id or unique prefix)")
	return cmd
}
