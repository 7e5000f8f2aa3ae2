// Package markdown turns a chat reply written in Markdown into styled,
// wrapped terminal lines: headings, emphasis, lists, block quotes, tables,
// links and fenced code blocks highlighted with chroma. The transcript draws
// the lines cell by cell, so nothing here depends on tview's colour tags and
// no model output can inject markup.
package markdown

import (
	"strings"
	"sync"

	"github.com/alecthomas/chroma/v2"
	"github.com/alecthomas/chroma/v2/lexers"
	chromastyles "github.com/alecthomas/chroma/v2/styles"
	"github.com/gdamore/tcell/v2"
	"github.com/rivo/uniseg"
	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/ast"
	"github.com/yuin/goldmark/extension"
	east "github.com/yuin/goldmark/extension/ast"
	"github.com/yuin/goldmark/text"
)

// Span is a run of text in one style.
type Span struct {
	Text  string
	Style tcell.Style
}

// Line is one screen line of styled text.
type Line []Span

// Width is the display width of l in cells.
func (l Line) Width() int {
	w := 0
	for _, s := range l {
		w += uniseg.StringWidth(s.Text)
	}
	return w
}

// String is l's text without styles.
func (l Line) String() string {
	var b strings.Builder
	for _, s := range l {
		b.WriteString(s.Text)
	}
	return b.String()
}

// Styles are the colours a theme gives Markdown elements.
type Styles struct {
	Text, Strong, Emphasis, Strike, Code, Link, LinkURL tcell.Style
	Heading                                             [3]tcell.Style // h1, h2, h3 and deeper
	Quote, Bullet, Rule, TableBorder, TableHeader       tcell.Style
	CodeBlock, CodeLabel                                tcell.Style // code block background/default and its language label
	// Chroma names the chroma style used for syntax colours (e.g. "monokai").
	Chroma string
}

var md = goldmark.New(goldmark.WithExtensions(extension.Table, extension.Strikethrough, extension.TaskList))

// Render parses src and lays it out for width columns.
func Render(src string, width int, st *Styles) []Line {
	if width < 8 {
		width = 8
	}
	source := []byte(src)
	doc := md.Parser().Parse(text.NewReader(source))
	r := &renderer{src: source, width: width, st: st}
	r.blocks(doc, nil, nil)
	// Trailing blank lines add nothing.
	for len(r.out) > 0 && len(r.out[len(r.out)-1]) == 0 {
		r.out = r.out[:len(r.out)-1]
	}
	return r.out
}

// CodeBlocks returns the contents of src's code blocks, in order (what "copy
// code block" puts on the clipboard).
func CodeBlocks(src string) []string {
	source := []byte(src)
	doc := md.Parser().Parse(text.NewReader(source))
	var out []string
	ast.Walk(doc, func(n ast.Node, entering bool) (ast.WalkStatus, error) {
		if !entering {
			return ast.WalkContinue, nil
		}
		switch n.(type) {
		case *ast.FencedCodeBlock, *ast.CodeBlock:
			out = append(out, linesText(n, source))
			return ast.WalkSkipChildren, nil
		}
		return ast.WalkContinue, nil
	})
	return out
}

func linesText(n ast.Node, src []byte) string {
	var b strings.Builder
	lines := n.Lines()
	for i := 0; i < lines.Len(); i++ {
		seg := lines.At(i)
		b.Write(seg.Value(src))
	}
	return b.String()
}

type renderer struct {
	src   []byte
	width int
	st    *Styles
	out   []Line
}

// blank separates blocks with one empty line (never two, never at the top).
func (r *renderer) blank() {
	if len(r.out) > 0 && len(r.out[len(r.out)-1]) != 0 {
		r.out = append(r.out, nil)
	}
}

// emit appends lines, each behind a prefix: first for the first line, rest
// for the others (list bullets, quote bars).
func (r *renderer) emit(lines []Line, first, rest Line) {
	for i, l := range lines {
		p := rest
		if i == 0 {
			p = first
		}
		nl := make(Line, 0, len(p)+len(l))
		nl = append(nl, p...)
		nl = append(nl, l...)
		r.out = append(r.out, nl)
	}
}

