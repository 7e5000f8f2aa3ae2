package ui

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/gdamore/tcell/v2"
	"github.com/rivo/tview"

	"github.com/impetus-llm/impetus/engine"
	"github.com/impetus-llm/impetus/store"
	"github.com/impetus-llm/impetus/store/export"
	"github.com/impetus-llm/impetus/ui/markdown"
)

const dialogPage = "dialog"

// dialogOpen reports whether a dialog covers the chat.
func (a *App) dialogOpen() bool {
	name, _ := a.pages.GetFrontPage()
	return name == dialogPage
}

// openDialog shows p centred, w×h cells at most (smaller terminals shrink it).
func (a *App) openDialog(title string, p tview.Primitive, w, h int, focus tview.Primitive) {
	a.closeDialog()
	a.dialogFocus = a.tv.GetFocus()
	frame := tview.NewFlex().SetDirection(tview.FlexRow).AddItem(p, 0, 1, true)
	frame.SetBorder(true).SetTitle(" " + title + " ").SetTitleAlign(tview.AlignLeft).
		SetBorderColor(a.theme.BorderFocus).SetTitleColor(a.theme.Title)
	frame.SetBorderPadding(0, 0, 1, 1)
	grid := &centered{Box: tview.NewBox(), inner: frame, w: w, h: h}
	a.pages.AddPage(dialogPage, grid, true, true)
	if focus == nil {
		focus = p
	}
	a.tv.SetFocus(focus)
}

// closeDialog removes the dialog and gives focus back.
func (a *App) closeDialog() {
	if !a.pages.HasPage(dialogPage) {
		return
	}
	a.pages.RemovePage(dialogPage)
	if a.dialogFocus != nil {
		a.tv.SetFocus(a.dialogFocus)
	} else {
		a.tv.SetFocus(a.input)
	}
	a.dialogFocus = nil
}

// centered draws inner in the middle of the screen.
type centered struct {
	*tview.Box
	inner tview.Primitive
	w, h  int
}

func (c *centered) Draw(screen tcell.Screen) {
	sw, sh := screen.Size()
	w, h := c.w, c.h
	if w > sw-2 {
		w = sw - 2
	}
	if h > sh-2 {
		h = sh - 2
	}
	x, y := (sw-w)/2, (sh-h)/2
	// Clear the area: the frame's padding is not painted by tview's Flex.
	bg := tcell.StyleDefault.Background(tview.Styles.PrimitiveBackgroundColor)
	for j := y; j < y+h; j++ {
		for i := x; i < x+w; i++ {
			screen.SetContent(i, j, ' ', nil, bg)
		}
	}
	c.inner.SetRect(x, y, w, h)
	c.inner.Draw(screen)
}

func (c *centered) Focus(delegate func(p tview.Primitive)) { delegate(c.inner) }
func (c *centered) HasFocus() bool                         { return c.inner.HasFocus() }
func (c *centered) InputHandler() func(*tcell.EventKey, func(tview.Primitive)) {
	return c.inner.InputHandler()
}
func (c *centered) MouseHandler() func(tview.MouseAction, *tcell.EventMouse, func(tview.Primitive)) (bool, tview.Primitive) {
	return c.inner.MouseHandler()
}
func (c *centered) PasteHandler() func(string, func(tview.Primitive)) {
	return c.inner.PasteHandler()
}

// form returns a form styled like the rest.
func (a *App) form() *tview.Form {
	th := a.theme
	f := tview.NewForm()
	f.SetFieldBackgroundColor(th.SelectedBg).SetFieldTextColor(th.Text).
		SetLabelColor(th.Accent).SetButtonBackgroundColor(th.SelectedBg).SetButtonTextColor(th.Text)
	f.SetButtonActivatedStyle(tcell.StyleDefault.Background(th.ListSelBg).Foreground(th.ListSelFg))
	f.SetBorderPadding(1, 0, 0, 0)
	return f
}

