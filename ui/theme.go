package ui

import (
	"fmt"
	"os"
	"reflect"
	"strings"

	"github.com/BurntSushi/toml"
	"github.com/gdamore/tcell/v2"

	"github.com/impetus-llm/impetus/assets"
	"github.com/impetus-llm/impetus/ui/markdown"
)

// themeFile is a theme as written in assets/themes/NAME.toml.
type themeFile struct {
	Chroma         string `toml:"chroma"`
	Background     string `toml:"background"`
	Text           string `toml:"text"`
	Dim            string `toml:"dim"`
	Border         string `toml:"border"`
	BorderFocus    string `toml:"border_focus"`
	Accent         string `toml:"accent"`
	Title          string `toml:"title"`
	User           string `toml:"user"`
	Assistant      string `toml:"assistant"`
	Notice         string `toml:"notice"`
	Error          string `toml:"error"`
	SelectedBg     string `toml:"selected_bg"`
	ListSelectedBg string `toml:"list_selected_bg"`
	ListSelectedFg string `toml:"list_selected_fg"`
	Pinned         string `toml:"pinned"`
	StatusBg       string `toml:"status_bg"`
	StatusFg       string `toml:"status_fg"`
	StatusAccent   string `toml:"status_accent"`
	Heading        string `toml:"heading"`
	Code           string `toml:"code"`
	CodeBg         string `toml:"code_bg"`
	Link           string `toml:"link"`
	Quote          string `toml:"quote"`
	HighlightFg    string `toml:"highlight_fg"`
	HighlightBg    string `toml:"highlight_bg"`
}

// Theme is the resolved palette every view draws with.
type Theme struct {
	Name                                     string
	Bg, Text, Dim, Border, BorderFocus       tcell.Color
	Accent, Title, User, Assistant, Notice   tcell.Color
	Error, SelectedBg, ListSelBg, ListSelFg  tcell.Color
	Pinned, StatusBg, StatusFg, StatusAccent tcell.Color
	HighlightFg, HighlightBg                 tcell.Color
	Markdown                                 markdown.Styles
}

// Style is the theme's base style with foreground fg.
func (t *Theme) Style(fg tcell.Color) tcell.Style {
	return tcell.StyleDefault.Background(t.Bg).Foreground(fg)
}

// LoadTheme reads a built-in theme by name ("dark", "light") or a theme file
// by path. Errors name the file and the field.
func LoadTheme(name string) (*Theme, error) {
	if name == "" {
		name = "dark"
	}
	var data []byte
	var err error
	source := name
	if strings.ContainsAny(name, `/\`) || strings.HasSuffix(name, ".toml") {
		data, err = os.ReadFile(name)
	} else {
		source = "themes/" + name + ".toml"
		data, err = assets.FS.ReadFile(source)
		if err != nil {
			return nil, fmt.Errorf("theme %q: no such built-in theme (use dark, light or a path to a .toml theme file)", name)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("theme %s: %w", name, err)
	}
	// Built-in dark first: a user theme may set only some colours.
	var f themeFile
	if source != "themes/dark.toml" {
		base, _ := assets.FS.ReadFile("themes/dark.toml")
		if _, err := toml.Decode(string(base), &f); err != nil {
			return nil, fmt.Errorf("theme themes/dark.toml: %w", err)
		}
	}
	if _, err := toml.Decode(string(data), &f); err != nil {
		return nil, fmt.Errorf("theme %s: %w", source, err)
	}
	t := &Theme{Name: name}
	// Every string field maps to the Theme field of the same position name.
	fv := reflect.ValueOf(f)
	ft := fv.Type()
	colors := map[string]tcell.Color{}
	for i := 0; i < ft.NumField(); i++ {
		key := ft.Field(i).Tag.Get("toml")
		if key == "chroma" {
			continue
		}
		val := fv.Field(i).String()
		c, err := parseColor(val)
		if err != nil {
			return nil, fmt.Errorf("theme %s: %s = %q: %w", source, key, val, err)
		}
		colors[key] = c
	}
	t.Bg, t.Text, t.Dim = colors["background"], colors["text"], colors["dim"]
	t.Border, t.BorderFocus, t.Accent, t.Title = colors["border"], colors["border_focus"], colors["accent"], colors["title"]
	t.User, t.Assistant, t.Notice, t.Error = colors["user"], colors["assistant"], colors["notice"], colors["error"]
	t.SelectedBg, t.ListSelBg, t.ListSelFg, t.Pinned = colors["selected_bg"], colors["list_selected_bg"], colors["list_selected_fg"], colors["pinned"]
	t.StatusBg, t.StatusFg, t.StatusAccent = colors["status_bg"], colors["status_fg"], colors["status_accent"]
	t.HighlightFg, t.HighlightBg = colors["highlight_fg"], colors["highlight_bg"]
	text := t.Style(t.Text)
	h := t.Style(colors["heading"]).Bold(true)
	t.Markdown = markdown.Styles{
		Text: text, Strong: text.Bold(true), Emphasis: text.Italic(true), Strike: text.StrikeThrough(true),
		Code:        t.Style(colors["code"]).Background(colors["code_bg"]),
		Link:        t.Style(colors["link"]).Underline(true),
		LinkURL:     t.Style(t.Dim),
		Heading:     [3]tcell.Style{h.Underline(true), h, h.Bold(false).Italic(true)},
		Quote:       t.Style(colors["quote"]),
		Bullet:      t.Style(t.Accent),
		Rule:        t.Style(t.Border),
		TableBorder: t.Style(t.Border),
		TableHeader: text.Bold(true),
		CodeBlock:   tcell.StyleDefault.Background(colors["code_bg"]).Foreground(t.Text),
		CodeLabel:   tcell.StyleDefault.Background(colors["code_bg"]).Foreground(t.Dim).Italic(true),
		Chroma:      f.Chroma,
	}
	return t, nil
}

func parseColor(s string) (tcell.Color, error) {
	s = strings.TrimSpace(strings.ToLower(s))
	if s == "" || s == "default" {
		return tcell.ColorDefault, nil
	}
	c := tcell.GetColor(s)
	if c == tcell.ColorDefault {
		return c, fmt.Errorf("not a colour: use a name (white, darkcyan) or #rrggbb")
	}
	return c, nil
}
