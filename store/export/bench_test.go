package export

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/impetus-llm/impetus/store"
)

const (
	benchConvs = 10_000
	benchMsgs  = 10 // per conversation: 100k messages in all
)

// benchConversations makes n conversations of benchMsgs alternating turns
// of realistic length (a prompt of ~200 bytes, replies of ~1 KB with code).
func benchConversations(n int) []Conversation {
	reply := "Here is how to do it:\n\n```go\nfor i := range xs {\n\tfmt.Println(i, xs[i])\n}\n```\n\n"
	for len(reply) < 1000 {
		reply += "More explanation of the approach, with ünïcödé and a table | a | b |. "
	}
	prompt := "Please explain how to iterate over a slice in Go, with an example, and what changes with range-over-func in recent versions?"
	out := make([]Conversation, n)
	for i := range out {
		c := Conversation{ID: fmt.Sprintf("C%025d", i), Title: fmt.Sprintf("Conversation %d", i), Model: "qwen3-4b",
			SystemPrompt: "You are helpful.", CreatedAt: t0.Add(time.Duration(i) * time.Minute)}
		c.UpdatedAt = c.CreatedAt
		parent := ""
		for j := 0; j < benchMsgs; j++ {
			m := Message{ID: fmt.Sprintf("M%019d%06d", i, j), ParentID: parent, CreatedAt: c.CreatedAt.Add(time.Duration(j) * time.Second)}
			if j%2 == 0 {
				m.Role, m.Content = "user", prompt
			} else {
				m.Role, m.Content, m.Model, m.CompletionTokens, m.TokensPerSec, m.FinishReason = "assistant", reply, "qwen3-4b", 250, 41.5, "stop"
			}
			c.Messages = append(c.Messages, m)
			parent = m.ID
		}
		out[i] = c
	}
	return out
}

// BenchmarkJSONL10k: encoding alone, 10,000 conversations / 100k messages
// already in memory.
func BenchmarkJSONL10k(b *testing.B) {
	convs := benchConversations(benchConvs)
	b.ResetTimer()
	for b.Loop() {
		if err := Write(io.Discard, JSONL, convs, Options{IncludeSystem: true}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(benchConvs*benchMsgs), "msgs/op")
}

// BenchmarkJSONL10kReference is the floor for the same output: each line
// marshalled directly with encoding/json, no tree walk or options.
func BenchmarkJSONL10kReference(b *testing.B) {
	convs := benchConversations(benchConvs)
	b.ResetTimer()
	for b.Loop() {
		w := bufio.NewWriter(io.Discard)
		for i := range convs {
			line := jsonlLine{Messages: make([]jsonlMessage, 0, len(convs[i].Messages)+1)}
			line.Messages = append(line.Messages, jsonlMessage{"system", convs[i].SystemPrompt})
			for _, m := range convs[i].Messages {
				line.Messages = append(line.Messages, jsonlMessage{m.Role, m.Content})
			}
			data, err := json.Marshal(line)
			if err != nil {
				b.Fatal(err)
			}
			w.Write(data)
			w.WriteByte('\n')
		}
		w.Flush()
	}
}

// TestMain removes the benchmark database, built once per process.
func TestMain(m *testing.M) {
	code := m.Run()
	if benchStorePath != "" {
		os.RemoveAll(filepath.Dir(benchStorePath))
	}
	os.Exit(code)
}

var (
	benchStoreOnce sync.Once
	benchStorePath string
	benchStoreErr  error
)

// benchStore builds, once per process, a database of 10,000 conversations
// and 100k messages (through the store's import, which is what fills it
// fastest).
func benchStore(b *testing.B) *store.Store {
	benchStoreOnce.Do(func() {
		dir, err := os.MkdirTemp("", "impetus-export-bench-")
		if err != nil {
			benchStoreErr = err
			return
		}
		benchStorePath = filepath.Join(dir, "bench.db")
		st, err := store.Open(benchStorePath)
		if err != nil {
			benchStoreErr = err
			return
		}
		defer st.Close()
		_, benchStoreErr = Import(context.Background(), st, benchConversations(benchConvs))
	})
	if benchStoreErr != nil {
		b.Fatal(benchStoreErr)
	}
	st, err := store.Open(benchStorePath)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	return st
}

// BenchmarkExportJSONLFromStore is `impetus export --all --format jsonl`:
// select every conversation, load each from SQLite, encode. Target: under
// 5 s per op on the project machine.
func BenchmarkExportJSONLFromStore(b *testing.B) {
	st := benchStore(b)
	ctx := context.Background()
	out := filepath.Join(b.TempDir(), "all.jsonl")
	defer func(n int) { loadWorkers = n }(loadWorkers)
	for _, workers := range []int{2, 1} {
		b.Run(fmt.Sprintf("loaders=%d", workers), func(b *testing.B) {
			loadWorkers = workers
			cpu0 := cpuTime()
			for b.Loop() {
				ids, err := Select(ctx, st, Selection{All: true})
				if err != nil {
					b.Fatal(err)
				}
				if len(ids) != benchConvs {
					b.Fatalf("%d conversations", len(ids))
				}
				if err := ExportFile(ctx, st, ids, out, JSONL, Options{IncludeSystem: true}, true, nil); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(benchConvs*benchMsgs), "msgs/op")
			// CPU seconds per op (user+system, whole process): what the
			// export costs, whatever else the machine is doing.
			b.ReportMetric((cpuTime()-cpu0).Seconds()/float64(b.N), "cpu-s/op")
		})
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
