package export

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"
)

// markdownEncoder writes each conversation as a Markdown document: YAML
// front matter with the metadata, a title, then every message of the active
// branch under a role heading, then the other branches. Message content is
// Markdown already and is written verbatim, so code blocks stay intact.
type markdownEncoder struct {
	w    io.Writer
	opts Options
	n    int
}

func (e *markdownEncoder) Encode(c *Conversation) error {
	c = normalized(c)
	bw := bufio.NewWriter(e.w)
	if e.n > 0 {
		bw.WriteString("\n") // documents one after another in one stream
	}
	e.n++
	writeFrontMatter(bw, c)
	fmt.Fprintf(bw, "\n# %s\n", oneLine(titleOf(c)))
	for _, m := range c.ActivePath() {
		writeMarkdownMessage(bw, m, "##")
	}
	if !e.opts.ActiveBranchOnly {
		for i, s := range c.otherBranches() {
			fmt.Fprintf(bw, "\n## Branch %d\n\n", i+2)
			if s.From != nil {
				fmt.Fprintf(bw, "_An alternative continuation after the %s message “%s”._\n", roleName(s.From.Role), mdEscape(excerpt(s.From.Content, 60)))
			} else {
				bw.WriteString("_An alternative beginning of the conversation._\n")
			}
			for _, m := range s.Messages {
				writeMarkdownMessage(bw, m, "###")
			}
		}
	}
	return bw.Flush()
}

func (e *markdownEncoder) Close() error { return nil }

func writeMarkdownMessage(bw *bufio.Writer, m *Message, level string) {
	fmt.Fprintf(bw, "\n%s %s\n\n", level, roleName(m.Role))
	content := strings.TrimRight(m.Content, "\n")
	bw.WriteString(content)
	bw.WriteString("\n")
	if hasUnclosedFence(content) {
		// An interrupted reply may stop inside a code block; close it so the
		// rest of the document is not swallowed by it.
		bw.WriteString("```\n")
	}
	if s := statsLine(m); s != "" {
		fmt.Fprintf(bw, "\n_%s_\n", s)
	}
}

// writeFrontMatter writes the metadata as YAML. Strings are written as
// double-quoted scalars with JSON escapes, which YAML reads identically, or
// as literal blocks when multi-line; settings are JSON, a YAML flow mapping.
func writeFrontMatter(bw *bufio.Writer, c *Conversation) {
	bw.WriteString("---\n")
	yamlField(bw, "title", c.Title)
	yamlField(bw, "id", c.ID)
	if c.Model != "" {
		yamlField(bw, "model", c.Model)
	}
	fmt.Fprintf(bw, "created: %s\n", c.CreatedAt.Format(time.RFC3339Nano))
	fmt.Fprintf(bw, "updated: %s\n", c.UpdatedAt.Format(time.RFC3339Nano))
	if c.Pinned {
		bw.WriteString("pinned: true\n")
	}
	if c.Archived {
		bw.WriteString("archived: true\n")
	}
	if len(c.Tags) > 0 {
		tags, _ := jsonMarshal(c.Tags)
		fmt.Fprintf(bw, "tags: %s\n", tags)
	}
	if c.SystemPrompt != "" {
		yamlField(bw, "system_prompt", c.SystemPrompt)
	}
	if s := compactJSON(c.Settings); s != nil {
		fmt.Fprintf(bw, "settings: %s\n", s)
	}
	fmt.Fprintf(bw, "messages: %d\n", len(c.Messages))
	bw.WriteString("---\n")
}

func yamlField(bw *bufio.Writer, key, value string) {
	if block, ok := yamlLiteral(value); ok {
		fmt.Fprintf(bw, "%s: %s", key, block)
		return
	}
	q, _ := jsonMarshal(value)
	fmt.Fprintf(bw, "%s: %s\n", key, q)
}

