// Package ui is impetus' full-screen chat: a conversation list, the
// transcript of the active branch, a multi-line input and a status bar, with
// dialogs for search, rename, delete, model, settings, export and help.
//
// It talks to the engine and the store only through their APIs and runs
// every turn through package session, so a chat here is recorded exactly like
// one from `impetus run` or the MCP server. The UI goroutine never waits for
// the model or the database: both run in goroutines that hand results back
// with QueueUpdateDraw, and a streaming reply is redrawn at most ~30 times a
// second however fast tokens arrive.
package ui

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gdamore/tcell/v2"
	"github.com/rivo/tview"

	"github.com/impetus-llm/impetus/engine"
	"github.com/impetus-llm/impetus/engine/registry"
	"github.com/impetus-llm/impetus/session"
	"github.com/impetus-llm/impetus/store"
	"github.com/impetus-llm/impetus/ui/markdown"
)

// Options configure the chat.
type Options struct {
	Store  *store.Store
	Engine *engine.Engine
	// Model is loaded after the first frame; "" starts without a model (the
	// history is browsable and the welcome text says how to get one).
	Model string
	// Sampling and MaxTokens are the defaults of a conversation without its
	// own settings.
	Sampling  engine.Sampling
	MaxTokens int
	// Keys override the default bindings (config.toml [keys]).
	Keys map[string]string
	// Theme is "dark", "light" or a theme file path.
	Theme string
	// ConversationID opens this conversation (an id or unique prefix).
	ConversationID string
	// ListModels feeds the model picker (registry.List with the configured
	// places); nil hides local models.
	ListModels func() ([]registry.Entry, []error)
	// ExportDir is where the export dialog proposes to write (default: the
	// working directory).
	ExportDir string
	// ConfigPath and ModelsDir appear in the "how to get a model" text.
	ConfigPath, ModelsDir string
	// Screen replaces the terminal (tests use tcell.NewSimulationScreen).
	Screen tcell.Screen
	Logger *slog.Logger
	// PageSize is how many conversations the list loads at a time (default 100).
	PageSize int
}

// App is the running chat.
type App struct {
	opts   Options
	tv     *tview.Application
	theme  *Theme
	keys   *Keymap
	st     *store.Store
	eng    *engine.Engine
	runner *session.Runner
	log    *slog.Logger

	pages      *tview.Pages
	body       *tview.Flex // list | right column
	right      *tview.Flex
	list       *ConvList
	transcript *Transcript
	input      *tview.TextArea
	status     *StatusBar

	ctx    context.Context
	cancel context.CancelFunc
	bg     sync.WaitGroup // goroutines that must finish before Run returns (generation)

	// State below is touched on the UI goroutine only.
	conv        *store.Conversation // nil: a new conversation not yet stored
	pendingSet  *convSettings       // settings chosen before the first message
	pendingSys  *string
	all         []store.Message // every message of conv (for branch counts)
	path        []store.Message // the active branch
	notices     []*entry
	editing     string // id of the user message being edited
	generating  bool
	genCancel   context.CancelFunc
	convSeq     int // guards against stale conversation loads
	lastCtrlC   time.Time
	listHidden  bool // user toggled the list off
	listAuto    bool // list hidden because the terminal is narrow
	modelRef    string
	modelInfo   *engine.ModelInfo
	modelErr    error
	codeCursor  int // which code block copy_code takes next
	dialogFocus tview.Primitive
	firstDraw   sync.Once
	firstFrame  chan struct{}
	stopped     atomic.Bool
	genFlag     atomic.Bool  // generating, for the ticker
	pending     atomic.Int32 // database loads under way (tests wait for 0)
	panicErr    atomic.Pointer[error]
	curScreen   tcell.Screen

	// Shared with the generation and loading goroutines.
	mu           sync.Mutex
	streamText   strings.Builder
	streamDirty  bool
	streamToks   int
	streamStart  time.Time
	firstTok     time.Time
	prefill      float64 // prompt processing progress of a long prompt
	loadingModel bool
	loadStage    string
	loadFrac     float64
	loadDirty    bool
	flashText    string
	flashErr     bool
	flashUntil   time.Time
	spin         int

	// testTokenHook, when set, runs on every generated token (tests slow
	// generation with it to stop mid-reply deterministically).
	testTokenHook func()
	// testSync, when set, receives the F63 key instead of the views: tests
	// send it after other keys to know those were handled (in order).
	testSync func()
}

