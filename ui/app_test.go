package ui

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gdamore/tcell/v2"

	"github.com/impetus-llm/impetus/engine"
	"github.com/impetus-llm/impetus/engine/registry"
	"github.com/impetus-llm/impetus/engine/testmodel"
	"github.com/impetus-llm/impetus/store"
	"github.com/impetus-llm/impetus/ui/markdown"
)

var (
	modelOnce sync.Once
	modelDir  string
	modelErr  error
)

// testModel writes the tiny random-weight llama (real tokenizer and chat
// template) once per test binary.
func testModel(t testing.TB) string {
	t.Helper()
	modelOnce.Do(func() {
		dir, err := osMkdirTemp()
		if err != nil {
			modelErr = err
			return
		}
		modelDir = filepath.Join(dir, "tiny-llama")
		modelErr = testmodel.WriteChat(modelDir, testmodel.Tiny("llama", "f32", 0))
	})
	if modelErr != nil {
		t.Skipf("cannot write the test model (needs ../shared/testdata): %v", modelErr)
	}
	return modelDir
}

type harness struct {
	t      testing.TB
	app    *App
	screen tcell.SimulationScreen
	st     *store.Store
	eng    *engine.Engine
	done   chan error
	synced chan struct{}
}

// sync waits until every key injected so far has been handled.
func (h *harness) sync() {
	h.t.Helper()
	h.screen.InjectKey(tcell.KeyF63, 0, tcell.ModNone)
	select {
	case <-h.synced:
	case <-time.After(10 * time.Second):
		h.t.Fatal("keys not handled within 10 s")
	}
}

type harnessOpts struct {
	noModel   bool
	model     string
	maxTokens int
	w, h      int
	db        string
	tokenHook func()
	convID    string
	exportDir string
}

