package markdown

import (
	"strings"
	"testing"

	"github.com/gdamore/tcell/v2"
)

func testStyles() *Styles {
	base := tcell.StyleDefault
	return &Styles{
		Text: base, Strong: base.Bold(true), Emphasis: base.Italic(true), Code: base.Foreground(tcell.ColorYellow),
		Link: base.Underline(true), LinkURL: base.Dim(true),
		Heading:   [3]tcell.Style{base.Bold(true), base.Bold(true), base.Bold(true)},
		Quote:     base.Foreground(tcell.ColorGray),
		Bullet:    base.Foreground(tcell.ColorBlue),
		CodeBlock: base.Background(tcell.ColorBlack), CodeLabel: base.Dim(true),
		Chroma: "monokai",
	}
}

func plain(lines []Line) string {
	var b strings.Builder
	for _, l := range lines {
		b.WriteString(l.String())
		b.WriteByte('\n')
	}
	return b.String()
}

func TestRenderElements(t *testing.T) {
	src := "# Title\n\nSome *emphasis* and **strong** and `code` and [a link](https://x.org).\n\n" +
		"- one\n- two\n\n1. first\n2. second\n\n> quoted words\n\n" +
		"| name | n |\n|------|--:|\n| alpha | 1 |\n| b | 22 |\n\n```go\nfunc main() {\n\tprintln(\"hi\")\n}\n```\n"
	lines := Render(src, 70, testStyles())
	got := plain(lines)
	for _, want := range []string{"# Title", "Some emphasis and strong and code and a link (https://x.org).",
		"• one", "• two", "1. first", "2. second", "│ quoted words", "│ alpha │  1 │", "┌", "└", " go ", "func main() {", "    println(\"hi\")"} {
		if !strings.Contains(got, want) {
			t.Errorf("rendering lacks %q:\n%s", want, got)
		}
	}
	// Emphasis and strong carry their attributes.
	found := map[string]bool{}
	for _, l := range lines {
		for _, s := range l {
			_, _, attr := s.Style.Decompose()
			if s.Text == "emphasis" && attr&tcell.AttrItalic != 0 {
				found["em"] = true
			}
			if s.Text == "strong" && attr&tcell.AttrBold != 0 {
				found["strong"] = true
			}
			if s.Text == "func" {
				fg, _, _ := s.Style.Decompose()
				if fg != tcell.ColorDefault {
					found["highlight"] = true
				}
			}
		}
	}
	for _, k := range []string{"em", "strong", "highlight"} {
		if !found[k] {
			t.Errorf("missing styled %s in %v", k, lines)
		}
	}
}

func TestWrapRespectsWidth(t *testing.T) {
	src := strings.Repeat("lorem ipsum dolor sit amet ", 30) + "\n\n```\n" + strings.Repeat("x", 200) + "\n```\n\n" +
		"| a | b |\n|---|---|\n| " + strings.Repeat("long ", 40) + " | " + strings.Repeat("cell ", 40) + " |\n"
	for _, w := range []int{20, 40, 77} {
		for _, l := range Render(src, w, testStyles()) {
			if l.Width() > w {
				t.Fatalf("width %d: line of %d cells: %q", w, l.Width(), l.String())
			}
		}
	}
}

func TestUnclosedFenceWhileStreaming(t *testing.T) {
	lines := Render("Here:\n\n```python\nprint(1)\nfor i in", 40, testStyles())
	got := plain(lines)
	if !strings.Contains(got, "print(1)") || !strings.Contains(got, "for i in") {
		t.Fatalf("partial code block not shown:\n%s", got)
	}
}

func TestCodeBlocks(t *testing.T) {
	got := CodeBlocks("a\n\n```sh\nls -l\n```\n\ntext\n\n```\nx = 1\ny = 2\n```\n")
	if len(got) != 2 || got[0] != "ls -l\n" || got[1] != "x = 1\ny = 2\n" {
		t.Fatalf("CodeBlocks = %q", got)
	}
}

func TestWrapKeepsNewlinesAndCutsLongWords(t *testing.T) {
	lines := Wrap([]Span{{Text: "ab\ncd " + strings.Repeat("z", 25)}}, 10)
	var got []string
	for _, l := range lines {
		got = append(got, l.String())
	}
	want := []string{"ab", "cd", "zzzzzzzzzz", "zzzzzzzzzz", "zzzzz"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("Wrap = %q, want %q", got, want)
	}
}

func BenchmarkRender4KB(b *testing.B) {
	src := strings.Repeat("Some **bold** text with `code` and words to wrap around the line.\n\n- item\n- item two\n\n```go\nfunc f(x int) int { return x * 2 }\n```\n\n", 20)
	b.SetBytes(int64(len(src)))
	for i := 0; i < b.N; i++ {
		Render(src, 80, testStyles())
	}
}
