package mcp

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	mcpgo "github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
)

// HTTPOptions configure the Streamable HTTP transport.
type HTTPOptions struct {
	// Path is the MCP endpoint; default /mcp.
	Path string
	// Token, when set, must be sent as "Authorization: Bearer TOKEN" with
	// every request.
	Token string
	// AllowRemote accepts requests whose Host is not a loopback name (the
	// server listens beyond loopback; the token protects it). Without it
	// only localhost, 127.0.0.0/8 and ::1 are accepted as Host, which
	// defeats DNS rebinding: a web page whose name resolves to 127.0.0.1
	// still sends its own name as Host.
	AllowRemote bool
	// MaxBodyBytes bounds one POSTed message; 0 means 16 MiB.
	MaxBodyBytes int64
}

// HTTPHandler serves MCP over Streamable HTTP at opts.Path behind the
// Host/Origin and token checks. Each client gets a session (Mcp-Session-Id)
// at initialize; a request is answered with JSON, or with an SSE stream
// when it produces notifications (generate's progress): that request's
// notifications, then its response, on its own stream, in order. There is
// no standalone GET stream (405): this server sends nothing unasked.
func (s *Server) HTTPHandler(opts HTTPOptions) http.Handler {
	if opts.Path == "" {
		opts.Path = "/mcp"
	}
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = 16 << 20
	}
	h := &httpTransport{s: s, opts: opts, sessions: map[string]*httpSession{}}
	mux := http.NewServeMux()
	mux.Handle(opts.Path, s.guard(opts, h))
	return mux
}

