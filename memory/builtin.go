// Package memory makes a bot's long-term memories of its users: the worker
// that reads a conversation's new messages, finds facts the user stated
// (with the operator's model, or the built-in extractor when there is
// none), and stores them through the store's consolidation (parley.PlanMemory).
package memory

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/parley-chat/parley"
)

// Builtin finds first-person facts in English and Spanish user messages
// with no model: names, places, work, family, pets, likes and dislikes,
// plans and past events, with dates said relative to the message ("next
// week", "ayer") turned into the date they name. It reads what users
// state about themselves in plain sentences; it does not infer.
type Builtin struct{}

// Extract returns the facts of the user messages in msgs.
func (b Builtin) Extract(_ context.Context, msgs []parley.Message) ([]parley.Fact, error) {
	return b.Facts(msgs), nil
}

// Facts returns the facts of the user messages in msgs.
func (Builtin) Facts(msgs []parley.Message) []parley.Fact {
	var out []parley.Fact
	for _, m := range msgs {
		if m.FromBot {
			continue
		}
		for _, sentence := range sentences(m.Text) {
			for _, f := range extractSentence(sentence, m.CreatedAt) {
				f.SourceSeqs = []int64{m.Seq}
				out = append(out, f)
			}
		}
	}
	return out
}

// sentences splits a text at sentence ends and line breaks.
func sentences(text string) []string {
	return strings.FieldsFunc(text, func(r rune) bool {
		return r == '.' || r == '!' || r == '?' || r == '\n' || r == ';' || r == '¡' || r == '¿'
	})
}

// A rule finds one kind of fact: its pattern's first group is the value
// (and a second, for family and pets, the name).
type rule struct {
	kind string
	key  string // key prefix; the value (or the relation) completes it
	// words: one of them is in every match of re, lower-cased: a
	// sentence of ASCII letters holding none is not searched (most
	// sentences hold no fact, and a pattern's search is the cost).
	words      []string
	re         *regexp.Regexp
	text       string // fmt pattern of the memory's text, given the value(s)
	confidence float64
	dated      bool // a relative date in the sentence is added to the text
	named      bool // group 2 is a proper name
}

const (
	name     = `(\p{Lu}[\p{L}'-]+(?:\s\p{Lu}[\p{L}'-]+)?)`
	place    = `(\p{Lu}[\p{L}'-]+(?:[ -](?:de |del |la |el )?\p{Lu}[\p{L}'-]+){0,3})`
	clause   = `(.{2,80})`
	relation = `(wife|husband|partner|son|daughter|mom|mother|dad|father|brother|sister|girlfriend|boyfriend|grandma|grandmother|grandpa|grandfather)`
	relES    = `(esposa|esposo|marido|mujer|pareja|hijo|hija|madre|mamá|padre|papá|hermano|hermana|novia|novio|abuela|abuelo)`
	animal   = `(dog|puppy|cat|kitten|parrot|bird|rabbit|bunny|hamster|horse|fish|turtle|snake|guinea pig)`
	animalES = `(perro|perra|perrito|gato|gata|gatito|loro|pájaro|conejo|hámster|caballo|pez|tortuga|serpiente)`
)

