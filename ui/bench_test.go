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
	"github.com/impetus-llm/impetus/store"
)

// replyTokens is a realistic Markdown reply cut into word-sized tokens.
func replyTokens() []string {
	reply := "## Answer\n\nHere is **how** it works, with `inline code` and a list:\n\n- first point about the thing\n- second point, a bit longer so that it wraps around the line\n\n" +
		"```go\nfunc main() {\n\tfor i := 0; i < 10; i++ {\n\t\tfmt.Println(i)\n\t}\n}\n```\n\n| col | value |\n|-----|-------|\n| a | 1 |\n\n> a quote to finish\n\n"
	var toks []string
	for _, f := range strings.SplitAfter(strings.Repeat(reply, 8), " ") {
		toks = append(toks, f)
	}
	return toks
}

// benchTranscript builds a transcript with a history of 20 messages and a
// streaming reply, drawn on a 120×40 simulation screen.
func benchTranscript(b *testing.B) (*Transcript, tcell.SimulationScreen) {
	th, err := LoadTheme("dark")
	if err != nil {
		b.Fatal(err)
	}
	tr := NewTranscript(th)
	tr.SetBorder(true)
	scr := tcell.NewSimulationScreen("UTF-8")
	if err := scr.Init(); err != nil {
		b.Fatal(err)
	}
	scr.SetSize(120, 40)
	tr.SetRect(0, 0, 120, 40)
	var es []*entry
	for i := 0; i < 10; i++ {
		es = append(es, &entry{id: fmt.Sprint("u", i), role: store.RoleUser, content: "question number " + fmt.Sprint(i), dirty: true},
			&entry{id: fmt.Sprint("a", i), role: store.RoleAssistant, content: strings.Join(replyTokens()[:80], ""), dirty: true})
	}
	es = append(es, &entry{role: store.RoleAssistant, streaming: true, dirty: true})
	tr.SetEntries(es)
	return tr, scr
}

// benchStream feeds b.N tokens into the streaming reply, drawing the
// transcript every `every` tokens, and reports the tokens per second the
// transcript absorbs. The reply restarts every 800 tokens so that long runs
// measure the same work.
func benchStream(b *testing.B, every int) { benchStreamN(b, every, 800) }

func benchStreamN(b *testing.B, every, restart int) {
	tr, scr := benchTranscript(b)
	toks := replyTokens()
	var sb strings.Builder
	n := 0
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		sb.WriteString(toks[n%len(toks)])
		n++
		if n == restart {
			sb.Reset()
			n = 0
		}
		if i%every == every-1 {
			tr.SetStreamText(sb.String())
			tr.Draw(scr)
			scr.Show()
		}
	}
	el := time.Since(start)
	b.ReportMetric(float64(b.N)/el.Seconds(), "tokens/s")
}

// BenchmarkStreamRender is what the chat does: at 1000 tok/s the ticker
// draws about once every 33 tokens (30 frames a second).
func BenchmarkStreamRender(b *testing.B) { benchStream(b, 33) }

// BenchmarkStreamRenderEveryToken is the reference without coalescing: a
// full layout and draw per token.
func BenchmarkStreamRenderEveryToken(b *testing.B) { benchStream(b, 1) }

// BenchmarkStreamRenderLong streams one 8000-token reply (~45 KB of
// Markdown) at 30 frames/s: the finished blocks are laid out once, so a
// frame costs the same late in the reply as early.
func BenchmarkStreamRenderLong(b *testing.B) { benchStreamN(b, 33, 8000) }

var (
	bigDBOnce sync.Once
	bigDBPath string
	bigDBErr  error
)

// bigDB is a database of 10,000 conversations (two messages each), built
// once per test binary.
func bigDB(b *testing.B) string {
	bigDBOnce.Do(func() {
		dir, err := os.MkdirTemp("", "impetus-ui-bench-")
		if err != nil {
			bigDBErr = err
			return
		}
		bigDBPath = filepath.Join(dir, "impetus.db")
		st, err := store.Open(bigDBPath)
		if err != nil {
			bigDBErr = err
			return
		}
		defer st.Close()
		ctx := context.Background()
		base := time.Now().Add(-10000 * time.Minute)
		for i := 0; i < 10000; i++ {
			at := base.Add(time.Duration(i) * time.Minute)
			conv := store.Conversation{Title: fmt.Sprintf("Conversation %d about topic %d", i, i%97), CreatedAt: at, UpdatedAt: at, Pinned: i%1000 == 0}
			msgs := []store.Message{
				{Role: store.RoleUser, Content: fmt.Sprintf("question %d", i), Status: store.StatusComplete, CreatedAt: at, UpdatedAt: at},
				{Role: store.RoleAssistant, Content: fmt.Sprintf("answer %d with **markdown**", i), Status: store.StatusComplete, CreatedAt: at, UpdatedAt: at},
			}
			if _, err := st.ImportConversation(ctx, conv, msgs); err != nil {
				bigDBErr = err
				return
			}
		}
	})
	if bigDBErr != nil {
		b.Fatal(bigDBErr)
	}
	return bigDBPath
}

// BenchmarkFirstFrame10k opens the chat on a database of 10,000
// conversations: ms to the first frame, and to the list's first page shown.
func BenchmarkFirstFrame10k(b *testing.B) {
	db := bigDB(b)
	var first, listed time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		st, err := store.Open(db)
		if err != nil {
			b.Fatal(err)
		}
		eng, _ := engine.New(engine.Options{Backend: "cpu"})
		scr := tcell.NewSimulationScreen("UTF-8")
		scr.Init()
		scr.SetSize(120, 40)
		a, err := New(Options{Store: st, Engine: eng, Screen: scr})
		if err != nil {
			b.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- a.Run() }()
		<-a.FirstFrame()
		first += time.Since(start)
		for {
			n := 0
			ch := make(chan struct{})
			a.tv.QueueUpdate(func() { n = a.list.total; close(ch) })
			<-ch
			if n == 10000 {
				break
			}
			time.Sleep(time.Millisecond)
		}
		listed += time.Since(start)
		a.tv.QueueUpdate(a.Stop)
		<-done
		eng.Close()
		st.Close()
	}
	b.ReportMetric(float64(first.Microseconds())/1000/float64(b.N), "ms/first-frame")
	b.ReportMetric(float64(listed.Microseconds())/1000/float64(b.N), "ms/list-shown")
}
