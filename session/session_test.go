package session

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/impetus-llm/impetus/engine"
	"github.com/impetus-llm/impetus/engine/testmodel"
	"github.com/impetus-llm/impetus/store"
)

func newRunner(t *testing.T) *Runner {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "model")
	if err := testmodel.WriteChat(dir, testmodel.Tiny("llama", "f32", 0)); err != nil {
		t.Skipf("cannot write the test model (needs ../shared/testdata): %v", err)
	}
	eng, err := engine.New(engine.Options{Backend: "cpu", Threads: 2, DefaultModel: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close() })
	st, err := store.Open(filepath.Join(t.TempDir(), "h.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return &Runner{Engine: eng, Store: st}
}

func TestTurnsAreRecordedAndTheSecondReusesTheCache(t *testing.T) {
	r := newRunner(t)
	ctx := context.Background()
	var streamed strings.Builder
	first, err := r.Run(ctx, Turn{User: "What is the sea?", System: "Be brief.", MaxTokens: 8}, func(ev engine.Event) {
		streamed.WriteString(ev.Text)
	})
	if err != nil {
		t.Fatal(err)
	}
	conv, err := r.Store.GetConversation(ctx, first.ConversationID)
	if err != nil {
		t.Fatal(err)
	}
	if conv.Title != "What is the sea?" || conv.SystemPrompt != "Be brief." {
		t.Fatalf("conversation %+v", conv)
	}
	path, _ := r.Store.ActivePath(ctx, conv.ID)
	if len(path) != 2 || path[0].Role != store.RoleUser || path[1].Role != store.RoleAssistant {
		t.Fatalf("path %+v", path)
	}
	reply := path[1]
	if reply.Content != first.Result.Text || reply.Content != streamed.String() || !reply.Complete() ||
		reply.CompletionTokens == nil || *reply.CompletionTokens != first.Result.Usage.CompletionTokens {
		t.Fatalf("stored reply %+v vs result %+v", reply, first.Result)
	}

	second, err := r.Run(ctx, Turn{ConversationID: conv.ID, User: "And the sky?", MaxTokens: 4}, nil)
	if err != nil {
		t.Fatal(err)
	}
	u := second.Result.Usage
	if u.CachedTokens == 0 || second.Result.Timings.PrefillTokens != u.PromptTokens-u.CachedTokens {
		t.Fatalf("second turn prefilled %d of %d prompt tokens (cached %d): the prompt cache was not used",
			second.Result.Timings.PrefillTokens, u.PromptTokens, u.CachedTokens)
	}
}

func TestRegenerateMakesASiblingAndEditMakesABranch(t *testing.T) {
	r := newRunner(t)
	ctx := context.Background()
	seed := engine.Sampling{Temperature: 1, Seed: engine.Seed(1)}
	first, err := r.Run(ctx, Turn{User: "Hello", MaxTokens: 4, Sampling: seed}, nil)
	if err != nil {
		t.Fatal(err)
	}
	seed.Seed = engine.Seed(2)
	regen, err := r.Run(ctx, Turn{ConversationID: first.ConversationID, MaxTokens: 4, Sampling: seed}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if regen.UserMessageID != "" {
		t.Fatal("regenerating stored a user message")
	}
	sibs, idx, err := r.Store.Siblings(ctx, regen.MessageID)
	if err != nil || len(sibs) != 2 || idx != 1 {
		t.Fatalf("siblings %d index %d err %v", len(sibs), idx, err)
	}
	// Editing the first user message: a second root, the old branch kept.
	edit, err := r.Run(ctx, Turn{ConversationID: first.ConversationID, User: "Hello again", EditOf: first.UserMessageID, MaxTokens: 4}, nil)
	if err != nil {
		t.Fatal(err)
	}
	path, _ := r.Store.ActivePath(ctx, first.ConversationID)
	if len(path) != 2 || path[0].ID != edit.UserMessageID || path[0].Content != "Hello again" || path[1].ID != edit.MessageID {
		t.Fatalf("active path after the edit: %+v", path)
	}
	roots, _ := r.Store.Children(ctx, first.ConversationID, "")
	if len(roots) != 2 {
		t.Fatalf("%d roots, want the original and the edit", len(roots))
	}
	if _, err := r.Run(ctx, Turn{ConversationID: first.ConversationID, User: "x", EditOf: regen.MessageID}, nil); err == nil {
		t.Fatal("editing an assistant message was accepted")
	}
}

func TestCancelledTurnIsKeptAsStopped(t *testing.T) {
	r := newRunner(t)
	ctx, cancel := context.WithCancel(context.Background())
	n := 0
	reply, err := r.Run(ctx, Turn{User: "Count to a thousand", MaxTokens: 200, Sampling: engine.Sampling{}}, func(ev engine.Event) {
		if ev.Kind == engine.EventToken {
			if n++; n == 3 {
				cancel()
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if reply.Result.FinishReason != engine.FinishCancelled {
		t.Fatalf("finish %s", reply.Result.FinishReason)
	}
	m, err := r.Store.GetMessage(context.Background(), reply.MessageID)
	if err != nil {
		t.Fatal(err)
	}
	if m.Status != store.StatusStopped || m.Content != reply.Result.Text {
		t.Fatalf("stored %q status %s, result %q", m.Content, m.Status, reply.Result.Text)
	}
}

func TestFailureBeforeStartKeepsTheUserMessage(t *testing.T) {
	r := newRunner(t)
	ctx := context.Background()
	long := strings.Repeat("many words here ", 400) // beyond the test model's 512-token context
	reply, err := r.Run(ctx, Turn{User: long, MaxTokens: 8}, nil)
	if !errors.Is(err, engine.ErrContextLength) {
		t.Fatalf("want a context length error, got %v", err)
	}
	if reply == nil || reply.UserMessageID == "" || reply.MessageID != "" {
		t.Fatalf("reply %+v", reply)
	}
	msgs, _ := r.Store.Messages(ctx, reply.ConversationID)
	if len(msgs) != 1 || msgs[0].Content != long {
		t.Fatalf("stored %d messages", len(msgs))
	}
}

func TestTitleFrom(t *testing.T) {
	for in, want := range map[string]string{
		"  Hello\nworld":          "Hello",
		strings.Repeat("ab ", 40): "ab ab ab ab ab ab ab ab ab ab ab ab ab ab ab ab ab ab ab ab…",
		"":                        "",
	} {
		if got := TitleFrom(in); got != want {
			t.Errorf("TitleFrom(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestStatelessTurnsShareThePrefixCache(t *testing.T) {
	// An API client resends the whole history to a new conversation each
	// time: the second request must still reuse the first one's prefix.
	r := newRunner(t)
	ctx := context.Background()
	history := []engine.Message{{Role: "user", Content: "What is the sea?"}, {Role: "assistant", Content: "Water."}}
	first, err := r.Run(ctx, Turn{Prior: history[:1], MaxTokens: 4, CacheByPrefix: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	second, err := r.Run(ctx, Turn{Prior: history, User: "And the sky?", MaxTokens: 4, CacheByPrefix: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if first.ConversationID == second.ConversationID {
		t.Fatal("each stateless turn is its own conversation")
	}
	if second.Result.Usage.CachedTokens == 0 {
		t.Fatalf("the second request prefilled all %d prompt tokens", second.Result.Usage.PromptTokens)
	}
}
