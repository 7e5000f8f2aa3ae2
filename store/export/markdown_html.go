package export

import (
	"bytes"
	"html"
	"strings"

	"github.com/alecthomas/chroma/v2"
	"github.com/alecthomas/chroma/v2/lexers"
	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/ast"
	"github.com/yuin/goldmark/extension"
	"github.com/yuin/goldmark/renderer"
	ghtml "github.com/yuin/goldmark/renderer/html"
	"github.com/yuin/goldmark/util"
)

// Message content is rendered to HTML with goldmark (GitHub-flavoured:
// tables, strikethrough, task lists, autolinks). Raw HTML is never passed
// through: goldmark's safe mode is kept (no WithUnsafe, so javascript: and
// similar link targets are dropped too) and, instead of goldmark's
// "raw HTML omitted" comment, raw HTML is shown as escaped text so the
// reader still sees what was written.
var (
	mdReply = newMarkdown(false)
	// User messages are typed, not composed: a single newline is meant as a
	// line break, so they are rendered with hard wraps.
	mdPrompt = newMarkdown(true)
)

func newMarkdown(hardWraps bool) goldmark.Markdown {
	ropts := []renderer.Option{
		renderer.WithNodeRenderers(util.Prioritized(safeRenderer{}, 100)),
	}
	if hardWraps {
		ropts = append(ropts, ghtml.WithHardWraps())
	}
	return goldmark.New(
		goldmark.WithExtensions(extension.GFM),
		goldmark.WithRendererOptions(ropts...),
	)
}

// renderMarkdown converts one message's Markdown to HTML.
func renderMarkdown(src string, prompt bool) (string, error) {
	md := mdReply
	if prompt {
		md = mdPrompt
	}
	var b bytes.Buffer
	if err := md.Convert([]byte(src), &b); err != nil {
		return "", err
	}
	return b.String(), nil
}

// safeRenderer overrides goldmark's renderers for raw HTML (shown escaped)
// and fenced code (syntax-highlighted with chroma into CSS classes).
type safeRenderer struct{}

func (safeRenderer) RegisterFuncs(r renderer.NodeRendererFuncRegisterer) {
	r.Register(ast.KindHTMLBlock, renderHTMLBlock)
	r.Register(ast.KindRawHTML, renderRawHTML)
	r.Register(ast.KindFencedCodeBlock, renderFencedCode)
}

func renderHTMLBlock(w util.BufWriter, source []byte, node ast.Node, entering bool) (ast.WalkStatus, error) {
	if !entering {
		return ast.WalkContinue, nil
	}
	n := node.(*ast.HTMLBlock)
	w.WriteString(`<pre class="raw-html">`)
	for i := 0; i < n.Lines().Len(); i++ {
		line := n.Lines().At(i)
		w.WriteString(html.EscapeString(string(line.Value(source))))
	}
	if n.HasClosure() {
		w.WriteString(html.EscapeString(string(n.ClosureLine.Value(source))))
	}
	w.WriteString("</pre>\n")
	return ast.WalkContinue, nil
}

func renderRawHTML(w util.BufWriter, source []byte, node ast.Node, entering bool) (ast.WalkStatus, error) {
	if !entering {
		return ast.WalkSkipChildren, nil
	}
	n := node.(*ast.RawHTML)
	w.WriteString("<code>")
	for i := 0; i < n.Segments.Len(); i++ {
		s := n.Segments.At(i)
		w.WriteString(html.EscapeString(string(s.Value(source))))
	}
	w.WriteString("</code>")
	return ast.WalkSkipChildren, nil
}

func renderFencedCode(w util.BufWriter, source []byte, node ast.Node, entering bool) (ast.WalkStatus, error) {
	if !entering {
		return ast.WalkContinue, nil
	}
	n := node.(*ast.FencedCodeBlock)
	var code strings.Builder
	for i := 0; i < n.Lines().Len(); i++ {
		line := n.Lines().At(i)
		code.Write(line.Value(source))
	}
	lang := ""
	if l := n.Language(source); l != nil {
		lang = string(l)
	}
	w.WriteString(`<pre class="code"`)
	if lang != "" {
		w.WriteString(` data-lang="` + html.EscapeString(lang) + `"`)
	}
	w.WriteString("><code")
	if lang != "" {
		w.WriteString(` class="language-` + html.EscapeString(lang) + `"`)
	}
	w.WriteString(">")
	highlight(w, lang, code.String())
	w.WriteString("</code></pre>\n")
	return ast.WalkContinue, nil
}

// highlight writes code escaped, wrapping tokens of a known language in
// <span class="tok-X"> where X is one of the few categories style.css
// colours (keyword, string, comment, number, name, operator...). Unknown
// languages are written as plain escaped text.
func highlight(w util.BufWriter, lang, code string) {
	var lexer chroma.Lexer
	if lang != "" {
		lexer = lexers.Get(lang)
	}
	if lexer == nil {
		w.WriteString(html.EscapeString(code))
		return
	}
	it, err := chroma.Coalesce(lexer).Tokenise(nil, code)
	if err != nil {
		w.WriteString(html.EscapeString(code))
		return
	}
	for t := it(); t != chroma.EOF; t = it() {
		text := html.EscapeString(t.Value)
		if c := tokenClass(t.Type); c != "" {
			w.WriteString(`<span class="tok-` + c + `">` + text + `</span>`)
		} else {
			w.WriteString(text)
		}
	}
}

func tokenClass(t chroma.TokenType) string {
	switch {
	case t.InCategory(chroma.Comment):
		return "c"
	case t.InCategory(chroma.Keyword):
		return "k"
	case t.InSubCategory(chroma.LiteralString):
		return "s"
	case t.InSubCategory(chroma.LiteralNumber):
		return "m"
	case t == chroma.NameFunction || t == chroma.NameClass || t == chroma.NameBuiltin || t == chroma.NameDecorator || t == chroma.NameTag:
		return "nf"
	case t == chroma.NameAttribute || t == chroma.NameVariable:
		return "nv"
	case t.InCategory(chroma.Operator):
		return "o"
	case t.InCategory(chroma.Generic) && (t == chroma.GenericInserted):
		return "gi"
	case t.InCategory(chroma.Generic) && (t == chroma.GenericDeleted):
		return "gd"
	}
	return ""
}
