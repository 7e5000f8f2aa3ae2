package mcp

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/mark3labs/mcp-go/client"
	mcpgo "github.com/mark3labs/mcp-go/mcp"

	"github.com/impetus-llm/impetus/engine"
)

// BenchmarkGenerate measures what MCP adds to a generation: the same
// 32-token greedy generation on the tiny test model called on the engine
// directly (the reference), through mcp-go's client over the stdio
// transport, and the same with a progressToken (a notification per token).
func BenchmarkGenerate(b *testing.B) {
	f := newFixture(b)
	if _, err := f.eng.Load(context.Background(), f.model, nil); err != nil {
		b.Fatal(err)
	}
	req := engine.Request{Messages: []engine.Message{{Role: "user", Content: "Tell me about the sea"}}, MaxTokens: 32}
	b.Run("engine", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if _, err := f.eng.Generate(context.Background(), req, nil); err != nil {
				b.Fatal(err)
			}
		}
	})
	c := f.benchClient(b)
	for _, progress := range []bool{false, true} {
		name := "mcp-stdio"
		if progress {
			name += "-progress"
		}
		b.Run(name, func(b *testing.B) {
			call := mcpgo.CallToolRequest{}
			call.Params.Name = "generate"
			call.Params.Arguments = map[string]any{"prompt": "Tell me about the sea", "max_tokens": 32}
			for i := 0; i < b.N; i++ {
				if progress {
					call.Params.Meta = &mcpgo.Meta{ProgressToken: i}
				}
				res, err := c.CallTool(context.Background(), call)
				if err != nil || res.IsError {
					b.Fatal(err, res)
				}
			}
		})
	}
}

// BenchmarkArgumentCheck is the cost of checking a generate call's
// arguments against its schema before dispatch.
func BenchmarkArgumentCheck(b *testing.B) {
	f := newFixture(b)
	params, _ := json.Marshal(map[string]any{"name": "generate", "arguments": map[string]any{
		"messages":   []any{map[string]any{"role": "user", "content": "hello"}},
		"max_tokens": 64, "temperature": 0.7, "top_p": 0.9, "seed": 1, "stop": []string{"\n\n"},
	}})
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if perr := f.srv.checkToolCall(params); perr != nil {
			b.Fatal(perr.message)
		}
	}
}

func (f *fixture) benchClient(b *testing.B) *client.Client {
	c, _ := f.stdioClient(b, client.WithLegacyProtocolOnly())
	ctx := context.Background()
	req := mcpgo.InitializeRequest{}
	req.Params.ClientInfo = mcpgo.Implementation{Name: "bench", Version: "1"}
	if _, err := c.Initialize(ctx, req); err != nil {
		b.Fatal(err)
	}
	return c
}
