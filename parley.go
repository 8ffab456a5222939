// Package parley holds Parley's domain: the types every other package speaks
// in, the error codes the HTTP layer maps to statuses, the store's contract
// (store.go), the rules of a conversation's writes (plan.go) and the
// validation of what clients send (validate.go). It imports only the
// standard library; stores, the HTTP API and the workers depend on it,
// never the other way round.
package parley

import (
	"encoding/json"
	"time"
)

// Limits are explicit so that the API, the stores and the docs agree.
const (
	MaxIDLen        = 128     // client-chosen ids: bots, users, V1 conversation ids
	MaxTextLen      = 32_000  // one message's text, in bytes
	MaxBubbles      = 50      // bubbles of one message
	MaxMedia        = 20      // attachments of one message
	MaxURLLen       = 2048    // webhook and media URLs
	MaxPersonaLen   = 32_000  // bot persona / system prompt
	MaxKVPairs      = 100     // user key-value context entries
	MaxKVBytes      = 16_000  // encoded key-value context
	MaxPageLimit    = 200     // largest page of any list
	DefaultPageSize = 50      // page size when limit is not given
	MaxBodyBytes    = 256_000 // request bodies; larger answer 413
	// MaxSearchMatches bounds full-text search of conversations: a query
	// matching more messages searches the most recent ones of them.
	MaxSearchMatches = 5000
)

// Principal is who a request acts for: one tenant, through one token.
type Principal struct {
	TenantID string
	TokenID  string
	Admin    bool
}

// Tenant is an isolated customer. Every row of every table belongs to one.
type Tenant struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
}

// Token is an API token. Only a hash of the secret is ever stored.
type Token struct {
	ID        string    `json:"id"`
	TenantID  string    `json:"tenant_id"`
	Name      string    `json:"name"`
	Admin     bool      `json:"admin"`
	CreatedAt time.Time `json:"created_at"`
}

// ModelSettings say how the reply pipeline talks to a model for one bot.
// Zero values mean "use the server default".
type ModelSettings struct {
	Provider      string   `json:"provider,omitempty" enum:"openai,builtin" doc:"openai (any OpenAI-compatible endpoint) or builtin (offline responder)"`
	BaseURL       string   `json:"base_url,omitempty" maxLength:"2048"`
	Model         string   `json:"model,omitempty" maxLength:"200"`
	Temperature   *float64 `json:"temperature,omitempty" minimum:"0" maximum:"2"`
	MaxTokens     int      `json:"max_tokens,omitempty" minimum:"0" maximum:"32000"`
	ContextTokens int      `json:"context_tokens,omitempty" minimum:"0" maximum:"1000000" doc:"token budget of the context sent to the model"`
	// HasAPIKey says the bot has a key of its own for BaseURL. The key
	// itself is never shown.
	HasAPIKey bool `json:"has_api_key,omitempty" readOnly:"true" doc:"the bot has its own API key for base_url (set with api_key; never returned)"`
}

// Who may point bots at model endpoints of their own (model.base_url). The
// server's default endpoint and its key are the operator's; a bot's own
// endpoint is reached with the bot's own key only, and which tenants may
// name one is the operator's decision.
const (
	EndpointsOperator = "operator" // only the operator's (default) tenant (default)
	EndpointsAll      = "all"      // every tenant's admins
	EndpointsNone     = "none"     // no bot: every reply uses the default endpoint
)

// EndpointPolicy is who may set a bot's model.base_url.
type EndpointPolicy struct {
	Mode           string // one of the Endpoints* constants; empty is EndpointsOperator
	OperatorTenant string // the default tenant's id
}

// Allows says whether bots of the tenant may name their own endpoint.
func (p EndpointPolicy) Allows(tenantID string) bool {
	switch p.Mode {
	case EndpointsAll:
		return true
	case EndpointsNone:
		return false
	default:
		return tenantID != "" && tenantID == p.OperatorTenant
	}
}

// ModelKeyOwner is what a bot's sealed model key is bound to: a sealed key
// copied to another tenant's or bot's row does not open there.
func ModelKeyOwner(tenantID, botID string) string { return tenantID + "/" + botID }

// Reply policies: what a user message does while a reply is pending.
const (
	PolicyCoalesce  = "coalesce"  // one reply to the whole burst (default)
	PolicyEnqueue   = "enqueue"   // one reply per message, in order
	PolicyReject    = "reject"    // refuse the message while a reply is pending
	PolicyInterrupt = "interrupt" // drop the reply being made; answer everything at once
)

// DefaultDebounce is how long a coalescing bot waits for more messages.
const DefaultDebounce = 1000 // milliseconds

