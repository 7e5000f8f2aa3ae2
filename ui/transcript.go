package ui

import (
	"fmt"
	"strings"

	"github.com/gdamore/tcell/v2"
	"github.com/rivo/tview"
	"github.com/rivo/uniseg"

	"github.com/impetus-llm/impetus/store"
	"github.com/impetus-llm/impetus/ui/markdown"
)

// entry is one block of the transcript: a stored message of the active
// branch, the reply streaming in, or a notice that is not stored (errors,
// hints).
type entry struct {
	id       string
	role     store.Role // "" for a notice
	content  string
	status   store.Status
	errText  string
	model    string
	stats    string // "TTFT 120 ms · 35.2 tok/s"
	sibIndex int    // position among siblings (0-based) and their number
	sibCount int
	// streaming marks the reply being generated: laid out again every frame.
	streaming bool
	notice    bool
	isError   bool // a notice shown as an error

	// Layout cache: lines for width, valid while !dirty.
	lines []markdown.Line
	width int
	dirty bool
	// A streaming reply's finished blocks (text before its last paragraph
	// break outside code) are laid out once; only the tail is redone per frame.
	headLen   int
	headWidth int
	headLines []markdown.Line
}

// streamBody lays out a growing reply: the cached head plus the tail.
func (e *entry) streamBody(width int, st *markdown.Styles) []markdown.Line {
	cut := stableCut(e.content)
	if cut == 0 {
		return markdown.Render(e.content, width, st)
	}
	switch {
	case e.headWidth != width || cut < e.headLen:
		e.headLines = markdown.Render(e.content[:cut], width, st)
	case cut > e.headLen:
		// Lay out only the blocks finished since the last cut.
		more := markdown.Render(e.content[e.headLen:cut], width, st)
		if len(e.headLines) > 0 && len(more) > 0 {
			e.headLines = append(e.headLines, nil)
		}
		e.headLines = append(e.headLines, more...)
	}
	e.headLen, e.headWidth = cut, width
	tail := markdown.Render(e.content[cut:], width, st)
	if len(tail) == 0 || (len(tail) == 1 && len(tail[0]) == 0) {
		return e.headLines
	}
	out := make([]markdown.Line, 0, len(e.headLines)+1+len(tail))
	out = append(out, e.headLines...)
	out = append(out, nil)
	return append(out, tail...)
}

// stableCut is the offset just after the last blank line of s that is
// outside a fenced code block: Markdown before it does not change as text
// is appended (up to list numbering, which continues from its start).
func stableCut(s string) int {
	cut, inFence, fence := 0, false, ""
	pos := 0
	prevBlank := false
	for pos < len(s) {
		end := strings.IndexByte(s[pos:], '\n')
		if end < 0 {
			break // the last line is still being written
		}
		line := s[pos : pos+end]
		next := pos + end + 1
		trimmed := strings.TrimLeft(line, " ")
		switch {
		case !inFence && (strings.HasPrefix(trimmed, "```") || strings.HasPrefix(trimmed, "~~~")):
			inFence, fence = true, trimmed[:3]
		case inFence && strings.HasPrefix(trimmed, fence):
			inFence = false
		case !inFence && strings.TrimSpace(line) == "":
			if !prevBlank {
				cut = next
			}
		}
		prevBlank = !inFence && strings.TrimSpace(line) == ""
		pos = next
	}
	return cut
}

// Transcript draws the active branch of a conversation. It lays out each
// message once per width (Markdown → styled lines) and keeps the lines; the
// streaming reply alone is laid out again when its text grows, so a long
// conversation costs nothing per token.
type Transcript struct {
	*tview.Box
	theme   *Theme
	entries []*entry
	// selected is the index of the selected entry, -1 for none.
	selected int
	top      int  // first line shown
	follow   bool // keep the bottom in view as text arrives
	reveal   bool // bring the selected entry into view at the next draw
	// empty is shown when there are no entries (welcome, how to get a model).
	empty []markdown.Line
	// starts are the first line of each entry in the last layout.
	starts   []int
	total    int
	height   int
	onSelect func(i int)
}

