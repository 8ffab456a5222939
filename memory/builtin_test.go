package memory_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley"
	"github.com/parley-chat/parley/memory"
)

type found struct{ kind, key, text string }

func extract(text string, said time.Time) []found {
	var out []found
	for _, f := range (memory.Builtin{}).Facts([]parley.Message{{Seq: 7, Text: text, CreatedAt: said}}) {
		out = append(out, found{f.Kind, f.Key, f.Text})
	}
	return out
}

func TestBuiltinExtract(t *testing.T) {
	t.Parallel()
	said := time.Date(2023, 5, 8, 13, 56, 0, 0, time.UTC) // a Monday
	for _, tc := range []struct {
		text string
		want []found
	}{
		{"Hi! My name is Ana Lopez and I live in Madrid.", []found{
			{parley.KindName, "name", "Name: Ana Lopez"}, {parley.KindPlace, "place:home", "Lives in Madrid"}}},
		{"Hola, me llamo Lucía. Vivo en Buenos Aires", []found{
			{parley.KindName, "name", "Name: Lucía"}, {parley.KindPlace, "place:home", "Lives in Buenos Aires"}}},
		{"I'm from Sweden, but I moved to New York last year", []found{
			{parley.KindPlace, "place:origin", "From Sweden"}, {parley.KindPlace, "place:home", "Lives in New York"}}},
		{"soy de Bogotá", []found{{parley.KindPlace, "place:origin", "From Bogotá"}}},
		{"I work as a nurse at night", []found{{parley.KindWork, "work:role", "Works as nurse at night"}}},
		{"Trabajo como profesora de música", []found{{parley.KindWork, "work:role", "Works as profesora de música"}}},
		{"I work at Google", []found{{parley.KindWork, "work:employer", "Works at Google"}}},
		{"My wife Laura loves hiking", []found{{parley.KindFamily, "family:wife", "Wife: Laura"}}}, // her liking is not the user's
		{"mi hija se llama Sofía", []found{{parley.KindFamily, "family:daughter", "Daughter: Sofía"}}},
		{"I have two kids", []found{{parley.KindFamily, "family:children", "Has two children"}}},
		{"I have a dog named Max", []found{{parley.KindPet, "pet:dog", "Pet dog: Max"}}},
		{"tengo un gato que se llama Michi", []found{{parley.KindPet, "pet:cat", "Pet cat: Michi"}}},
		{"I have a cat", []found{{parley.KindPet, "pet:cat", "Has a cat"}}},
		{"I really love pizza", []found{{parley.KindLike, "taste:pizza", "Likes pizza"}}},
		{"I don't like pizza anymore", []found{{parley.KindDislike, "taste:pizza anymore", "Dislikes pizza anymore"}}},
		{"I hate mushrooms", []found{{parley.KindDislike, "taste:mushrooms", "Dislikes mushrooms"}}},
		{"Me encanta el fútbol", []found{{parley.KindLike, "taste:el fútbol", "Likes el fútbol"}}},
		{"no me gusta el café", []found{{parley.KindDislike, "taste:el café", "Dislikes el café"}}},
		{"I'm going to visit Paris next week", []found{{parley.KindPlan, "plan:visit paris next week",
			"Plans to visit Paris next week (the week of 15 May 2023, 2023-W20)"}}},
		{"Voy a correr un maratón mañana por la mañana", []found{{parley.KindPlan, "plan:correr un maratón mañana",
			"Plans to correr un maratón mañana por la mañana (2023-05-09)"}}},
		{"I went to a support group yesterday", []found{{parley.KindFact, "event:to a support group",
			"I went to a support group yesterday (2023-05-07)"}}},
		{"Hola, me llamo Ana y quiero una pizza", []found{{parley.KindName, "name", "Name: Ana"}}},
		{"quiero viajar a Japón el año que viene", []found{{parley.KindPlan, "plan:viajar a japón el",
			"Plans to viajar a Japón el año que viene (2024)"}}},
		{"pienso que sí", nil},
		{"I like it", nil},
		{"I don't know", nil},
		{"What is your name?", nil},
		{"It is raining in Madrid", nil},
		// About the one spoken to, not the user.
		{"I love that you chose pottery for your art", nil},
		{"I want to tell you something", nil},
		{"I'm going to show you my garden", nil},
		{"quiero decirte algo", nil},
		{"I love your paintings", nil},
		{"I want to help people like me", []found{{parley.KindPlan, "plan:help people like me", "Plans to help people like me"}}},
		// A value cut after a dangling word loses it.
		{"I started caring more about mental health and", []found{{parley.KindFact, "event:caring more about mental",
			"I started caring more about mental health"}}},
		{"I started caring more about mental health and understanding myself", []found{{parley.KindFact,
			"event:caring more about mental", "I started caring more about mental health"}}},
	} {
		require.Equal(t, tc.want, extract(tc.text, said), tc.text)
	}
}

func TestBuiltinSkipsBotMessages(t *testing.T) {
	t.Parallel()
	facts := (memory.Builtin{}).Facts([]parley.Message{{Seq: 1, FromBot: true, Text: "My name is Helper"},
		{Seq: 2, Text: "My name is Ana"}})
	require.Len(t, facts, 1)
	require.Equal(t, []int64{2}, facts[0].SourceSeqs)
}
