package ui

import (
	"fmt"
	"sort"
	"strings"
	"unicode"

	"github.com/gdamore/tcell/v2"
)

// Action is something a key does. The names are what config.toml's [keys]
// table binds, e.g. new_conversation = "Ctrl-N".
type Action string

const (
	ActHelp          Action = "help"
	ActQuit          Action = "quit"
	ActStop          Action = "stop"
	ActSend          Action = "send"
	ActNewline       Action = "newline"
	ActNew           Action = "new_conversation"
	ActSearch        Action = "search"
	ActRename        Action = "rename"
	ActDelete        Action = "delete"
	ActPin           Action = "pin"
	ActArchive       Action = "archive"
	ActShowArchived  Action = "show_archived"
	ActToggleList    Action = "toggle_list"
	ActRegenerate    Action = "regenerate"
	ActEdit          Action = "edit"
	ActPrevBranch    Action = "prev_branch"
	ActNextBranch    Action = "next_branch"
	ActPrevMessage   Action = "prev_message"
	ActNextMessage   Action = "next_message"
	ActCopyMessage   Action = "copy_message"
	ActCopyCode      Action = "copy_code"
	ActModel         Action = "model"
	ActSettings      Action = "settings"
	ActExport        Action = "export"
	ActFocusNext     Action = "focus_next"
	ActFocusPrev     Action = "focus_prev"
	ActScrollUp      Action = "scroll_up"
	ActScrollDown    Action = "scroll_down"
	ActScrollTop     Action = "scroll_top"
	ActScrollBottom  Action = "scroll_bottom"
	ActFocusInput    Action = "focus_input"
	ActFocusList     Action = "focus_list"
	ActFocusMessages Action = "focus_transcript"
)

// actionInfo is the default binding and the help line of an action.
type actionInfo struct {
	Action Action
	Keys   []string
	Help   string
}

// actions lists every action in help order with its default keys. Keys that
// are plain characters ("/", "?", "[") work where no text is being typed.
var actions = []actionInfo{
	{ActSend, []string{"Enter"}, "send the message (in the input); `:q` quits"},
	{ActNewline, []string{"Alt-Enter", "Ctrl-J"}, "new line in the input"},
	{ActStop, []string{"Esc"}, "stop generating (the text so far is kept); cancel editing; close a dialog"},
	{ActQuit, []string{"Ctrl-Q"}, "quit (also Ctrl-C twice, or `:q`)"},
	{ActHelp, []string{"F1", "?"}, "this help"},
	{ActNew, []string{"Ctrl-N"}, "new conversation"},
	{ActSearch, []string{"Ctrl-F", "/"}, "search all conversations"},
	{ActRename, []string{"F2"}, "rename the conversation"},
	{ActSettings, []string{"F3"}, "system prompt and sampling of the conversation"},
	{ActModel, []string{"Ctrl-O"}, "pick a model"},
	{ActExport, []string{"F5"}, "export the conversation"},
	{ActDelete, []string{"F8"}, "delete the conversation (asks first)"},
	{ActPin, []string{"Ctrl-P"}, "pin / unpin the conversation"},
	{ActArchive, []string{"Alt-A"}, "archive / unarchive the conversation"},
	{ActShowArchived, []string{"Alt-V"}, "show archived conversations in the list"},
	{ActToggleList, []string{"Ctrl-B"}, "show / hide the conversation list"},
	{ActRegenerate, []string{"Ctrl-R"}, "regenerate the selected (or last) reply as a new branch"},
	{ActEdit, []string{"Ctrl-E"}, "edit the selected (or last) message of yours and resend it as a new branch"},
	{ActPrevBranch, []string{"Alt-Left", "["}, "previous branch at the selected message"},
	{ActNextBranch, []string{"Alt-Right", "]"}, "next branch at the selected message"},
	{ActPrevMessage, []string{"Alt-Up", "k"}, "select the previous message"},
	{ActNextMessage, []string{"Alt-Down", "j"}, "select the next message"},
	{ActCopyMessage, []string{"Ctrl-Y", "y"}, "copy the selected message (OSC 52 clipboard)"},
	{ActCopyCode, []string{"Alt-Y", "c"}, "copy a code block of the selected message (again: the next one)"},
	{ActScrollUp, []string{"PgUp"}, "scroll the transcript up"},
	{ActScrollDown, []string{"PgDn"}, "scroll the transcript down"},
	{ActScrollTop, []string{"Alt-Home", "g"}, "transcript top"},
	{ActScrollBottom, []string{"Alt-End", "G"}, "transcript bottom (follow new text)"},
	{ActFocusNext, []string{"Tab"}, "next pane"},
	{ActFocusPrev, []string{"Backtab"}, "previous pane"},
	{ActFocusList, []string{"Alt-1"}, "focus the conversation list"},
	{ActFocusMessages, []string{"Alt-2"}, "focus the transcript"},
	{ActFocusInput, []string{"Alt-3", "i"}, "focus the input"},
}

