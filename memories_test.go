package parley_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley"
)

func TestPlanMemory(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	old := &parley.Memory{ID: "m1", Kind: parley.KindPlace, Key: "place:home", Text: "Lives in Madrid", Confidence: 0.6,
		Confirmations: 2, Version: 1, ConversationID: "c1", SourceSeqs: []int64{3}}
	for _, tc := range []struct {
		name      string
		existing  *parley.Memory
		conv      string
		fact      parley.Fact
		change    parley.MemoryChange
		text      string
		conf, ver int
		sources   []int64
	}{
		{"new", nil, "c1", parley.Fact{Kind: parley.KindPlace, Text: "Lives in Madrid", SourceSeqs: []int64{5, 5, 4}},
			parley.MemoryCreate, "Lives in Madrid", 1, 1, []int64{4, 5}},
		{"the same text again confirms, sources joined", old, "c1", parley.Fact{Kind: parley.KindPlace, Text: "lives  in MADRID", SourceSeqs: []int64{7}},
			parley.MemoryConfirm, "Lives in Madrid", 3, 1, []int64{3, 7}},
		{"confirmed in another conversation: its sources", old, "c2", parley.Fact{Kind: parley.KindPlace, Text: "Lives in Madrid", SourceSeqs: []int64{1}},
			parley.MemoryConfirm, "Lives in Madrid", 3, 1, []int64{1}},
		{"another text supersedes", old, "c1", parley.Fact{Kind: parley.KindPlace, Text: "Lives in Lisbon", SourceSeqs: []int64{9}},
			parley.MemorySupersede, "Lives in Lisbon", 1, 2, []int64{9}},
		{"another kind supersedes", old, "c1", parley.Fact{Kind: parley.KindDislike, Text: "Lives in Madrid"},
			parley.MemorySupersede, "Lives in Madrid", 1, 2, []int64{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			change, m := parley.PlanMemory(tc.existing, tc.fact, tc.conv, now)
			require.Equal(t, tc.change, change)
			require.Equal(t, tc.text, m.Text)
			require.Equal(t, tc.conf, m.Confirmations)
			require.Equal(t, tc.ver, m.Version)
			require.Equal(t, tc.sources, m.SourceSeqs)
			require.Equal(t, tc.conv, m.ConversationID)
			require.Equal(t, now, m.ConfirmedAt)
		})
	}
	require.Equal(t, "Lives in Madrid", old.Text, "the existing memory is not changed")
	require.Equal(t, 2, old.Confirmations)
}

// TestPlanMemoryVector: a memory's vector is its text's: a new or
// superseding fact's, a confirming fact's when it has one (the newer,
// perhaps of another model), none when a new text came without one.
func TestPlanMemoryVector(t *testing.T) {
	t.Parallel()
	vec := func(model string, x float32) parley.Vector {
		return parley.Vector{Model: model, Values: []float32{x, 1}}
	}
	old := &parley.Memory{ID: "m1", Kind: parley.KindPlace, Key: "place:home", Text: "Lives in Madrid", Version: 1, Vector: vec("a", 1)}
	for _, tc := range []struct {
		name     string
		existing *parley.Memory
		fact     parley.Fact
		want     parley.Vector
	}{
		{"new", nil, parley.Fact{Kind: parley.KindPlace, Text: "Lives in Madrid", Vector: vec("a", 2)}, vec("a", 2)},
		{"confirmed without one: kept", old, parley.Fact{Kind: parley.KindPlace, Text: "Lives in Madrid"}, vec("a", 1)},
		{"confirmed with one: the newer", old, parley.Fact{Kind: parley.KindPlace, Text: "Lives in Madrid", Vector: vec("b", 3)}, vec("b", 3)},
		{"superseded", old, parley.Fact{Kind: parley.KindPlace, Text: "Lives in Lisbon", Vector: vec("a", 4)}, vec("a", 4)},
		{"superseded without one: none of the old text's", old, parley.Fact{Kind: parley.KindPlace, Text: "Lives in Lisbon"}, parley.Vector{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, m := parley.PlanMemory(tc.existing, tc.fact, "c1", time.Now())
			require.Equal(t, tc.want, m.Vector)
		})
	}
	require.Equal(t, vec("a", 1), old.Vector, "the existing memory is not changed")
}

func TestVectorBytes(t *testing.T) {
	t.Parallel()
	v := parley.Vector{Model: "m", Values: parley.Normalize([]float32{3, 4, 0})}
	require.InDelta(t, 1, parley.Cosine(v.Values, v.Values), 1e-6)
	require.InDelta(t, 0.6, v.Values[0], 1e-6)
	got, err := parley.DecodeVector("m", v.Bytes())
	require.NoError(t, err)
	require.Equal(t, v, got)
	none, err := parley.DecodeVector("", nil)
	require.NoError(t, err)
	require.Equal(t, parley.Vector{}, none)
	_, err = parley.DecodeVector("m", []byte{1, 2, 3})
	require.Error(t, err, "not whole float32s")
	require.Zero(t, parley.Cosine([]float32{1}, []float32{1, 0}), "lengths differ")
	require.Equal(t, []float32{0, 0}, parley.Normalize([]float32{0, 0}))
}