// blocks renders the block children of n behind the given prefixes.
func (r *renderer) blocks(n ast.Node, first, rest Line) {
	firstUsed := false
	for c := n.FirstChild(); c != nil; c = c.NextSibling() {
		p := first
		if firstUsed {
			p = rest
		}
		before := len(r.out)
		r.block(c, p, rest)
		if len(r.out) > before {
			firstUsed = true
		}
	}
}

func (r *renderer) block(n ast.Node, first, rest Line) {
	avail := r.width - first.Width()
	if avail < 4 {
		avail = 4
	}
	switch n := n.(type) {
	case *ast.Paragraph, *ast.TextBlock:
		if _, tight := n.(*ast.TextBlock); !tight {
			r.blankIn(rest)
		}
		spans := r.inlines(n, r.st.Text)
		r.emit(Wrap(spans, avail), first, rest)
	case *ast.Heading:
		r.blankIn(rest)
		lvl := n.Level
		if lvl > 3 {
			lvl = 3
		}
		st := r.st.Heading[lvl-1]
		marker := strings.Repeat("#", n.Level) + " "
		spans := append([]Span{{marker, st.Dim(true)}}, r.inlines(n, st)...)
		r.emit(Wrap(spans, avail), first, rest)
	case *ast.ThematicBreak:
		r.blankIn(rest)
		r.emit([]Line{{{strings.Repeat("─", avail), r.st.Rule}}}, first, rest)
	case *ast.FencedCodeBlock:
		r.blankIn(rest)
		lang := ""
		if n.Info != nil {
			lang = strings.Fields(string(n.Language(r.src)) + " ")[0]
		}
		r.emit(r.code(linesText(n, r.src), lang, avail), first, rest)
	case *ast.CodeBlock:
		r.blankIn(rest)
		r.emit(r.code(linesText(n, r.src), "", avail), first, rest)
	case *ast.Blockquote:
		r.blankIn(rest)
		bar := Span{"│ ", r.st.Quote}
		f := append(append(Line{}, first...), bar)
		rr := append(append(Line{}, rest...), bar)
		r.blocks(n, f, rr)
	case *ast.List:
		r.blankIn(rest)
		num := n.Start
		if num == 0 {
			num = 1
		}
		for item := n.FirstChild(); item != nil; item = item.NextSibling() {
			marker := "• "
			if n.IsOrdered() {
				marker = itoa(num) + ". "
				num++
			}
			f := append(append(Line{}, first...), Span{marker, r.st.Bullet})
			rr := append(append(Line{}, rest...), Span{strings.Repeat(" ", uniseg.StringWidth(marker)), r.st.Text})
			r.blocks(item, f, rr)
			first = rest
		}
	case *east.Table:
		r.blankIn(rest)
		r.emit(r.table(n, avail), first, rest)
	case *ast.HTMLBlock:
		r.blankIn(rest)
		var lines []Line
		for _, l := range strings.Split(strings.TrimRight(linesText(n, r.src), "\n"), "\n") {
			lines = append(lines, Wrap([]Span{{l, r.st.Text}}, avail)...)
		}
		r.emit(lines, first, rest)
	default:
		if n.HasChildren() {
			r.blocks(n, first, rest)
		}
	}
}

// blankIn adds a separating line that keeps the enclosing prefix (a quote
// bar continues through its blank lines).
func (r *renderer) blankIn(rest Line) {
	if len(r.out) == 0 || len(r.out[len(r.out)-1]) == 0 {
		return
	}
	last := r.out[len(r.out)-1]
	if len(rest) > 0 && strings.TrimSpace(last.String()) == strings.TrimSpace(rest.String()) {
		return
	}
	if len(rest) == 0 {
		r.out = append(r.out, nil)
		return
	}
	// A prefix of only spaces (list continuation) needs no visible line.
	if strings.TrimSpace(rest.String()) == "" {
		r.out = append(r.out, nil)
		return
	}
	r.out = append(r.out, append(Line{}, rest...))
}

