package export

import (
	"encoding/json"
	"sort"
	"time"
)

// Conversation is one conversation with all of its messages, the unit every
// format writes and Read returns. It is the export's own document model, kept
// apart from the store's row structs so that the file formats stay stable when
// the database schema changes; FromStore and the importer translate.
type Conversation struct {
	ID           string          `json:"id"`
	Title        string          `json:"title"`
	Model        string          `json:"model,omitempty"`
	SystemPrompt string          `json:"system_prompt,omitempty"`
	Settings     json.RawMessage `json:"settings,omitempty"` // sampling settings, a JSON object
	CreatedAt    time.Time       `json:"created_at"`
	UpdatedAt    time.Time       `json:"updated_at"`
	Pinned       bool            `json:"pinned,omitempty"`
	Archived     bool            `json:"archived,omitempty"`
	Tags         []string        `json:"tags,omitempty"`
	// ActiveLeafID is the last message of the branch the user was looking
	// at; "" means the newest message.
	ActiveLeafID string    `json:"active_leaf_id,omitempty"`
	Messages     []Message `json:"messages"`
}

// Message is one turn. ParentID links it into the conversation's tree: two
// messages with the same parent are alternative branches (an edited prompt or
// a regenerated reply). An empty ParentID marks a root.
type Message struct {
	ID               string    `json:"id"`
	ParentID         string    `json:"parent_id,omitempty"`
	Role             string    `json:"role"`
	Content          string    `json:"content"`
	Model            string    `json:"model,omitempty"`
	CreatedAt        time.Time `json:"created_at"`
	PromptTokens     int       `json:"prompt_tokens,omitempty"`
	CompletionTokens int       `json:"completion_tokens,omitempty"`
	TTFTMillis       float64   `json:"ttft_ms,omitempty"`
	PrefillTPS       float64   `json:"prefill_tokens_per_sec,omitempty"`
	TokensPerSec     float64   `json:"tokens_per_sec,omitempty"`
	FinishReason     string    `json:"finish_reason,omitempty"`
	// Status is "complete" (or ""), "incomplete" (streaming, or cut off by
	// a crash), "stopped" (by the user) or "error" (Error says why).
	Status   string          `json:"status,omitempty"`
	Error    string          `json:"error,omitempty"`
	Settings json.RawMessage `json:"settings,omitempty"` // sampling settings used for this reply
	Meta     json.RawMessage `json:"meta,omitempty"`     // tool calls, attachments: a JSON object
	// UpdatedAt is when the message last changed (a streamed reply's last
	// delta); zero when unknown.
	UpdatedAt time.Time `json:"updated_at,omitzero"`
}

// Message statuses, as the store records them.
const (
	StatusComplete   = "complete"
	StatusIncomplete = "incomplete"
	StatusStopped    = "stopped"
	StatusError      = "error"
)

// Incomplete reports whether the reply never finished: still streaming or
// cut off by a crash.
func (m *Message) Incomplete() bool { return m.Status == StatusIncomplete }

// Interrupted reports whether a reply did not end on its own: it is still
// marked incomplete (the process died or it is streaming), or its finish
// reason says the user or a limit cut it off. Such replies make poor
// fine-tuning examples, which is what Options.SkipIncomplete is about.
func (m *Message) Interrupted() bool {
	if m.Status != "" && m.Status != StatusComplete {
		return true
	}
	switch m.FinishReason {
	case "cancelled", "canceled", "aborted", "interrupted", "error", "length", "max_tokens":
		return true
	}
	return false
}

// tree indexes a conversation's messages by id and by parent.
type tree struct {
	byID     map[string]*Message
	children map[string][]*Message // parent id ("" for roots) → children in order
}

// sortMessages orders messages by creation time, then id, moving a message
// after its parent where the two disagree (equal timestamps, clock skew), so
// that every parent precedes its children. It is the order every format
// writes and the importer inserts; it makes output independent of the order
// the store returned them in. It reports false if parent links form a cycle.
func sortMessages(ms []Message) bool {
	sort.SliceStable(ms, func(i, j int) bool {
		if !ms[i].CreatedAt.Equal(ms[j].CreatedAt) {
			return ms[i].CreatedAt.Before(ms[j].CreatedAt)
		}
		return ms[i].ID < ms[j].ID
	})
	pos := make(map[string]int, len(ms))
	for i := range ms {
		pos[ms[i].ID] = i
	}
	ok := true
	for i := range ms {
		if j, has := pos[ms[i].ParentID]; has && j > i {
			ok = false
			break
		}
	}
	if ok {
		return true // the common case: already parent-first
	}
	out := make([]Message, 0, len(ms))
	state := make([]byte, len(ms)) // 0 new, 1 visiting, 2 done
	acyclic := true
	var visit func(i int)
	visit = func(i int) {
		switch state[i] {
		case 2:
			return
		case 1:
			acyclic = false
			return
		}
		state[i] = 1
		if j, has := pos[ms[i].ParentID]; has {
			visit(j)
		}
		state[i] = 2
		out = append(out, ms[i])
	}
	for i := range ms {
		visit(i)
	}
	copy(ms, out)
	return acyclic
}