// guard refuses requests from where they should not come.
func (s *Server) guard(opts HTTPOptions, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !opts.AllowRemote && !loopbackHost(r.Host) {
			s.log.Warn("refused a request with a non-loopback Host", "host", r.Host, "remote", r.RemoteAddr)
			http.Error(w, fmt.Sprintf("Forbidden: Host %q is not a loopback name; this server only answers http://127.0.0.1 or http://localhost (DNS rebinding protection)", r.Host), http.StatusForbidden)
			return
		}
		if origin := r.Header.Get("Origin"); origin != "" && !allowedOrigin(origin, r.Host, opts.AllowRemote) {
			s.log.Warn("refused a request from a web origin", "origin", origin, "remote", r.RemoteAddr)
			http.Error(w, fmt.Sprintf("Forbidden: requests from web origin %q are not allowed", origin), http.StatusForbidden)
			return
		}
		if opts.Token != "" {
			auth := r.Header.Get("Authorization")
			token, ok := strings.CutPrefix(auth, "Bearer ")
			if !ok || subtle.ConstantTimeCompare([]byte(strings.TrimSpace(token)), []byte(opts.Token)) != 1 {
				w.Header().Set("WWW-Authenticate", `Bearer realm="impetus"`)
				http.Error(w, "Unauthorized: send the server's token as 'Authorization: Bearer TOKEN'", http.StatusUnauthorized)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// Session limits of the HTTP transport.
const (
	httpSessionIdle = time.Hour // a session unused this long is forgotten
	httpMaxSessions = 1000
)

type httpTransport struct {
	s    *Server
	opts HTTPOptions

	mu       sync.Mutex
	sessions map[string]*httpSession
}

// httpSession is one client: what initialize told us and its requests in
// flight (for notifications/cancelled).
type httpSession struct {
	id          string
	initialized atomic.Bool
	lastUsed    atomic.Int64 // unix nanoseconds

	mu         sync.Mutex
	clientInfo mcpgo.Implementation
	clientCaps mcpgo.ClientCapabilities
	inflight   map[string]*inflightRequest
}

// legacyVersions are the protocol versions this transport serves: the
// stateless 2026-07-28 protocol has no sessions, so server/discover offers
// the initialize-era versions and clients negotiate down to them.
var legacyVersions = mcpgo.LegacyProtocolVersions()

func (h *httpTransport) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodPost:
		h.post(w, r)
	case http.MethodDelete:
		id := r.Header.Get(server.HeaderKeySessionID)
		h.mu.Lock()
		_, ok := h.sessions[id]
		delete(h.sessions, id)
		h.mu.Unlock()
		if !ok {
			http.Error(w, "unknown session", http.StatusNotFound)
			return
		}
		w.WriteHeader(http.StatusOK)
	case http.MethodGet:
		w.Header().Set("Allow", "POST, DELETE")
		http.Error(w, "this server sends no unrequested messages: there is no GET stream", http.StatusMethodNotAllowed)
	default:
		w.Header().Set("Allow", "POST, DELETE")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	}
}

func writeJSON(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(append(body, '\n'))
}

func (h *httpTransport) post(w http.ResponseWriter, r *http.Request) {
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		http.Error(w, "Content-Type must be application/json", http.StatusUnsupportedMediaType)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, h.opts.MaxBodyBytes+1))
	if err != nil {
		http.Error(w, "reading the request: "+err.Error(), http.StatusBadRequest)
		return
	}
	if int64(len(body)) > h.opts.MaxBodyBytes {
		http.Error(w, fmt.Sprintf("request larger than %d bytes", h.opts.MaxBodyBytes), http.StatusRequestEntityTooLarge)
		return
	}
	body = bytes.TrimSpace(body)
	if len(body) > 0 && body[0] == '[' {
		writeJSON(w, http.StatusBadRequest, errorLine(nil, mcpgo.INVALID_REQUEST, "batched JSON-RPC messages are not supported: send one message per request"))
		return
	}
	var msg struct {
		ID     json.RawMessage `json:"id"`
		Method string          `json:"method"`
		Params json.RawMessage `json:"params"`
	}
	if err := json.Unmarshal(body, &msg); err != nil {
		writeJSON(w, http.StatusBadRequest, errorLine(nil, mcpgo.PARSE_ERROR, "Parse error: "+err.Error()))
		return
	}
	hasID := len(msg.ID) > 0 && string(msg.ID) != "null"

	// The stateless 2026-07-28 protocol (server/discover, the version in
	// each request's _meta) has no sessions; this transport is session-based,
	// so such a request gets the versions it serves, and the client
	// negotiates down to the initialize handshake.
	if version := modernVersion(msg.Params); version != "" || msg.Method == string(mcpgo.MethodServerDiscover) {
		if version == "" {
			version = r.Header.Get(mcpgo.HeaderProtocolVersion)
		}
		var id any
		json.Unmarshal(msg.ID, &id)
		e := mcpgo.UnsupportedProtocolVersionError{Version: version, Supported: legacyVersions}.JSONRPCError()
		e.ID = mcpgo.NewRequestId(id)
		writeJSON(w, http.StatusBadRequest, encode(e, msg.ID))
		return
	}

	if v := r.Header.Get(mcpgo.HeaderProtocolVersion); v != "" && msg.Method != string(mcpgo.MethodInitialize) && !contains(legacyVersions, v) {
		writeJSON(w, http.StatusBadRequest, errorLine(msg.ID, mcpgo.INVALID_REQUEST,
			fmt.Sprintf("Bad Request: unsupported %s %q (this server speaks %s)", mcpgo.HeaderProtocolVersion, v, strings.Join(legacyVersions, ", "))))
		return
	}

	var sess *httpSession
	switch {
	case msg.Method == string(mcpgo.MethodInitialize):
		if sess = h.newSession(); sess == nil {
			http.Error(w, "too many sessions; try again later", http.StatusServiceUnavailable)
			return
		}
	default:
		id := r.Header.Get(server.HeaderKeySessionID)
		if id == "" {
			writeJSON(w, http.StatusBadRequest, errorLine(msg.ID, mcpgo.INVALID_REQUEST, "Bad Request: Mcp-Session-Id header required (send initialize first)"))
			return
		}
		if sess = h.session(id); sess == nil {
			writeJSON(w, http.StatusNotFound, errorLine(msg.ID, mcpgo.INVALID_REQUEST, "session not found or expired: initialize again"))
			return
		}
	}

	ctx := server.WithSupportedProtocolVersions(r.Context(), legacyVersions)
	if !hasID {
		// A notification (or a response, which this server never asks for).
		if msg.Method == string(mcpgo.MethodNotificationCancelled) {
			var p struct {
				RequestID json.RawMessage `json:"requestId"`
			}
			if json.Unmarshal(msg.Params, &p) == nil && len(p.RequestID) > 0 {
				sess.cancel(idKey(p.RequestID))
			}
		}
		if msg.Method != "" {
			h.s.HandleMessage(h.s.mcp.WithContext(ctx, &httpStream{httpSession: sess}), body)
		}
		w.WriteHeader(http.StatusAccepted)
		return
	}

	key := idKey(msg.ID)
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	req := &inflightRequest{cancel: cancel}
	sess.mu.Lock()
	if sess.inflight[key] != nil {
		sess.mu.Unlock()
		writeJSON(w, http.StatusBadRequest, errorLine(msg.ID, mcpgo.INVALID_REQUEST, "Invalid Request: a request with this id is still running"))
		return
	}
	sess.inflight[key] = req
	sess.mu.Unlock()
	defer func() {
		sess.mu.Lock()
		delete(sess.inflight, key)
		sess.mu.Unlock()
	}()

	// The request's own stream: its notifications go there, in order,
	// before its response.
	stream := &httpStream{httpSession: sess, notifications: make(chan mcpgo.JSONRPCNotification, 256)}
	done := make(chan mcpgo.JSONRPCMessage, 1)
	go func() { done <- h.s.HandleMessage(h.s.mcp.WithContext(rctx, stream), body) }()

	canStream := strings.Contains(r.Header.Get("Accept"), "text/event-stream")
	flusher, _ := w.(http.Flusher)
	sse := false
	writeEvent := func(v any) {
		b, err := json.Marshal(v)
		if err != nil {
			return
		}
		fmt.Fprintf(w, "event: message\ndata: %s\n\n", b)
		if flusher != nil {
			flusher.Flush()
		}
	}
	startSSE := func() {
		if sse {
			return
		}
		sse = true
		w.Header().Set("Content-Type", "text/event-stream")
		w.Header().Set("Cache-Control", "no-cache")
		if msg.Method == string(mcpgo.MethodInitialize) && sess.id != "" {
			w.Header().Set(server.HeaderKeySessionID, sess.id)
		}
		w.WriteHeader(http.StatusOK)
	}
	var resp mcpgo.JSONRPCMessage