// showHelp lists every action and its keys.
func (a *App) showHelp() {
	th := a.theme
	acc := th.Style(th.Accent)
	txt := th.Style(th.Text)
	dim := th.Style(th.Dim)
	lines := []markdown.Line{
		{{Text: "Keys", Style: acc.Bold(true)}, {Text: " — rebind in config.toml under [keys], e.g. new_conversation = \"Ctrl-N\"", Style: dim}},
		{},
	}
	for _, ai := range actions {
		keys := strings.Join(a.keys.Keys(ai.Action), ", ")
		if keys == "" {
			keys = "(unbound)"
		}
		lines = append(lines, markdown.Line{
			{Text: fmt.Sprintf("%-20s", keys), Style: acc},
			{Text: ai.Help, Style: txt},
			{Text: "  " + string(ai.Action), Style: dim},
		})
	}
	lines = append(lines, markdown.Line{},
		markdown.Line{{Text: "Ctrl-C stops a reply; twice quits. One-character keys work when the transcript has focus (Tab).", Style: dim}},
		markdown.Line{{Text: "The mouse selects conversations and messages and scrolls. ↑/↓ scroll this help, Esc closes it.", Style: dim}})
	v := &staticView{Box: tview.NewBox(), lines: lines, indent: 20}
	a.openDialog("Help", v, 110, len(lines)+2, v)
}

// staticView shows styled lines, wrapped, scrolled with the arrow keys.
type staticView struct {
	*tview.Box
	lines  []markdown.Line
	top    int
	indent int // width of a key column, for hanging indents
}

func (v *staticView) Draw(screen tcell.Screen) {
	v.Box.DrawForSubclass(screen, v)
	x, y, w, h := v.GetInnerRect()
	var all []markdown.Line
	for _, l := range v.lines {
		// A key column keeps the wrapped help text aligned after it.
		if v.indent > 0 && len(l) > 1 && l[0:1].Width() == v.indent && w > v.indent+10 {
			pad := markdown.Span{Text: strings.Repeat(" ", v.indent), Style: l[0].Style}
			for i, wl := range markdown.Wrap(l[1:], w-v.indent) {
				if i == 0 {
					all = append(all, append(markdown.Line{l[0]}, wl...))
				} else {
					all = append(all, append(markdown.Line{pad}, wl...))
				}
			}
			continue
		}
		all = append(all, markdown.Wrap(l, w)...)
	}
	if v.top > len(all)-h {
		v.top = len(all) - h
	}
	if v.top < 0 {
		v.top = 0
	}
	for i := 0; i < h && v.top+i < len(all); i++ {
		drawLine(screen, x, y+i, w, all[v.top+i])
	}
}

func (v *staticView) InputHandler() func(*tcell.EventKey, func(tview.Primitive)) {
	return v.WrapInputHandler(func(ev *tcell.EventKey, _ func(tview.Primitive)) {
		switch ev.Key() {
		case tcell.KeyUp:
			v.top--
		case tcell.KeyDown:
			v.top++
		case tcell.KeyPgUp:
			v.top -= 10
		case tcell.KeyPgDn:
			v.top += 10
		}
	})
}

func (v *staticView) MouseHandler() func(tview.MouseAction, *tcell.EventMouse, func(tview.Primitive)) (bool, tview.Primitive) {
	return v.WrapMouseHandler(func(action tview.MouseAction, _ *tcell.EventMouse, _ func(tview.Primitive)) (bool, tview.Primitive) {
		switch action {
		case tview.MouseScrollUp:
			v.top -= 3
			return true, nil
		case tview.MouseScrollDown:
			v.top += 3
			return true, nil
		}
		return false, nil
	})
}

func colorName(c tcell.Color) string {
	if c == tcell.ColorDefault {
		return "-"
	}
	return fmt.Sprintf("#%06x", c.Hex())
}

