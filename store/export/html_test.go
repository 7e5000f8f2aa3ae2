package export

import (
	"bytes"
	"strings"
	"testing"

	"golang.org/x/net/html"
)

// TestHTMLInert: hostile message content and metadata produce no script,
// no event handler, no javascript: link and no raw element of their own;
// the text is still there for the reader, escaped.
func TestHTMLInert(t *testing.T) {
	hostile := []string{
		`<script>alert(1)</script>`,
		`"><img src=x onerror=alert(2)>`,
		`<img src=x onerror=alert(3)>`,
		`<svg onload=alert(4)>`,
		`<iframe src="javascript:alert(5)"></iframe>`,
		`[link](javascript:alert(6))`,
		`<a href="javascript:alert(7)">x</a>`,
		"<div onclick=\"alert(8)\">\nblock\n</div>",
		`</textarea></pre></style><script>alert(9)</script>`,
		"```html\n<script>alert(10)</script>\n```",
		`![img](javascript:alert(11))`,
		`<style>body{display:none}</style>`,
	}
	c := Conversation{
		ID: `x"><script>alert('id')</script>`, Title: `</title><script>alert('title')</script>`,
		Model: `<img src=x onerror=alert('model')>`, SystemPrompt: `</pre><script>alert('system')</script>`,
		Settings:  []byte(`{"k":"</pre><script>alert('settings')</script>"}`),
		Tags:      []string{`<b onmouseover=alert('tag')>t</b>`},
		CreatedAt: t0, UpdatedAt: t0,
	}
	for i, h := range hostile {
		role := "user"
		if i%2 == 1 {
			role = "assistant"
		}
		c.Messages = append(c.Messages, Message{ID: `m"` + h, Role: role, Content: "before " + h + " after", CreatedAt: at(i + 1),
			Model: h, FinishReason: h})
	}
	// a role the page does not know must not become markup either
	c.Messages = append(c.Messages, Message{ID: "r", Role: `x" onclick="alert(12)`, Content: "odd role", CreatedAt: at(99)})
	var b bytes.Buffer
	if err := Write(&b, HTML, []Conversation{c}, Options{}); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	doc, err := html.Parse(strings.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	styles := 0
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode {
			switch n.Data {
			case "img":
				// Markdown images are allowed; the raw <img src=x ...> of the
				// payloads must not have become one.
				for _, a := range n.Attr {
					if a.Key == "src" && a.Val == "x" {
						t.Errorf("raw <img src=x> became an element")
					}
				}
			case "script", "iframe", "svg", "object", "embed", "textarea", "b", "form", "input", "link", "base":
				t.Errorf("element <%s> in the output", n.Data)
			case "style":
				styles++
			case "meta":
				// the one http-equiv allowed is our CSP
				for _, a := range n.Attr {
					if a.Key == "http-equiv" && a.Val != "Content-Security-Policy" {
						t.Errorf("meta http-equiv=%q", a.Val)
					}
				}
			}
			for _, a := range n.Attr {
				k := strings.ToLower(a.Key)
				v := strings.ToLower(strings.TrimSpace(a.Val))
				if strings.HasPrefix(k, "on") {
					t.Errorf("<%s %s=%q>: event handler attribute", n.Data, a.Key, a.Val)
				}
				if (k == "href" || k == "src" || k == "action") && strings.HasPrefix(v, "javascript:") {
					t.Errorf("<%s %s=%q>: javascript URL", n.Data, a.Key, a.Val)
				}
				if k == "class" && strings.Contains(v, "onclick") {
					t.Errorf("role leaked into class %q", a.Val)
				}
			}
		}
		for ch := n.FirstChild; ch != nil; ch = ch.NextSibling {
			walk(ch)
		}
	}
	walk(doc)
	if styles != 1 {
		t.Errorf("%d <style> elements, want only the page's own", styles)
	}
	// The CSP forbids scripts even if something slipped through.
	if !strings.Contains(out, `content="default-src 'none'; style-src 'unsafe-inline'`) {
		t.Error("Content-Security-Policy missing")
	}
	// The reader still sees what was written, as text.
	text := textOf(doc)
	for _, want := range []string{`<script>alert(1)</script>`, `"><img src=x onerror=alert(2)>`, `</title><script>alert('title')</script>`, `</pre><script>alert('system')</script>`, "odd role"} {
		if !strings.Contains(text, want) {
			t.Errorf("text %q not shown on the page", want)
		}
	}
}

func textOf(n *html.Node) string {
	var b strings.Builder
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.TextNode && (n.Parent == nil || n.Parent.Data != "style") {
			b.WriteString(n.Data)
		}
		for ch := n.FirstChild; ch != nil; ch = ch.NextSibling {
			walk(ch)
		}
	}
	walk(n)
	return b.String()
}

// TestHTMLGoldenInert checks the golden fixture page the same way: the
// fixture's <script> and onerror payloads appear only as text.
func TestHTMLGoldenInert(t *testing.T) {
	var b bytes.Buffer
	if err := Write(&b, HTML, []Conversation{fixture()}, Options{}); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, bad := range []string{"<script", "<img", "onerror=alert(2)>", `href="javascript`, "<div onclick"} {
		if strings.Contains(out, bad) {
			t.Errorf("output contains %q", bad)
		}
	}
	for _, good := range []string{"&lt;script&gt;", "&lt;img src=x onerror=alert(2)&gt;", "<table>", `class="language-go"`} {
		if !strings.Contains(out, good) {
			t.Errorf("output lacks %q", good)
		}
	}
}

func TestHTMLManyConversations(t *testing.T) {
	var b bytes.Buffer
	c1, c2 := fixture(), fixture()
	c2.ID, c2.Title = "second", "Second"
	if err := Write(&b, HTML, []Conversation{c1, c2}, Options{ActiveBranchOnly: true}); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	if strings.Count(out, `<article class="conversation"`) != 2 || !strings.Contains(out, "<title>2 conversations</title>") {
		t.Errorf("two conversations not both on the page")
	}
	if strings.Contains(out, "Branch 2") {
		t.Error("ActiveBranchOnly page shows other branches")
	}
	b.Reset()
	if err := Write(&b, HTML, nil, Options{}); err != nil || !strings.Contains(b.String(), "No conversations") {
		t.Errorf("empty page: %v", err)
	}
}