func newTree(c *Conversation) *tree {
	t := &tree{byID: make(map[string]*Message, len(c.Messages)), children: map[string][]*Message{}}
	for i := range c.Messages {
		t.byID[c.Messages[i].ID] = &c.Messages[i]
	}
	for i := range c.Messages {
		m := &c.Messages[i]
		p := m.ParentID
		if _, ok := t.byID[p]; !ok {
			p = "" // a dangling parent is treated as a root rather than losing the message
		}
		t.children[p] = append(t.children[p], m)
	}
	return t
}

// pathTo returns the messages from the root down to m.
func (t *tree) pathTo(m *Message) []*Message {
	var rev []*Message
	seen := map[string]bool{}
	for m != nil && !seen[m.ID] { // seen guards against a cycle in corrupt data
		seen[m.ID] = true
		rev = append(rev, m)
		m = t.byID[m.ParentID]
	}
	for i, j := 0, len(rev)-1; i < j; i, j = i+1, j-1 {
		rev[i], rev[j] = rev[j], rev[i]
	}
	return rev
}

// leaves returns every message without children, in message order.
func (t *tree) leaves(c *Conversation) []*Message {
	var out []*Message
	for i := range c.Messages {
		if len(t.children[c.Messages[i].ID]) == 0 {
			out = append(out, &c.Messages[i])
		}
	}
	return out
}

// ActivePath returns the active branch: the path from the root to the
// conversation's active leaf, or, when none is set, to the most recently
// created message: the branch the user last looked at.
func (c *Conversation) ActivePath() []*Message {
	if len(c.Messages) == 0 {
		return nil
	}
	t := newTree(c)
	return t.pathTo(c.activeLeaf(t))
}

// activeLeaf is the message the active branch ends at. An ActiveLeafID
// naming a message with children (the store allows pointing at any
// message) extends down to the newest leaf below it.
func (c *Conversation) activeLeaf(t *tree) *Message {
	m := t.byID[c.ActiveLeafID]
	if m == nil {
		return latest(t.leaves(c))
	}
	for len(t.children[m.ID]) > 0 {
		m = latest(t.children[m.ID])
	}
	return m
}

func latest(ms []*Message) *Message {
	var best *Message
	for _, m := range ms {
		if best == nil || !m.CreatedAt.Before(best.CreatedAt) {
			best = m
		}
	}
	return best
}

// Branches returns every root-to-leaf path, the active one first, then the
// others in order of their leaves.
func (c *Conversation) Branches() [][]*Message {
	if len(c.Messages) == 0 {
		return nil
	}
	t := newTree(c)
	leaves := t.leaves(c)
	active := c.activeLeaf(t)
	out := [][]*Message{t.pathTo(active)}
	for _, l := range leaves {
		if l != active {
			out = append(out, t.pathTo(l))
		}
	}
	return out
}

// branchSection is a part of the tree that the active path does not show:
// Messages continue from the message with id From ("" when the branch is a
// second root).
type branchSection struct {
	From     *Message
	Messages []*Message
}

// otherBranches splits the non-active branches into sections that each show
// only what earlier sections have not, so Markdown and HTML print every
// message exactly once.
func (c *Conversation) otherBranches() []branchSection {
	bs := c.Branches()
	if len(bs) < 2 {
		return nil
	}
	shown := map[string]bool{}
	for _, m := range bs[0] {
		shown[m.ID] = true
	}
	var out []branchSection
	for _, b := range bs[1:] {
		i := 0
		for i < len(b) && shown[b[i].ID] {
			i++
		}
		if i == len(b) {
			continue
		}
		s := branchSection{Messages: b[i:]}
		if i > 0 {
			s.From = b[i-1]
		}
		for _, m := range s.Messages {
			shown[m.ID] = true
		}
		out = append(out, s)
	}
	return out
}
