package store

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

func TestWriterFlushesOnTimer(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	c, _ := s.CreateConversation(ctx, NewConversation{Title: "stream"})
	mustAppend(t, s, c.ID, RoleUser, "go")
	w, err := s.Begin(ctx, c.ID, "", RoleAssistant, "tiny")
	if err != nil {
		t.Fatal(err)
	}
	m, _ := s.GetMessage(ctx, w.ID())
	if m.Status != StatusIncomplete || m.Content != "" || m.Model != "tiny" {
		t.Fatalf("after Begin: %+v", m)
	}
	// One Append and then silence: the timer, not a later Append, must persist it.
	w.Append("hello ")
	w.Append("world")
	deadline := time.Now().Add(2 * time.Second)
	for {
		// A second connection, as another process would see it.
		other, err := OpenReadOnly(s.Path())
		if err != nil {
			t.Fatal(err)
		}
		m, err = other.GetMessage(ctx, w.ID())
		other.Close()
		if err != nil {
			t.Fatal(err)
		}
		if m.Content == "hello world" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("buffered text not flushed by the timer: %q", m.Content)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if m.Status != StatusIncomplete {
		t.Fatalf("status %s while streaming", m.Status)
	}
	w.Append("!")
	if err := w.Finish(Stats{PromptTokens: 5, CompletionTokens: 3, TTFTMs: 12.5, TokensPerSec: 40, PrefillTokensPerSec: 900, FinishReason: "length"}); err != nil {
		t.Fatal(err)
	}
	m, _ = s.GetMessage(ctx, w.ID())
	if m.Content != "hello world!" || m.Status != StatusComplete || m.FinishReason != "length" || *m.PrefillTokensPerSec != 900 || *m.CompletionTokens != 3 {
		t.Fatalf("after Finish: %+v", m)
	}
	if err := w.Append("late"); !errors.Is(err, ErrWriterClosed) {
		t.Fatalf("Append after Finish: %v", err)
	}
	if err := w.Abort("stopped"); !errors.Is(err, ErrWriterClosed) {
		t.Fatalf("Abort after Finish: %v", err)
	}
	if hits, _ := s.Search(ctx, "world", SearchOptions{}); len(hits) != 1 || hits[0].MessageID != w.ID() {
		t.Fatalf("streamed text not searchable: %+v", hits)
	}
}

func TestWriterAbort(t *testing.T) {
	s := openTemp(t)
	c, _ := s.CreateConversation(context.Background(), NewConversation{})
	// A cancelled generation context must not prevent the final write.
	ctx, cancel := context.WithCancel(context.Background())
	w, err := s.Begin(ctx, c.ID, "", RoleAssistant, "m")
	if err != nil {
		t.Fatal(err)
	}
	w.Append("partial answer")
	cancel()
	if err := w.Abort("stopped"); err != nil {
		t.Fatal(err)
	}
	m, _ := s.GetMessage(context.Background(), w.ID())
	if m.Status != StatusStopped || m.Content != "partial answer" || m.FinishReason != "stopped" {
		t.Fatalf("stopped: %+v", m)
	}
	w2, _ := s.Begin(context.Background(), c.ID, "", RoleAssistant, "m")
	w2.Append("half")
	if err := w2.AbortWithStats("model crashed: out of memory", Stats{CompletionTokens: 2}); err != nil {
		t.Fatal(err)
	}
	m, _ = s.GetMessage(context.Background(), w2.ID())
	if m.Status != StatusError || m.Error != "model crashed: out of memory" || m.Content != "half" || *m.CompletionTokens != 2 {
		t.Fatalf("error: %+v", m)
	}
	if m.ParentID != w.ID() {
		t.Fatalf("second reply should follow the first (active leaf)")
	}
}

// The helper process: re-executed test binary doing one job picked by env.
const helperEnv = "IMPETUS_STORE_HELPER"

func TestHelperProcess(t *testing.T) {
	mode := os.Getenv(helperEnv)
	if mode == "" {
		t.Skip("helper process for other tests")
	}
	if err := runHelper(mode, os.Getenv("IMPETUS_STORE_DB"), os.Getenv("IMPETUS_STORE_CONV")); err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

func runHelper(mode, path, conv string) error {
	ctx := context.Background()
	switch mode {
	case "stream":
		s, err := Open(path)
		if err != nil {
			return err
		}
		w, err := s.Begin(ctx, conv, "", RoleAssistant, "child")
		if err != nil {
			return err
		}
		fmt.Printf("begin %s\n", w.ID())
		for i := 0; ; i++ {
			if err := w.Append(fmt.Sprintf("<%05d>", i)); err != nil {
				return err
			}
			// Unbuffered: the parent sees the line as soon as the delta is buffered.
			fmt.Printf("%d %d\n", i, time.Now().UnixNano())
			time.Sleep(2 * time.Millisecond)
		}
	case "append":
		tag := os.Getenv("IMPETUS_STORE_TAG")
		// First a race to migrate a fresh file.
		fresh, err := Open(os.Getenv("IMPETUS_STORE_FRESH"))
		if err != nil {
			return err
		}
		if v, err := fresh.SchemaVersion(); err != nil || v != LatestSchemaVersion() {
			return fmt.Errorf("fresh db version %d: %v", v, err)
		}
		if _, err := fresh.CreateConversation(ctx, NewConversation{Title: tag}); err != nil {
			return err
		}
		fresh.Close()

		s, err := Open(path)
		if err != nil {
			return err
		}
		defer s.Close()
		n, _ := strconv.Atoi(os.Getenv("IMPETUS_STORE_N"))
		for i := 0; i < n; i++ {
			if i%10 == 9 {
				w, err := s.Begin(ctx, conv, "", RoleAssistant, tag)
				if err != nil {
					return err
				}
				for _, part := range []string{tag, "-", strconv.Itoa(i)} {
					w.Append(part)
					time.Sleep(time.Millisecond)
				}
				if err := w.Finish(Stats{CompletionTokens: 3}); err != nil {
					return err
				}
				continue
			}
			if _, err := s.AppendMessage(ctx, NewMessage{ConversationID: conv, Role: RoleUser, Content: fmt.Sprintf("%s-%d", tag, i)}); err != nil {
				return err
			}
			if i%25 == 0 {
				c, err := s.CreateConversation(ctx, NewConversation{Title: fmt.Sprintf("%s own %d", tag, i)})
				if err != nil {
					return err
				}
				if err := s.RenameConversation(ctx, c.ID, fmt.Sprintf("%s renamed %d", tag, i)); err != nil {
					return err
				}
				if _, err := s.Search(ctx, tag, SearchOptions{Limit: 5}); err != nil {
					return err
				}
			}
		}
		return nil
	}
	return fmt.Errorf("unknown helper mode %q", mode)
}

func helperCommand(t *testing.T, env ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), env...)
	return cmd
}

