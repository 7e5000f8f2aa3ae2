package markdown

import (
	"strings"

	"github.com/rivo/uniseg"
)

// piece is a word or a run of spaces with its style.
type piece struct {
	span  Span
	space bool
	nl    bool
	width int
}

// split cuts spans into words, spaces and newlines.
func split(spans []Span) []piece {
	var out []piece
	for _, s := range spans {
		t := s.Text
		for len(t) > 0 {
			if t[0] == '\n' {
				out = append(out, piece{span: Span{"", s.Style}, nl: true})
				t = t[1:]
				continue
			}
			isSpace := t[0] == ' ' || t[0] == '\t'
			i := 0
			for i < len(t) && t[i] != '\n' && (t[i] == ' ' || t[i] == '\t') == isSpace {
				i++
			}
			seg := strings.ReplaceAll(t[:i], "\t", "    ")
			out = append(out, piece{span: Span{seg, s.Style}, space: isSpace, width: uniseg.StringWidth(seg)})
			t = t[i:]
		}
	}
	return out
}

// Wrap lays spans out in lines of at most width cells, breaking at spaces
// (words longer than a line are cut) and at newlines. Spaces at a break are
// dropped.
func Wrap(spans []Span, width int) []Line {
	if width < 1 {
		width = 1
	}
	var out []Line
	var cur Line
	w := 0
	flush := func() {
		// Drop trailing spaces.
		for len(cur) > 0 && strings.TrimSpace(cur[len(cur)-1].Text) == "" {
			cur = cur[:len(cur)-1]
		}
		out = append(out, cur)
		cur, w = nil, 0
	}
	for _, p := range split(spans) {
		switch {
		case p.nl:
			flush()
		case p.space:
			if w == 0 || w+p.width > width {
				continue // no leading spaces after a wrap
			}
			cur = append(cur, p.span)
			w += p.width
		default:
			if w+p.width > width && w > 0 {
				flush()
			}
			if p.width > width {
				for _, l := range hardWrap([]Span{p.span}, width) {
					if lw := l.Width(); lw == width {
						cur = append(cur, l...)
						flush()
					} else {
						cur = append(cur, l...)
						w = lw
					}
				}
				continue
			}
			cur = append(cur, p.span)
			w += p.width
		}
	}
	if len(cur) > 0 || len(out) == 0 {
		flush()
	}
	return out
}

// hardWrap cuts a line into pieces of at most width cells regardless of
// word boundaries (code).
func hardWrap(spans []Span, width int) []Line {
	var out []Line
	var cur Line
	w := 0
	for _, s := range spans {
		g := uniseg.NewGraphemes(s.Text)
		var b strings.Builder
		for g.Next() {
			cw := g.Width()
			if w+cw > width && w > 0 {
				if b.Len() > 0 {
					cur = append(cur, Span{b.String(), s.Style})
					b.Reset()
				}
				out = append(out, cur)
				cur, w = nil, 0
			}
			b.WriteString(g.Str())
			w += cw
		}
		if b.Len() > 0 {
			cur = append(cur, Span{b.String(), s.Style})
		}
	}
	return append(out, cur)
}

// truncate cuts spans to width cells, ending with … when something was cut.
func truncate(spans []Span, width int) Line {
	l := Line(spans)
	if l.Width() <= width {
		return l
	}
	lines := hardWrap(spans, width-1)
	first := lines[0]
	st := spans[len(spans)-1].Style
	if len(first) > 0 {
		st = first[len(first)-1].Style
	}
	return append(first, Span{"…", st})
}
