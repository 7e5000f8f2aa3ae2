package ui

import (
	"context"
	"strconv"
	"time"

	"github.com/gdamore/tcell/v2"
	"github.com/rivo/tview"

	"github.com/impetus-llm/impetus/store"
	"github.com/impetus-llm/impetus/ui/markdown"
)

// onKey is the application-wide key handler: it turns bound keys into
// actions before the focused view sees them.
func (a *App) onKey(ev *tcell.EventKey) *tcell.EventKey {
	if a.testSync != nil && ev.Key() == tcell.KeyF63 {
		a.testSync()
		return nil
	}
	name := EventKeyName(ev)
	// Ctrl-C: stop generating; twice quits. It works everywhere.
	if name == "Ctrl-C" {
		now := time.Now()
		if now.Sub(a.lastCtrlC) < 2*time.Second {
			a.Stop()
			return nil
		}
		a.lastCtrlC = now
		if !a.stopGeneration() {
			a.flash("Press Ctrl-C again to quit", false)
		}
		return nil
	}
	act, ok := a.keys.Lookup(ev)
	if a.dialogOpen() {
		switch {
		case ok && act == ActQuit:
			a.Stop()
			return nil
		case ev.Key() == tcell.KeyEsc:
			a.closeDialog()
			return nil
		}
		return ev
	}
	if !ok {
		return ev
	}
	focus := a.tv.GetFocus()
	inInput := focus == a.input
	if isPlainChar(name) {
		// Characters are text in the input and list navigation in the list.
		if inInput {
			return ev
		}
		if focus == a.list && act != ActSearch && act != ActHelp {
			return ev
		}
	}
	switch act {
	case ActSend:
		if !inInput {
			return ev // Enter selects in the list
		}
		a.send()
	case ActNewline:
		if !inInput {
			return ev
		}
		return tcell.NewEventKey(tcell.KeyEnter, '\n', tcell.ModNone)
	case ActStop:
		switch {
		case a.stopGeneration():
		case a.editing != "":
			a.cancelEdit()
		case a.transcript.selected >= 0:
			a.transcript.Select(-1)
			a.transcript.ScrollToBottom()
		}
	default:
		a.do(act)
	}
	return nil
}

// do runs an action.
func (a *App) do(act Action) {
	switch act {
	case ActQuit:
		a.Stop()
	case ActHelp:
		a.showHelp()
	case ActNew:
		a.newConversation()
		a.tv.SetFocus(a.input)
	case ActSearch:
		a.showSearch()
	case ActRename:
		a.showRename()
	case ActDelete:
		a.showDelete()
	case ActPin:
		a.togglePin()
	case ActArchive:
		a.toggleArchive()
	case ActShowArchived:
		a.list.archived = !a.list.archived
		a.list.loadFirst()
	case ActToggleList:
		a.listHidden = !a.listHidden
		if !a.listHidden && !a.listAuto {
			a.tv.SetFocus(a.list)
		}
	case ActRegenerate:
		a.regenerate()
	case ActEdit:
		a.startEdit()
	case ActPrevBranch:
		a.switchBranch(-1)
	case ActNextBranch:
		a.switchBranch(1)
	case ActPrevMessage:
		a.moveSelection(-1)
	case ActNextMessage:
		a.moveSelection(1)
	case ActCopyMessage:
		a.copyMessage()
	case ActCopyCode:
		a.copyCode()
	case ActModel:
		a.showModelPicker()
	case ActSettings:
		a.showSettings()
	case ActExport:
		a.showExport()
	case ActFocusNext, ActFocusPrev:
		a.cycleFocus(act == ActFocusNext)
	case ActScrollUp:
		a.transcript.ScrollBy(-a.transcript.PageSize())
	case ActScrollDown:
		a.transcript.ScrollBy(a.transcript.PageSize())
	case ActScrollTop:
		a.transcript.ScrollToTop()
	case ActScrollBottom:
		a.transcript.ScrollToBottom()
	case ActFocusInput:
		a.tv.SetFocus(a.input)
	case ActFocusList:
		if a.listHidden || a.listAuto {
			a.listHidden = false
		}
		a.tv.SetFocus(a.list)
	case ActFocusMessages:
		a.tv.SetFocus(a.transcript)
	}
}