// yamlLiteral renders a multi-line string as a YAML literal block scalar
// ("|", "|-" or "|+" chomping so the value reads back exactly). It declines
// strings a block cannot hold exactly: leading blanks on the first line,
// carriage returns, control characters, invalid UTF-8 or trailing spaces.
func yamlLiteral(s string) (string, bool) {
	if !strings.Contains(s, "\n") || !utf8.ValidString(s) || s[0] == ' ' || s[0] == '\t' || s[0] == '\n' {
		return "", false
	}
	for _, r := range s {
		if (r < 0x20 && r != '\n' && r != '\t') || r == 0x7f || r == 0xfeff || r == 0x85 || r == 0x2028 || r == 0x2029 {
			return "", false
		}
	}
	body := strings.TrimRight(s, "\n")
	trailing := len(s) - len(body)
	chomp := "|-"
	switch {
	case trailing == 1:
		chomp = "|"
	case trailing > 1:
		chomp = "|+"
	}
	var b strings.Builder
	b.WriteString(chomp + "\n")
	for _, line := range strings.Split(body, "\n") {
		if strings.HasSuffix(line, " ") || strings.HasSuffix(line, "\t") {
			return "", false // some editors strip trailing blanks; quote instead
		}
		if line == "" {
			b.WriteString("\n")
		} else {
			b.WriteString("  " + line + "\n")
		}
	}
	for i := 1; i < trailing; i++ {
		b.WriteString("\n")
	}
	return b.String(), true
}

func jsonMarshal(v any) (string, error) {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return "", err
	}
	return strings.TrimSuffix(b.String(), "\n"), nil
}

// roleName is the heading for a role: "User", "Assistant", "System", "Tool",
// or the role itself, capitalised, for anything else.
func roleName(role string) string {
	switch role {
	case "":
		return "Unknown"
	case "user", "assistant", "system", "tool":
		return strings.ToUpper(role[:1]) + role[1:]
	}
	r, n := utf8.DecodeRuneInString(role)
	return strings.ToUpper(string(r)) + role[n:]
}

// statsLine summarises a reply's model and timings, e.g.
// "qwen3-4b · 120 tokens · TTFT 210 ms · 35.2 tok/s · stopped: length".
func statsLine(m *Message) string {
	var parts []string
	if m.Model != "" {
		parts = append(parts, m.Model)
	}
	if m.CompletionTokens > 0 {
		parts = append(parts, fmt.Sprintf("%d tokens", m.CompletionTokens))
	}
	if m.TTFTMillis > 0 {
		parts = append(parts, fmt.Sprintf("TTFT %.0f ms", m.TTFTMillis))
	}
	if m.TokensPerSec > 0 {
		parts = append(parts, fmt.Sprintf("%.1f tok/s", m.TokensPerSec))
	}
	switch {
	case m.Status == StatusIncomplete:
		parts = append(parts, "incomplete")
	case m.Status == StatusStopped:
		parts = append(parts, "stopped")
	case m.Status == StatusError && m.Error != "":
		parts = append(parts, "error: "+oneLine(m.Error))
	case m.Status == StatusError:
		parts = append(parts, "error")
	case m.Interrupted():
		parts = append(parts, "finish: "+m.FinishReason)
	}
	return strings.Join(parts, " · ")
}

// hasUnclosedFence reports whether content opens a ``` or ~~~ code fence it
// never closes.
func hasUnclosedFence(content string) bool {
	open := ""
	for _, line := range strings.Split(content, "\n") {
		t := strings.TrimLeft(line, " ")
		if len(line)-len(t) > 3 {
			continue
		}
		for _, ch := range []string{"`", "~"} {
			if strings.HasPrefix(t, ch+ch+ch) {
				n := len(t) - len(strings.TrimLeft(t, ch))
				fence := strings.Repeat(ch, n)
				switch {
				case open == "":
					open = fence
				case strings.HasPrefix(fence, open) && strings.TrimSpace(t[n:]) == "" && fence[0] == open[0]:
					open = ""
				}
			}
		}
	}
	return open != ""
}

func titleOf(c *Conversation) string {
	if strings.TrimSpace(c.Title) != "" {
		return c.Title
	}
	return "Untitled conversation"
}

// oneLine collapses newlines so a value fits on a heading line.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// excerpt is the first n characters of s on one line, with an ellipsis if
// cut.
func excerpt(s string, n int) string {
	s = oneLine(s)
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return strings.TrimSpace(string(r[:n])) + "…"
}

// mdEscape backslash-escapes the characters that would make a quoted
// excerpt turn into markup (emphasis, links, HTML, code) in Markdown.
func mdEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune("\\`*_{}[]<>#+~|&!", r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}
