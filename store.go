package parley

import (
	"context"
	"encoding/json"
	"time"
)

// The store's contract, declared once and split by area. Both engines
// (store/sqlite, store/postgres) provide every area and pass the one
// conformance suite (store/storetest); each consumer embeds the areas it
// uses. Every method is scoped by the tenant it is given: another tenant's
// ids are ENOTFOUND. Errors are *Error with the codes listed, or internal.

// Accounts are tenants, their API tokens, bots and users.
type Accounts interface {
	// EnsureTenant returns the tenant of that name, creating it.
	EnsureTenant(ctx context.Context, name string) (*Tenant, error)
	// CreateToken stores a token by the hash of its secret; a hash already
	// stored returns the existing token (a bootstrap token on restart).
	CreateToken(ctx context.Context, tenantID, name string, admin bool, hash []byte) (*Token, error)
	// Authenticate finds the token of a hash: EUNAUTHORIZED if none.
	Authenticate(ctx context.Context, hash []byte) (*Principal, error)
	// ListTokens lists a tenant's tokens, never their secrets.
	ListTokens(ctx context.Context, tenantID string) ([]Token, error)
	// DeleteToken revokes a token: ENOTFOUND.
	DeleteToken(ctx context.Context, tenantID, id string) error

	// CreateBot stores a new bot: ECONFLICT (body.id) when the id is taken.
	CreateBot(ctx context.Context, tenantID string, b *Bot) (*Bot, error)
	// GetBot: ENOTFOUND.
	GetBot(ctx context.Context, tenantID, id string) (*Bot, error)
	// ListBots lists bots by id, after afterID.
	ListBots(ctx context.Context, tenantID, afterID string, limit int) ([]Bot, error)
	// UpdateBot applies a patch (BotPatch.Apply): ENOTFOUND.
	UpdateBot(ctx context.Context, tenantID, id string, p BotPatch) (*Bot, error)
	// DeleteBot deletes a bot with its conversations: ENOTFOUND.
	DeleteBot(ctx context.Context, tenantID, id string) error

	// GetUser: ENOTFOUND.
	GetUser(ctx context.Context, tenantID, id string) (*User, error)
	// PutUser creates or replaces a user; created says which.
	PutUser(ctx context.Context, tenantID string, u *User) (user *User, created bool, err error)
	// PatchUser applies a patch (UserPatch.Apply): ENOTFOUND, EINVALID.
	PatchUser(ctx context.Context, tenantID, id string, p UserPatch) (*User, error)
	// DeleteUser erases a user with their conversations and messages:
	// ENOTFOUND.
	DeleteUser(ctx context.Context, tenantID, id string) error
}

// Conversations are the threads of a bot and a user, and their messages.
type Conversations interface {
	// GetOrCreateConversation finds the conversation of the key or makes
	// it (created): ENOTFOUND for an unknown bot, or user without
	// CreateUser.
	GetOrCreateConversation(ctx context.Context, tenantID string, nc NewConversation) (c *Conversation, created bool, err error)
	// UpdateConversation sets the non-empty fields: ENOTFOUND.
	UpdateConversation(ctx context.Context, tenantID, id, webhook, platform, language string) (*Conversation, error)
	// GetConversation: ENOTFOUND.
	GetConversation(ctx context.Context, tenantID, id string) (*Conversation, error)
	// ListConversations lists by id, newest first, filtered.
	ListConversations(ctx context.Context, tenantID string, f ConversationFilter) ([]Conversation, error)
	// AppendMessage stores a message at the end of a conversation, once it
	// is durable, with the reply job and event it needs (PlanAppend):
	// ENOTFOUND; ECONFLICT for a reused idempotency key with another
	// request (header.Idempotency-Key) or a refused message under the
	// reject policy (body.message).
	AppendMessage(ctx context.Context, tenantID, conversationID string, m NewMessage) (AppendResult, error)
	// ListMessages returns a page of messages: ENOTFOUND.
	ListMessages(ctx context.Context, tenantID, conversationID string, q HistoryQuery) ([]Message, error)
	MessageSearcher
	// MessagesAt returns the conversation's messages with the given seqs,
	// in seq order, leaving out seqs it does not have (and everything of
	// another tenant's conversation): a message's media are read so.
	MessagesAt(ctx context.Context, tenantID, conversationID string, seqs []int64) ([]Message, error)
	// HistoryDigest returns how many messages the conversation has and the
	// chain digest (ChainDigest) of its history up to seq, or up to the last
	// one when there are fewer; the digest is nil when unknown: ENOTFOUND.
	HistoryDigest(ctx context.Context, tenantID, conversationID string, seq int64) (stored int64, digest []byte, err error)
}

// MessageSearcher finds a conversation's messages by their words: the
// store, and a reply's cache of a conversation (reply.Cache), which answer
// alike.
type MessageSearcher interface {
	// SearchMessages returns, for each term, the conversation's most recent
	// messages (at most perTerm) holding it (by its stem) with a seq below
	// beforeSeq (0: any), and with each the messages up to around seqs
	// before and after it (below beforeSeq too): each once, newest first.
	SearchMessages(ctx context.Context, tenantID, conversationID string, terms []string, beforeSeq int64, perTerm, around int) ([]Message, error)
}

