package bench

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestMemoryPlot: the memory suite's plot is an SVG with a curve per store
// and the baseline, named in its legend.
func TestMemoryPlot(t *testing.T) {
	t.Parallel()
	curve := func(top float64) []float64 {
		out := make([]float64, 20)
		for i := range out {
			out[i] = top * float64(i+1) / 20
		}
		return out
	}
	path := filepath.Join(t.TempDir(), "recall.svg")
	require.NoError(t, MemoryPlot([]*MemoryResult{
		{Store: "sqlite", Curve: curve(0.84), BaselineCurve: curve(0.63)},
		{Store: "postgres", Curve: curve(0.84), BaselineCurve: curve(0.63)},
	}, path))
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	svg := string(b)
	require.Contains(t, svg, "<svg")
	for _, label := range []string{"Parley recall, sqlite", "Parley recall, postgres", "BM25 over the raw turns", "target: 0.80 at k = 10"} {
		require.Contains(t, svg, label)
	}
	require.True(t, strings.HasSuffix(strings.TrimSpace(svg), "</svg>"), "the file is whole")
	none := filepath.Join(t.TempDir(), "none.svg")
	require.NoError(t, MemoryPlot(nil, none))
	require.NoFileExists(t, none, "no results: nothing drawn")
}