// showSearch searches all history as the user types; Enter opens a hit.
func (a *App) showSearch() {
	th := a.theme
	in := tview.NewInputField().SetLabel("Search: ").SetFieldBackgroundColor(th.SelectedBg).
		SetFieldTextColor(th.Text).SetLabelColor(th.Accent)
	results := tview.NewList().ShowSecondaryText(true).SetHighlightFullLine(true)
	results.SetMainTextStyle(th.Style(th.Text)).SetSecondaryTextStyle(th.Style(th.Dim))
	results.SetSelectedStyle(tcell.StyleDefault.Background(th.ListSelBg).Foreground(th.ListSelFg))
	results.SetSelectedFocusOnly(false)
	info := tview.NewTextView().SetTextColor(th.Dim)
	info.SetText("Type words; all must match. ↓ to the results, Enter opens one, Esc closes.")
	var hits []store.SearchHit
	seq := 0
	hl := fmt.Sprintf("[%s:%s:b]", colorName(th.HighlightFg), colorName(th.HighlightBg))
	run := func(q string) {
		seq++
		my := seq
		if strings.TrimSpace(q) == "" {
			results.Clear()
			hits = nil
			return
		}
		a.goDB(func(ctx context.Context) func() {
			hs, err := a.st.Search(ctx, q, store.SearchOptions{Limit: 50, Prefix: true, Archived: store.IncludeArchived,
				HighlightStart: "\x1e", HighlightEnd: "\x1f", SnippetTokens: 12})
			return func() {
				if my != seq {
					return
				}
				results.Clear()
				hits = hs
				if err != nil {
					info.SetText(err.Error())
					return
				}
				info.SetText(fmt.Sprintf("%d matches. ↓ to the results, Enter opens one, Esc closes.", len(hs)))
				for _, h := range hs {
					title := h.ConversationTitle
					if title == "" {
						title = "Untitled"
					}
					snip := strings.ReplaceAll(h.Snippet, "\n", " ")
					snip = tview.Escape(snip)
					snip = strings.ReplaceAll(snip, "\x1e", hl)
					snip = strings.ReplaceAll(snip, "\x1f", "[-:-:-]")
					who := string(h.Role)
					if h.MessageID == "" {
						who = "title"
					}
					results.AddItem(tview.Escape(title)+"  ["+colorName(th.Dim)+"]"+relTime(h.CreatedAt, time.Now())+" · "+who+"[-]", "  "+snip, 0, nil)
				}
			}
		})
	}
	in.SetChangedFunc(run)
	open := func(i int) {
		if i < 0 || i >= len(hits) {
			return
		}
		h := hits[i]
		a.closeDialog()
		a.jumpTo(h.ConversationID, h.MessageID)
	}
	results.SetSelectedFunc(func(i int, _, _ string, _ rune) { open(i) })
	in.SetDoneFunc(func(k tcell.Key) {
		if k == tcell.KeyEnter {
			open(results.GetCurrentItem())
		}
	})
	in.SetInputCapture(func(ev *tcell.EventKey) *tcell.EventKey {
		if ev.Key() == tcell.KeyDown || ev.Key() == tcell.KeyTab {
			a.tv.SetFocus(results)
			return nil
		}
		return ev
	})
	results.SetInputCapture(func(ev *tcell.EventKey) *tcell.EventKey {
		if (ev.Key() == tcell.KeyUp && results.GetCurrentItem() == 0) || ev.Key() == tcell.KeyBacktab || ev.Key() == tcell.KeyTab {
			a.tv.SetFocus(in)
			return nil
		}
		return ev
	})
	body := tview.NewFlex().SetDirection(tview.FlexRow).
		AddItem(in, 1, 0, true).AddItem(info, 1, 0, false).AddItem(results, 0, 1, false)
	a.openDialog("Search all conversations", body, 100, 30, in)
}