// NewTranscript makes an empty transcript.
func NewTranscript(theme *Theme) *Transcript {
	t := &Transcript{Box: tview.NewBox(), theme: theme, selected: -1, follow: true}
	return t
}

// SetEntries replaces everything shown and goes to the bottom.
func (t *Transcript) SetEntries(es []*entry) {
	t.entries = es
	t.selected = -1
	t.follow = true
}

// Append adds an entry at the end.
func (t *Transcript) Append(e *entry) {
	e.dirty = true
	t.entries = append(t.entries, e)
}

// Streaming is the reply being generated, if any.
func (t *Transcript) Streaming() *entry {
	for i := len(t.entries) - 1; i >= 0; i-- {
		if t.entries[i].streaming {
			return t.entries[i]
		}
	}
	return nil
}

// SetStreamText replaces the streaming reply's text (called at most once a
// frame with everything received so far).
func (t *Transcript) SetStreamText(s string) {
	if e := t.Streaming(); e != nil && e.content != s {
		e.content = s
		e.dirty = true
	}
}

// Select marks entry i (-1: none) and scrolls it into view.
func (t *Transcript) Select(i int) {
	if i < -1 || i >= len(t.entries) {
		i = -1
	}
	t.selected = i
	if i >= 0 {
		t.reveal = true
		t.follow = false
	}
	if t.onSelect != nil {
		t.onSelect(i)
	}
}

// SelectedEntry is the selected entry or nil.
func (t *Transcript) SelectedEntry() *entry {
	if t.selected >= 0 && t.selected < len(t.entries) {
		return t.entries[t.selected]
	}
	return nil
}

// ScrollBy moves the view n lines (negative: up). Scrolling to the end
// follows new text again.
func (t *Transcript) ScrollBy(n int) {
	t.top += n
	if t.top < 0 {
		t.top = 0
	}
	t.follow = t.top >= t.total-t.height
}

// ScrollToBottom shows the end and follows new text.
func (t *Transcript) ScrollToBottom() { t.follow = true }

// ScrollToTop shows the beginning.
func (t *Transcript) ScrollToTop() { t.top, t.follow = 0, false }

// PageSize is the visible height in lines.
func (t *Transcript) PageSize() int {
	if t.height < 2 {
		return 1
	}
	return t.height - 1
}