// A streaming reply whose process is SIGKILLed keeps everything older than
// 200 ms, stays marked incomplete, and leaves a database that passes
// integrity_check.
func TestStreamSurvivesSIGKILL(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	c, _ := s.CreateConversation(ctx, NewConversation{Title: "crash"})
	mustAppend(t, s, c.ID, RoleUser, "count")

	cmd := helperCommand(t, helperEnv+"=stream", "IMPETUS_STORE_DB="+s.Path(), "IMPETUS_STORE_CONV="+c.ID)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	type delta struct {
		i  int
		at time.Time
	}
	var mu sync.Mutex
	var deltas []delta
	var msgID string
	started := make(chan struct{})
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			if len(f) == 2 && f[0] == "begin" {
				msgID = f[1]
				continue
			}
			if len(f) != 2 {
				continue
			}
			i, err1 := strconv.Atoi(f[0])
			ns, err2 := strconv.ParseInt(f[1], 10, 64)
			if err1 != nil || err2 != nil {
				continue
			}
			mu.Lock()
			deltas = append(deltas, delta{i, time.Unix(0, ns)})
			if len(deltas) == 1 {
				close(started)
			}
			mu.Unlock()
		}
	}()
	select {
	case <-started:
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("child never streamed; stderr: %s", stderr.String())
	}
	time.Sleep(700 * time.Millisecond)
	killAt := time.Now()
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	werr := cmd.Wait()
	<-readDone
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("child did not die by SIGKILL: %v; stderr: %s", werr, stderr.String())
	}

	// Everything appended before killAt-200ms must be in the database.
	mustHave := -1
	mu.Lock()
	for _, d := range deltas {
		if d.at.Before(killAt.Add(-200 * time.Millisecond)) {
			mustHave = d.i
		}
	}
	total := len(deltas)
	mu.Unlock()
	if mustHave < 0 {
		t.Fatalf("child appended nothing for 200 ms before the kill (%d deltas)", total)
	}

	after, err := Open(s.Path())
	if err != nil {
		t.Fatal(err)
	}
	defer after.Close()
	if err := after.IntegrityCheck(ctx); err != nil {
		t.Fatal(err)
	}
	ftsIntegrity(t, after)
	m, err := after.GetMessage(ctx, msgID)
	if err != nil {
		t.Fatal(err)
	}
	if m.Status != StatusIncomplete {
		t.Fatalf("killed stream has status %s, want incomplete", m.Status)
	}
	if n, err := after.Counts(ctx); err != nil || n.Incomplete != 1 || n.Messages != 2 || n.Conversations != 1 {
		t.Fatalf("counts after the crash: %+v %v", n, err)
	}
	var want strings.Builder
	for i := 0; i <= mustHave; i++ {
		fmt.Fprintf(&want, "<%05d>", i)
	}
	if !strings.HasPrefix(m.Content, want.String()) {
		t.Fatalf("lost text older than 200 ms: have %d bytes (%d deltas), need the first %d deltas", len(m.Content), len(m.Content)/7, mustHave+1)
	}
	// And what is there is exactly a prefix of what was sent: no torn writes.
	var sent strings.Builder
	for i := 0; i < total+10; i++ {
		fmt.Fprintf(&sent, "<%05d>", i)
	}
	if !strings.HasPrefix(sent.String(), m.Content) {
		t.Fatalf("stored text is not a prefix of the stream: %.80q…", m.Content)
	}
	t.Logf("child streamed %d deltas; %d stored; %d required (older than 200 ms)", total, len(m.Content)/7, mustHave+1)
	if hits, _ := after.Search(ctx, "00001", SearchOptions{}); len(hits) != 1 {
		t.Fatalf("flushed text not in the FTS index: %+v", hits)
	}
}