// jumpTo opens conversation convID showing message msgID (switching to its
// branch when it is on another one).
func (a *App) jumpTo(convID, msgID string) {
	if msgID == "" {
		a.openConversation(convID)
		return
	}
	a.goDB(func(ctx context.Context) func() {
		path, err := a.st.ActivePath(ctx, convID)
		if err == nil {
			on := false
			for _, m := range path {
				if m.ID == msgID {
					on = true
				}
			}
			if !on {
				_, err = a.st.SetActiveLeaf(ctx, msgID)
			}
		}
		return func() {
			if err != nil {
				a.flash(err.Error(), true)
			}
			a.openConversation(convID, msgID)
			a.tv.SetFocus(a.transcript)
		}
	})
}

// showRename asks for a new title.
func (a *App) showRename() {
	if a.conv == nil {
		a.flash("Nothing to rename: this conversation is not saved yet", true)
		return
	}
	id := a.conv.ID
	f := a.form()
	f.AddInputField("Title", a.conv.Title, 60, nil, nil)
	save := func() {
		title := strings.TrimSpace(f.GetFormItem(0).(*tview.InputField).GetText())
		if title == "" {
			a.flash("A title cannot be empty", true)
			return
		}
		a.closeDialog()
		a.goDB(func(ctx context.Context) func() {
			err := a.st.RenameConversation(ctx, id, title)
			return func() {
				if err != nil {
					a.flash("Rename: "+err.Error(), true)
					return
				}
				if a.conv != nil && a.conv.ID == id {
					a.conv.Title = title
					a.setTranscriptTitle()
				}
				a.flash("Renamed", false)
				a.list.loadFirst()
			}
		})
	}
	f.AddButton("Rename", save).AddButton("Cancel", a.closeDialog)
	f.GetFormItem(0).(*tview.InputField).SetDoneFunc(func(k tcell.Key) {
		if k == tcell.KeyEnter {
			save()
		}
	})
	a.openDialog("Rename conversation", f, 76, 8, f)
}

// showDelete asks before deleting the conversation.
func (a *App) showDelete() {
	if a.conv == nil {
		a.flash("Nothing to delete: this conversation is not saved yet", true)
		return
	}
	if a.generating {
		a.flash("Stop the reply first", true)
		return
	}
	id, title, n := a.conv.ID, a.conv.Title, len(a.all)
	m := tview.NewModal().
		SetText(fmt.Sprintf("Delete “%s” and its %d messages?\nThis cannot be undone.", title, n)).
		AddButtons([]string{"Cancel", "Delete"})
	m.SetBackgroundColor(a.theme.SelectedBg).SetTextColor(a.theme.Text)
	m.SetButtonBackgroundColor(a.theme.Bg).SetButtonTextColor(a.theme.Text)
	m.SetButtonActivatedStyle(tcell.StyleDefault.Background(a.theme.Error).Foreground(a.theme.HighlightFg))
	m.SetDoneFunc(func(_ int, label string) {
		a.closeDialog()
		if label != "Delete" {
			return
		}
		a.goDB(func(ctx context.Context) func() {
			err := a.st.DeleteConversation(ctx, id)
			return func() {
				if err != nil {
					a.flash("Delete: "+err.Error(), true)
					return
				}
				a.flash("Deleted “"+title+"”", false)
				if a.conv != nil && a.conv.ID == id {
					a.newConversation()
				}
				a.list.loadFirst()
			}
		})
	})
	a.pages.AddPage(dialogPage, m, false, true)
	a.dialogFocus = a.input
	a.tv.SetFocus(m)
}

