package ui

import (
	"fmt"
	"strings"
	"time"

	"github.com/gdamore/tcell/v2"
	"github.com/rivo/tview"

	"github.com/impetus-llm/impetus/engine"
	"github.com/impetus-llm/impetus/ui/markdown"
)

var spinnerFrames = []rune("⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏")

// StatusBar is the bottom line: spinner, model and backend, context used of
// the limit, the last reply's TTFT and speed, and short messages.
type StatusBar struct {
	*tview.Box
	a *App
	// UI goroutine state.
	ctxUsed   int
	lastTTFT  time.Duration
	lastTPS   float64
	lastToks  int
	promptTok int // tokens of the prompt being generated (guarded by a.mu)
}

func newStatusBar(a *App) *StatusBar { return &StatusBar{Box: tview.NewBox(), a: a} }

// setPrompt records the prompt size at the start of generation (called with a.mu held).
func (s *StatusBar) setPrompt(n int) { s.promptTok = n }

// setResult records a finished reply's figures.
func (s *StatusBar) setResult(r *engine.Result) {
	s.lastTTFT = r.Timings.TTFT
	s.lastTPS = r.Timings.DecodeTokensPerSec
	s.lastToks = r.Usage.CompletionTokens
	s.ctxUsed = r.Usage.PromptTokens + r.Usage.CompletionTokens
}

// Draw paints the bar: left part, then the right part if it fits.
func (s *StatusBar) Draw(screen tcell.Screen) {
	a := s.a
	th := a.theme
	x, y, w, _ := s.GetRect()
	base := tcell.StyleDefault.Background(th.StatusBg).Foreground(th.StatusFg)
	acc := base.Foreground(th.StatusAccent).Bold(true)
	dim := base.Foreground(th.Dim)
	errSt := base.Foreground(th.Error).Bold(true)
	for i := 0; i < w; i++ {
		screen.SetContent(x+i, y, ' ', nil, base)
	}
	a.mu.Lock()
	spin := spinnerFrames[a.spin%len(spinnerFrames)]
	loading, stage, frac := a.loadingModel, a.loadStage, a.loadFrac
	flash, flashErr := a.flashText, a.flashErr
	toks, start, first := a.streamToks, a.streamStart, a.firstTok
	prompt := s.promptTok
	prefill := a.prefill
	a.loadDirty = false
	a.mu.Unlock()

	var left markdown.Line
	switch {
	case loading:
		left = append(left, markdown.Span{Text: string(spin) + " ", Style: acc},
			markdown.Span{Text: fmt.Sprintf("loading %s: %s %3.0f%% ", shortModel(a.modelRef), stage, frac*100), Style: base},
			markdown.Span{Text: bar(frac, 12), Style: acc})
	case a.modelInfo != nil:
		if a.generating {
			left = append(left, markdown.Span{Text: string(spin) + " ", Style: acc})
		} else {
			left = append(left, markdown.Span{Text: "● ", Style: base.Foreground(th.User)})
		}
		left = append(left, markdown.Span{Text: shortModel(a.modelInfo.Ref), Style: acc},
			markdown.Span{Text: " · " + a.modelInfo.Backend, Style: base})
		if a.modelInfo.Device != "" {
			left = append(left, markdown.Span{Text: " (" + a.modelInfo.Device + ")", Style: dim})
		}
		if a.modelInfo.Quantization != "" {
			left = append(left, markdown.Span{Text: " · " + a.modelInfo.Quantization, Style: dim})
		}
	case a.modelErr != nil:
		left = append(left, markdown.Span{Text: "✖ model failed to load — " + a.keys.KeyText(ActModel) + " to pick one", Style: errSt})
	default:
		left = append(left, markdown.Span{Text: "○ no model — " + a.keys.KeyText(ActModel) + " to pick one", Style: base.Foreground(th.Notice)})
	}

	var right markdown.Line
	if a.modelInfo != nil && a.modelInfo.ContextLength > 0 {
		used := s.ctxUsed
		if a.generating {
			used = prompt + toks
		}
		pct := float64(used) / float64(a.modelInfo.ContextLength)
		st := base
		if pct > 0.9 {
			st = errSt
		}
		right = append(right, markdown.Span{Text: fmt.Sprintf("ctx %s/%s ", human(used), human(a.modelInfo.ContextLength)), Style: st})
	}
	if a.generating {
		if !first.IsZero() {
			el := time.Since(first).Seconds()
			tps := 0.0
			if el > 0 && toks > 1 {
				tps = float64(toks-1) / el
			}
			right = append(right, markdown.Span{Text: fmt.Sprintf("│ TTFT %s │ %.1f tok/s ", fmtMs(float64(first.Sub(start).Microseconds())/1000), tps), Style: base})
		} else if prefill > 0 {
			right = append(right, markdown.Span{Text: fmt.Sprintf("│ reading the prompt %3.0f%% ", prefill*100), Style: dim})
		} else {
			right = append(right, markdown.Span{Text: "│ thinking… ", Style: dim})
		}
	} else if s.lastTTFT > 0 {
		right = append(right, markdown.Span{Text: fmt.Sprintf("│ TTFT %s │ %.1f tok/s ", fmtMs(float64(s.lastTTFT.Microseconds())/1000), s.lastTPS), Style: base})
	}
	right = append(right, markdown.Span{Text: "│ " + a.keys.KeyText(ActHelp) + " help ", Style: dim})

	if flash != "" {
		st := base.Foreground(th.Notice).Bold(true)
		if flashErr {
			st = errSt
		}
		left = markdown.Line{{Text: " " + flash, Style: st}}
	}
	left = append(markdown.Line{{Text: " ", Style: base}}, left...)
	rw := right.Width()
	lw := left.Width()
	if lw+rw+1 > w {
		// Too narrow for both: keep the left, then what fits of the right.
		for len(right) > 0 && lw+right.Width()+1 > w {
			right = right[1:]
		}
		rw = right.Width()
	}
	drawLine(screen, x, y, w-rw, left)
	drawLine(screen, x+w-rw, y, rw, right)
}

func bar(frac float64, n int) string {
	if frac < 0 {
		frac = 0
	}
	if frac > 1 {
		frac = 1
	}
	full := int(frac * float64(n))
	return strings.Repeat("█", full) + strings.Repeat("░", n-full)
}

func human(n int) string {
	if n >= 10000 {
		return fmt.Sprintf("%.0fk", float64(n)/1000)
	}
	if n >= 1000 {
		return fmt.Sprintf("%.1fk", float64(n)/1000)
	}
	return fmt.Sprint(n)
}