// Replies are what the reply pipeline reads and writes.
type Replies interface {
	// ReplyState reads everything a reply needs: ENOTFOUND.
	ReplyState(ctx context.Context, tenantID, conversationID string) (*ReplyState, error)
	// LockReply takes the conversation's reply lock if it is free (across
	// replicas) and reads the reply's state, read whether or not the lock
	// was taken (after it, when it was), with what read asks for
	// (ReplyState.Messages, as ListMessages ascending after read.AfterSeq
	// reads them; ReplyState.Memories, as ListMemories of the
	// conversation's bot and user does): ENOTFOUND, and no lock. unlock
	// frees it. A reply stored for the conversation by the lock's holder
	// (StoreReply) frees it too, in the reply's own write: unlock then
	// frees nothing, and never a lock taken after.
	LockReply(ctx context.Context, tenantID, conversationID string, read ReplyRead) (st *ReplyState, unlock func(), ok bool, err error)
	// ClaimReply ends the "a reply job is queued" state and returns the
	// newest user message: ENOTFOUND.
	ClaimReply(ctx context.Context, tenantID, conversationID string) (int64, error)
	// StoreReply stores a reply as PlanReply says; nil when there was
	// nothing to store: ENOTFOUND.
	StoreReply(ctx context.Context, tenantID, conversationID string, r Reply) (*Message, error)
	// FailReply marks the user messages up to uptoSeq reply_failed with a
	// reply.failed event (PlanFailure); with release it also ends the turn
	// as Reply.Release does: ENOTFOUND.
	FailReply(ctx context.Context, tenantID, conversationID string, uptoSeq int64, reason string, release bool) error
	// ReplyContext returns what the model was sent for the reply at seq:
	// ENOTFOUND.
	ReplyContext(ctx context.Context, tenantID, conversationID string, seq int64) (json.RawMessage, error)
}

// Memories are what bots remember of their users (Memory).
type Memories interface {
	// ClaimMemories ends the "a memory job is queued" state of a
	// conversation and returns it with the seq its memories are current
	// up to (Conversation.MemoriesSeq): ENOTFOUND.
	ClaimMemories(ctx context.Context, tenantID, conversationID string) (*Conversation, error)
	// StoreMemories stores the facts found in a conversation's messages
	// up to uptoSeq, each as PlanMemory says, with memory.created and
	// memory.updated events, and moves the conversation's memories_seq to
	// uptoSeq, all at once. Messages already read (uptoSeq not past
	// memories_seq) store nothing: a job done twice makes no duplicate. It
	// returns the memories created or changed: ENOTFOUND.
	StoreMemories(ctx context.Context, tenantID, conversationID string, uptoSeq int64, facts []Fact) ([]Memory, error)
	// ListMemories lists a bot's memories of a user, newest first.
	ListMemories(ctx context.Context, tenantID string, f MemoryFilter) ([]Memory, error)
	// GetMemory: ENOTFOUND.
	GetMemory(ctx context.Context, tenantID, id string) (*Memory, error)
	// AddMemory stores a fact given by hand, as PlanMemory says (a fact
	// of a known key confirms or replaces that memory): ENOTFOUND for an
	// unknown bot or user.
	AddMemory(ctx context.Context, tenantID, botID, userID string, f Fact) (*Memory, MemoryChange, error)
	// EditMemory replaces a memory's text and kind, keeping the old ones
	// in its history (reason "edited"), with a memory.updated event on the
	// conversation where it was last said: ENOTFOUND.
	EditMemory(ctx context.Context, tenantID, id string, f Fact) (*Memory, error)
	// DeleteMemory erases a memory with its history, with a memory.deleted
	// event on the conversation where it was last said: ENOTFOUND.
	DeleteMemory(ctx context.Context, tenantID, id string) error
	// MemoryHistory returns a memory's past versions, newest first:
	// ENOTFOUND.
	MemoryHistory(ctx context.Context, tenantID, id string) ([]MemoryVersion, error)
	// SetMemoryVectors gives memories of the tenant new vectors of their
	// texts, each only while the memory is still at the version its text
	// was read at (an edit meanwhile has a vector of its own). It changes
	// nothing else and makes no event.
	SetMemoryVectors(ctx context.Context, tenantID string, vs []MemoryVector) error
}

