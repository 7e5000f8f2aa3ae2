package mcp

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	mcpgo "github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
)

// StdioOptions tune ServeStdio. The zero value is what `impetus mcp` uses.
type StdioOptions struct {
	// MaxLineBytes bounds one incoming message; a longer line is answered
	// with a parse error and skipped. 0 means 64 MiB.
	MaxLineBytes int
	// Drain is how long requests still running when stdin closes may take
	// to finish (their responses are written) before they are cancelled.
	// 0 means 30s.
	Drain time.Duration
}

// ServeStdio serves MCP over newline-delimited JSON-RPC: messages are read
// from in, one per line, and responses and notifications are written to
// out, one per line, and nothing else is ever written there. Requests run
// concurrently (generate calls then wait their turn in the engine);
// notifications, such as notifications/cancelled, are handled as soon as
// they are read. It returns nil when in ends (after the requests still
// running finish or the drain time passes), or ctx's error when ctx ends
// first, which cancels every request.
func (s *Server) ServeStdio(ctx context.Context, in io.Reader, out io.Writer, opts ...StdioOptions) error {
	var o StdioOptions
	if len(opts) > 0 {
		o = opts[0]
	}
	if o.MaxLineBytes <= 0 {
		o.MaxLineBytes = 64 << 20
	}
	if o.Drain <= 0 {
		o.Drain = 30 * time.Second
	}

	sess := newStdioSession()
	if err := s.mcp.RegisterSession(ctx, sess); err != nil {
		return fmt.Errorf("mcp: %w", err)
	}
	defer s.mcp.UnregisterSession(context.WithoutCancel(ctx), sess.SessionID())

	// Requests get their own contexts so that stdin ending does not cancel
	// them at once, while ctx ending does.
	base, cancelAll := context.WithCancel(s.mcp.WithContext(context.WithoutCancel(ctx), sess))
	defer cancelAll()
	stopOnCtx := context.AfterFunc(ctx, cancelAll)
	defer stopOnCtx()

	w := newStdioWriter(out, sess.notifications)
	go w.run()

	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		inflight = map[string]*inflightRequest{} // by raw JSON id
	)
	dispatch := func(line []byte) {
		var msg struct {
			ID     json.RawMessage `json:"id"`
			Method string          `json:"method"`
			Params json.RawMessage `json:"params"`
			Result json.RawMessage `json:"result"`
			Error  json.RawMessage `json:"error"`
		}
		if line[0] == '[' {
			w.response(errorLine(nil, mcpgo.INVALID_REQUEST, "batched JSON-RPC messages are not supported (MCP removed batching in 2025-06-18): send one message per line"))
			return
		}
		if err := json.Unmarshal(line, &msg); err != nil {
			w.response(errorLine(nil, mcpgo.PARSE_ERROR, "Parse error: "+err.Error()))
			return
		}
		hasID := len(msg.ID) > 0 && string(msg.ID) != "null"
		switch {
		case msg.Method == "" && (msg.Result != nil || msg.Error != nil):
			// A response to a server request; this server sends none.
			s.log.Debug("ignoring a response from the client", "id", string(msg.ID))
		case msg.Method == "" && hasID:
			w.response(errorLine(msg.ID, mcpgo.INVALID_REQUEST, "Invalid Request: method is missing"))
		case !hasID:
			// Notifications are handled in order, at once.
			if msg.Method == string(mcpgo.MethodNotificationCancelled) {
				var p struct {
					RequestID json.RawMessage `json:"requestId"`
				}
				if json.Unmarshal(msg.Params, &p) == nil && len(p.RequestID) > 0 {
					mu.Lock()
					if r := inflight[idKey(p.RequestID)]; r != nil {
						r.cancelled.Store(true)
						r.cancel()
					}
					mu.Unlock()
				}
			}
			if resp := s.HandleMessage(base, line); resp != nil {
				w.response(encode(resp, nil))
			}
		default:
			key := idKey(msg.ID)
			rctx, cancel := context.WithCancel(base)
			r := &inflightRequest{cancel: cancel}
			mu.Lock()
			if inflight[key] != nil {
				mu.Unlock()
				cancel()
				w.response(errorLine(msg.ID, mcpgo.INVALID_REQUEST, "Invalid Request: a request with this id is still running"))
				return
			}
			inflight[key] = r
			mu.Unlock()
			wg.Add(1)
			raw := append(json.RawMessage(nil), line...)
			go func() {
				defer wg.Done()
				defer cancel()
				resp := s.HandleMessage(rctx, raw)
				mu.Lock()
				delete(inflight, key)
				mu.Unlock()
				// A cancelled request gets no response (the client stopped
				// waiting for it), as the specification asks.
				if resp != nil && !r.cancelled.Load() {
					w.response(encode(resp, msg.ID))
				}
			}()
		}
	}

	lines := make(chan []byte)
	readErr := make(chan error, 1)
	go func() {
		r := bufio.NewReaderSize(in, 64<<10)
		for {
			line, tooLong, err := readLine(r, o.MaxLineBytes)
			if tooLong {
				select {
				case lines <- nil:
				case <-base.Done():
					return
				}
			} else if len(bytes.TrimSpace(line)) > 0 {
				select {
				case lines <- bytes.TrimSpace(line):
				case <-base.Done():
					return
				}
			}
			if err != nil {
				readErr <- err
				return
			}
		}
	}()

	var result error