wait:
	for {
		select {
		case n := <-stream.notifications:
			if canStream {
				startSSE()
				writeEvent(n)
			}
		case resp = <-done:
			break wait
		}
	}
	for drained := false; !drained; {
		select {
		case n := <-stream.notifications:
			if canStream {
				startSSE()
				writeEvent(n)
			}
		default:
			drained = true
		}
	}
	if msg.Method == string(mcpgo.MethodInitialize) {
		if _, failed := resp.(mcpgo.JSONRPCError); failed {
			h.mu.Lock()
			delete(h.sessions, sess.id)
			h.mu.Unlock()
		}
	}
	if resp == nil || req.cancelled.Load() || r.Context().Err() != nil {
		// Cancelled by the client: no response, as the specification asks.
		if !sse {
			w.WriteHeader(http.StatusAccepted)
		}
		return
	}
	if sse {
		writeEvent(resp)
		return
	}
	if msg.Method == string(mcpgo.MethodInitialize) && sess.id != "" {
		w.Header().Set(server.HeaderKeySessionID, sess.id)
	}
	writeJSON(w, http.StatusOK, encode(resp, msg.ID))
}

// modernVersion is the 2026-07-28-era protocol version a request declares
// in its _meta, or "".
func modernVersion(params json.RawMessage) string {
	var p struct {
		Meta map[string]any `json:"_meta"`
	}
	if json.Unmarshal(params, &p) != nil {
		return ""
	}
	v, _ := p.Meta[mcpgo.MetaKeyProtocolVersion].(string)
	if v == "" || !mcpgo.IsModernProtocol(v) {
		return ""
	}
	return v
}

// newSession starts a client session, forgetting idle ones; nil when the
// server holds too many.
func (h *httpTransport) newSession() *httpSession {
	h.mu.Lock()
	defer h.mu.Unlock()
	now := time.Now().UnixNano()
	for id, s := range h.sessions {
		if now-s.lastUsed.Load() > int64(httpSessionIdle) {
			delete(h.sessions, id)
		}
	}
	if len(h.sessions) >= httpMaxSessions {
		return nil
	}
	var b [16]byte
	rand.Read(b[:])
	s := &httpSession{id: hex.EncodeToString(b[:]), inflight: map[string]*inflightRequest{}}
	s.lastUsed.Store(now)
	h.sessions[s.id] = s
	return s
}

func (h *httpTransport) session(id string) *httpSession {
	h.mu.Lock()
	defer h.mu.Unlock()
	s := h.sessions[id]
	if s == nil {
		return nil
	}
	if time.Now().UnixNano()-s.lastUsed.Load() > int64(httpSessionIdle) {
		delete(h.sessions, id)
		return nil
	}
	s.lastUsed.Store(time.Now().UnixNano())
	return s
}

func (s *httpSession) cancel(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r := s.inflight[key]; r != nil {
		r.cancelled.Store(true)
		r.cancel()
	}
}

// httpStream is the session as one request sees it: notifications sent
// while it runs go to its own response stream.
type httpStream struct {
	*httpSession
	notifications chan mcpgo.JSONRPCNotification
}

func (s *httpStream) SessionID() string { return s.id }
func (s *httpStream) NotificationChannel() chan<- mcpgo.JSONRPCNotification {
	if s.notifications == nil {
		// A notification's handling has no stream to answer on.
		return make(chan mcpgo.JSONRPCNotification)
	}
	return s.notifications
}
func (s *httpStream) Initialize()       { s.initialized.Store(true) }
func (s *httpStream) Initialized() bool { return s.initialized.Load() }
func (s *httpStream) GetClientInfo() mcpgo.Implementation {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.clientInfo
}
func (s *httpStream) SetClientInfo(info mcpgo.Implementation) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.clientInfo = info
}
func (s *httpStream) GetClientCapabilities() mcpgo.ClientCapabilities {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.clientCaps
}
func (s *httpStream) SetClientCapabilities(c mcpgo.ClientCapabilities) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.clientCaps = c
}

var (
	_ server.ClientSession         = (*httpStream)(nil)
	_ server.SessionWithClientInfo = (*httpStream)(nil)
)

// loopbackHost reports whether a Host header (host or host:port) names this
// machine's loopback interface.
func loopbackHost(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.Trim(host, "[]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

// allowedOrigin accepts browser origins on loopback and, for a server open
// to the network, the server's own origin.
func allowedOrigin(origin, host string, allowRemote bool) bool {
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return false
	}
	if loopbackHost(u.Host) {
		return true
	}
	return allowRemote && strings.EqualFold(u.Host, host)
}