// Library is each bot's content library (ContentItem); the bytes are the
// blob store's, by tenant and SHA-256.
type Library interface {
	// AddContent stores an item for its bot unless the bot has one with the
	// same bytes (SHA256): then it returns that one, created false:
	// ENOTFOUND for an unknown bot (body.bot_id).
	AddContent(ctx context.Context, tenantID string, it *ContentItem) (item *ContentItem, created bool, err error)
	// GetContent: ENOTFOUND.
	GetContent(ctx context.Context, tenantID, id string) (*ContentItem, error)
	// ListContent lists a bot's items (ContentFilter).
	ListContent(ctx context.Context, tenantID string, f ContentFilter) ([]ContentItem, error)
	// PatchContent applies a patch (ContentPatch.Apply): ENOTFOUND, EINVALID.
	PatchContent(ctx context.Context, tenantID, id string, p ContentPatch) (*ContentItem, error)
	// DeleteContent deletes an item and says whether any item of the
	// tenant still has its bytes (if not, the blob may go): ENOTFOUND.
	DeleteContent(ctx context.Context, tenantID, id string) (deleted *ContentItem, shared bool, err error)
	// ContentReferenced says whether any item, or any message's media
	// (SetMessageMedia), of the tenant has these bytes.
	ContentReferenced(ctx context.Context, tenantID, sha256 string) (bool, error)
	// Unreferenced returns those of sums that no item and no message's
	// media of the tenant has any more, in one query: the blobs that may go.
	Unreferenced(ctx context.Context, tenantID string, sums []string) ([]string, error)
	// SetMessageMedia replaces a message's attached_media with what its
	// fetch found (Media.Status), recording the bytes stored (SHA256):
	// ENOTFOUND.
	SetMessageMedia(ctx context.Context, tenantID, conversationID string, seq int64, media []Media) error
	// MediaOf returns the SHA-256 of the media stored for the messages of
	// a user's conversations, or of a bot's (the other ""), once each:
	// what erasing them may free.
	MediaOf(ctx context.Context, tenantID string, owner MediaOwner) ([]string, error)
}

// MediaOwner names whose conversations' media MediaOf returns: a user's
// or a bot's.
type MediaOwner struct {
	UserID, BotID string
}

// Audit is the record of operations on people's data (AuditEntry); it
// outlives the data it is about.
type Audit interface {
	// RecordAudit adds an entry (its ID and CreatedAt are the store's).
	RecordAudit(ctx context.Context, tenantID string, e AuditEntry) (*AuditEntry, error)
	// ListAudit lists a tenant's entries, newest first, below beforeID.
	ListAudit(ctx context.Context, tenantID, beforeID string, limit int) ([]AuditEntry, error)
}

// Retentions are bots' retention rules (Retention).
type Retentions interface {
	// SetRetention sets a bot's retention; days 0 removes it: ENOTFOUND
	// for an unknown bot.
	SetRetention(ctx context.Context, tenantID, botID string, days int) error
	// ListRetention lists a tenant's retention rules by bot.
	ListRetention(ctx context.Context, tenantID string) ([]Retention, error)
	// DeleteExpired deletes, across tenants, at most limit conversations
	// whose bot's retention has passed since their last message (or their
	// creation), with their messages, and says what went, by bot.
	DeleteExpired(ctx context.Context, now time.Time, limit int) ([]Expired, error)
}

// Events are what happened to conversations, for live streams.
type Events interface {
	// ListEvents returns events after an id, oldest first.
	ListEvents(ctx context.Context, tenantID, conversationID string, afterID int64, limit int) ([]Event, error)
	// PublishDelta passes a streamed piece of a reply to live subscribers
	// (on every replica); deltas are not stored.
	PublishDelta(ctx context.Context, d Delta) error
}

// Deliveries are webhook deliveries and the secrets that sign them.
type Deliveries interface {
	// ListDeliveries lists by id, newest first, filtered.
	ListDeliveries(ctx context.Context, tenantID string, f DeliveryFilter) ([]Delivery, error)
	// ReplayDelivery sends a delivery again under the same webhook-id, as a
	// new series of attempts, and re-enables its endpoint: ENOTFOUND.
	ReplayDelivery(ctx context.Context, tenantID, deliveryID string) (*Delivery, error)
	// DeliveryForSend reads what one attempt sends: ENOTFOUND.
	DeliveryForSend(ctx context.Context, tenantID, deliveryID string) (*Outgoing, error)
	// RecordAttempt logs an attempt and sets the delivery's status; disable
	// also stops every later delivery to the URL.
	RecordAttempt(ctx context.Context, tenantID, deliveryID string, a DeliveryAttempt, status string, disable bool) error
	// WebhookSecrets lists the secrets that still sign, newest first. A
	// tenant without one gets its first when a delivery is sent.
	WebhookSecrets(ctx context.Context, tenantID string) ([]WebhookSecret, error)
	// RotateWebhookSecret makes secret (a new one when empty) current; the
	// ones current until now sign for overlap more: EINVALID (body.secret).
	RotateWebhookSecret(ctx context.Context, tenantID, secret string, overlap time.Duration) (*WebhookSecret, error)
}

// Health is whether the store answers.
type Health interface {
	// Ping checks that the store answers.
	Ping(ctx context.Context) error
}

// Lifecycle is the running store: its health and its job queue. Ensuring a
// webhook secret is EnsureWebhookSecret over Deliveries.
type Lifecycle interface {
	Health
	// StartWorkers starts working the queue's jobs.
	StartWorkers(ctx context.Context) error
	// Close stops the queue and closes the store.
	Close() error
}

// Store is every area: what an engine provides.
type Store interface {
	Accounts
	Conversations
	Replies
	Memories
	Library
	Audit
	Retentions
	Events
	Deliveries
	Lifecycle
}
