package memory

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley"
)

func TestParseQuery(t *testing.T) {
	t.Parallel()
	names := [2]string{"Caroline Smith", "Melanie"}
	for _, tc := range []struct {
		query   string
		words   []string
		speaker int
		boost   float64
		date    [3]int // year, month, day
	}{
		{"What did Caroline research?", []string{"research"}, speakerUser, speakerBoost, [3]int{}},
		{"Where has Melanie camped?", []string{"camped"}, speakerBot, speakerBoost, [3]int{}},
		{"What do Melanie's kids like?", []string{"kids", "like"}, speakerBot, speakerBoost, [3]int{}},
		{"What have Caroline and Melanie both painted?", []string{"painted"}, speakerUser, subjectBoost, [3]int{}},
		{"What does Melanie think of Caroline's plan?", []string{"think", "plan"}, speakerBot, subjectBoost, [3]int{}},
		{"Did Smith meet Caroline?", []string{"meet"}, speakerUser, speakerBoost, [3]int{}},
		{"When is the trip?", []string{"trip"}, 0, 0, [3]int{}},
		{"Childhood friendship or a ship?", []string{"childhood", "child", "friendship", "friend", "ship"}, 0, 0, [3]int{}},
		{"What did Melanie paint on October 13, 2023?", []string{"paint", "october", "13", "2023"}, speakerBot, speakerBoost, [3]int{2023, 10, 13}},
		{"what happened 13 October 2023", []string{"happened", "13", "october", "2023"}, 0, 0, [3]int{2023, 10, 13}},
		{"¿Qué pasó el 3 de mayo de 2024?", []string{"pasó", "mayo", "2024"}, 0, 0, [3]int{2024, 5, 3}},
		{"notes from 2024-02-29", []string{"notes", "2024", "02", "29"}, 0, 0, [3]int{2024, 2, 29}},
		{"plans for May 2023", []string{"plans", "2023"}, 0, 0, [3]int{2023, 5, 0}},
		{"may I ask about 2023", []string{"ask", "2023"}, 0, 0, [3]int{}},
		{"room 13 at 2023 hotel", []string{"room", "13", "2023", "hotel"}, 0, 0, [3]int{}},
	} {
		q := parseQuery(tc.query, names)
		require.Equal(t, tc.words, q.words, tc.query)
		require.Equal(t, tc.speaker, q.speaker, tc.query)
		require.Equal(t, tc.boost, q.boost, tc.query)
		require.Equal(t, tc.date, [3]int{q.year, int(q.month), q.day}, tc.query)
	}
	q := parseQuery("What did Lopez tell Ana?", [2]string{"Ana Lopez", "Luis Lopez"})
	require.Zero(t, q.speaker, "first named, a word of both names: either may be the subject")
	q = parseQuery("Walks and walking", [2]string{})
	require.Equal(t, []string{"walk"}, q.terms.List, "terms are stems, once each")
}

func TestQueryDateWithoutAYear(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		query string
		date  [3]int
	}{
		{"on October 13", [3]int{anyYear, 10, 13}},
		{"on 2 June", [3]int{anyYear, 6, 2}},
		{"When did Melanie go camping in June?", [3]int{anyYear, 6, 0}},
		{"¿qué hizo en julio?", [3]int{anyYear, 7, 0}},
		{"13 de octubre del 2023", [3]int{2023, 10, 13}},
		{"may I come", [3]int{}},
		{"the march for rights", [3]int{}},
		{"the march on May 1", [3]int{anyYear, 5, 1}},
		{"13 May", [3]int{anyYear, 5, 13}},
	} {
		y, m, d := queryDate(parley.Words(c.query))
		require.Equal(t, c.date, [3]int{y, int(m), d}, c.query)
	}
}

func TestWithTheRest(t *testing.T) {
	t.Parallel()
	ms := []parley.Memory{
		{ID: "1", Kind: parley.KindLike, Text: "Likes pizza", Confirmations: 1},
		{ID: "2", Kind: parley.KindName, Text: "Name: Ana", Confirmations: 1},
		{ID: "3", Kind: parley.KindPlan, Text: "Plans to visit Paris", Confirmations: 1},
		{ID: "4", Kind: parley.KindLike, Text: "Likes jazz", Confirmations: 5},
	}
	ids := func(ms []parley.Memory) []string {
		var out []string
		for _, m := range ms {
			out = append(out, m.ID)
		}
		return out
	}
	forTurn := func(query string) []parley.Memory {
		return withTheRest(matchMemories(ms, parseQuery(query, [2]string{}).terms), ms)
	}
	require.Equal(t, []string{"3", "2", "4", "1"}, ids(forTurn("When do you go to Paris?")))
	require.Equal(t, []string{"1", "2", "4", "3"}, ids(forTurn("any pizza place?")))
	require.Equal(t, []string{"2", "4", "3", "1"}, ids(forTurn("")), "who the user is, then the most confirmed, then the newest")
}
