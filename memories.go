package parley

import (
	"slices"
	"strings"
	"time"
)

// Memory kinds: what a fact is about.
const (
	KindName    = "name"
	KindPlace   = "place"
	KindWork    = "work"
	KindFamily  = "family"
	KindPet     = "pet"
	KindLike    = "like"
	KindDislike = "dislike"
	KindPlan    = "plan"
	KindFact    = "fact" // anything else (added by hand, or by a model)
)

// MemoryKinds are the kinds, for validation and docs.
var MemoryKinds = []string{KindName, KindPlace, KindWork, KindFamily, KindPet, KindLike, KindDislike, KindPlan, KindFact}

// Limits of memories.
const (
	MaxMemoryLen    = 1000 // a memory's text, in bytes
	MaxMemorySource = 50   // source message seqs kept per memory
)

// Memory is something a bot knows about one of its users, shared by all of
// that user's conversations with the bot. Facts about the same thing (its
// Key: the user's name, their home, their liking of pizza) make one memory:
// a restatement confirms it, a contradiction replaces its text, and the
// replaced versions stay in its history.
type Memory struct {
	ID             string    `json:"id"`
	BotID          string    `json:"bot_id"`
	UserID         string    `json:"user_id"`
	Kind           string    `json:"kind" enum:"name,place,work,family,pet,like,dislike,plan,fact"`
	Key            string    `json:"key" doc:"what the memory is about; facts with the same key are one memory"`
	Text           string    `json:"text"`
	Confidence     float64   `json:"confidence"`
	Confirmations  int       `json:"confirmations" doc:"how often the user said it"`
	Version        int       `json:"version" doc:"1, plus one per change of its text"`
	ConversationID string    `json:"conversation_id,omitempty" doc:"where it was last said"`
	SourceSeqs     []int64   `json:"source_seqs" doc:"the messages of that conversation it comes from"`
	CreatedAt      time.Time `json:"created_at"`
	UpdatedAt      time.Time `json:"updated_at"`
	ConfirmedAt    time.Time `json:"confirmed_at"`
	// Vector is the text's embedding (recall's second ranking), none
	// when it was stored without one.
	Vector Vector `json:"-"`
}

// MemoryVersion is a past text of a memory.
type MemoryVersion struct {
	Version        int       `json:"version"`
	Kind           string    `json:"kind"`
	Text           string    `json:"text"`
	ConversationID string    `json:"conversation_id,omitempty"`
	SourceSeqs     []int64   `json:"source_seqs"`
	Reason         string    `json:"reason" enum:"superseded,edited" doc:"why it was replaced"`
	ReplacedAt     time.Time `json:"replaced_at"`
}

// Fact is a candidate memory: what an extractor found in a conversation's
// messages, or what an admin adds by hand.
type Fact struct {
	Kind       string
	Key        string // empty: derived from the text (NormalKey)
	Text       string
	Confidence float64
	SourceSeqs []int64
	Vector     Vector // of Text; empty: none
}

// MemoryVector is a new vector for a memory at a version.
type MemoryVector struct {
	ID      string
	Version int
	Vector  Vector
}

// MemoryFilter selects memories of one bot's user; Search matches words of
// their text.
type MemoryFilter struct {
	BotID    string
	UserID   string
	Kind     string
	Search   string
	Limit    int
	BeforeID string // keyset cursor: memories with smaller ids
	// StaleFor, when set, keeps only the memories without a vector of
	// that embedding model.
	StaleFor string
}

// MemoryJob extracts memories from a conversation's messages not yet read
// for them. It is queued with a user message when the conversation has
// none queued; the messages that come while it waits are read by it.
type MemoryJob struct {
	TenantID       string `json:"tenant_id"`
	ConversationID string `json:"conversation_id"`
}

// Kind names the job for the queue.
func (MemoryJob) Kind() string { return "memory" }

// MemoryQueue is the queue memory jobs run in, apart from replies and
// deliveries: extraction never holds up a reply.
const MemoryQueue = "memories"

// MemoryAttempts is how often a memory job is tried.
const MemoryAttempts = 5

// Memory events, on the conversation where the memory was said.
const (
	EventMemoryCreated = "memory.created"
	EventMemoryUpdated = "memory.updated"
	EventMemoryDeleted = "memory.deleted"
)

// NormalKey is the key of a fact whose extractor gave none: its kind and
// its words, lower-cased.
func NormalKey(kind, text string) string {
	return kind + ":" + strings.Join(strings.Fields(strings.ToLower(text)), " ")
}