// showModelPicker lists the local models; Enter loads one.
func (a *App) showModelPicker() {
	th := a.theme
	l := tview.NewList().ShowSecondaryText(true).SetHighlightFullLine(true)
	l.SetUseStyleTags(false, false)
	l.SetMainTextStyle(th.Style(th.Text)).SetSecondaryTextStyle(th.Style(th.Dim))
	l.SetSelectedStyle(tcell.StyleDefault.Background(th.ListSelBg).Foreground(th.ListSelFg))
	l.AddItem("Looking for models…", "", 0, nil)
	a.openDialog("Pick a model", l, 90, 20, l)
	if a.opts.ListModels == nil {
		l.Clear()
		l.AddItem("No model places configured", "", 0, nil)
		return
	}
	go func() {
		defer a.recoverGoroutine()
		entries, warns := a.opts.ListModels()
		a.queue(func() {
			l.Clear()
			if len(entries) == 0 {
				l.AddItem("No local models found", "  impetus pull mlx-community/Qwen2.5-0.5B-Instruct-4bit, then come back here", 0, nil)
			}
			for _, e := range entries {
				e := e
				sec := "  " + e.Source
				if e.Architecture != "" {
					sec += " · " + e.Architecture
				}
				if e.Quantization != "" {
					sec += " · " + e.Quantization
				} else if e.DType != "" {
					sec += " · " + e.DType
				}
				if e.SizeBytes > 0 {
					sec += fmt.Sprintf(" · %.1f GB", float64(e.SizeBytes)/1e9)
				}
				if e.ContextLength > 0 {
					sec += fmt.Sprintf(" · ctx %d", e.ContextLength)
				}
				main := e.ID
				if e.ID == a.modelRef || e.Path == a.modelRef {
					main = "● " + main
				}
				l.AddItem(main, sec, 0, func() {
					a.closeDialog()
					a.pickModel(e.ID)
				})
			}
			for _, w := range warns {
				l.AddItem("skipped: "+w.Error(), "", 0, nil)
			}
		})
	}()
}

// pickModel loads ref and makes it the current conversation's model.
func (a *App) pickModel(ref string) {
	a.loadModel(ref)
	if a.conv != nil {
		id := a.conv.ID
		a.goDB(func(ctx context.Context) func() {
			err := a.st.UpdateConversation(ctx, id, store.ConversationUpdate{Model: &ref})
			return func() {
				if err != nil {
					a.flash(err.Error(), true)
				}
			}
		})
	}
}