// New builds the chat. Nothing touches the database or the model until Run.
func New(opts Options) (*App, error) {
	if opts.Store == nil {
		return nil, errors.New("ui: a store is required")
	}
	if opts.Engine == nil {
		return nil, errors.New("ui: an engine is required")
	}
	theme, err := LoadTheme(opts.Theme)
	if err != nil {
		return nil, err
	}
	km, err := NewKeymap(opts.Keys)
	if err != nil {
		return nil, err
	}
	if opts.PageSize <= 0 {
		opts.PageSize = 100
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	a := &App{
		opts: opts, theme: theme, keys: km, st: opts.Store, eng: opts.Engine, log: log,
		runner:     &session.Runner{Engine: opts.Engine, Store: opts.Store},
		modelRef:   opts.Model,
		firstFrame: make(chan struct{}),
	}
	a.ctx, a.cancel = context.WithCancel(context.Background())
	a.build()
	return a, nil
}

// build lays out the views.
func (a *App) build() {
	th := a.theme
	tview.Styles.PrimitiveBackgroundColor = th.Bg
	tview.Styles.ContrastBackgroundColor = th.SelectedBg
	tview.Styles.MoreContrastBackgroundColor = th.SelectedBg
	tview.Styles.BorderColor = th.Border
	tview.Styles.TitleColor = th.Title
	tview.Styles.PrimaryTextColor = th.Text
	tview.Styles.SecondaryTextColor = th.Accent
	tview.Styles.TertiaryTextColor = th.Dim
	tview.Styles.InverseTextColor = th.HighlightFg
	tview.Styles.ContrastSecondaryTextColor = th.Dim
	tview.Styles.GraphicsColor = th.Border

	a.tv = tview.NewApplication()
	if a.opts.Screen != nil {
		a.tv.SetScreen(a.opts.Screen)
	}
	a.tv.EnableMouse(true)
	a.tv.EnablePaste(true)

	a.list = newConvList(a)
	a.transcript = NewTranscript(th)
	a.transcript.SetBorder(true).SetTitleAlign(tview.AlignLeft)
	a.transcript.SetBorderPadding(0, 0, 1, 1)
	a.transcript.onSelect = func(int) { a.codeCursor = 0 }

	a.input = tview.NewTextArea()
	a.input.SetBorder(true).SetTitleAlign(tview.AlignLeft)
	a.input.SetPlaceholder("Message… Enter sends · Alt-Enter new line · F1 help")
	a.input.SetPlaceholderStyle(th.Style(th.Dim))
	a.input.SetTextStyle(th.Style(th.Text))
	a.input.SetClipboard(func(s string) { a.copyToClipboard(s, "") }, nil)
	a.setInputTitle()

	a.status = newStatusBar(a)

	a.right = tview.NewFlex().SetDirection(tview.FlexRow).
		AddItem(a.transcript, 0, 1, false).
		AddItem(a.input, 5, 0, true)
	a.body = tview.NewFlex().
		AddItem(a.list, 30, 0, false).
		AddItem(a.right, 0, 1, true)
	main := tview.NewFlex().SetDirection(tview.FlexRow).
		AddItem(a.body, 0, 1, true).
		AddItem(a.status, 1, 0, false)
	a.pages = tview.NewPages().AddPage("main", main, true, true)

	for _, b := range []*tview.Box{a.list.Box, a.transcript.Box, a.input.Box} {
		b.SetBorderColor(th.Border).SetTitleColor(th.Dim)
		box := b
		b.SetFocusFunc(func() { box.SetBorderColor(th.BorderFocus).SetTitleColor(th.Title) })
		b.SetBlurFunc(func() { box.SetBorderColor(th.Border).SetTitleColor(th.Dim) })
	}

	a.tv.SetRoot(a.pages, true).SetFocus(a.input)
	a.tv.SetInputCapture(a.onKey)
	a.tv.SetBeforeDrawFunc(a.beforeDraw)
	a.tv.SetAfterDrawFunc(func(tcell.Screen) {
		a.firstDraw.Do(func() {
			close(a.firstFrame)
			a.afterFirstFrame()
		})
	})
	a.showWelcome()
}

// FirstFrame is closed once the first frame has been drawn.
func (a *App) FirstFrame() <-chan struct{} { return a.firstFrame }

// Run shows the chat until the user quits. The terminal is restored when it
// returns, also after a panic in the UI (which is returned as an error).
func (a *App) Run() (err error) {
	defer func() {
		if r := recover(); r != nil {
			a.tv.Stop()
			err = fmt.Errorf("ui: internal error: %v\n%s", r, debug.Stack())
		}
	}()
	go a.ticker()
	err = a.tv.Run()
	a.stopped.Store(true)
	if p := a.panicErr.Load(); p != nil && err == nil {
		err = *p
	}
	a.cancel()
	// Let a reply being generated end as "stopped" in the store.
	done := make(chan struct{})
	go func() { a.bg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
	}
	return err
}

// Stop ends Run (quit).
func (a *App) Stop() {
	if a.genCancel != nil {
		a.genCancel()
	}
	a.tv.Stop()
}

// Quit ends Run from any goroutine (signals): a reply being generated is
// stopped and stored as such.
func (a *App) Quit() {
	if a.stopped.Load() {
		return
	}
	go a.tv.QueueUpdate(a.Stop)
}

// afterFirstFrame starts what may take time: the list, the conversation to
// open, the model.
func (a *App) afterFirstFrame() {
	a.list.loadFirst()
	if id := a.opts.ConversationID; id != "" {
		a.goDB(func(ctx context.Context) func() {
			full, err := a.st.ResolveConversationID(ctx, id)
			if err != nil {
				return func() { a.notice(fmt.Sprintf("--conversation %s: %v", id, err), true) }
			}
			return func() { a.openConversation(full) }
		})
	}
	if a.modelRef != "" {
		a.loadModel(a.modelRef)
	}
}

// goDB runs f off the UI goroutine; the func it returns runs on the UI
// goroutine afterwards (nil: nothing to do).
func (a *App) goDB(f func(ctx context.Context) func()) {
	a.pending.Add(1)
	go func() {
		defer a.recoverGoroutine()
		apply := f(a.ctx)
		if apply != nil && !a.stopped.Load() {
			a.tv.QueueUpdateDraw(func() {
				defer a.pending.Add(-1)
				apply()
			})
			return
		}
		a.pending.Add(-1)
	}()
}

// recoverGoroutine turns a panic in a helper goroutine into a clean exit
// with the terminal restored.
func (a *App) recoverGoroutine() {
	if r := recover(); r != nil {
		err := fmt.Errorf("ui: internal error: %v\n%s", r, debug.Stack())
		a.log.Error(err.Error())
		a.panicErr.CompareAndSwap(nil, &err)
		a.tv.Stop()
	}
}

// ticker redraws at most ~30 times a second while something changes
// (streaming text, the spinner, loading progress, flash messages).
func (a *App) ticker() {
	t := time.NewTicker(33 * time.Millisecond)
	defer t.Stop()
	n := 0
	for {
		select {
		case <-a.ctx.Done():
			return
		case <-t.C:
		}
		n++
		a.mu.Lock()
		busy := a.loadingModel || a.streamDirty || a.loadDirty
		flashExpired := a.flashText != "" && time.Now().After(a.flashUntil)
		a.mu.Unlock()
		if busy || flashExpired || (a.genFlag.Load() && n%3 == 0) {
			a.tv.QueueUpdateDraw(func() {
				a.pullStream()
				if a.generating || a.isLoading() {
					a.mu.Lock()
					a.spin++
					a.mu.Unlock()
				}
				if flashExpired {
					a.mu.Lock()
					if time.Now().After(a.flashUntil) {
						a.flashText = ""
					}
					a.mu.Unlock()
				}
			})
		}
	}
}

func (a *App) isLoading() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.loadingModel
}