// layout returns e's lines for width, using the cache when it is valid.
func (t *Transcript) layout(e *entry, width int, selected bool) []markdown.Line {
	if !e.dirty && e.width == width && e.lines != nil {
		return e.lines
	}
	th := t.theme
	var lines []markdown.Line
	// Header: who, model, branch position, status.
	var head markdown.Line
	switch {
	case e.notice:
		c := th.Notice
		if e.isError {
			c = th.Error
		}
		head = markdown.Line{{Text: "● ", Style: th.Style(c)}, {Text: "impetus", Style: th.Style(c).Bold(true)}}
	case e.role == store.RoleUser:
		head = markdown.Line{{Text: "● ", Style: th.Style(th.User)}, {Text: "You", Style: th.Style(th.User).Bold(true)}}
	case e.role == store.RoleSystem:
		head = markdown.Line{{Text: "● ", Style: th.Style(th.Dim)}, {Text: "System", Style: th.Style(th.Dim).Bold(true)}}
	default:
		name := "Assistant"
		head = markdown.Line{{Text: "● ", Style: th.Style(th.Assistant)}, {Text: name, Style: th.Style(th.Assistant).Bold(true)}}
		if e.model != "" {
			head = append(head, markdown.Span{Text: "  " + shortModel(e.model), Style: th.Style(th.Dim)})
		}
	}
	if e.sibCount > 1 {
		head = append(head, markdown.Span{Text: fmt.Sprintf("  ‹ %d/%d ›", e.sibIndex+1, e.sibCount), Style: th.Style(th.Accent).Bold(true)})
	}
	switch {
	case e.streaming:
		head = append(head, markdown.Span{Text: "  generating…", Style: th.Style(th.Dim).Italic(true)})
	case e.status == store.StatusStopped:
		head = append(head, markdown.Span{Text: "  ■ stopped", Style: th.Style(th.Notice)})
	case e.status == store.StatusError:
		head = append(head, markdown.Span{Text: "  ✖ error", Style: th.Style(th.Error).Bold(true)})
	case e.status == store.StatusIncomplete:
		head = append(head, markdown.Span{Text: "  ◌ incomplete", Style: th.Style(th.Notice)})
	}
	if e.stats != "" && !e.streaming {
		head = append(head, markdown.Span{Text: "  " + e.stats, Style: th.Style(th.Dim)})
	}
	if head.Width() > width && e.stats != "" && !e.streaming {
		head = head[:len(head)-1] // the stats go first when the line is narrow
	}
	if head.Width() > width {
		head = markdown.Wrap(head, width)[0]
	}
	lines = append(lines, head)
	inner := width - 2
	var body []markdown.Line
	switch {
	case e.role == store.RoleAssistant && !e.notice:
		if e.streaming && len(e.content) > 1024 {
			body = e.streamBody(inner, &th.Markdown)
		} else if e.content != "" {
			body = markdown.Render(e.content, inner, &th.Markdown)
		} else if e.streaming {
			body = []markdown.Line{{{Text: "…", Style: th.Style(th.Dim)}}}
		}
	default:
		st := th.Markdown.Text
		if e.notice {
			st = th.Style(th.Text)
			if e.isError {
				st = th.Style(th.Error)
			}
		}
		body = markdown.Wrap([]markdown.Span{{Text: e.content, Style: st}}, inner)
	}
	if e.errText != "" && !e.notice {
		body = append(body, markdown.Wrap([]markdown.Span{{Text: "Error: " + e.errText, Style: th.Style(th.Error)}}, inner)...)
	}
	for _, l := range body {
		lines = append(lines, append(markdown.Line{{Text: "  ", Style: th.Style(th.Text)}}, l...))
	}
	lines = append(lines, nil) // gap before the next message
	e.lines, e.width, e.dirty = lines, width, false
	return lines
}