// Keymap maps canonical key names to actions.
type Keymap struct {
	byKey map[string]Action
	keys  map[Action][]string
}

// NewKeymap applies overrides (action → "Key" or "Key1, Key2") over the
// defaults. An override replaces all default keys of its action; a key bound
// by an override is taken away from any other action.
func NewKeymap(overrides map[string]string) (*Keymap, error) {
	km := &Keymap{byKey: map[string]Action{}, keys: map[Action][]string{}}
	known := map[Action]bool{}
	for _, a := range actions {
		known[a.Action] = true
		km.keys[a.Action] = append([]string(nil), a.Keys...)
	}
	names := make([]string, 0, len(overrides))
	for n := range overrides {
		names = append(names, n)
	}
	sort.Strings(names)
	taken := map[string]Action{}
	for _, n := range names {
		a := Action(n)
		if !known[a] {
			return nil, fmt.Errorf("config [keys]: unknown action %q (see the help overlay, F1, for the action names)", n)
		}
		var ks []string
		for _, k := range strings.Split(overrides[n], ",") {
			if strings.TrimSpace(k) == "" {
				continue
			}
			c, err := CanonicalKey(k)
			if err != nil {
				return nil, fmt.Errorf("config [keys] %s = %q: %w", n, overrides[n], err)
			}
			if prev, ok := taken[c]; ok && prev != a {
				return nil, fmt.Errorf("config [keys]: %s is bound to both %s and %s", c, prev, a)
			}
			taken[c] = a
			ks = append(ks, c)
		}
		km.keys[a] = ks
	}
	for _, a := range actions {
		for _, k := range km.keys[a.Action] {
			c, err := CanonicalKey(k)
			if err != nil {
				return nil, fmt.Errorf("default key %q of %s: %w", k, a.Action, err)
			}
			if owner, ok := taken[c]; ok && owner != a.Action {
				continue // an override took this key
			}
			km.byKey[c] = a.Action
		}
	}
	return km, nil
}

// Lookup returns the action bound to the key event, if any.
func (km *Keymap) Lookup(ev *tcell.EventKey) (Action, bool) {
	a, ok := km.byKey[EventKeyName(ev)]
	return a, ok
}

// Keys returns the keys bound to a, in display form.
func (km *Keymap) Keys(a Action) []string { return km.keys[a] }

// KeyText is a's first key for hints ("Ctrl-N"), or "" when unbound.
func (km *Keymap) KeyText(a Action) string {
	if ks := km.keys[a]; len(ks) > 0 {
		return ks[0]
	}
	return ""
}

var namedKeys = func() map[string]tcell.Key {
	m := map[string]tcell.Key{}
	for k, n := range tcell.KeyNames {
		if !strings.HasPrefix(n, "Ctrl-") {
			m[strings.ToLower(n)] = k
		}
	}
	m["escape"] = tcell.KeyEsc
	m["return"] = tcell.KeyEnter
	m["pageup"] = tcell.KeyPgUp
	m["pagedown"] = tcell.KeyPgDn
	m["del"] = tcell.KeyDelete
	m["space"] = tcell.KeyRune // handled below
	return m
}()

