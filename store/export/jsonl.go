package export

import (
	"bufio"
	"encoding/json"
	"io"
)

// jsonlMessage is one entry of a fine-tuning line. Only role and content:
// the OpenAI chat fine-tuning and mlx-lm LoRA "chat" formats both read
// exactly this shape.
type jsonlMessage struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

type jsonlLine struct {
	Messages []jsonlMessage `json:"messages"`
}

type jsonlEncoder struct {
	bw   *bufio.Writer
	enc  *json.Encoder
	opts Options
	line jsonlLine
}

func newJSONLEncoder(w io.Writer, opts Options) *jsonlEncoder {
	bw := bufio.NewWriterSize(w, 64<<10)
	enc := json.NewEncoder(bw) // Encode ends each value with "\n": one line each
	enc.SetEscapeHTML(false)
	return &jsonlEncoder{bw: bw, enc: enc, opts: opts}
}

func (e *jsonlEncoder) Encode(c *Conversation) error {
	c = normalized(c)
	var paths [][]*Message
	if e.opts.ActiveBranchOnly {
		if p := c.ActivePath(); p != nil {
			paths = [][]*Message{p}
		}
	} else {
		paths = c.Branches()
	}
	for _, p := range paths {
		if e.opts.SkipIncomplete {
			p = trimInterrupted(p)
		}
		if !hasReply(p) {
			continue // nothing to learn from a line without an assistant turn
		}
		e.line.Messages = e.line.Messages[:0]
		if e.opts.IncludeSystem && c.SystemPrompt != "" && (len(p) == 0 || p[0].Role != "system") {
			e.line.Messages = append(e.line.Messages, jsonlMessage{"system", c.SystemPrompt})
		}
		for _, m := range p {
			if m.Role == "system" && !e.opts.IncludeSystem {
				continue
			}
			e.line.Messages = append(e.line.Messages, jsonlMessage{m.Role, m.Content})
		}
		if err := e.enc.Encode(&e.line); err != nil {
			return err
		}
	}
	return nil
}

func (e *jsonlEncoder) Close() error { return e.bw.Flush() }

// trimInterrupted cuts a branch before its first interrupted assistant
// reply: the turns after it answer a reply the model never finished, so
// they are dropped with it. Trailing non-assistant turns are dropped too,
// so a line ends on a reply.
func trimInterrupted(p []*Message) []*Message {
	for i, m := range p {
		if m.Role == "assistant" && m.Interrupted() {
			p = p[:i]
			break
		}
	}
	for len(p) > 0 && p[len(p)-1].Role != "assistant" {
		p = p[:len(p)-1]
	}
	return p
}

func hasReply(p []*Message) bool {
	for _, m := range p {
		if m.Role == "assistant" {
			return true
		}
	}
	return false
}