// ReplySettings say how a bot handles user messages that arrive in bursts.
type ReplySettings struct {
	Policy     string `json:"policy,omitempty" enum:"coalesce,enqueue,reject,interrupt" doc:"default coalesce"`
	DebounceMS *int   `json:"debounce_ms,omitempty" minimum:"0" maximum:"60000" doc:"coalesce: wait this long for more messages (default 1000)"`
}

// EffectivePolicy is the policy with its default.
func (r ReplySettings) EffectivePolicy() string {
	if r.Policy == "" {
		return PolicyCoalesce
	}
	return r.Policy
}

// Debounce is the debounce with its default.
func (r ReplySettings) Debounce() time.Duration {
	if r.DebounceMS == nil {
		return DefaultDebounce * time.Millisecond
	}
	return time.Duration(*r.DebounceMS) * time.Millisecond
}

// Bot is a chat bot of a tenant. Its id is chosen by the client ("bot-456").
type Bot struct {
	ID        string        `json:"id"`
	Name      string        `json:"name"`
	Persona   string        `json:"persona"`
	Language  string        `json:"language"`
	Webhook   string        `json:"webhook"`
	Model     ModelSettings `json:"model"`
	Reply     ReplySettings `json:"reply"`
	CreatedAt time.Time     `json:"created_at"`
	UpdatedAt time.Time     `json:"updated_at"`
	// ModelKey is the bot's own API key for Model.BaseURL, sealed by the
	// server's secret key (package seal); empty when it has none. Never in
	// an API answer.
	ModelKey string `json:"-"`
}

// BotPatch changes the fields that are non-nil.
type BotPatch struct {
	Name     *string
	Persona  *string
	Language *string
	Webhook  *string
	Model    *ModelSettings
	Reply    *ReplySettings
	// ModelKey replaces the sealed model key ("" removes it). When nil, a
	// patch that changes Model.BaseURL removes the key: a key is sent only
	// to the endpoint it was given for.
	ModelKey *string
}

// User is an end user of a tenant's bots, known by the tenant's external id.
type User struct {
	ID        string         `json:"id"`
	Platform  string         `json:"platform"`
	Language  string         `json:"language"`
	KV        map[string]any `json:"kv"`
	CreatedAt time.Time      `json:"created_at"`
	UpdatedAt time.Time      `json:"updated_at"`
}

// UserPatch changes the fields that are non-nil. KV entries are merged key by
// key; a key whose value is null is removed.
type UserPatch struct {
	Platform *string
	Language *string
	KV       map[string]any
}

// Conversation is the thread between one bot and one user.
type Conversation struct {
	ID            string     `json:"id"`
	BotID         string     `json:"bot_id"`
	UserID        string     `json:"user_id"`
	ExternalID    string     `json:"external_id,omitempty" doc:"the V1 conversation_id this conversation was created for, if any"`
	Webhook       string     `json:"webhook"`
	Platform      string     `json:"platform"`
	Language      string     `json:"language"`
	MessageCount  int64      `json:"message_count"`
	CreatedAt     time.Time  `json:"created_at"`
	UpdatedAt     time.Time  `json:"updated_at"`
	LastMessageAt *time.Time `json:"last_message_at"`
	MemoriesSeq   int64      `json:"memories_seq" doc:"the conversation's memories are current up to this message"`
}

// ConversationKey identifies the conversation of a bot and a user.
type ConversationKey struct {
	BotID      string
	UserID     string
	ExternalID string // empty for native V3 conversations
}

// NewConversation is what get-or-create needs.
type NewConversation struct {
	ConversationKey
	Webhook    string
	Platform   string
	Language   string
	CreateUser bool
}

// Media is one attachment: either a URL with a media type, or a content id
// from the bot's library.
type Media struct {
	URL       string `json:"url,omitempty" maxLength:"2048"`
	MediaType string `json:"media_type,omitempty" maxLength:"100"`
	ContentID string `json:"content_id,omitempty" maxLength:"128"`
	// What became of a URL a user sent (MediaJob): pending, stored (its
	// bytes are kept and served at FileURL) or failed (Error says why).
	// Set by the server only.
	Status  string `json:"status,omitempty" readOnly:"true" enum:"pending,stored,failed"`
	Error   string `json:"error,omitempty" readOnly:"true"`
	FileURL string `json:"file_url,omitempty" readOnly:"true" doc:"where the stored bytes are served"`
	SHA256  string `json:"sha256,omitempty" readOnly:"true"`
	Size    int64  `json:"size,omitempty" readOnly:"true"`
	Width   int    `json:"width,omitempty" readOnly:"true"`
	Height  int    `json:"height,omitempty" readOnly:"true"`
}