loop:
	for {
		select {
		case line := <-lines:
			if line == nil {
				w.response(errorLine(nil, mcpgo.PARSE_ERROR, fmt.Sprintf("Parse error: message longer than %d bytes", o.MaxLineBytes)))
				continue
			}
			dispatch(line)
		case err := <-readErr:
			if !errors.Is(err, io.EOF) {
				result = fmt.Errorf("mcp: reading stdin: %w", err)
			}
			break loop
		case <-ctx.Done():
			result = ctx.Err()
			break loop
		case <-w.failed:
			result = w.err
			break loop
		}
	}

	// stdin ended: let running requests finish (a pipe such as
	// `echo REQUEST | impetus mcp` wants its answer) for up to Drain.
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(o.Drain):
		s.log.Warn("stdin closed: cancelling requests still running", "after", o.Drain)
		cancelAll()
		<-done
	}
	cancelAll()
	w.close()
	if result == nil && w.err != nil {
		result = w.err
	}
	return result
}

// inflightRequest is a running request: cancel stops it; cancelled marks
// one the client gave up on (it gets no response).
type inflightRequest struct {
	cancel    context.CancelFunc
	cancelled atomic.Bool
}

// idKey is a JSON-RPC id as a map key: 1 and 1.0 are the same request,
// "1" is another.
func idKey(raw json.RawMessage) string {
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return string(raw)
	}
	switch v := v.(type) {
	case float64:
		return fmt.Sprintf("n:%v", v)
	case string:
		return "s:" + v
	}
	return string(raw)
}

// readLine reads one line of at most limit bytes; a longer one is consumed
// and reported as tooLong.
func readLine(r *bufio.Reader, limit int) (line []byte, tooLong bool, err error) {
	var buf []byte
	for {
		chunk, err := r.ReadSlice('\n')
		if len(buf)+len(chunk) > limit {
			tooLong = true
		} else {
			buf = append(buf, chunk...)
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if tooLong {
			return nil, true, err
		}
		return buf, false, err
	}
}

// encode marshals a message; a response that cannot be encoded becomes an
// internal error for the same request id.
func encode(msg mcpgo.JSONRPCMessage, id json.RawMessage) []byte {
	b, err := json.Marshal(msg)
	if err != nil {
		return errorLine(id, mcpgo.INTERNAL_ERROR, "encoding the response: "+err.Error())
	}
	return b
}

// errorLine is a JSON-RPC error response; id nil means null.
func errorLine(id json.RawMessage, code int, message string) []byte {
	if len(id) == 0 {
		id = json.RawMessage("null")
	}
	b, _ := json.Marshal(struct {
		JSONRPC string          `json:"jsonrpc"`
		ID      json.RawMessage `json:"id"`
		Error   struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}{JSONRPC: "2.0", ID: id, Error: struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	}{code, message}})
	return b
}

