package export

import (
	"bytes"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"sync"
	"time"

	"github.com/impetus-llm/impetus/assets"
)

// The page template and its CSS live in assets/export and are compiled into
// the binary. html/template escapes every value put into the page; the only
// values marked safe are goldmark's output (safe mode, raw HTML escaped, see
// markdown_html.go) and the embedded CSS.
const (
	pageTemplatePath = "export/page.html.tmpl"
	styleSheetPath   = "export/style.css"
)

var (
	pageOnce sync.Once
	pageTmpl *template.Template
	pageCSS  template.CSS
	pageErr  error
)

func loadPage() (*template.Template, template.CSS, error) {
	pageOnce.Do(func() {
		src, err := fs.ReadFile(assets.FS, pageTemplatePath)
		if err != nil {
			pageErr = fmt.Errorf("html export: embedded template %s: %w", pageTemplatePath, err)
			return
		}
		css, err := fs.ReadFile(assets.FS, styleSheetPath)
		if err != nil {
			pageErr = fmt.Errorf("html export: embedded stylesheet %s: %w", styleSheetPath, err)
			return
		}
		pageTmpl, pageErr = template.New("export").Parse(string(src))
		if pageErr != nil {
			pageErr = fmt.Errorf("html export: template %s: %w", pageTemplatePath, pageErr)
		}
		pageCSS = template.CSS(css)
	})
	return pageTmpl, pageCSS, pageErr
}

type htmlPage struct {
	Title         string
	CSS           template.CSS
	Body          template.HTML
	Conversations int
}

type htmlConversation struct {
	ID, Title, Model, SystemPrompt string
	Created, Updated               string
	CreatedISO, UpdatedISO         string
	Pinned, Archived               bool
	Tags                           []string
	Settings                       string
	Messages                       []htmlMessage
	Branches                       []htmlBranch
}

type htmlMessage struct {
	ID, Role, RoleName, RoleClass string
	Created, CreatedISO           string
	HTML                          template.HTML
	Stats                         string
	Incomplete                    bool
}

type htmlBranch struct {
	N        int
	Intro    string
	Messages []htmlMessage
}

// htmlEncoder renders each conversation as an <article> as it comes and
// writes the page around them on Close, when the page title (the
// conversation's title, or a count) is known.
type htmlEncoder struct {
	w     io.Writer
	opts  Options
	tmpl  *template.Template
	css   template.CSS
	body  bytes.Buffer
	n     int
	first string
}

func newHTMLEncoder(w io.Writer, opts Options) (*htmlEncoder, error) {
	t, css, err := loadPage()
	if err != nil {
		return nil, err
	}
	return &htmlEncoder{w: w, opts: opts, tmpl: t, css: css}, nil
}

func (e *htmlEncoder) Encode(c *Conversation) error {
	c = normalized(c)
	hc := htmlConversation{
		ID: c.ID, Title: titleOf(c), Model: c.Model, SystemPrompt: c.SystemPrompt,
		Created: humanTime(c.CreatedAt), Updated: humanTime(c.UpdatedAt),
		CreatedISO: c.CreatedAt.Format(time.RFC3339), UpdatedISO: c.UpdatedAt.Format(time.RFC3339),
		Pinned: c.Pinned, Archived: c.Archived, Tags: c.Tags,
		Settings: string(compactJSON(c.Settings)),
	}
	var err error
	if hc.Messages, err = htmlMessages(c.ActivePath()); err != nil {
		return fmt.Errorf("conversation %s: %w", c.ID, err)
	}
	if !e.opts.ActiveBranchOnly {
		for i, s := range c.otherBranches() {
			b := htmlBranch{N: i + 2, Intro: "An alternative beginning of the conversation."}
			if s.From != nil {
				b.Intro = fmt.Sprintf("An alternative continuation after the %s message “%s”.", roleName(s.From.Role), excerpt(s.From.Content, 60))
			}
			if b.Messages, err = htmlMessages(s.Messages); err != nil {
				return fmt.Errorf("conversation %s: %w", c.ID, err)
			}
			hc.Branches = append(hc.Branches, b)
		}
	}
	if e.n == 0 {
		e.first = hc.Title
	}
	e.n++
	return e.tmpl.ExecuteTemplate(&e.body, "conversation", hc)
}

func (e *htmlEncoder) Close() error {
	title := e.first
	switch {
	case e.n == 0:
		title = "No conversations"
	case e.n > 1:
		title = fmt.Sprintf("%d conversations", e.n)
	}
	// The articles were produced by the same template, escaped there.
	page := htmlPage{Title: title, CSS: e.css, Body: template.HTML(e.body.String()), Conversations: e.n}
	return e.tmpl.ExecuteTemplate(e.w, "page", page)
}

func htmlMessages(ms []*Message) ([]htmlMessage, error) {
	out := make([]htmlMessage, 0, len(ms))
	for _, m := range ms {
		body, err := renderMarkdown(m.Content, m.Role == "user")
		if err != nil {
			return nil, fmt.Errorf("message %s: rendering Markdown: %w", m.ID, err)
		}
		out = append(out, htmlMessage{
			ID: m.ID, Role: m.Role, RoleName: roleName(m.Role), RoleClass: roleClass(m.Role),
			Created: humanTime(m.CreatedAt), CreatedISO: m.CreatedAt.Format(time.RFC3339),
			HTML:  template.HTML(body), // goldmark safe mode + escaped raw HTML
			Stats: statsLine(m), Incomplete: m.Incomplete(),
		})
	}
	return out, nil
}

// roleClass is a CSS class for a role, restricted to the roles style.css
// knows so that no stored value ends up shaping the page.
func roleClass(role string) string {
	switch role {
	case "user", "assistant", "system", "tool":
		return "role-" + role
	}
	return "role-other"
}

func humanTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02 15:04 UTC")
}
