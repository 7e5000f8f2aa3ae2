package mcp

import (
	"bytes"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"

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

// HTTPHandler serves MCP over Streamable HTTP (mcp-go's transport, one
// session per client) at opts.Path, behind the Host/Origin and token checks
// and the same argument checks as stdio.
func (s *Server) HTTPHandler(opts HTTPOptions) http.Handler {
	if opts.Path == "" {
		opts.Path = "/mcp"
	}
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = 16 << 20
	}
	streamable := server.NewStreamableHTTPServer(s.mcp,
		server.WithEndpointPath(opts.Path),
		server.WithStreamableHTTPLogger(s.log),
		// guard checks Host itself (also for AllowRemote, where mcp-go's
		// loopback-only check would refuse legitimate names).
		server.WithDisableLocalhostProtection(true),
	)
	mux := http.NewServeMux()
	mux.Handle(opts.Path, s.guard(opts, streamable))
	return mux
}

// guard refuses requests from where they should not come, then checks a
// POSTed request's parameters like HandleMessage does.
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
		if r.Method == http.MethodPost && r.Body != nil {
			body, err := io.ReadAll(io.LimitReader(r.Body, opts.MaxBodyBytes+1))
			if err != nil {
				http.Error(w, "reading the request: "+err.Error(), http.StatusBadRequest)
				return
			}
			if int64(len(body)) > opts.MaxBodyBytes {
				http.Error(w, fmt.Sprintf("request larger than %d bytes", opts.MaxBodyBytes), http.StatusRequestEntityTooLarge)
				return
			}
			if resp := s.preflight(r.Context(), body); resp != nil {
				w.Header().Set("Content-Type", "application/json")
				if sid := r.Header.Get(server.HeaderKeySessionID); sid != "" {
					w.Header().Set(server.HeaderKeySessionID, sid)
				}
				json.NewEncoder(w).Encode(resp)
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
			r.ContentLength = int64(len(body))
		}
		next.ServeHTTP(w, r)
	})
}

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

// IsLoopbackAddr reports whether a listen address (host:port) only listens
// on this machine; an empty host means every interface.
func IsLoopbackAddr(addr string) (bool, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false, fmt.Errorf("want HOST:PORT, e.g. 127.0.0.1:8765")
	}
	if host == "" {
		return false, nil
	}
	if ip, err := netip.ParseAddr(strings.Trim(host, "[]")); err == nil {
		return ip.IsLoopback(), nil
	}
	if strings.EqualFold(host, "localhost") {
		return true, nil
	}
	ips, err := net.LookupIP(host)
	if err != nil {
		return false, fmt.Errorf("cannot resolve %s: %w", host, err)
	}
	for _, ip := range ips {
		if !ip.IsLoopback() {
			return false, nil
		}
	}
	return len(ips) > 0, nil
}
