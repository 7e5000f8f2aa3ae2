// Package mcp is impetus' Model Context Protocol server: it exposes the local
// engine (generate, list_models) and the conversation history
// (search_conversations, list_conversations, get_conversation,
// export_conversation) as MCP tools, conversations and the model list as
// resources, and two prompts, so that editors and agents can use a local
// model and what was said before.
//
// It is built on github.com/mark3labs/mcp-go's protocol core
// (server.MCPServer: dispatch, schemas, initialize) with two transports of
// its own, written here so that a request's notifications always precede
// its response, a request is cancelled the moment its
// notifications/cancelled arrives, and a cancelled request gets no
// response, as the specification asks:
//
//   - stdio (ServeStdio): newline-delimited JSON-RPC; every line on stdout
//     is one JSON-RPC message written by one goroutine.
//   - Streamable HTTP (HTTPHandler): a session per client (Mcp-Session-Id);
//     each request is answered with JSON, or with its own SSE stream when it
//     sends notifications; Host and Origin are checked against loopback
//     names (DNS rebinding) and an optional bearer token is required.
//
// Both transports run every message through Server.HandleMessage, which
// checks tool arguments against the tool's input schema before dispatch: a
// wrong type, a missing or unknown argument is JSON-RPC -32602 naming the
// field (mcp-go alone would report it as a tool error).
//
//	srv, err := mcp.New(mcp.Options{Engine: eng, Store: st, Models: list, DefaultModel: "..."})
//	err = srv.ServeStdio(ctx, os.Stdin, os.Stdout)
//	// or
//	http.Handle("/", srv.HTTPHandler(mcp.HTTPOptions{Token: token})) // serves /mcp
//
// Generation goes through the engine (one resident model, loaded lazily by
// the first generate, requests queued fairly); saving an exchange goes
// through session.Runner, so a turn recorded over MCP is stored exactly as
// one typed in the TUI.
package mcp