// rules are tried in order; the first that matches a stretch of a sentence
// wins it (so "no me gusta" is a dislike, not a like).
var rules = []rule{
	{kind: parley.KindName, key: "name", words: []string{"my name is", "call me", "i'm", "i am"}, re: regexp.MustCompile(`(?:\b[Mm]y name is|\b[Cc]all me|\bI'm called|\bI am called|^(?:[Hh]i|[Hh]ello|[Hh]ey),? (?:I'm|I am)) ` + name), text: "Name: %s", confidence: 0.9},
	{kind: parley.KindName, key: "name", words: []string{"me llamo", "mi nombre es", "soy"}, re: regexp.MustCompile(`(?:\b[Mm]e llamo|\b[Mm]i nombre es|^(?:[Hh]ola),? soy) ` + name), text: "Name: %s", confidence: 0.9},
	{kind: parley.KindPlace, key: "place:home", words: []string{"live", "living", "moved", "relocated"}, re: regexp.MustCompile(`\bI (?:live|am living|'m living|moved|have moved|'ve moved|just moved|relocated) (?:in|to) ` + place), text: "Lives in %s", confidence: 0.8},
	{kind: parley.KindPlace, key: "place:home", words: []string{"vivo en", "mudé", "mudado", "vivir"}, re: regexp.MustCompile(`\b(?:[Vv]ivo en|[Mm]e mudé a|[Mm]e he mudado a|[Mm]e fui a vivir a) ` + place), text: "Lives in %s", confidence: 0.8},
	{kind: parley.KindPlace, key: "place:origin", words: []string{"from"}, re: regexp.MustCompile(`\b(?:I'm|I am|I come) from ` + place), text: "From %s", confidence: 0.8},
	{kind: parley.KindPlace, key: "place:origin", words: []string{"soy de", "vengo de"}, re: regexp.MustCompile(`\b(?:[Ss]oy de|[Vv]engo de) ` + place), text: "From %s", confidence: 0.8},
	{kind: parley.KindWork, key: "work:role", words: []string{"work"}, re: regexp.MustCompile(`(?i)\bI(?:'m| am)? work(?:ing)? as (?:an? )?` + clause), text: "Works as %s", confidence: 0.8},
	{kind: parley.KindWork, key: "work:role", words: []string{"trabajo"}, re: regexp.MustCompile(`(?i)\btrabajo (?:como|de) ` + clause), text: "Works as %s", confidence: 0.8},
	{kind: parley.KindWork, key: "work:employer", words: []string{"work"}, re: regexp.MustCompile(`\bI (?:work|am working|'m working) (?:at|for) ` + place), text: "Works at %s", confidence: 0.8},
	{kind: parley.KindWork, key: "work:employer", words: []string{"trabajo en"}, re: regexp.MustCompile(`\b[Tt]rabajo en ` + place), text: "Works at %s", confidence: 0.8},
	{kind: parley.KindFamily, key: "family:", words: []string{"my "}, re: regexp.MustCompile(`(?i:\bmy) ` + relation + `(?:'s name is| is called| is named|,| is| named| called)? ` + name), text: "%s: %s", confidence: 0.8, named: true},
	{kind: parley.KindFamily, key: "family:", words: []string{"mi "}, re: regexp.MustCompile(`(?i:\bmi) ` + relES + ` (?:se llama|es) ` + name), text: "%s: %s", confidence: 0.8, named: true},
	{kind: parley.KindFamily, key: "family:children", words: []string{"i have"}, re: regexp.MustCompile(`(?i)\bI have (\d+|two|three|four|five|six) (?:kids|children)`), text: "Has %s children", confidence: 0.8},
	{kind: parley.KindFamily, key: "family:children", words: []string{"tengo"}, re: regexp.MustCompile(`(?i)\btengo (\d+|dos|tres|cuatro|cinco|seis) hij[oa]s`), text: "Has %s children", confidence: 0.8},
	{kind: parley.KindPet, key: "pet:", words: []string{"i have", "i've got", "i adopted", "my "}, re: regexp.MustCompile(`(?i:\bI have an?|\bI've got an?|\bI adopted an?|\bmy) ` + animal + `(?:(?:'s name is| is called| is named| called| named|,)? ` + name + `)?`), text: "Pet %s: %s", confidence: 0.8, named: true},
	{kind: parley.KindPet, key: "pet:", words: []string{"tengo", "adopté", "mi "}, re: regexp.MustCompile(`(?i:\btengo una?|\badopté una?|\bmi) ` + animalES + `(?:(?: que se llama| se llama| llamad[oa]) ` + name + `)?`), text: "Pet %s: %s", confidence: 0.8, named: true},
	{kind: parley.KindDislike, key: "taste:", words: []string{"i don't", "i do not", "i didn't", "i really don't"}, re: regexp.MustCompile(`(?i)\bI (?:don't|do not|didn't|really don't) (?:like|love|enjoy) ` + clause), text: "Dislikes %s", confidence: 0.7},
	{kind: parley.KindDislike, key: "taste:", words: []string{"i hate", "i dislike", "i can't stand", "i cannot stand"}, re: regexp.MustCompile(`(?i)\bI (?:hate|dislike|can't stand|cannot stand) ` + clause), text: "Dislikes %s", confidence: 0.7},
	{kind: parley.KindDislike, key: "taste:", words: []string{"no me gusta", "no me encanta", "odio", "detesto"}, re: regexp.MustCompile(`(?i)\b(?:no me gustan?|no me encantan?|odio|detesto) ` + clause), text: "Dislikes %s", confidence: 0.7},
	{kind: parley.KindLike, key: "taste:", words: []string{"love", "like", "enjoy", "adore"}, re: regexp.MustCompile(`(?i)\bI (?:really |also |just |absolutely )?(?:love|like|enjoy|adore) ` + clause), text: "Likes %s", confidence: 0.7},
	{kind: parley.KindLike, key: "taste:", words: []string{"me gusta", "me encanta"}, re: regexp.MustCompile(`(?i)\b(?:me gustan?|me encantan?) ` + clause), text: "Likes %s", confidence: 0.7},
	{kind: parley.KindPlan, key: "plan:", words: []string{"i'm", "i am"}, re: regexp.MustCompile(`(?i)\bI(?:'m| am) (?:going|planning|hoping) to ` + clause), text: "Plans to %s", confidence: 0.6, dated: true},
	{kind: parley.KindPlan, key: "plan:", words: []string{"plan", "want", "hope", "intend"}, re: regexp.MustCompile(`(?i)\bI (?:plan|want|hope|intend) to ` + clause), text: "Plans to %s", confidence: 0.6, dated: true},
	// Spanish plans take an infinitive: "quiero viajar", not "quiero una pizza".
	{kind: parley.KindPlan, key: "plan:", words: []string{"voy a", "pienso", "planeo", "quiero"}, re: regexp.MustCompile(`(?i)\b(?:voy a|pienso|planeo|quiero) (\p{L}+(?:ar|er|ir)(?:me|te|se|lo|la)?\b.{0,78})`), text: "Plans to %s", confidence: 0.6, dated: true},
	{kind: parley.KindFact, key: "event:", words: []string{"went", "visited", "traveled", "travelled", "started", "finished", "graduated", "got married", "got engaged", "joined", "attended", "ran", "bought", "painted"}, re: regexp.MustCompile(`(?i)\bI (?:went|visited|traveled|travelled|started|finished|graduated|got married|got engaged|joined|attended|ran|bought|painted) ` + clause), text: "%s", confidence: 0.6, dated: true},
	{kind: parley.KindFact, key: "event:", words: []string{"fui", "visité", "viajé", "empecé", "terminé", "me casé", "me gradué", "compré", "corrí"}, re: regexp.MustCompile(`(?i)\b(?:fui|visité|viajé|empecé|terminé|me casé|me gradué|compré|corrí) ` + clause), text: "%s", confidence: 0.6, dated: true},
}