// stdioWriter is the only writer of stdout. Before a response it writes
// every notification already queued, so a request's progress notifications
// always precede its result.
type stdioWriter struct {
	out           io.Writer
	notifications chan mcpgo.JSONRPCNotification
	responses     chan []byte
	stop          chan struct{}
	stopped       chan struct{}
	failed        chan struct{}
	failOnce      sync.Once
	err           error
}

func newStdioWriter(out io.Writer, notifications chan mcpgo.JSONRPCNotification) *stdioWriter {
	return &stdioWriter{out: out, notifications: notifications, responses: make(chan []byte, 64),
		stop: make(chan struct{}), stopped: make(chan struct{}), failed: make(chan struct{})}
}

// response queues one response line.
func (w *stdioWriter) response(line []byte) {
	select {
	case w.responses <- line:
	case <-w.stopped:
	}
}

func (w *stdioWriter) run() {
	defer close(w.stopped)
	for {
		select {
		case n := <-w.notifications:
			w.write(encode(n, nil))
		case line := <-w.responses:
			w.drainNotifications()
			w.write(line)
		case <-w.stop:
			for {
				select {
				case line := <-w.responses:
					w.drainNotifications()
					w.write(line)
				default:
					w.drainNotifications()
					return
				}
			}
		}
	}
}

func (w *stdioWriter) drainNotifications() {
	for {
		select {
		case n := <-w.notifications:
			w.write(encode(n, nil))
		default:
			return
		}
	}
}

func (w *stdioWriter) write(line []byte) {
	if w.err != nil {
		return
	}
	if _, err := w.out.Write(append(line, '\n')); err != nil {
		w.err = fmt.Errorf("mcp: writing stdout: %w", err)
		w.failOnce.Do(func() { close(w.failed) })
	}
}

// close writes what is queued and stops.
func (w *stdioWriter) close() {
	close(w.stop)
	<-w.stopped
}

// stdioSession is the one client of a stdio connection.
type stdioSession struct {
	id            string
	notifications chan mcpgo.JSONRPCNotification
	initialized   atomic.Bool
	mu            sync.RWMutex
	clientInfo    mcpgo.Implementation
	clientCaps    mcpgo.ClientCapabilities
	logLevel      atomic.Value
}

var stdioSessions atomic.Int64

func newStdioSession() *stdioSession {
	return &stdioSession{
		id:            fmt.Sprintf("stdio-%d", stdioSessions.Add(1)),
		notifications: make(chan mcpgo.JSONRPCNotification, 256),
	}
}

func (s *stdioSession) SessionID() string { return s.id }
func (s *stdioSession) NotificationChannel() chan<- mcpgo.JSONRPCNotification {
	return s.notifications
}
func (s *stdioSession) Initialize()       { s.initialized.Store(true) }
func (s *stdioSession) Initialized() bool { return s.initialized.Load() }

func (s *stdioSession) GetClientInfo() mcpgo.Implementation {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.clientInfo
}
func (s *stdioSession) SetClientInfo(info mcpgo.Implementation) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.clientInfo = info
}
func (s *stdioSession) GetClientCapabilities() mcpgo.ClientCapabilities {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.clientCaps
}
func (s *stdioSession) SetClientCapabilities(c mcpgo.ClientCapabilities) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.clientCaps = c
}
func (s *stdioSession) SetLogLevel(level mcpgo.LoggingLevel) { s.logLevel.Store(level) }
func (s *stdioSession) GetLogLevel() mcpgo.LoggingLevel {
	if l, ok := s.logLevel.Load().(mcpgo.LoggingLevel); ok {
		return l
	}
	return mcpgo.LoggingLevelError
}

var (
	_ server.ClientSession         = (*stdioSession)(nil)
	_ server.SessionWithClientInfo = (*stdioSession)(nil)
	_ server.SessionWithLogging    = (*stdioSession)(nil)
)