// shortModel keeps the last part of a model path or hub id.
func shortModel(m string) string {
	m = strings.TrimRight(m, "/")
	if i := strings.LastIndexAny(m, `/\`); i >= 0 && strings.Count(m, "/") > 1 {
		return m[i+1:]
	}
	return m
}

// Draw lays out what is needed and paints the visible lines.
func (t *Transcript) Draw(screen tcell.Screen) {
	t.Box.DrawForSubclass(screen, t)
	x, y, w, h := t.GetInnerRect()
	if w <= 2 || h <= 0 {
		return
	}
	t.height = h
	width := w - 1 // one column for the selection bar
	if len(t.entries) == 0 {
		t.total = 0
		var lines []markdown.Line
		for _, l := range t.empty {
			lines = append(lines, markdown.Wrap(l, w-2)...)
		}
		top := (h - len(lines)) / 3
		if top < 0 {
			top = 0
		}
		for i, l := range lines {
			if top+i >= h {
				break
			}
			pad := (w - l.Width()) / 2
			if pad < 1 {
				pad = 1
			}
			drawLine(screen, x+pad, y+top+i, w-pad, l)
		}
		return
	}
	t.starts = t.starts[:0]
	total := 0
	for i, e := range t.entries {
		t.starts = append(t.starts, total)
		total += len(t.layout(e, width, i == t.selected))
	}
	t.total = total
	if t.reveal && t.selected >= 0 {
		s := t.starts[t.selected]
		end := total
		if t.selected+1 < len(t.starts) {
			end = t.starts[t.selected+1]
		}
		if s < t.top || end-s > h {
			t.top = s
		} else if end > t.top+h {
			t.top = end - h
		}
		t.reveal = false
	}
	if t.follow || t.top > total-h {
		t.top = total - h
	}
	if t.top < 0 {
		t.top = 0
	}
	bar := t.theme.Style(t.theme.Accent)
	row := 0
	for i, e := range t.entries {
		start := t.starts[i]
		lines := e.lines
		if start+len(lines) <= t.top {
			continue
		}
		for j, l := range lines {
			ln := start + j
			if ln < t.top {
				continue
			}
			if row >= h {
				break
			}
			if i == t.selected && j < len(lines)-1 {
				screen.SetContent(x, y+row, '▌', nil, bar)
			}
			drawLine(screen, x+1, y+row, width, l)
			row++
		}
		if row >= h {
			break
		}
	}
	// A scroll position hint when not at the bottom.
	if !t.follow && t.top+h < total {
		more := fmt.Sprintf(" ↓ %d more lines ", total-t.top-h)
		drawLine(screen, x+w-uniseg.StringWidth(more), y+h-1, w, markdown.Line{{Text: more, Style: tcell.StyleDefault.Background(t.theme.Accent).Foreground(t.theme.HighlightFg)}})
	}
}

// drawLine paints l at (x, y), at most width cells.
func drawLine(screen tcell.Screen, x, y, width int, l markdown.Line) {
	col := 0
	for _, s := range l {
		g := uniseg.NewGraphemes(s.Text)
		for g.Next() {
			rs := g.Runes()
			cw := g.Width()
			if col+cw > width {
				return
			}
			if cw == 0 {
				continue
			}
			screen.SetContent(x+col, y, rs[0], rs[1:], s.Style)
			col += cw
		}
	}
}

// entryAt is the index of the entry drawn at screen row y, or -1.
func (t *Transcript) entryAt(y int) int {
	_, top, _, _ := t.GetInnerRect()
	line := t.top + (y - top)
	for i := len(t.starts) - 1; i >= 0; i-- {
		if line >= t.starts[i] {
			return i
		}
	}
	return -1
}

// InputHandler scrolls with the arrow keys when the transcript has focus.
func (t *Transcript) InputHandler() func(event *tcell.EventKey, setFocus func(p tview.Primitive)) {
	return t.WrapInputHandler(func(ev *tcell.EventKey, _ func(p tview.Primitive)) {
		switch ev.Key() {
		case tcell.KeyUp:
			t.ScrollBy(-1)
		case tcell.KeyDown:
			t.ScrollBy(1)
		case tcell.KeyHome:
			t.ScrollToTop()
		case tcell.KeyEnd:
			t.ScrollToBottom()
		}
	})
}

// MouseHandler scrolls with the wheel and selects a message on click.
func (t *Transcript) MouseHandler() func(action tview.MouseAction, event *tcell.EventMouse, setFocus func(p tview.Primitive)) (bool, tview.Primitive) {
	return t.WrapMouseHandler(func(action tview.MouseAction, ev *tcell.EventMouse, setFocus func(p tview.Primitive)) (bool, tview.Primitive) {
		x, y := ev.Position()
		if !t.InRect(x, y) {
			return false, nil
		}
		switch action {
		case tview.MouseScrollUp:
			t.ScrollBy(-3)
			return true, nil
		case tview.MouseScrollDown:
			t.ScrollBy(3)
			return true, nil
		case tview.MouseLeftClick:
			setFocus(t)
			if i := t.entryAt(y); i >= 0 && !t.entries[i].notice {
				t.selected = i
				if t.onSelect != nil {
					t.onSelect(i)
				}
			}
			return true, nil
		}
		return false, nil
	})
}
