package nomadagent

import (
	"bytes"
	"strings"
	"sync"
	"time"
)

// LineBuffer collects bytes written by another goroutine and lets a check wait for text.
type LineBuffer struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	changed chan struct{}
}

func NewLineBuffer() *LineBuffer {
	return &LineBuffer{changed: make(chan struct{})}
}

func (b *LineBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.Write(p)
	close(b.changed)
	b.changed = make(chan struct{})
	return len(p), nil
}

func (b *LineBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Lines returns the complete lines written so far.
func (b *LineBuffer) Lines() []string {
	s := b.String()
	if s == "" {
		return nil
	}
	lines := strings.Split(s, "\n")
	if lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	return lines
}

// Tail returns the last n lines joined by " | ".
func (b *LineBuffer) Tail(n int) string {
	lines := b.Lines()
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}

// WaitFor waits until the text contains want or the timeout passes.
func (b *LineBuffer) WaitFor(want string, timeout time.Duration) bool {
	deadline := time.After(timeout)
	for {
		b.mu.Lock()
		ok := strings.Contains(b.buf.String(), want)
		ch := b.changed
		b.mu.Unlock()
		if ok {
			return true
		}
		select {
		case <-ch:
		case <-deadline:
			return false
		}
	}
}