// beforeDraw adapts the layout to the terminal size: the list collapses on
// narrow terminals.
func (a *App) beforeDraw(screen tcell.Screen) bool {
	a.curScreen = screen
	w, _ := screen.Size()
	auto := w < 70
	if auto != a.listAuto {
		a.listAuto = auto
	}
	lw := 30
	switch {
	case w < 100:
		lw = 24
	case w >= 160:
		lw = 36
	}
	if a.listHidden || a.listAuto {
		lw = 0
		if a.list.HasFocus() {
			// The application is locked while drawing: move focus afterwards.
			go a.tv.QueueUpdateDraw(func() {
				if a.list.HasFocus() {
					a.tv.SetFocus(a.input)
				}
			})
		}
	}
	a.body.ResizeItem(a.list, lw, 0)
	return false
}

// flash shows a short message in the status bar.
func (a *App) flash(msg string, isErr bool) {
	a.mu.Lock()
	a.flashText, a.flashErr = msg, isErr
	a.flashUntil = time.Now().Add(4 * time.Second)
	a.mu.Unlock()
}

// notice adds a line from impetus (not stored) at the end of the transcript.
func (a *App) notice(msg string, isErr bool) {
	e := &entry{notice: true, isError: isErr, content: msg, dirty: true}
	a.notices = append(a.notices, e)
	a.transcript.Append(e)
	a.transcript.ScrollToBottom()
}