// inlines flattens n's inline children into spans.
func (r *renderer) inlines(n ast.Node, base tcell.Style) []Span {
	var out []Span
	var walk func(n ast.Node, st tcell.Style)
	walk = func(n ast.Node, st tcell.Style) {
		for c := n.FirstChild(); c != nil; c = c.NextSibling() {
			switch c := c.(type) {
			case *ast.Text:
				out = append(out, Span{string(c.Segment.Value(r.src)), st})
				switch {
				case c.HardLineBreak():
					out = append(out, Span{"\n", st})
				case c.SoftLineBreak():
					out = append(out, Span{" ", st})
				}
			case *ast.String:
				out = append(out, Span{string(c.Value), st})
			case *ast.CodeSpan:
				var b strings.Builder
				for t := c.FirstChild(); t != nil; t = t.NextSibling() {
					if tx, ok := t.(*ast.Text); ok {
						b.Write(tx.Segment.Value(r.src))
					}
				}
				out = append(out, Span{b.String(), r.st.Code})
			case *ast.Emphasis:
				if c.Level >= 2 {
					walk(c, st.Bold(true))
				} else {
					walk(c, st.Italic(true))
				}
			case *east.Strikethrough:
				walk(c, st.StrikeThrough(true))
			case *ast.Link:
				before := len(out)
				walk(c, r.st.Link)
				label := ""
				for _, s := range out[before:] {
					label += s.Text
				}
				if url := string(c.Destination); url != "" && url != label {
					out = append(out, Span{" (" + url + ")", r.st.LinkURL})
				}
			case *ast.AutoLink:
				out = append(out, Span{string(c.URL(r.src)), r.st.Link})
			case *ast.Image:
				out = append(out, Span{"[image: ", r.st.LinkURL})
				walk(c, r.st.Link)
				out = append(out, Span{"] (" + string(c.Destination) + ")", r.st.LinkURL})
			case *east.TaskCheckBox:
				box := "☐ "
				if c.IsChecked {
					box = "☑ "
				}
				out = append(out, Span{box, r.st.Bullet})
			case *ast.RawHTML:
				segs := c.Segments
				for i := 0; i < segs.Len(); i++ {
					seg := segs.At(i)
					out = append(out, Span{string(seg.Value(r.src)), st})
				}
			default:
				walk(c, st)
			}
		}
	}
	walk(n, base)
	return out
}

// code highlights a code block with chroma and lays it out on the code
// background, hard-wrapping long lines.
func (r *renderer) code(src, lang string, width int) []Line {
	bg := r.st.CodeBlock
	var out []Line
	if lang != "" {
		out = append(out, Line{{" " + lang + " ", r.st.CodeLabel}})
	}
	lines := highlight(src, lang, r.st.Chroma, bg)
	inner := width - 2
	if inner < 4 {
		inner = 4
	}
	for _, l := range lines {
		for _, wl := range hardWrap(l, inner) {
			row := Line{{" ", bg}}
			row = append(row, wl...)
			if pad := inner - wl.Width(); pad > 0 {
				row = append(row, Span{strings.Repeat(" ", pad), bg})
			}
			row = append(row, Span{" ", bg})
			out = append(out, row)
		}
	}
	return out
}