// stops end a value: what follows them is another thought.
var stops = regexp.MustCompile(`(?i)\s+(?:because|but|and then|although|since|so that|which|who|porque|pero|aunque|así que|que es)\b.*$`)

// pronouns are not things one likes or plans: "I like it", "me gusta eso".
var pronouns = map[string]bool{"it": true, "that": true, "this": true, "you": true, "them": true, "him": true, "her": true,
	"eso": true, "esto": true, "lo": true, "la": true, "te": true, "to": true, "the": true, "a": true}

func extractSentence(s string, said time.Time) []parley.Fact {
	s = strings.TrimSpace(s)
	type at struct {
		pos int
		f   parley.Fact
	}
	var found []at
	taken := make([]bool, len(s))
	lower, ascii := asciiLower(s)
	for _, r := range rules {
		if ascii && !slices.ContainsFunc(r.words, func(w string) bool { return strings.Contains(lower, w) }) {
			continue
		}
		for _, loc := range r.re.FindAllStringSubmatchIndex(s, -1) {
			if overlaps(taken, loc[0], loc[1]) {
				continue
			}
			f, ok := r.fact(s, loc, said)
			if !ok {
				continue
			}
			for i := loc[0]; i < loc[1]; i++ {
				taken[i] = true
			}
			found = append(found, at{loc[0], f})
		}
	}
	slices.SortStableFunc(found, func(a, b at) int { return a.pos - b.pos })
	out := make([]parley.Fact, len(found))
	for i, a := range found {
		out[i] = a.f
	}
	return out
}

// asciiLower is s lower-cased, and whether s is ASCII: only then do a
// pattern's case-insensitive matches hold its words lower-cased (Unicode
// folds more: "ſ" matches "s").
func asciiLower(s string) (string, bool) {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return "", false
		}
	}
	return strings.ToLower(s), true
}

func overlaps(taken []bool, from, to int) bool {
	for i := from; i < to; i++ {
		if taken[i] {
			return true
		}
	}
	return false
}

