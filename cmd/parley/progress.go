package main

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// progress shows a long command's progress on stderr: a bar on a
// terminal (a counter when the total is unknown), and when stderr is a
// pipe or a file a plain line at most every few seconds, which logs keep
// readably.
type progress struct {
	mu    sync.Mutex // Set is called from many goroutines
	bar   *progressbar.ProgressBar
	w     io.Writer
	label string
	every time.Duration
	last  time.Time
}

// plainEvery is how often a piped progress line is written.
const plainEvery = 2 * time.Second

// newProgress starts a progress of total units (-1: unknown).
func newProgress(stderr io.Writer, label string, total int64, bytes bool) *progress {
	p := &progress{w: stderr, label: label, every: plainEvery}
	if f, ok := stderr.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		p.bar = progressbar.NewOptions64(total, progressbar.OptionSetWriter(stderr), progressbar.OptionSetDescription(label),
			progressbar.OptionShowBytes(bytes), progressbar.OptionShowCount(), progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionSetWidth(30), progressbar.OptionShowElapsedTimeOnFinish(), progressbar.OptionOnCompletion(func() {
				fmt.Fprintln(stderr)
			}))
	}
	return p
}

// Set moves the progress to done units; detail goes with a piped line.
func (p *progress) Set(done int64, detail string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bar != nil {
		_ = p.bar.Set64(done)
		return
	}
	if now := time.Now(); now.Sub(p.last) >= p.every {
		p.last = now
		fmt.Fprintf(p.w, "%s: %s\n", p.label, detail)
	}
}

// Finish ends the bar (a piped progress has nothing to end).
func (p *progress) Finish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bar != nil {
		_ = p.bar.Finish()
	}
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.n += int64(n)
	return n, err
}

// lineCounter counts the lines written through it, calling on each.
type lineCounter struct {
	w     io.Writer
	lines int64
	on    func(lines int64)
}

func (l *lineCounter) Write(b []byte) (int, error) {
	n, err := l.w.Write(b)
	for _, c := range b[:n] {
		if c == '\n' {
			l.lines++
			l.on(l.lines)
		}
	}
	return n, err
}