// noModelText says how to get a model.
func (a *App) noModelText() string {
	where := ""
	if a.opts.ModelsDir != "" {
		where = " or a name in " + a.opts.ModelsDir
	}
	cfg := "config.toml"
	if a.opts.ConfigPath != "" {
		cfg = a.opts.ConfigPath
	}
	return "No model is loaded, so replies cannot be generated (your history is all here).\n" +
		"Get one: impetus pull mlx-community/Qwen2.5-0.5B-Instruct-4bit\n" +
		"Then start with: impetus -m mlx-community/Qwen2.5-0.5B-Instruct-4bit (a model directory" + where + " works too),\n" +
		"or set model = \"...\" in " + cfg + ", or pick a local model now with " + a.keys.KeyText(ActModel) + "."
}

// showWelcome sets the text of an empty transcript.
func (a *App) showWelcome() {
	th := a.theme
	title := th.Style(th.Accent).Bold(true)
	dim := th.Style(th.Dim)
	text := th.Style(th.Text)
	lines := []markdown.Line{
		{{Text: "impetus", Style: title}},
		{},
		{{Text: "Type a message below and press Enter.", Style: text}},
		{},
		{{Text: a.keys.KeyText(ActNew), Style: th.Style(th.Accent)}, {Text: " new   ", Style: dim},
			{Text: a.keys.KeyText(ActSearch), Style: th.Style(th.Accent)}, {Text: " search   ", Style: dim},
			{Text: a.keys.KeyText(ActModel), Style: th.Style(th.Accent)}, {Text: " model   ", Style: dim},
			{Text: a.keys.KeyText(ActHelp), Style: th.Style(th.Accent)}, {Text: " all keys", Style: dim}},
	}
	if a.modelRef == "" || a.modelErr != nil {
		lines = append(lines, markdown.Line{})
		for _, l := range strings.Split(a.noModelText(), "\n") {
			lines = append(lines, markdown.Line{{Text: l, Style: th.Style(th.Notice)}})
		}
	}
	a.transcript.empty = lines
}

// setInputTitle names the input's mode.
func (a *App) setInputTitle() {
	switch {
	case a.editing != "":
		a.input.SetTitle(" Edit message — Enter resends as a new branch, Esc cancels ")
	case a.generating:
		a.input.SetTitle(" Message — generating, " + a.keys.KeyText(ActStop) + " stops ")
	default:
		a.input.SetTitle(" Message ")
	}
}

// setTranscriptTitle shows the conversation's title.
func (a *App) setTranscriptTitle() {
	if a.conv == nil {
		a.transcript.SetTitle(" New conversation ")
		return
	}
	t := a.conv.Title
	if t == "" {
		t = "Untitled"
	}
	marks := ""
	if a.conv.Pinned {
		marks += " ★"
	}
	if a.conv.Archived {
		marks += " (archived)"
	}
	a.transcript.SetTitle(" " + t + marks + " ")
}

// copyToClipboard sets the system clipboard with OSC 52 (through tcell,
// which works over SSH and in tmux with set-clipboard on).
func (a *App) copyToClipboard(s, what string) {
	if s == "" {
		return
	}
	if scr := a.screen(); scr != nil {
		scr.SetClipboard([]byte(s))
	}
	if what != "" {
		a.flash(fmt.Sprintf("Copied %s (%d characters) to the clipboard", what, len([]rune(s))), false)
	}
}

// screen is the tcell screen in use (known from the first draw on).
func (a *App) screen() tcell.Screen {
	if a.opts.Screen != nil {
		return a.opts.Screen
	}
	return a.curScreen
}