func (r rule) fact(s string, loc []int, said time.Time) (parley.Fact, bool) {
	group := func(i int) string {
		if 2*i+1 >= len(loc) || loc[2*i] < 0 {
			return ""
		}
		return s[loc[2*i]:loc[2*i+1]]
	}
	value := clean(group(1))
	if value == "" {
		return parley.Fact{}, false
	}
	f := parley.Fact{Kind: r.kind, Confidence: r.confidence}
	switch {
	case r.named:
		what := english(strings.ToLower(value))
		who := clean(group(2))
		f.Key = r.key + what
		if who == "" {
			if r.kind == parley.KindFamily {
				return parley.Fact{}, false
			}
			f.Text = "Has a " + what
		} else {
			f.Text = fmt.Sprintf(r.text, what, who)
			if r.kind == parley.KindFamily {
				f.Text = upperFirst(f.Text)
			}
		}
	case strings.HasSuffix(r.key, ":"):
		words := strings.Fields(strings.ToLower(value))
		if pronouns[words[0]] && len(words) == 1 || aboutYou(words) {
			return parley.Fact{}, false
		}
		f.Key = r.key + strings.Join(words[:min(len(words), 4)], " ")
		if r.kind == parley.KindFact {
			value = strings.TrimSpace(s[loc[0]:loc[3]])
			value = clean(value)
		}
		f.Text = fmt.Sprintf(r.text, value)
	default:
		f.Key = r.key
		f.Text = fmt.Sprintf(r.text, value)
	}
	if r.dated {
		if d, ok := relative(s, said); ok {
			f.Text += " (" + d.name + ")"
		}
	}
	return f, true
}

// aboutYou tells a taste or plan that is about the one spoken to, not the
// user's own: "I love that you came", "I want to tell you", "quiero
// decirte".
func aboutYou(words []string) bool {
	switch {
	case len(words) == 0:
		return false
	case words[0] == "you" || words[0] == "your" || words[0] == "tu" || words[0] == "tus":
		return true
	case len(words) > 1 && (words[1] == "you" || words[1] == "your") && (words[0] == "that" || words[0] == "how" ||
		words[0] == "when" || words[0] == "it" || words[0] == "what"):
		return true
	case len(words) > 1 && (words[1] == "you" || words[1] == "your") && speech[words[0]]:
		return true // "tell you", "let you know"
	case speech[strings.TrimSuffix(words[0], "te")] && strings.HasSuffix(words[0], "te"):
		return true // "decirte", "contarte"
	}
	return false
}

// speech are the verbs of telling, showing and thanking someone.
var speech = map[string]bool{"tell": true, "ask": true, "show": true, "thank": true, "let": true, "send": true,
	"give": true, "help": true, "see": true, "meet": true, "call": true, "text": true, "decir": true, "contar": true,
	"preguntar": true, "enseñar": true, "mostrar": true, "ayudar": true, "ver": true, "llamar": true}

// clean trims a value to its thought: no trailing clause, at most eight
// words, no filler or dangling word at its end.
func clean(v string) string {
	v = stops.ReplaceAllString(v, "")
	v = strings.TrimFunc(v, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsPunct(r) })
	words := strings.Fields(v)
	if len(words) > 8 {
		words = words[:8]
	}
	for len(words) > 0 {
		last := strings.ToLower(words[len(words)-1])
		if last == "too" || last == "also" || last == "much" || last == "mucho" || last == "también" || last == "lot" ||
			last == "a" || last == "so" || last == "very" || last == "muchísimo" || dangling[last] {
			words = words[:len(words)-1]
			continue
		}
		break
	}
	return strings.Join(words, " ")
}

// dangling words end no thought: a value cut after one lost what followed.
var dangling = map[string]bool{"and": true, "or": true, "but": true, "the": true, "my": true, "our": true, "your": true,
	"an": true, "y": true, "o": true, "pero": true, "el": true, "la": true, "los": true, "las": true, "mi": true, "mis": true}

func upperFirst(s string) string {
	for i, r := range s {
		return string(unicode.ToUpper(r)) + s[i+len(string(r)):]
	}
	return s
}

// english names a Spanish relation or animal in English, so that both
// languages make the same keys.
func english(w string) string {
	if e, ok := map[string]string{"esposa": "wife", "mujer": "wife", "esposo": "husband", "marido": "husband",
		"pareja": "partner", "hijo": "son", "hija": "daughter", "madre": "mother", "mamá": "mother", "mom": "mother",
		"padre": "father", "papá": "father", "dad": "father", "hermano": "brother", "hermana": "sister",
		"novia": "girlfriend", "novio": "boyfriend", "abuela": "grandmother", "grandma": "grandmother",
		"abuelo": "grandfather", "grandpa": "grandfather", "perro": "dog", "perra": "dog", "perrito": "dog",
		"puppy": "dog", "gato": "cat", "gata": "cat", "gatito": "cat", "kitten": "cat", "loro": "parrot",
		"pájaro": "bird", "conejo": "rabbit", "bunny": "rabbit", "hámster": "hamster", "caballo": "horse",
		"pez": "fish", "tortuga": "turtle", "serpiente": "snake"}[w]; ok {
		return e
	}
	return w
}

// dateSpan is a date said relative to a message: its name, and its days
// [from, to), midnights in the message's location.
type dateSpan struct {
	name     string
	from, to time.Time
}