// cycleFocus moves between list, transcript and input.
func (a *App) cycleFocus(forward bool) {
	order := []tview.Primitive{a.list, a.transcript, a.input}
	if a.listHidden || a.listAuto {
		order = order[1:]
	}
	cur := a.tv.GetFocus()
	i := 0
	for j, p := range order {
		if p == cur {
			i = j
		}
	}
	if forward {
		i = (i + 1) % len(order)
	} else {
		i = (i - 1 + len(order)) % len(order)
	}
	a.tv.SetFocus(order[i])
}

// moveSelection selects the previous/next message in the transcript.
func (a *App) moveSelection(d int) {
	n := len(a.transcript.entries)
	if n == 0 {
		return
	}
	i := a.transcript.selected
	if i < 0 {
		if d < 0 {
			i = n - 1
		} else {
			i = 0
		}
	} else {
		i += d
	}
	for i >= 0 && i < n && a.transcript.entries[i].notice {
		i += d
	}
	if i < 0 || i >= n {
		return
	}
	a.transcript.Select(i)
}

// targetEntry is the selected message, or the last reply.
func (a *App) targetEntry() *entry {
	if e := a.transcript.SelectedEntry(); e != nil {
		return e
	}
	for i := len(a.transcript.entries) - 1; i >= 0; i-- {
		if e := a.transcript.entries[i]; !e.notice && e.role == store.RoleAssistant {
			return e
		}
	}
	return nil
}

func (a *App) copyMessage() {
	e := a.targetEntry()
	if e == nil || e.content == "" {
		a.flash("Nothing to copy: select a message first ("+a.keys.KeyText(ActPrevMessage)+")", true)
		return
	}
	a.copyToClipboard(e.content, "the message")
}

// copyCode copies the selected message's code blocks one after another.
func (a *App) copyCode() {
	e := a.targetEntry()
	if e == nil {
		a.flash("Nothing to copy: select a message first", true)
		return
	}
	blocks := markdown.CodeBlocks(e.content)
	if len(blocks) == 0 {
		a.flash("The message has no code block", true)
		return
	}
	i := a.codeCursor % len(blocks)
	a.codeCursor++
	what := "the code block"
	if len(blocks) > 1 {
		what = "code block " + strconv.Itoa(i+1) + " of " + strconv.Itoa(len(blocks))
	}
	a.copyToClipboard(blocks[i], what)
}

func (a *App) togglePin() {
	if a.conv == nil {
		return
	}
	id, pinned := a.conv.ID, !a.conv.Pinned
	a.goDB(func(ctx context.Context) func() {
		err := a.st.SetPinned(ctx, id, pinned)
		return func() {
			if err != nil {
				a.flash(err.Error(), true)
				return
			}
			if a.conv != nil && a.conv.ID == id {
				a.conv.Pinned = pinned
				a.setTranscriptTitle()
			}
			if pinned {
				a.flash("Pinned", false)
			} else {
				a.flash("Unpinned", false)
			}
			a.list.loadFirst()
		}
	})
}

func (a *App) toggleArchive() {
	if a.conv == nil {
		return
	}
	id, archived := a.conv.ID, !a.conv.Archived
	a.goDB(func(ctx context.Context) func() {
		err := a.st.SetArchived(ctx, id, archived)
		return func() {
			if err != nil {
				a.flash(err.Error(), true)
				return
			}
			if a.conv != nil && a.conv.ID == id {
				a.conv.Archived = archived
				a.setTranscriptTitle()
			}
			if archived {
				a.flash("Archived — "+a.keys.KeyText(ActShowArchived)+" shows archived conversations", false)
			} else {
				a.flash("Unarchived", false)
			}
			a.list.loadFirst()
		}
	})
}