// table lays out a GFM table with box-drawing borders, shrinking the widest
// columns (cells cut with …) when it does not fit.
func (r *renderer) table(t *east.Table, width int) []Line {
	var rows [][][]Span
	header := 0
	for row := t.FirstChild(); row != nil; row = row.NextSibling() {
		var cells [][]Span
		for cell := row.FirstChild(); cell != nil; cell = cell.NextSibling() {
			base := r.st.Text
			if _, ok := row.(*east.TableHeader); ok {
				base = r.st.TableHeader
			}
			cells = append(cells, r.inlines(cell, base))
		}
		if _, ok := row.(*east.TableHeader); ok {
			header = 1
		}
		rows = append(rows, cells)
	}
	ncol := 0
	for _, row := range rows {
		if len(row) > ncol {
			ncol = len(row)
		}
	}
	if ncol == 0 {
		return nil
	}
	widths := make([]int, ncol)
	for _, row := range rows {
		for i, c := range row {
			if w := Line(c).Width(); w > widths[i] {
				widths[i] = w
			}
		}
	}
	// Borders take 3 cells per column + 1.
	for total(widths)+3*ncol+1 > width {
		maxI := 0
		for i, w := range widths {
			if w > widths[maxI] {
				maxI = i
			}
		}
		if widths[maxI] <= 3 {
			break
		}
		widths[maxI]--
	}
	b := r.st.TableBorder
	border := func(l, m, rr string) Line {
		var s strings.Builder
		s.WriteString(l)
		for i, w := range widths {
			s.WriteString(strings.Repeat("─", w+2))
			if i < ncol-1 {
				s.WriteString(m)
			}
		}
		s.WriteString(rr)
		return Line{{s.String(), b}}
	}
	out := []Line{border("┌", "┬", "┐")}
	for ri, row := range rows {
		line := Line{{"│", b}}
		for i := 0; i < ncol; i++ {
			var cell Line
			if i < len(row) {
				cell = truncate(row[i], widths[i])
			}
			align := east.AlignLeft
			if i < len(t.Alignments) {
				align = t.Alignments[i]
			}
			pad := widths[i] - cell.Width()
			left := 0
			switch align {
			case east.AlignRight:
				left = pad
			case east.AlignCenter:
				left = pad / 2
			}
			line = append(line, Span{" " + strings.Repeat(" ", left), r.st.Text})
			line = append(line, cell...)
			line = append(line, Span{strings.Repeat(" ", pad-left) + " ", r.st.Text}, Span{"│", b})
		}
		out = append(out, line)
		if ri == 0 && header == 1 {
			out = append(out, border("├", "┼", "┤"))
		}
	}
	return append(out, border("└", "┴", "┘"))
}

func total(ws []int) int {
	t := 0
	for _, w := range ws {
		t += w
	}
	return t
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	neg := n < 0
	if neg {
		n = -n
	}
	for n > 0 {
		b = append([]byte{byte('0' + n%10)}, b...)
		n /= 10
	}
	if neg {
		b = append([]byte{'-'}, b...)
	}
	return string(b)
}

// highlightCache keeps tokenized code blocks: a streaming reply is laid out
// again every frame, and only its last code block changes.
var highlightCache struct {
	sync.Mutex
	m map[string][][]Span
}

// highlight splits code into lines of chroma-coloured spans on the bg style.
func highlight(src, lang, chromaStyle string, bg tcell.Style) [][]Span {
	src = strings.TrimRight(src, "\n")
	fg, bgc, _ := bg.Decompose()
	key := lang + "\x00" + chromaStyle + "\x00" + itoa(int(fg)) + "/" + itoa(int(bgc)) + "\x00" + src
	highlightCache.Lock()
	if l, ok := highlightCache.m[key]; ok {
		highlightCache.Unlock()
		return l
	}
	highlightCache.Unlock()

	lexer := lexers.Get(lang)
	if lexer == nil && lang == "" {
		lexer = lexers.Analyse(src)
	}
	if lexer == nil {
		lexer = lexers.Fallback
	}
	lexer = chroma.Coalesce(lexer)
	style := chromastyles.Get(chromaStyle)
	var lines [][]Span
	cur := []Span{}
	it, err := lexer.Tokenise(nil, src)
	if err != nil {
		for _, l := range strings.Split(src, "\n") {
			lines = append(lines, []Span{{strings.ReplaceAll(l, "\t", "    "), bg}})
		}
	} else {
		for tok := it(); tok != chroma.EOF; tok = it() {
			st := bg
			if e := style.Get(tok.Type); e.Colour.IsSet() {
				st = st.Foreground(tcell.NewRGBColor(int32(e.Colour.Red()), int32(e.Colour.Green()), int32(e.Colour.Blue())))
				if e.Bold == chroma.Yes {
					st = st.Bold(true)
				}
				if e.Italic == chroma.Yes {
					st = st.Italic(true)
				}
			}
			for i, p := range strings.Split(tok.Value, "\n") {
				if i > 0 {
					lines = append(lines, cur)
					cur = []Span{}
				}
				if p != "" {
					cur = append(cur, Span{strings.ReplaceAll(p, "\t", "    "), st})
				}
			}
		}
		lines = append(lines, cur)
	}
	highlightCache.Lock()
	if highlightCache.m == nil || len(highlightCache.m) > 512 {
		highlightCache.m = map[string][][]Span{}
	}
	highlightCache.m[key] = lines
	highlightCache.Unlock()
	return lines
}