// lastDays are the phrases of "last <day>", English and Spanish ("el
// sábado pasado"), with the day they name.
var lastDays []lastDay

type lastDay struct {
	phrase string
	day    time.Weekday
}

func init() {
	for i, n := range strings.Fields(`sunday monday tuesday wednesday thursday friday saturday`) {
		lastDays = append(lastDays, lastDay{"last " + n, time.Weekday(i)})
	}
	for i, n := range strings.Fields(`domingo lunes martes miércoles jueves viernes sábado`) {
		lastDays = append(lastDays, lastDay{"el " + n + " pasado", time.Weekday(i)})
	}
}

// relative finds the first date said relative to the message in s
// ("tomorrow", "next week", "last Friday", "ayer"; the first of the table
// below to match, longer phrases first): its name, which the extractor
// writes, and its days, which recall matches a query's date against.
func relative(s string, said time.Time) (dateSpan, bool) {
	if said.IsZero() {
		return dateSpan{}, false
	}
	l := strings.ToLower(s)
	midnight := time.Date(said.Year(), said.Month(), said.Day(), 0, 0, 0, 0, said.Location())
	day := func(d int) dateSpan {
		at := midnight.AddDate(0, 0, d)
		return dateSpan{at.Format("2006-01-02"), at, at.AddDate(0, 0, 1)}
	}
	week := func(w int) dateSpan {
		at := said.AddDate(0, 0, 7*w)
		y, n := at.ISOWeek()
		monday := midnight.AddDate(0, 0, 7*w-(int(said.Weekday())+6)%7)
		return dateSpan{fmt.Sprintf("the week of %s, %d-W%02d", at.Format("2 January 2006"), y, n), monday, monday.AddDate(0, 0, 7)}
	}
	weekend := func(saturday int) dateSpan {
		at := midnight.AddDate(0, 0, saturday)
		return dateSpan{"weekend of " + at.Format("2006-01-02"), at, at.AddDate(0, 0, 2)}
	}
	month := func(m int) dateSpan {
		first := time.Date(said.Year(), said.Month()+time.Month(m), 1, 0, 0, 0, 0, said.Location())
		return dateSpan{first.Format("January 2006"), first, first.AddDate(0, 1, 0)}
	}
	year := func(y int) dateSpan {
		first := time.Date(said.Year()+y, 1, 1, 0, 0, 0, 0, said.Location())
		return dateSpan{first.Format("2006"), first, first.AddDate(1, 0, 0)}
	}
	lastSaturday := (int(said.Weekday()) + 1) % 7 // days back to it (0: today)
	if lastSaturday < 2 {
		lastSaturday += 7 // on a weekend, "last weekend" is the one before
	}
	for _, c := range []struct {
		words []string
		date  func() dateSpan
	}{
		{[]string{"day after tomorrow", "pasado mañana"}, func() dateSpan { return day(2) }},
		{[]string{"day before yesterday", "anteayer", "antes de ayer"}, func() dateSpan { return day(-2) }},
		{[]string{"tomorrow", "mañana por", "para mañana", "mañana voy", "mañana tengo"}, func() dateSpan { return day(1) }},
		{[]string{"yesterday", "last night", "ayer", "anoche"}, func() dateSpan { return day(-1) }},
		{[]string{"tonight", "today", "this morning", "this afternoon", "hoy", "esta noche", "esta tarde"}, func() dateSpan { return day(0) }},
		{[]string{"next week", "la próxima semana", "la semana que viene"}, func() dateSpan { return week(1) }},
		{[]string{"last weekend", "el fin de semana pasado"}, func() dateSpan { return weekend(-lastSaturday) }},
		{[]string{"last week", "la semana pasada"}, func() dateSpan { return week(-1) }},
		{[]string{"this weekend", "este fin de semana"}, func() dateSpan { return weekend(int(time.Saturday-said.Weekday()+7) % 7) }},
		{[]string{"next month", "el mes que viene", "el próximo mes"}, func() dateSpan { return month(1) }},
		{[]string{"last month", "el mes pasado"}, func() dateSpan { return month(-1) }},
		{[]string{"next year", "el año que viene", "el próximo año"}, func() dateSpan { return year(1) }},
		{[]string{"last year", "el año pasado"}, func() dateSpan { return year(-1) }},
	} {
		for _, w := range c.words {
			if strings.Contains(l, w) {
				return c.date(), true
			}
		}
	}
	for _, d := range lastDays {
		if strings.Contains(l, d.phrase) {
			// The last such day before the message: a week back if it is today.
			return day(-((int(said.Weekday())-int(d.day)+6)%7 + 1)), true
		}
	}
	return dateSpan{}, false
}