// Message is one entry of a conversation. Seq numbers each conversation's
// messages 1, 2, 3, ... with no gaps.
type Message struct {
	ID             string          `json:"id"`
	ConversationID string          `json:"conversation_id"`
	Seq            int64           `json:"seq"`
	FromBot        bool            `json:"from_bot"`
	Text           string          `json:"text"`
	Bubbles        []string        `json:"bubbles"`
	AttachedMedia  []Media         `json:"attached_media"`
	Metadata       json.RawMessage `json:"metadata,omitempty"`
	Status         string          `json:"status,omitempty" doc:"reply_failed: no reply could be made to this user message"`
	CreatedAt      time.Time       `json:"created_at"`
}

// Message statuses.
const StatusReplyFailed = "reply_failed"

// ReplyJob asks for the bot's reply in a conversation. It is inserted in the
// same transaction as the user message that needs it. Seq is set under the
// enqueue policy (answer up to that message); otherwise the reply answers
// every user message not yet answered.
type ReplyJob struct {
	TenantID       string `json:"tenant_id"`
	ConversationID string `json:"conversation_id"`
	Seq            int64  `json:"seq,omitempty"`
	// History replaces the stored history as the reply's context.
	History []HistoryItem `json:"history,omitempty"`
}

// Kind names the job for the queue.
func (ReplyJob) Kind() string { return "reply" }

// Event types, as webhooks and live streams name them.
const (
	EventMessageCreated      = "message.created"
	EventReplyFailed         = "reply.failed"
	EventConversationCreated = "conversation.created"
)

// Event is something that happened to a conversation. IDs increase, so a
// live stream resumes after the last id it saw.
type Event struct {
	ID             int64           `json:"id"`
	Type           string          `json:"type"`
	ConversationID string          `json:"conversation_id"`
	Data           json.RawMessage `json:"data"`
	CreatedAt      time.Time       `json:"created_at"`
}

// NewMessage is what an append needs. IdempotencyKey, when set, makes a
// retry return the first message instead of storing another; RequestHash
// tells a true retry from a different request reusing the key.
type NewMessage struct {
	FromBot        bool
	Text           string
	Bubbles        []string
	AttachedMedia  []Media
	Metadata       json.RawMessage
	IdempotencyKey string
	RequestHash    string
	// NoReply stores a message as history only: a user message gets no
	// reply job, a bot message no event (V1 history items, imports).
	NoReply bool
	// ReplyHistory, when set, is the context of this message's reply in
	// place of the stored history (a V1 client whose history diverged).
	ReplyHistory []HistoryItem
	// At is when a history-only message (NoReply) was said, for imports
	// that keep their dates (memories resolve "yesterday" against it); zero,
	// a later time, or a message that is not history: now.
	At time.Time
}

// AppendResult tells whether an append stored a message or replayed one.
type AppendResult struct {
	Message  *Message
	Replayed bool
}

// Page asks for one page of a keyset-paginated list.
type Page struct {
	Limit  int
	Cursor string // opaque; empty for the first page
}

// Order of a message history page.
type Order string

const (
	Ascending  Order = "asc"
	Descending Order = "desc"
)

// HistoryQuery asks for a page of one conversation's messages.
type HistoryQuery struct {
	Limit int
	Order Order
	// AfterSeq and BeforeSeq bound the page (exclusive); zero means unbounded.
	AfterSeq  int64
	BeforeSeq int64
}

// ConversationFilter selects conversations; every field is optional.
type ConversationFilter struct {
	BotID        string
	UserID       string
	Platform     string
	Language     string
	Query        string // full-text search over message text
	CreatedAfter time.Time
	UpdatedAfter time.Time
	Limit        int
	// BeforeID is the keyset cursor: only conversations with smaller ids.
	BeforeID string
}

// Apply sets the patched fields on b.
func (p BotPatch) Apply(b *Bot) {
	if p.Name != nil {
		b.Name = *p.Name
	}
	if p.Persona != nil {
		b.Persona = *p.Persona
	}
	if p.Language != nil {
		b.Language = *p.Language
	}
	if p.Webhook != nil {
		b.Webhook = *p.Webhook
	}
	if p.Model != nil {
		if p.Model.BaseURL != b.Model.BaseURL {
			b.ModelKey = ""
		}
		b.Model = *p.Model
	}
	if p.ModelKey != nil {
		b.ModelKey = *p.ModelKey
	}
	if p.Reply != nil {
		b.Reply = *p.Reply
	}
	b.Model.HasAPIKey = b.ModelKey != ""
}

// Apply sets the patched fields on u and merges its key-value context.
func (p UserPatch) Apply(u *User) error {
	if p.Platform != nil {
		u.Platform = *p.Platform
	}
	if p.Language != nil {
		u.Language = *p.Language
	}
	if p.KV != nil {
		u.KV = MergeKV(u.KV, p.KV)
		if len(u.KV) > MaxKVPairs {
			return FieldError(EINVALID, "body.kv", "at most %d key-value pairs per user", MaxKVPairs)
		}
	}
	return nil
}

