package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/term"
)

// progressBar draws one self-overwriting line on a terminal (pull, convert,
// export). On anything that is not a terminal it stays silent, so logs and
// redirected stderr never fill with carriage returns.
type progressBar struct {
	mu      sync.Mutex
	w       io.Writer
	enabled bool
	label   string
	bytes   bool // format done/total as sizes rather than counts
	started time.Time
	drawn   time.Time
	width   int
}

func newProgressBar(w io.Writer, label string, bytes bool) *progressBar {
	p := &progressBar{w: w, label: label, bytes: bytes, started: time.Now(), width: 80}
	if isTerminal(w) {
		f := w.(*os.File)
		p.enabled = true
		if cols, _, err := term.GetSize(int(f.Fd())); err == nil && cols > 40 {
			p.width = cols
		}
	}
	return p
}

// Update redraws at most ten times a second, and always at completion.
func (p *progressBar) Update(done, total int64, note string) {
	if p == nil || !p.enabled {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if done < total && time.Since(p.drawn) < 100*time.Millisecond {
		return
	}
	p.drawn = time.Now()
	fmt.Fprint(p.w, "\r"+p.line(done, total, note)+"\x1b[K")
}

// Finish ends the line so later output starts on a fresh one.
func (p *progressBar) Finish() {
	if p == nil || !p.enabled {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintln(p.w)
}

func (p *progressBar) line(done, total int64, note string) string {
	frac := 0.0
	if total > 0 {
		frac = float64(done) / float64(total)
	}
	count := fmt.Sprintf("%d/%d", done, total)
	if p.bytes {
		count = humanBytes(done) + "/" + humanBytes(total)
		if secs := time.Since(p.started).Seconds(); secs > 0.5 {
			count += fmt.Sprintf(" %s/s", humanBytes(int64(float64(done)/secs)))
		}
	}
	text := fmt.Sprintf("%s %3.0f%% %s %s", p.label, frac*100, count, note)
	barWidth := p.width - len([]rune(text)) - 4
	if barWidth > 40 {
		barWidth = 40
	}
	if barWidth < 5 {
		return truncateRunes(text, p.width-1)
	}
	filled := int(frac * float64(barWidth))
	return fmt.Sprintf("%s [%s%s] %s %s", p.label, strings.Repeat("=", filled), strings.Repeat(" ", barWidth-filled),
		strings.TrimSpace(fmt.Sprintf("%3.0f%% %s", frac*100, count)), note)
}

func truncateRunes(s string, n int) string {
	r := []rune(s)
	if n < 0 || len(r) <= n {
		return s
	}
	return string(r[:n])
}

// isTerminal reports whether a command's stdin, stdout or stderr is a
// terminal (not a file, pipe or test buffer).
func isTerminal(stream any) bool {
	f, ok := stream.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// humanBytes formats a size with binary units: 1.5 GiB.
func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