// MemoryChange is what storing one fact does to the memory of its key.
type MemoryChange string

const (
	MemoryCreate    MemoryChange = "create"    // no memory of the key: a new one
	MemoryConfirm   MemoryChange = "confirm"   // the same text again: counted, sources joined
	MemorySupersede MemoryChange = "supersede" // another text: replaces it, the old one kept in history
)

// Event is the event type that records the change.
func (c MemoryChange) Event() string {
	if c == MemoryCreate {
		return EventMemoryCreated
	}
	return EventMemoryUpdated
}

// PlanMemory decides what fact f does to the memory of its key (nil: there
// is none), said in conversationID at now, and returns the memory as it is
// to be stored. Texts are compared without case and extra spaces; a kind
// that changes (a like turned into a dislike) is a contradiction too.
func PlanMemory(existing *Memory, f Fact, conversationID string, now time.Time) (MemoryChange, Memory) {
	if existing == nil {
		return MemoryCreate, Memory{ID: NewID(), Kind: f.Kind, Key: f.Key, Text: f.Text, Confidence: f.Confidence,
			Confirmations: 1, Version: 1, ConversationID: conversationID, SourceSeqs: capSources(f.SourceSeqs),
			CreatedAt: now, UpdatedAt: now, ConfirmedAt: now, Vector: f.Vector}
	}
	m := *existing
	m.UpdatedAt, m.ConfirmedAt = now, now
	if len(f.Vector.Values) > 0 { // the fact's is the newer (and maybe another model's)
		m.Vector = f.Vector
	}
	if m.Kind == f.Kind && sameText(m.Text, f.Text) {
		m.Confirmations++
		m.Confidence = max(m.Confidence, f.Confidence)
		if m.ConversationID == conversationID {
			m.SourceSeqs = capSources(union(m.SourceSeqs, f.SourceSeqs))
		} else {
			m.ConversationID, m.SourceSeqs = conversationID, capSources(f.SourceSeqs)
		}
		return MemoryConfirm, m
	}
	m.Kind, m.Text, m.Confidence, m.Confirmations, m.Vector = f.Kind, f.Text, f.Confidence, 1, f.Vector
	m.Version++
	m.ConversationID, m.SourceSeqs = conversationID, capSources(f.SourceSeqs)
	return MemorySupersede, m
}

func sameText(a, b string) bool {
	return strings.EqualFold(strings.Join(strings.Fields(a), " "), strings.Join(strings.Fields(b), " "))
}

func union(a, b []int64) []int64 {
	out := slices.Concat(a, b)
	slices.Sort(out)
	return slices.Compact(out)
}

// capSources keeps the newest MaxMemorySource seqs, in order.
func capSources(s []int64) []int64 {
	s = union(nil, s)
	if len(s) > MaxMemorySource {
		s = s[len(s)-MaxMemorySource:]
	}
	if s == nil {
		s = []int64{}
	}
	return s
}

// ValidFact checks a fact added by hand (field: where it is in the request).
func ValidFact(f Fact, field string) error {
	if strings.TrimSpace(f.Text) == "" {
		return FieldError(EINVALID, field+".text", "a memory needs text")
	}
	if len(f.Text) > MaxMemoryLen {
		return FieldError(EINVALID, field+".text", "at most %d bytes, got %d", MaxMemoryLen, len(f.Text))
	}
	if !slices.Contains(MemoryKinds, f.Kind) {
		return FieldError(EINVALID, field+".kind", "one of %s", strings.Join(MemoryKinds, ", "))
	}
	return nil
}

// SearchWords are the words a memory search matches, each in a memory's
// text, whatever the case: at most 8, of at most 64 bytes.
func SearchWords(search string) []string {
	words := strings.Fields(strings.ToLower(search))
	if len(words) > 8 {
		words = words[:8]
	}
	for i, w := range words {
		if len(w) > 64 {
			words[i] = w[:64]
		}
	}
	return words
}

// RecallHit is one thing a recall found for a query: a memory, or a
// message of the conversation, with the messages it stands for.
type RecallHit struct {
	Kind           string  `json:"kind" enum:"memory,message"`
	Text           string  `json:"text"`
	MemoryID       string  `json:"memory_id,omitempty"`
	Seq            int64   `json:"seq,omitempty" doc:"the message's seq (kind message)"`
	ConversationID string  `json:"conversation_id"`
	SourceSeqs     []int64 `json:"source_seqs" doc:"the messages it comes from (a message: its own seq)"`
	Score          float64 `json:"score" doc:"reciprocal rank fusion of the memory and message rankings"`
}