func newHarness(t testing.TB, o harnessOpts) *harness {
	t.Helper()
	if o.w == 0 {
		o.w, o.h = 120, 40
	}
	if o.maxTokens == 0 {
		o.maxTokens = 24
	}
	db := o.db
	if db == "" {
		db = filepath.Join(t.TempDir(), "impetus.db")
	}
	st, err := store.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	eng, err := engine.New(engine.Options{Backend: "cpu", Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	model := o.model
	if model == "" && !o.noModel {
		model = testModel(t)
	}
	scr := tcell.NewSimulationScreen("UTF-8")
	if err := scr.Init(); err != nil {
		t.Fatal(err)
	}
	scr.SetSize(o.w, o.h)
	a, err := New(Options{
		Store: st, Engine: eng, Model: model, MaxTokens: o.maxTokens,
		Sampling:       engine.Sampling{Temperature: 0}, // greedy: the same reply every run
		Screen:         scr,
		ConversationID: o.convID,
		ExportDir:      o.exportDir,
		ListModels: func() ([]registry.Entry, []error) {
			return []registry.Entry{{ID: testModelPath(t), Path: testModelPath(t), Source: "models-dir", Architecture: "llama"}}, nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	a.testTokenHook = o.tokenHook
	h := &harness{t: t, app: a, screen: scr, st: st, eng: eng, done: make(chan error, 1), synced: make(chan struct{}, 1)}
	a.testSync = func() { h.synced <- struct{}{} }
	go func() { h.done <- a.Run() }()
	t.Cleanup(func() {
		h.quit()
		eng.Close()
		st.Close()
	})
	select {
	case <-a.FirstFrame():
	case <-time.After(10 * time.Second):
		t.Fatal("no first frame within 10 s")
	}
	// tview initializes the screen in Run (80×25): set the size asked for.
	scr.SetSize(o.w, o.h)
	a.tv.QueueEvent(tcell.NewEventResize(o.w, o.h))
	h.waitFor("the requested size", func(s string) bool {
		lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
		return len(lines) == o.h && len([]rune(lines[0])) >= o.w
	})
	return h
}

func testModelPath(t testing.TB) string { return testModel(t) }

func (h *harness) quit() {
	select {
	case <-h.done:
		return
	default:
	}
	h.app.tv.QueueUpdate(func() { h.app.Stop() })
	select {
	case <-h.done:
	case <-time.After(10 * time.Second):
		h.t.Error("the app did not quit")
	}
	h.done <- nil // later calls return at once
}

// text is the screen's content, one string per row.
func (h *harness) text() string {
	var out string
	done := make(chan struct{})
	h.app.tv.QueueUpdate(func() {
		cells, w, hh := h.screen.GetContents()
		var b strings.Builder
		for y := 0; y < hh; y++ {
			for x := 0; x < w; x++ {
				c := cells[y*w+x]
				if len(c.Runes) == 0 {
					b.WriteByte(' ')
				} else {
					b.WriteString(string(c.Runes))
				}
			}
			b.WriteByte('\n')
		}
		out = b.String()
		close(done)
	})
	<-done
	return out
}

// onUI runs f on the UI goroutine and waits.
func (h *harness) onUI(f func()) {
	done := make(chan struct{})
	h.app.tv.QueueUpdateDraw(func() { f(); close(done) })
	<-done
}

func (h *harness) waitFor(what string, cond func(screen string) bool) string {
	h.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	var s string
	start := time.Now()
	for time.Now().Before(deadline) {
		h.onUI(func() {})
		s = h.text()
		if cond(s) {
			if el := time.Since(start); el > 300*time.Millisecond {
				h.t.Logf("waiting for %s took %v", what, el)
			}
			return s
		}
		time.Sleep(20 * time.Millisecond)
	}
	h.t.Fatalf("timed out waiting for %s; screen:\n%s", what, s)
	return s
}

func (h *harness) waitText(sub string) string {
	h.t.Helper()
	return h.waitFor(fmt.Sprintf("%q", sub), func(s string) bool { return strings.Contains(s, sub) })
}

func (h *harness) key(k tcell.Key, mod ...tcell.ModMask) {
	m := tcell.ModNone
	if len(mod) > 0 {
		m = mod[0]
	}
	h.screen.InjectKey(k, 0, m)
	h.sync()
}

func (h *harness) rune(r rune, mod ...tcell.ModMask) {
	m := tcell.ModNone
	if len(mod) > 0 {
		m = mod[0]
	}
	h.screen.InjectKey(tcell.KeyRune, r, m)
	h.sync()
}

func (h *harness) typeText(s string) {
	// The simulation screen drops events when its queue is full: one at a time.
	for _, r := range s {
		h.screen.InjectKey(tcell.KeyRune, r, tcell.ModNone)
		h.sync()
	}
}

// waitModel waits until the model is resident.
func (h *harness) waitModel() {
	h.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		ok := false
		h.onUI(func() { ok = h.app.modelInfo != nil })
		if ok {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	h.t.Fatal("model not loaded in 30 s")
}

// waitIdle waits until no reply is being generated and the last reload landed.
func (h *harness) waitIdle() {
	h.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		busy := true
		h.onUI(func() { busy = h.app.generating || h.app.transcript.Streaming() != nil || h.app.pending.Load() > 0 })
		if !busy {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	h.t.Fatal("generation did not end in 30 s")
}

func (h *harness) currentConv() *store.Conversation {
	var c *store.Conversation
	h.onUI(func() { c = h.app.conv })
	return c
}

// send types a message and presses Enter, then waits for the reply to end.
func (h *harness) send(msg string) {
	h.t.Helper()
	h.typeText(msg)
	h.key(tcell.KeyEnter)
	h.waitIdle()
}

// screenShows checks that every stored message of the active branch appears
// on the screen (its first words), i.e. the DB holds what the screen shows.
func (h *harness) checkScreenMatchesDB() {
	h.t.Helper()
	c := h.currentConv()
	if c == nil {
		h.t.Fatalf("no current conversation; screen:\n%s", h.text())
	}
	path, err := h.st.ActivePath(context.Background(), c.ID)
	if err != nil {
		h.t.Fatal(err)
	}
	var shown []*entry
	h.onUI(func() { shown = append(shown, h.app.transcript.entries...) })
	var stored []*entry
	for _, e := range shown {
		if !e.notice && e.role != store.RoleSystem {
			stored = append(stored, e)
		}
	}
	if len(stored) != len(path) {
		h.t.Fatalf("transcript shows %d messages, the active branch in the DB has %d", len(stored), len(path))
	}
	for i, m := range path {
		if stored[i].id != m.ID || stored[i].content != m.Content || stored[i].status != m.Status {
			h.t.Fatalf("message %d: screen %q (%s) vs DB %q (%s)", i, stored[i].content, stored[i].status, m.Content, m.Status)
		}
	}
	// And the cells show the last message's words (the view follows the end).
	if len(path) > 0 {
		last := path[len(path)-1].Content
		words := strings.Fields(last)
		if len(words) > 0 {
			w := words[len(words)-1]
			if len([]rune(w)) > 12 {
				w = string([]rune(w)[:12])
			}
			if scr := h.text(); !strings.Contains(scr, w) {
				h.t.Fatalf("the last stored message ends with %q, not on screen:\n%s", w, scr)
			}
		}
	}
}

func TestSendAndStreamReply(t *testing.T) {
	var tokens int
	var mu sync.Mutex
	h := newHarness(t, harnessOpts{maxTokens: 40, tokenHook: func() {
		mu.Lock()
		tokens++
		mu.Unlock()
		time.Sleep(5 * time.Millisecond)
	}})
	h.waitModel()
	h.waitText("tiny-llama")
	h.waitText("cpu (CPU, ") // the status bar names the backend and its device
	h.typeText("Hello there, model")
	h.key(tcell.KeyEnter)
	// While streaming: the spinner state and the "generating" header.
	h.waitText("generating…")
	h.waitIdle()
	s := h.waitText("Hello there, model")
	if !strings.Contains(s, "Assistant") || !strings.Contains(s, "tok/s") {
		t.Fatalf("no reply with stats on screen:\n%s", s)
	}
	mu.Lock()
	if tokens == 0 {
		t.Fatal("no token was generated")
	}
	mu.Unlock()
	h.checkScreenMatchesDB()
	c := h.currentConv()
	path, _ := h.st.ActivePath(context.Background(), c.ID)
	if len(path) != 2 || path[0].Content != "Hello there, model" || path[1].Role != store.RoleAssistant || path[1].Status != store.StatusComplete {
		t.Fatalf("stored branch: %+v", path)
	}
	if path[1].Content == "" {
		t.Fatal("the stored reply is empty")
	}
	// The list shows the new conversation, titled from the message.
	h.waitText("Hello there, model")
	if !strings.Contains(h.text(), "Conversations (1)") {
		t.Fatalf("list does not show the conversation:\n%s", h.text())
	}
}

func TestStopMidReply(t *testing.T) {
	started := make(chan struct{}, 1)
	h := newHarness(t, harnessOpts{maxTokens: 400, w: 60, h: 13, tokenHook: func() {
		select {
		case started <- struct{}{}:
		default:
		}
		time.Sleep(10 * time.Millisecond)
	}})
	h.waitModel()
	h.typeText("Tell me a long story")
	h.key(tcell.KeyEnter)
	<-started
	deadline := time.Now().Add(20 * time.Second)
	for grown := false; !grown && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		h.onUI(func() { grown = h.app.transcript.total > h.app.transcript.height+4 })
	}
	// Scrolled up, the view stays put while the reply grows; End follows again.
	h.key(tcell.KeyPgUp)
	var top1, top2 int
	var follow bool
	h.onUI(func() { top1, follow = h.app.transcript.top, h.app.transcript.follow })
	time.Sleep(300 * time.Millisecond)
	h.onUI(func() { top2 = h.app.transcript.top })
	if follow || top1 != top2 {
		t.Fatalf("scrolled up: follow=%v, top moved %d → %d", follow, top1, top2)
	}
	h.key(tcell.KeyEnd, tcell.ModAlt)
	h.onUI(func() { follow = h.app.transcript.follow })
	if !follow {
		t.Fatal("Alt-End does not follow the bottom again")
	}
	h.key(tcell.KeyEsc)
	h.waitIdle()
	h.key(tcell.KeyHome, tcell.ModAlt)
	h.waitText("■ stopped")
	c := h.currentConv()
	path, _ := h.st.ActivePath(context.Background(), c.ID)
	if len(path) != 2 || path[1].Status != store.StatusStopped {
		t.Fatalf("stored reply not stopped: %+v", path)
	}
	if n := path[1].CompletionTokens; n == nil || *n >= 400 {
		t.Fatalf("stopped reply has %v tokens", n)
	}
	h.checkScreenMatchesDB()

	// Ctrl-C once while generating also stops (and does not quit).
	h.typeText("again")
	h.key(tcell.KeyEnter)
	<-started
	time.Sleep(100 * time.Millisecond)
	h.key(tcell.KeyCtrlC)
	h.waitIdle()
	select {
	case <-h.done:
		t.Fatal("one Ctrl-C quit the app")
	default:
	}
	path, _ = h.st.ActivePath(context.Background(), c.ID)
	if len(path) != 4 || path[3].Status != store.StatusStopped {
		t.Fatalf("second reply not stopped: %d messages", len(path))
	}
	// Ctrl-C twice quits (the stop above was long enough ago).
	h.onUI(func() { h.app.lastCtrlC = time.Time{} })
	h.key(tcell.KeyCtrlC)
	h.screen.InjectKey(tcell.KeyCtrlC, 0, tcell.ModNone)
	select {
	case <-h.done:
		h.done <- nil
	case <-time.After(5 * time.Second):
		t.Fatal("Ctrl-C twice did not quit")
	}
}

// seed stores conversations directly, as another impetus process would.
func seed(t testing.TB, st *store.Store, title string, msgs ...string) *store.Conversation {
	t.Helper()
	ctx := context.Background()
	c, err := st.CreateConversation(ctx, store.NewConversation{Title: title})
	if err != nil {
		t.Fatal(err)
	}
	for i, m := range msgs {
		role := store.RoleUser
		if i%2 == 1 {
			role = store.RoleAssistant
		}
		if _, err := st.AppendMessage(ctx, store.NewMessage{ConversationID: c.ID, Role: role, Content: m}); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

func TestSwitchSearchRenameDelete(t *testing.T) {
	db := filepath.Join(t.TempDir(), "impetus.db")
	st, err := store.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	seed(t, st, "Rust lifetimes", "How do lifetimes work?", "Lifetimes are **scopes** for references.")
	seed(t, st, "Gardening", "When to plant tomatoes?", "After the last frost; zucchini too.")
	st.Close()
	h := newHarness(t, harnessOpts{noModel: true, db: db})
	s := h.waitText("Gardening")
	if !strings.Contains(s, "Rust lifetimes") || !strings.Contains(s, "No model is loaded") {
		t.Fatalf("list or no-model hint missing:\n%s", s)
	}
	// Switch: focus the list, move down to the second conversation.
	h.key(tcell.KeyTab) // input → list
	h.key(tcell.KeyDown)
	h.waitText("When to plant tomatoes?")
	h.key(tcell.KeyDown)
	s = h.waitText("scopes for references")
	if !strings.Contains(s, "Lifetimes are scopes for references.") {
		t.Fatalf("markdown not rendered:\n%s", s)
	}
	h.checkScreenMatchesDB()

	// Search jumps to the hit.
	h.key(tcell.KeyCtrlF)
	h.waitText("Search all conversations")
	h.typeText("zucchini")
	h.waitText("1 matches")
	h.key(tcell.KeyEnter)
	h.waitFor("the gardening conversation", func(s string) bool {
		return !strings.Contains(s, "Search all") && strings.Contains(s, "After the last frost")
	})
	if c := h.currentConv(); c == nil || c.Title != "Gardening" {
		t.Fatalf("search opened %+v", c)
	}
	var sel *entry
	h.onUI(func() { sel = h.app.transcript.SelectedEntry() })
	if sel == nil || !strings.Contains(sel.content, "zucchini") {
		t.Fatalf("the hit is not the selected message: %+v", sel)
	}
	h.checkScreenMatchesDB()

	// Rename.
	h.key(tcell.KeyF2)
	h.waitText("Rename conversation")
	for i := 0; i < len("Gardening"); i++ {
		h.key(tcell.KeyBackspace2)
	}
	h.typeText("Vegetables")
	h.key(tcell.KeyEnter)
	h.waitFor("renamed title", func(s string) bool {
		return strings.Contains(s, "Vegetables") && !strings.Contains(s, "Gardening")
	})
	c, _ := h.st.GetConversation(context.Background(), h.currentConv().ID)
	if c.Title != "Vegetables" {
		t.Fatalf("stored title %q", c.Title)
	}

	// Delete, with confirmation.
	h.key(tcell.KeyF8)
	h.waitText("cannot be undone")
	h.key(tcell.KeyTab) // Cancel → Delete
	h.key(tcell.KeyEnter)
	s = h.waitFor("deletion", func(s string) bool { return strings.Contains(s, "Conversations (1)") })
	if strings.Contains(s, "│Vegetables") {
		t.Fatalf("deleted conversation still listed:\n%s", s)
	}
	if _, err := h.st.GetConversation(context.Background(), c.ID); err == nil {
		t.Fatal("conversation still in the DB after delete")
	}
	if h.currentConv() != nil {
		t.Fatal("the deleted conversation is still current")
	}
}

func TestRegenerateAndBranch(t *testing.T) {
	h := newHarness(t, harnessOpts{maxTokens: 8})
	h.waitModel()
	h.send("first question")
	h.checkScreenMatchesDB()
	c := h.currentConv()
	// Regenerate the last reply with different sampling so it differs.
	h.onUI(func() {
		temp := 1.5
		h.app.opts.Sampling.Temperature = temp
		h.app.opts.Sampling.Seed = engine.Seed(7)
		h.app.conv.Settings = nil
	})
	h.key(tcell.KeyCtrlR)
	h.waitIdle()
	h.waitText("‹ 2/2 ›")
	msgs, _ := h.st.Messages(context.Background(), c.ID)
	if len(msgs) != 3 {
		t.Fatalf("after regenerate the DB has %d messages, want 3 (user + two sibling replies)", len(msgs))
	}
	h.checkScreenMatchesDB()
	// Previous branch: the first reply again.
	h.key(tcell.KeyLeft, tcell.ModAlt)
	h.waitText("‹ 1/2 ›")
	h.checkScreenMatchesDB()
	path, _ := h.st.ActivePath(context.Background(), c.ID)
	if path[1].ID != msgs[1].ID {
		t.Fatalf("active reply %s, want the first one %s", path[1].ID, msgs[1].ID)
	}

	// Edit the user message: a new branch from the root, the old one kept.
	h.key(tcell.KeyCtrlE)
	h.waitText("Edit message")
	h.onUI(func() { h.app.input.SetText("", false) })
	h.typeText("second version")
	h.key(tcell.KeyEnter)
	h.waitIdle()
	s := h.waitText("second version")
	if strings.Contains(s, "▌  first question") || strings.Contains(s, "│   first question") {
		t.Fatalf("old branch still shown:\n%s", s)
	}
	h.checkScreenMatchesDB()
	msgs, _ = h.st.Messages(context.Background(), c.ID)
	if len(msgs) != 5 {
		t.Fatalf("after edit the DB has %d messages, want 5", len(msgs))
	}
	// The old branch is navigable: the user message shows 2/2 and goes back.
	h.key(tcell.KeyUp, tcell.ModAlt) // select the reply
	h.key(tcell.KeyUp, tcell.ModAlt) // select the user message
	h.key(tcell.KeyLeft, tcell.ModAlt)
	h.waitText("  first question")
	h.checkScreenMatchesDB()
}

func TestResize(t *testing.T) {
	db := filepath.Join(t.TempDir(), "impetus.db")
	st, _ := store.Open(db)
	seed(t, st, "A conversation with a rather long title that needs cutting", "Hi", "# Heading\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n```go\nfunc main() {}\n```")
	st.Close()
	h := newHarness(t, harnessOpts{noModel: true, db: db, w: 200, h: 60})
	h.waitText("A conversation")
	h.key(tcell.KeyTab)
	h.key(tcell.KeyDown)
	s := h.waitText("func main() {}")
	if !strings.Contains(s, "│ 1 │ 2 │") {
		t.Fatalf("table missing at 200×60:\n%s", s)
	}
	for _, size := range [][2]int{{80, 24}, {60, 20}, {200, 60}, {80, 24}} {
		h.screen.SetSize(size[0], size[1])
		h.app.tv.QueueEvent(tcell.NewEventResize(size[0], size[1]))
		s := h.waitFor(fmt.Sprintf("layout at %dx%d", size[0], size[1]), func(s string) bool {
			lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
			return len(lines) == size[1] && strings.Contains(s, "func main() {}") && strings.Contains(s, "F1 help")
		})
		lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
		if size[0] >= 70 && !strings.Contains(s, "Conversations") {
			t.Fatalf("%dx%d: list missing:\n%s", size[0], size[1], s)
		}
		if size[0] < 70 && strings.Contains(s, "Conversations (") {
			t.Fatalf("%dx%d: list should collapse:\n%s", size[0], size[1], s)
		}
		if !strings.Contains(lines[len(lines)-1], "help") {
			t.Fatalf("%dx%d: status bar not on the last line:\n%s", size[0], size[1], s)
		}
	}
}

func TestNoModelAndBadModel(t *testing.T) {
	h := newHarness(t, harnessOpts{model: filepath.Join(t.TempDir(), "missing-model")})
	s := h.waitText("model failed to load")
	if !strings.Contains(s, "impetus pull") {
		t.Fatalf("no hint on how to get a model:\n%s", s)
	}
	// Typing a message does not crash and keeps the text out of the DB.
	h.typeText("hello?")
	h.key(tcell.KeyEnter)
	h.waitText("No model is loaded")
	page, _ := h.st.ListConversations(context.Background(), store.ListOptions{})
	if page.Total != 0 {
		t.Fatalf("%d conversations stored without a model", page.Total)
	}
	// The model picker loads one.
	h.key(tcell.KeyCtrlO)
	h.waitText("Pick a model")
	h.waitText("tiny-llama")
	h.key(tcell.KeyEnter)
	h.waitModel()
	h.onUI(func() { h.app.input.SetText("", false) })
	h.send("now with a model")
	h.checkScreenMatchesDB()
}

func TestErrorMidReplyShownInTranscript(t *testing.T) {
	db := filepath.Join(t.TempDir(), "impetus.db")
	st, _ := store.Open(db)
	c := seed(t, st, "Broken", "question")
	w, err := st.Begin(context.Background(), c.ID, "", store.RoleAssistant, "m")
	if err != nil {
		t.Fatal(err)
	}
	w.Append("partial answer")
	w.Abort("model produced NaN or infinite logits")
	st.Close()
	h := newHarness(t, harnessOpts{noModel: true, db: db, convID: c.ID[:8]})
	s := h.waitText("partial answer")
	if !strings.Contains(s, "✖ error") || !strings.Contains(s, "NaN or infinite logits") {
		t.Fatalf("error not shown:\n%s", s)
	}
}

func TestKeymapConfig(t *testing.T) {
	km, err := NewKeymap(map[string]string{"new_conversation": "ctrl+t", "search": "Alt-s, F7"})
	if err != nil {
		t.Fatal(err)
	}
	ev := tcell.NewEventKey(tcell.KeyCtrlT, 0, tcell.ModCtrl)
	if a, ok := km.Lookup(ev); !ok || a != ActNew {
		t.Fatalf("Ctrl-T → %v %v", a, ok)
	}
	if a, ok := km.Lookup(tcell.NewEventKey(tcell.KeyCtrlN, 0, tcell.ModCtrl)); ok {
		t.Fatalf("Ctrl-N still bound to %v", a)
	}
	if a, ok := km.Lookup(tcell.NewEventKey(tcell.KeyRune, 's', tcell.ModAlt)); !ok || a != ActSearch {
		t.Fatalf("Alt-s → %v", a)
	}
	// Raw control bytes as a terminal sends them map to the same names.
	if a, ok := km.Lookup(tcell.NewEventKey(tcell.KeyRune, 0x14, tcell.ModNone)); !ok || a != ActNew {
		t.Fatalf("raw 0x14 → %v %v", a, ok)
	}
	for _, bad := range []map[string]string{{"fly": "Ctrl-X"}, {"search": "Hyper-Q"}, {"search": "Ctrl-N", "pin": "Ctrl-N"}} {
		if _, err := NewKeymap(bad); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}

func TestRelTime(t *testing.T) {
	now := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	for d, want := range map[time.Duration]string{10 * time.Second: "just now", 5 * time.Minute: "5m ago", 3 * time.Hour: "3h ago", 30 * time.Hour: "yesterday", 72 * time.Hour: "3d ago"} {
		if got := relTime(now.Add(-d), now); got != want {
			t.Errorf("%v: %q, want %q", d, got, want)
		}
	}
}

func osMkdirTemp() (string, error) { return os.MkdirTemp("", "impetus-ui-test-") }

// A configured max_tokens larger than the model's context still gets a
// reply: the turn is retried with the room the context leaves.
func TestMaxTokensLargerThanContext(t *testing.T) {
	h := newHarness(t, harnessOpts{maxTokens: 4096})
	h.waitModel()
	h.send("hi")
	h.checkScreenMatchesDB()
	path, _ := h.st.ActivePath(context.Background(), h.currentConv().ID)
	if len(path) != 2 || path[1].Content == "" || path[1].Status != store.StatusComplete {
		t.Fatalf("no complete reply: %+v", path)
	}
}

// An engine error (here the engine refusing the sampling settings) is shown
// in the transcript; the app keeps running and the typed message is kept.
func TestEngineErrorShownNotCrash(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	h.waitModel()
	h.onUI(func() { h.app.opts.Sampling.TopP = 5 })
	h.send("with bad settings")
	s := h.waitText("Could not generate a reply")
	if !strings.Contains(s, "top_p") {
		t.Fatalf("the engine's reason is not shown:\n%s", s)
	}
	path, _ := h.st.ActivePath(context.Background(), h.currentConv().ID)
	if len(path) != 1 || path[0].Content != "with bad settings" {
		t.Fatalf("the user's message was not kept: %+v", path)
	}
	if !strings.Contains(s, "Your message is saved") {
		t.Fatalf("no hint to retry:\n%s", s)
	}
	// Still usable: with good settings, regenerate answers the saved message.
	h.onUI(func() { h.app.opts.Sampling.TopP = 0.9; h.app.conv.Settings = nil })
	h.key(tcell.KeyCtrlR)
	h.waitIdle()
	path, _ = h.st.ActivePath(context.Background(), h.currentConv().ID)
	if len(path) != 2 || path[1].Role != store.RoleAssistant || path[1].Status != store.StatusComplete {
		t.Fatalf("no reply after the error: %+v", path)
	}
	h.checkScreenMatchesDB()
}

func TestPinArchiveSettingsExport(t *testing.T) {
	db := filepath.Join(t.TempDir(), "impetus.db")
	st, _ := store.Open(db)
	older := seed(t, st, "Older one", "q1", "a1")
	seed(t, st, "Newer one", "q2", "a2")
	st.Close()
	out := t.TempDir()
	h := newHarness(t, harnessOpts{noModel: true, db: db, exportDir: out, convID: older.ID})
	h.waitText("q1")
	ctx := context.Background()

	// Pin: the older conversation moves to the top of the list with a star.
	h.key(tcell.KeyCtrlP)
	h.waitFor("pinned first", func(s string) bool {
		i, j := strings.Index(s, "★ Older one"), strings.Index(s, "Newer one")
		return i >= 0 && j > i
	})
	if c, _ := h.st.GetConversation(ctx, older.ID); !c.Pinned {
		t.Fatal("not pinned in the DB")
	}

	// Settings: a system prompt and a temperature, stored with the conversation.
	h.key(tcell.KeyF3)
	h.waitText("System prompt and sampling")
	h.typeText("Be terse.")
	h.key(tcell.KeyTab) // → temperature
	for i := 0; i < 3; i++ {
		h.key(tcell.KeyBackspace2)
	}
	h.typeText("0.2")
	for i := 0; i < 7; i++ { // → Save
		h.key(tcell.KeyTab)
	}
	h.key(tcell.KeyEnter)
	h.waitText("Be terse.") // shown as the system message
	c, _ := h.st.GetConversation(ctx, older.ID)
	if c.SystemPrompt != "Be terse." || !strings.Contains(string(c.Settings), `"temperature":0.2`) {
		t.Fatalf("stored settings: %q %s", c.SystemPrompt, c.Settings)
	}

	// Export as Markdown into the export directory.
	h.key(tcell.KeyF5)
	h.waitText("Export conversation")
	for i := 0; i < 4; i++ { // → Export button
		h.key(tcell.KeyTab)
	}
	h.key(tcell.KeyEnter)
	h.waitText("Exported to")
	files, _ := filepath.Glob(filepath.Join(out, "*.md"))
	if len(files) != 1 {
		t.Fatalf("export wrote %v", files)
	}
	data, _ := os.ReadFile(files[0])
	if !strings.Contains(string(data), "q1") || !strings.Contains(string(data), "Be terse.") {
		t.Fatalf("export content:\n%s", data)
	}

	// Archive: hidden from the list, shown again with show_archived.
	h.rune('a', tcell.ModAlt)
	h.waitFor("archived", func(s string) bool {
		return !strings.Contains(s, "Older one  ") && strings.Contains(s, "Conversations (1)")
	})
	if c, _ := h.st.GetConversation(ctx, older.ID); !c.Archived {
		t.Fatal("not archived in the DB")
	}
	h.rune('v', tcell.ModAlt)
	h.waitText("All + archived (2)")

	// Help lists every action.
	h.key(tcell.KeyF1)
	s := h.waitText("Keys")
	for _, k := range []string{"new_conversation", "search", "pin"} {
		if !strings.Contains(s, k) {
			t.Fatalf("help lacks %s:\n%s", k, s)
		}
	}
	h.key(tcell.KeyEsc)
	h.waitFor("help closed", func(s string) bool { return !strings.Contains(s, "rebind in config.toml") })
}

func TestListPagesLazilyAndInputKeys(t *testing.T) {
	db := filepath.Join(t.TempDir(), "impetus.db")
	st, _ := store.Open(db)
	for i := 0; i < 40; i++ {
		seed(t, st, fmt.Sprintf("Conversation number %02d", i), "question", "answer")
	}
	st.Close()
	h := newHarness(t, harnessOpts{noModel: true, db: db, w: 100, h: 30})
	h.onUI(func() { h.app.opts.PageSize = 15; h.app.list.loadFirst() })
	h.waitFor("first page", func(s string) bool {
		var n int
		h.onUI(func() { n = len(h.app.list.convs) })
		return n == 15 && strings.Contains(s, "Conversations (40)")
	})
	// Moving down the list loads the next pages as the end comes near.
	h.key(tcell.KeyTab)
	for i := 0; i < 40; i++ {
		h.key(tcell.KeyDown)
	}
	h.waitText("Conversation number 00")
	var n int
	h.onUI(func() { n = len(h.app.list.convs) })
	if n != 40 {
		t.Fatalf("list holds %d of 40 conversations after scrolling to the end", n)
	}

	// The input: Ctrl-J and Alt-Enter insert new lines; ":q" quits.
	h.key(tcell.KeyTab) // list → transcript
	h.key(tcell.KeyTab) // → input
	h.typeText("a")
	h.key(tcell.KeyCtrlJ)
	h.typeText("b")
	h.key(tcell.KeyEnter, tcell.ModAlt)
	h.typeText("c")
	var text string
	h.onUI(func() { text = h.app.input.GetText() })
	if text != "a\nb\nc" {
		t.Fatalf("input holds %q, want a, b, c on three lines", text)
	}
	h.onUI(func() { h.app.input.SetText("", false) })
	h.typeText(":q")
	h.screen.InjectKey(tcell.KeyEnter, 0, tcell.ModNone)
	select {
	case <-h.done:
		h.done <- nil
	case <-time.After(5 * time.Second):
		t.Fatal(":q did not quit")
	}
}

func TestCopyAndMouse(t *testing.T) {
	db := filepath.Join(t.TempDir(), "impetus.db")
	st, _ := store.Open(db)
	seed(t, st, "Code talk", "show code", "Here:\n\n```sh\nls -la\n```\n\nand\n\n```py\nprint(1)\n```\n")
	seed(t, st, "Other talk", "hello", "hi there")
	st.Close()
	h := newHarness(t, harnessOpts{noModel: true, db: db, w: 100, h: 30})
	s := h.waitText("Code talk")
	// A click on a list row opens that conversation.
	lines := strings.Split(s, "\n")
	row := -1
	for i, l := range lines {
		if strings.Contains(l, "Code talk") {
			row = i
		}
	}
	h.screen.InjectMouse(5, row, tcell.Button1, tcell.ModNone)
	h.screen.InjectMouse(5, row, tcell.ButtonNone, tcell.ModNone)
	h.sync()
	h.waitText("ls -la")
	// Copy the last reply, then its code blocks one after the other (OSC 52).
	h.key(tcell.KeyCtrlY)
	h.waitText("Copied the message")
	if got := string(h.screen.GetClipboardData()); !strings.HasPrefix(got, "Here:") {
		t.Fatalf("clipboard holds %q", got)
	}
	h.rune('y', tcell.ModAlt)
	if got := string(h.screen.GetClipboardData()); got != "ls -la\n" {
		t.Fatalf("first code block copied as %q", got)
	}
	h.rune('y', tcell.ModAlt)
	if got := string(h.screen.GetClipboardData()); got != "print(1)\n" {
		t.Fatalf("second code block copied as %q", got)
	}
}

func TestThemes(t *testing.T) {
	for _, name := range []string{"dark", "light"} {
		th, err := LoadTheme(name)
		if err != nil {
			t.Fatal(err)
		}
		if th.Accent == tcell.ColorDefault || th.Markdown.Chroma == "" {
			t.Fatalf("%s: incomplete theme %+v", name, th)
		}
	}
	if _, err := LoadTheme("neon"); err == nil || !strings.Contains(err.Error(), "dark, light") {
		t.Fatalf("unknown theme: %v", err)
	}
	bad := filepath.Join(t.TempDir(), "bad.toml")
	os.WriteFile(bad, []byte(`accent = "notacolour"`), 0o644)
	if _, err := LoadTheme(bad); err == nil || !strings.Contains(err.Error(), "accent") {
		t.Fatalf("bad colour: %v", err)
	}
}

func TestStableCut(t *testing.T) {
	for _, c := range []struct {
		in   string
		want string // the head
	}{
		{"para one\n\npara two", "para one\n\n"},
		{"a\n\n```go\nx\n\ny\n", "a\n\n"},
		{"a\n\n```go\nx\n\ny\n```\n\nz", "a\n\n```go\nx\n\ny\n```\n\n"},
		{"no break yet", ""},
	} {
		if got := c.in[:stableCut(c.in)]; got != c.want {
			t.Errorf("stableCut(%q) head %q, want %q", c.in, got, c.want)
		}
	}
	// Streaming layout equals the full layout once the reply is complete.
	th, _ := LoadTheme("dark")
	src := strings.Repeat("Some **text** here.\n\n```go\nfunc x() {}\n```\n\n- a\n- b\n\n", 40)
	e := &entry{role: store.RoleAssistant, streaming: true}
	var a []markdown.Line
	for i := 0; i <= len(src); i += 37 { // as it streams in
		e.content = src[:i]
		a = e.streamBody(70, &th.Markdown)
	}
	e.content = src
	a = e.streamBody(70, &th.Markdown)
	b := markdown.Render(src, 70, &th.Markdown)
	if len(a) != len(b) {
		t.Fatalf("incremental layout has %d lines, full %d", len(a), len(b))
	}
	for i := range a {
		if a[i].String() != b[i].String() {
			t.Fatalf("line %d: %q vs %q", i, a[i].String(), b[i].String())
		}
	}
}

// A panic in a background task ends the chat with an error instead of
// leaving the terminal in raw mode.
func TestPanicEndsCleanly(t *testing.T) {
	h := newHarness(t, harnessOpts{noModel: true})
	h.onUI(func() {
		h.app.goDB(func(context.Context) func() { panic("boom") })
	})
	select {
	case err := <-h.done:
		h.done <- nil
		if err == nil || !strings.Contains(err.Error(), "boom") {
			t.Fatalf("Run returned %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the app kept running after a panic")
	}
}
