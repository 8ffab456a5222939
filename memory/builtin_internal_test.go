package memory

import (
	"slices"
	"strings"
	"testing"
)

// FuzzRuleWords: a sentence a rule's pattern matches holds one of the
// rule's words (rule.words), so that skipping the pattern for a sentence
// holding none of them changes no extraction.
func FuzzRuleWords(f *testing.F) {
	for _, s := range []string{
		"Hi! My name is Ana Lopez and I live in Madrid.", "Hey, I'm Sam", "CALL ME Ishmael", "I AM CALLED Bob",
		"I'm from Sweden, but I moved to New York last year", "I've moved to Lisbon", "I relocated to Berlin",
		"I work as a nurse at night", "I'm working for Acme", "My wife Laura loves hiking", "MY SON's name is Leo",
		"I have two kids", "I've got a cat named Tom", "I adopted a puppy", "I really don't enjoy jazz",
		"I can't stand mushrooms", "I ABSOLUTELY ADORE tea", "I'm hoping to travel", "I intend to rest",
		"I went to a support group yesterday", "I got married in June", "I travelled to Peru", "hola soy Ana",
		"I Am Going To run", "i'M pLaNnInG to move",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		lower, ascii := asciiLower(s)
		if !ascii {
			return // every pattern is searched
		}
		for _, r := range rules {
			if r.re.MatchString(s) && !slices.ContainsFunc(r.words, func(w string) bool { return strings.Contains(lower, w) }) {
				t.Fatalf("%q matches %s's pattern %s but holds none of %q", s, r.key, r.re, r.words)
			}
		}
	})
}