// showSettings edits the conversation's system prompt and sampling.
func (a *App) showSettings() {
	set := a.settings()
	sys := ""
	switch {
	case a.conv != nil:
		sys = a.conv.SystemPrompt
	case a.pendingSys != nil:
		sys = *a.pendingSys
	}
	f := a.form()
	f.SetItemPadding(0)
	f.AddTextArea("System prompt", sys, 0, 5, 0, nil)
	num := func(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
	f.AddInputField("Temperature", num(set.Temperature), 10, nil, nil)
	f.AddInputField("Top-p", num(set.TopP), 10, nil, nil)
	f.AddInputField("Top-k", strconv.Itoa(set.TopK), 10, nil, nil)
	f.AddInputField("Min-p", num(set.MinP), 10, nil, nil)
	f.AddInputField("Repetition penalty", num(set.RepetitionPenalty), 10, nil, nil)
	f.AddInputField("Max tokens", strconv.Itoa(set.MaxTokens), 10, nil, nil)
	seed := ""
	if set.Seed != nil {
		seed = strconv.FormatInt(*set.Seed, 10)
	}
	f.AddInputField("Seed (empty: random)", seed, 20, nil, nil)
	text := func(i int) string { return strings.TrimSpace(f.GetFormItem(i).(*tview.InputField).GetText()) }
	save := func() {
		var ns convSettings
		var err error
		parseF := func(i int, name string, lo, hi float64) float64 {
			v, e := strconv.ParseFloat(text(i), 64)
			if e != nil || v < lo || v > hi {
				if err == nil {
					err = fmt.Errorf("%s %q: want a number from %g to %g", name, text(i), lo, hi)
				}
			}
			return v
		}
		parseI := func(i int, name string) int {
			v, e := strconv.Atoi(text(i))
			if (e != nil || v < 0) && err == nil {
				err = fmt.Errorf("%s %q: want a whole number ≥ 0", name, text(i))
			}
			return v
		}
		ns.Temperature = parseF(1, "temperature", 0, 100)
		ns.TopP = parseF(2, "top-p", 0, 1)
		ns.TopK = parseI(3, "top-k")
		ns.MinP = parseF(4, "min-p", 0, 1)
		ns.RepetitionPenalty = parseF(5, "repetition penalty", 0, 100)
		ns.MaxTokens = parseI(6, "max tokens")
		if s := text(7); s != "" {
			v, e := strconv.ParseInt(s, 10, 64)
			if e != nil && err == nil {
				err = fmt.Errorf("seed %q: want a whole number or nothing", s)
			}
			ns.Seed = engine.Seed(v)
		}
		if err != nil {
			a.flash(err.Error(), true)
			return
		}
		prompt := f.GetFormItem(0).(*tview.TextArea).GetText()
		a.closeDialog()
		if a.conv == nil {
			a.pendingSet, a.pendingSys = &ns, &prompt
			a.flash("Settings will apply to this new conversation", false)
			return
		}
		raw, _ := json.Marshal(ns)
		id := a.conv.ID
		a.goDB(func(ctx context.Context) func() {
			err := a.st.UpdateConversation(ctx, id, store.ConversationUpdate{SystemPrompt: &prompt, Settings: raw})
			return func() {
				if err != nil {
					a.flash("Settings: "+err.Error(), true)
					return
				}
				a.flash("Settings saved", false)
				a.reload(a.updateContextUsage)
			}
		})
	}
	f.AddButton("Save", save).AddButton("Cancel", a.closeDialog)
	a.openDialog("System prompt and sampling", f, 80, 18, f)
}

// showExport writes the conversation in one of the export formats.
func (a *App) showExport() {
	if a.conv == nil {
		a.flash("Nothing to export: this conversation is not saved yet", true)
		return
	}
	id, title := a.conv.ID, a.conv.Title
	formats := export.Formats()
	names := make([]string, len(formats))
	for i, f := range formats {
		names[i] = string(f)
	}
	dir := a.opts.ExportDir
	if dir == "" {
		wd, err := os.Getwd()
		if err != nil {
			wd = "."
		}
		dir = wd
	}
	f := a.form()
	pathFor := func(i int) string { return filepath.Join(dir, export.FileName(title, id, formats[i])) }
	f.AddDropDown("Format", names, 0, nil)
	f.AddInputField("File", pathFor(0), 0, nil, nil)
	f.AddCheckbox("Active branch only", false, nil)
	f.AddCheckbox("Overwrite an existing file", false, nil)
	f.GetFormItem(0).(*tview.DropDown).SetSelectedFunc(func(_ string, i int) {
		if i >= 0 && f.GetFormItemCount() > 1 {
			f.GetFormItem(1).(*tview.InputField).SetText(pathFor(i))
		}
	})
	f.AddButton("Export", func() {
		fi, _ := f.GetFormItem(0).(*tview.DropDown).GetCurrentOption()
		path := strings.TrimSpace(f.GetFormItem(1).(*tview.InputField).GetText())
		opts := export.Options{ActiveBranchOnly: f.GetFormItem(2).(*tview.Checkbox).IsChecked()}
		force := f.GetFormItem(3).(*tview.Checkbox).IsChecked()
		if fi < 0 || path == "" {
			a.flash("Choose a format and a file", true)
			return
		}
		format := formats[fi]
		a.closeDialog()
		a.flash("Exporting…", false)
		a.goDB(func(ctx context.Context) func() {
			err := export.ExportFile(ctx, a.st, []string{id}, path, format, opts, force, nil)
			return func() {
				if err != nil {
					a.flash("Export: "+err.Error(), true)
					return
				}
				a.flash("Exported to "+path, false)
			}
		})
	}).AddButton("Cancel", a.closeDialog)
	f.SetItemPadding(0)
	a.openDialog("Export conversation", f, 96, 10, f)
}
