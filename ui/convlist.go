package ui

import (
	"context"
	"fmt"
	"time"

	"github.com/gdamore/tcell/v2"
	"github.com/rivo/tview"

	"github.com/impetus-llm/impetus/store"
)

// ConvList is the conversation list: a "new conversation" row, then pinned
// conversations, then the rest by last activity. It loads one page at a
// time and the next page when the selection nears the end, so a history of
// any size opens at once.
type ConvList struct {
	*tview.List
	a        *App
	convs    []store.Conversation
	next     string // cursor of the next page; "" when all are loaded
	total    int
	loading  bool
	seq      int  // guards against stale page loads after a reload
	syncing  bool // selection being set by code, not by the user
	archived bool // showing archived conversations too
}

func newConvList(a *App) *ConvList {
	th := a.theme
	l := &ConvList{List: tview.NewList(), a: a}
	l.SetBorder(true).SetTitle(" Conversations ").SetTitleAlign(tview.AlignLeft)
	l.SetUseStyleTags(false, false)
	l.ShowSecondaryText(true)
	l.SetHighlightFullLine(true)
	l.SetWrapAround(false)
	l.SetMainTextStyle(th.Style(th.Text))
	l.SetSecondaryTextStyle(th.Style(th.Dim))
	l.SetSelectedStyle(tcell.StyleDefault.Background(th.ListSelBg).Foreground(th.ListSelFg))
	l.SetSelectedFocusOnly(false)
	l.AddItem("+ New conversation", "  "+a.keys.KeyText(ActNew), 0, nil)
	l.SetChangedFunc(func(i int, _, _ string, _ rune) {
		if l.syncing {
			return // rows being refilled: counts are not final
		}
		if i >= l.GetItemCount()-10 {
			l.loadMore()
		}
		l.open(i)
	})
	l.SetSelectedFunc(func(i int, _, _ string, _ rune) {
		l.open(i)
		a.tv.SetFocus(a.input)
	})
	return l
}

// open shows the conversation at list row i (row 0: a new conversation).
func (l *ConvList) open(i int) {
	if i == 0 {
		l.a.newConversation()
		return
	}
	if i-1 < len(l.convs) {
		id := l.convs[i-1].ID
		if l.a.conv == nil || l.a.conv.ID != id {
			l.a.openConversation(id)
		}
	}
}

// loadFirst (re)loads the first page, keeping the current conversation selected.
func (l *ConvList) loadFirst() {
	l.seq++
	l.load("", func(page *store.ConversationPage) {
		l.convs = page.Conversations
		l.total = page.Total
		l.rebuild()
	})
}

// loadMore appends the next page.
func (l *ConvList) loadMore() {
	if l.loading || l.next == "" {
		return
	}
	l.load(l.next, func(page *store.ConversationPage) {
		l.convs = append(l.convs, page.Conversations...)
		l.syncing = true
		for _, c := range page.Conversations {
			main, sec := l.itemText(c)
			l.AddItem(main, sec, 0, nil)
		}
		l.syncing = false
		l.updateTitle()
	})
}

// load reads the page at cursor off the UI goroutine and hands it to show
// on the UI goroutine, unless a newer first-page load superseded it.
func (l *ConvList) load(cursor string, show func(*store.ConversationPage)) {
	seq := l.seq
	opts := store.ListOptions{Limit: l.a.opts.PageSize, Cursor: cursor}
	if l.archived {
		opts.Archived = store.IncludeArchived
	}
	l.loading = true
	l.a.goDB(func(ctx context.Context) func() {
		page, err := l.a.st.ListConversations(ctx, opts)
		return func() {
			if seq != l.seq {
				return
			}
			l.loading = false
			if err != nil {
				l.a.flash("Conversation list: "+err.Error(), true)
				return
			}
			l.next = page.NextCursor
			show(page)
		}
	})
}

// rebuild refills the rows from l.convs.
func (l *ConvList) rebuild() {
	l.syncing = true
	defer func() { l.syncing = false }()
	cur := ""
	if l.a.conv != nil {
		cur = l.a.conv.ID
	}
	l.Clear()
	l.AddItem("+ New conversation", "  "+l.a.keys.KeyText(ActNew), 0, nil)
	sel := 0
	for i, c := range l.convs {
		main, sec := l.itemText(c)
		l.AddItem(main, sec, 0, nil)
		if c.ID == cur {
			sel = i + 1
		}
	}
	l.SetCurrentItem(sel)
	l.updateTitle()
}

func (l *ConvList) updateTitle() {
	t := fmt.Sprintf(" Conversations (%d) ", l.total)
	if l.archived {
		t = fmt.Sprintf(" All + archived (%d) ", l.total)
	}
	l.SetTitle(t)
}

// itemText is a row: title (★ pinned) and "2h ago · 6 messages".
func (l *ConvList) itemText(c store.Conversation) (string, string) {
	title := c.Title
	if title == "" {
		title = "Untitled"
	}
	if c.Pinned {
		title = "★ " + title
	}
	if c.Archived {
		title = "▫ " + title
	}
	sec := "  " + relTime(c.UpdatedAt, time.Now())
	if c.MessageCount > 0 {
		sec += fmt.Sprintf(" · %d msg", c.MessageCount)
	}
	return title, sec
}

// selectID highlights the row of conversation id without opening it.
func (l *ConvList) selectID(id string) {
	l.syncing = true
	defer func() { l.syncing = false }()
	if id == "" {
		l.SetCurrentItem(0)
		return
	}
	for i, c := range l.convs {
		if c.ID == id {
			l.SetCurrentItem(i + 1)
			return
		}
	}
}

// relTime says when t was, relative to now: "just now", "5m ago", "3h ago",
// "yesterday", "4d ago", then a date.
func relTime(t, now time.Time) string {
	d := now.Sub(t)
	switch {
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return fmt.Sprintf("%dm ago", int(d.Minutes()))
	case d < 24*time.Hour:
		return fmt.Sprintf("%dh ago", int(d.Hours()))
	case d < 48*time.Hour:
		return "yesterday"
	case d < 7*24*time.Hour:
		return fmt.Sprintf("%dd ago", int(d.Hours()/24))
	case t.Year() == now.Year():
		return t.Local().Format("Jan 2")
	}
	return t.Local().Format("Jan 2, 2006")
}