// Two processes appending to the same conversation at once lose nothing, never
// see SQLITE_BUSY, and (because appends are immediate transactions) keep the
// conversation one linear chain. They also race to migrate a fresh file.
func TestConcurrentProcesses(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	c, _ := s.CreateConversation(ctx, NewConversation{Title: "shared"})
	fresh := s.Path() + ".fresh.db"
	const n = 120
	var cmds []*exec.Cmd
	var outs []*strings.Builder
	for _, tag := range []string{"alpha", "bravo"} {
		cmd := helperCommand(t, helperEnv+"=append", "IMPETUS_STORE_DB="+s.Path(), "IMPETUS_STORE_CONV="+c.ID,
			"IMPETUS_STORE_TAG="+tag, "IMPETUS_STORE_N="+strconv.Itoa(n), "IMPETUS_STORE_FRESH="+fresh)
		var out strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds, outs = append(cmds, cmd), append(outs, &out)
	}
	// Meanwhile this process reads and writes too.
	for i := 0; i < 20; i++ {
		if _, err := s.ListConversations(ctx, ListOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := s.SetPinned(ctx, c.ID, i%2 == 0); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	for i, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Fatalf("child %d: %v\n%s", i, err, outs[i])
		}
		if o := strings.ToLower(outs[i].String()); strings.Contains(o, "locked") || strings.Contains(o, "busy") {
			t.Fatalf("child %d saw contention errors:\n%s", i, o)
		}
	}
	msgs, err := s.Messages(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 2*n {
		t.Fatalf("%d messages, want %d", len(msgs), 2*n)
	}
	have := map[string]bool{}
	children := map[string]int{}
	for _, m := range msgs {
		have[m.Content] = true
		children[m.ParentID]++
		if m.Status != StatusComplete {
			t.Fatalf("message %s left %s", m.ID, m.Status)
		}
	}
	for _, tag := range []string{"alpha", "bravo"} {
		for i := 0; i < n; i++ {
			if !have[fmt.Sprintf("%s-%d", tag, i)] {
				t.Fatalf("lost %s-%d", tag, i)
			}
		}
	}
	for parent, k := range children {
		if k != 1 {
			t.Fatalf("message %q has %d children: concurrent appends forked the chain", parent, k)
		}
	}
	path, _ := s.ActivePath(ctx, c.ID)
	if len(path) != 2*n {
		t.Fatalf("active path has %d messages, want %d", len(path), 2*n)
	}
	if err := s.IntegrityCheck(ctx); err != nil {
		t.Fatal(err)
	}
	ftsIntegrity(t, s)
	f, err := Open(fresh)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var applied, convs int
	f.db.QueryRow(`SELECT count(*) FROM schema_migrations`).Scan(&applied)
	f.db.QueryRow(`SELECT count(*) FROM conversations`).Scan(&convs)
	if applied != LatestSchemaVersion() || convs != 2 {
		t.Fatalf("fresh file raced: %d migrations applied, %d conversations", applied, convs)
	}
}

// ftsIntegrity checks both FTS5 indexes against their content tables.
func ftsIntegrity(t *testing.T, s *Store) {
	t.Helper()
	for _, table := range []string{"messages_fts", "conversations_fts"} {
		if _, err := s.db.Exec(`INSERT INTO ` + table + `(` + table + `, rank) VALUES('integrity-check', 1)`); err != nil {
			t.Fatalf("%s integrity-check: %v", table, err)
		}
	}
}
