package api

import (
	"encoding/json"
	"net/http"
	"time"
)

// sseWriter writes Server-Sent Events: `data: {json}\n\n` chunks, flushed one
// by one, ended by `data: [DONE]`. Each write has a deadline so that a client
// that stops reading cannot stall the model for everyone: the write fails,
// and the request's context is cancelled when the handler returns.
type sseWriter struct {
	w       http.ResponseWriter
	rc      *http.ResponseController
	timeout time.Duration
	err     error
}

func newSSEWriter(w http.ResponseWriter, timeout time.Duration) *sseWriter {
	return &sseWriter{w: w, rc: http.NewResponseController(w), timeout: timeout}
}

func (s *sseWriter) start() {
	h := s.w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("Connection", "keep-alive")
	h.Set("X-Accel-Buffering", "no")
	s.w.WriteHeader(http.StatusOK)
}

func (s *sseWriter) failed() bool { return s.err != nil }

func (s *sseWriter) send(v any) {
	data, err := json.Marshal(v)
	if err != nil {
		s.err = err
		return
	}
	s.write(append(append([]byte("data: "), data...), '\n', '\n'))
}

func (s *sseWriter) done() { s.write([]byte("data: [DONE]\n\n")) }

func (s *sseWriter) write(b []byte) {
	if s.err != nil {
		return
	}
	s.rc.SetWriteDeadline(time.Now().Add(s.timeout))
	if _, err := s.w.Write(b); err != nil {
		s.err = err
		return
	}
	s.err = s.rc.Flush()
}