// CanonicalKey normalizes a key written by a person: "ctrl+n", "C-n" and
// "Ctrl-N" are all "Ctrl-N"; "alt+enter" is "Alt-Enter"; "?" is "?".
func CanonicalKey(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", fmt.Errorf("empty key")
	}
	if len([]rune(s)) == 1 {
		return s, nil
	}
	var mods []string
	rest := s
	for {
		i := strings.IndexAny(rest, "-+")
		if i <= 0 || i == len(rest)-1 {
			break
		}
		m := strings.ToLower(rest[:i])
		switch m {
		case "ctrl", "control", "c":
			mods = append(mods, "Ctrl")
		case "alt", "meta", "m", "a", "option":
			mods = append(mods, "Alt")
		case "shift", "s":
			mods = append(mods, "Shift")
		default:
			return "", fmt.Errorf("unknown modifier %q (use Ctrl, Alt or Shift, e.g. \"Ctrl-N\")", rest[:i])
		}
		rest = rest[i+1:]
	}
	base := rest
	if len([]rune(base)) == 1 {
		r := []rune(base)[0]
		if len(mods) > 0 {
			r = unicode.ToUpper(r)
		}
		base = string(r)
	} else {
		lb := strings.ToLower(base)
		if lb == "space" {
			base = "Space"
		} else if k, ok := namedKeys[lb]; ok {
			base = tcell.KeyNames[k]
		} else {
			return "", fmt.Errorf("unknown key %q (names: Enter, Esc, Tab, F1…F12, Up, PgUp, Home, Delete, or one character)", base)
		}
	}
	return joinMods(mods, base), nil
}

func joinMods(mods []string, base string) string {
	order := map[string]int{"Ctrl": 0, "Alt": 1, "Shift": 2}
	sort.Slice(mods, func(i, j int) bool { return order[mods[i]] < order[mods[j]] })
	out := ""
	seen := map[string]bool{}
	for _, m := range mods {
		if !seen[m] {
			out += m + "-"
			seen[m] = true
		}
	}
	return out + base
}

// EventKeyName is the canonical name of a key event, as CanonicalKey writes it.
func EventKeyName(ev *tcell.EventKey) string {
	var mods []string
	m := ev.Modifiers()
	k := ev.Key()
	switch {
	case k == tcell.KeyRune:
		r := ev.Rune()
		if m&tcell.ModAlt != 0 {
			mods = append(mods, "Alt")
		}
		if m&tcell.ModCtrl != 0 {
			mods = append(mods, "Ctrl")
		}
		if r == ' ' {
			if len(mods) == 0 {
				return " "
			}
			return joinMods(mods, "Space")
		}
		if len(mods) > 0 {
			r = unicode.ToUpper(r)
		}
		return joinMods(mods, string(r))
	case k >= tcell.KeyCtrlA && k <= tcell.KeyCtrlZ:
		mods = append(mods, "Ctrl")
		if m&tcell.ModAlt != 0 {
			mods = append(mods, "Alt")
		}
		return joinMods(mods, string(rune('A'+(k-tcell.KeyCtrlA))))
	case k < 32 && k != tcell.KeyEnter && k != tcell.KeyTab && k != tcell.KeyEsc && k != tcell.KeyBackspace:
		// Raw ASCII control codes as terminals send them.
		mods = append(mods, "Ctrl")
		if m&tcell.ModAlt != 0 {
			mods = append(mods, "Alt")
		}
		if k == 0 {
			return joinMods(mods, "Space")
		}
		return joinMods(mods, string(rune('A'+k-1)))
	}
	name, ok := tcell.KeyNames[k]
	if !ok {
		name = fmt.Sprintf("Key%d", k)
	}
	if k == tcell.KeyBackspace2 {
		name = "Backspace"
	}
	if m&tcell.ModCtrl != 0 {
		mods = append(mods, "Ctrl")
	}
	if m&tcell.ModAlt != 0 {
		mods = append(mods, "Alt")
	}
	if m&tcell.ModShift != 0 {
		mods = append(mods, "Shift")
	}
	return joinMods(mods, name)
}

// isPlainChar reports whether a key name is a single unmodified character:
// such bindings must not fire while the user types.
func isPlainChar(name string) bool { return len([]rune(name)) == 1 }
