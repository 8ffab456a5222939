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
