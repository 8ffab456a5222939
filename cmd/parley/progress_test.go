package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestProgressPiped(t *testing.T) {
	t.Parallel()
	var w bytes.Buffer
	p := newProgress(&w, "import", 100, true) // a buffer is no terminal: plain lines
	require.Nil(t, p.bar)
	p.every = 0
	p.Set(10, "10 records read")
	p.Set(20, "20 records read")
	p.Finish()
	require.Equal(t, "import: 10 records read\nimport: 20 records read\n", w.String())

	w.Reset()
	p = newProgress(&w, "export", -1, false)
	p.Set(1, "1 written")
	p.Set(2, "2 written")
	require.Equal(t, 1, strings.Count(w.String(), "\n"), "at most a line every few seconds")
}

func TestCounters(t *testing.T) {
	t.Parallel()
	r := &countingReader{r: strings.NewReader("hello world")}
	buf := make([]byte, 4)
	for {
		if _, err := r.Read(buf); err != nil {
			break
		}
	}
	require.Equal(t, int64(11), r.n)
	var seen []int64
	var out bytes.Buffer
	l := &lineCounter{w: &out, on: func(n int64) { seen = append(seen, n) }}
	_, _ = l.Write([]byte("a\nb"))
	_, _ = l.Write([]byte("\nc\n"))
	require.Equal(t, []int64{1, 2, 3}, seen)
	require.Equal(t, "a\nb\nc\n", out.String())
}