// ReplyState is everything the reply pipeline reads about a conversation.
type ReplyState struct {
	TenantID     string
	Conversation Conversation
	Bot          Bot
	User         User
	LastUserSeq  int64
	AnsweredSeq  int64
	Summary      string
	SummarySeq   int64
	// HasContent says whether the bot has an item in its content library:
	// a reply searches the library for what to offer only when it does.
	HasContent bool

	// What Replies.LockReply was asked to read besides (ReplyRead); nil
	// when it was not asked to.
	Messages []Message // the messages after ReplyRead.AfterSeq, oldest first
	Memories []Memory  // the user's newest memories of the bot
}

// ReplyRead is what Replies.LockReply reads besides the reply's state, in
// the same round trip where the store can: the messages stored after
// those the reply holds (its cache's), and the user's memories of the bot
// (what recall ranks). A reply reads both next; on PostgreSQL each read
// on its own is a round trip, and round trips are most of what a reply
// costs there.
type ReplyRead struct {
	AfterSeq int64 // the messages with a larger seq, oldest first,
	Messages int   // at most this many (0: none read)
	Memories int   // the user's newest memories of the conversation's bot, at most this many (0: none read)
}

// RecallMemories is how many of a user's memories of a bot recall ranks
// for a query: the newest.
const RecallMemories = 200

// Reply is a generated bot reply to store. UptoSeq is the newest user
// message it answers; a reply whose UptoSeq is already answered is not
// stored again, which makes storing a reply idempotent.
type Reply struct {
	UptoSeq int64
	Message NewMessage
	Context json.RawMessage // what the model was sent
	// Summary replaces the rolling summary when SummarySeq is past the
	// stored one.
	Summary    string
	SummarySeq int64
	// DropIfNewer stores nothing when a user message newer than UptoSeq has
	// arrived meanwhile (the interrupt policy: the next reply covers all).
	DropIfNewer bool
	// Release ends the turn of a job that took it without a claim
	// (reply.Store.ClaimReply): user messages that came while it worked
	// queued no job of their own, so storing the reply queues the one that
	// answers them, in the same transaction.
	Release bool
}

// WebhookJob delivers one webhook delivery. It is inserted in the same
// transaction as the event it carries.
type WebhookJob struct {
	TenantID   string `json:"tenant_id"`
	DeliveryID string `json:"delivery_id"`
}

// Kind names the job for the queue.
func (WebhookJob) Kind() string { return "webhook" }

// DeliveryQueue is the queue webhook jobs run in, apart from replies: a
// delivery mostly waits on its receiver (up to 15 s), so many run at once,
// and slow receivers never hold up the making of replies.
const DeliveryQueue = "deliveries"

// Delivery statuses.
const (
	DeliveryPending   = "pending"
	DeliveryDelivered = "delivered"
	DeliveryFailed    = "failed"   // every attempt failed, or the address is not allowed
	DeliveryDisabled  = "disabled" // the endpoint answered 410 Gone
)

// Delivery is one event sent to one webhook endpoint, with its attempts.
type Delivery struct {
	ID             string            `json:"id" doc:"the webhook-id header of every attempt"`
	ConversationID string            `json:"conversation_id"`
	EventID        int64             `json:"event_id"`
	EventType      string            `json:"event_type"`
	URL            string            `json:"url"`
	Status         string            `json:"status" enum:"pending,delivered,failed,disabled"`
	Attempts       int               `json:"attempts"`
	LastError      string            `json:"last_error,omitempty"`
	Payload        json.RawMessage   `json:"payload"`
	CreatedAt      time.Time         `json:"created_at"`
	UpdatedAt      time.Time         `json:"updated_at"`
	DeliveredAt    *time.Time        `json:"delivered_at"`
	AttemptLog     []DeliveryAttempt `json:"attempt_log"`
}

// DeliveryAttempt is one HTTP attempt of a delivery.
type DeliveryAttempt struct {
	Attempt    int       `json:"attempt"`
	StatusCode int       `json:"status_code" doc:"0 when no HTTP answer came"`
	LatencyMS  float64   `json:"latency_ms"`
	Error      string    `json:"error,omitempty"`
	CreatedAt  time.Time `json:"created_at"`
}

// DeliveryFilter selects deliveries; every field is optional.
type DeliveryFilter struct {
	ConversationID string
	Status         string
	Limit          int
	BeforeID       string
}

// WebhookSecret signs a tenant's webhooks. Secrets without ExpiresAt, or
// expiring later, all sign: that is how a rotation overlaps.
type WebhookSecret struct {
	ID        string     `json:"id"`
	Secret    string     `json:"secret"`
	CreatedAt time.Time  `json:"created_at"`
	ExpiresAt *time.Time `json:"expires_at"`
}

// HistoryItem is one message of a history a client sent (V1).
type HistoryItem struct {
	FromBot bool     `json:"from_bot"`
	Bubbles []string `json:"bubbles"`
}
