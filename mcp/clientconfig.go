package mcp

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// Clients are the MCP clients ClientConfig knows, with where their
// configuration lives.
var Clients = map[string]string{
	"claude":      "Claude Desktop: add to claude_desktop_config.json (macOS: ~/Library/Application Support/Claude/, Windows: %APPDATA%\\Claude\\)",
	"claude-code": "Claude Code: run this command (add --scope user to use it in every project)",
	"vscode":      "VS Code: put in .vscode/mcp.json of the workspace (or the user mcp.json: MCP: Open User Configuration)",
	"cursor":      "Cursor: put in ~/.cursor/mcp.json (or .cursor/mcp.json of a project)",
	"zed":         "Zed: add to settings.json (zed: open settings)",
}

// ClientNames lists the clients ClientConfig knows, sorted.
func ClientNames() []string {
	names := make([]string, 0, len(Clients))
	for n := range Clients {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// ClientConfig returns the configuration snippet that makes client start
// impetus as an MCP server over stdio with command and args, or, when url is
// set, connect to a running `impetus mcp --http` at url (token, if set, is
// sent as a bearer token).
func ClientConfig(client, command string, args []string, url, token string) (string, error) {
	if _, ok := Clients[client]; !ok {
		return "", fmt.Errorf("unknown client %q: choose one of %s", client, strings.Join(ClientNames(), ", "))
	}
	if args == nil {
		args = []string{}
	}
	var headers map[string]string
	if token != "" {
		headers = map[string]string{"Authorization": "Bearer " + token}
	}
	stdio := map[string]any{"command": command, "args": args}
	var doc any
	switch client {
	case "claude":
		if url != "" {
			return "", fmt.Errorf("Claude Desktop starts MCP servers itself over stdio: use --print-config claude without --http")
		}
		doc = map[string]any{"mcpServers": map[string]any{"impetus": stdio}}
	case "claude-code":
		if url != "" {
			cmd := []string{"claude", "mcp", "add", "--transport", "http", "impetus", url}
			if token != "" {
				cmd = append(cmd, "--header", "Authorization: Bearer "+token)
			}
			return shellJoin(cmd) + "\n", nil
		}
		return shellJoin(append([]string{"claude", "mcp", "add", "impetus", "--", command}, args...)) + "\n", nil
	case "vscode":
		entry := map[string]any{"type": "stdio", "command": command, "args": args}
		if url != "" {
			entry = map[string]any{"type": "http", "url": url}
			if headers != nil {
				entry["headers"] = headers
			}
		}
		doc = map[string]any{"servers": map[string]any{"impetus": entry}}
	case "cursor":
		entry := stdio
		if url != "" {
			entry = map[string]any{"url": url}
			if headers != nil {
				entry["headers"] = headers
			}
		}
		doc = map[string]any{"mcpServers": map[string]any{"impetus": entry}}
	case "zed":
		entry := map[string]any{"command": command, "args": args, "env": map[string]string{}}
		if url != "" {
			entry = map[string]any{"url": url}
			if headers != nil {
				entry["headers"] = headers
			}
		}
		doc = map[string]any{"context_servers": map[string]any{"impetus": entry}}
	}
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return "", err
	}
	return string(b) + "\n", nil
}

// shellJoin quotes words for a POSIX shell where needed.
func shellJoin(words []string) string {
	out := make([]string, len(words))
	for i, w := range words {
		if w != "" && strings.IndexFunc(w, func(r rune) bool {
			return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:=@+,", r))
		}) < 0 {
			out[i] = w
			continue
		}
		out[i] = "'" + strings.ReplaceAll(w, "'", `'\''`) + "'"
	}
	return strings.Join(out, " ")
}
