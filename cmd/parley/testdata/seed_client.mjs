// Runs the seeds' V3 client code (../shared/seeds/), copied verbatim between
// the BEGIN/END markers, against a real Parley server. The only adaptation is
// the one the seeds assume: their fetch paths are relative, so fetch resolves
// them against the server's base URL.
import assert from 'node:assert/strict';

const BASE = process.env.PARLEY_URL;
const token = process.env.PARLEY_TOKEN;
const realFetch = globalThis.fetch;
globalThis.fetch = (path, init) => realFetch(new URL(path, BASE), init);

// ---- BEGIN seed 000: V1 - Stateless Pattern
// V1 - Send full context every time
const sendMessage = async (conversationData) => {
  const response = await fetch('/v2/complete', {
    method: 'POST',
    headers: { 'Authorization': `Bearer ${token}` },
    body: JSON.stringify({
      conversation_id: conversationData.id,
      bot_id: conversationData.botId,
      user_id: conversationData.userId,
      message: conversationData.newMessage,
      messages: conversationData.fullHistory, // Full history each time
      webhook: conversationData.webhook,
      language: conversationData.language,
      platform: conversationData.platform,
      user_kv_pairs: conversationData.userContext
    })
  });
  
  return await response.json();
};
// ---- END seed 000 (V1)

// ---- BEGIN seed 000: V3 - Stateful Pattern
class ConversationSession {
  constructor(token) {
    this.token = token;
    this.conversations = new Map();
  }

  async getOrCreateConversation(botId, userId, webhook) {
    const key = `${botId}-${userId}`;
    
    if (this.conversations.has(key)) {
      return this.conversations.get(key);
    }

    const response = await fetch('/api/conversations', {
      method: 'POST',
      headers: { 'Authorization': `Bearer ${this.token}` },
      body: JSON.stringify({
        bot_id: botId,
        user_id: userId,
        create_user_if_not_exists: true,
        webhook: webhook
      })
    });

    const conversation = await response.json();
    this.conversations.set(key, conversation.conversation);
    return conversation.conversation;
  }

  async sendMessage(conversationId, text) {
    return await fetch(`/api/conversations/${conversationId}/messages`, {
      method: 'POST',
      headers: { 'Authorization': `Bearer ${this.token}` },
      body: JSON.stringify({
        message: { text, from_bot: false }
      })
    });
  }
}
// ---- END seed 000

// ---- BEGIN seed 002: Phase 2 - Native V3 (the methods this server has)
class ChatServiceV3 {
  constructor(token) {
    this.token = token;
    this.conversationCache = new Map();
  }

  async createConversation(botId, userId, webhook) {
    const response = await fetch('/api/conversations', {
      method: 'POST',
      headers: { 'Authorization': `Bearer ${this.token}` },
      body: JSON.stringify({
        bot_id: botId,
        user_id: userId,
        create_user_if_not_exists: true,
        webhook: webhook
      })
    });
    
    const conversation = await response.json();
    this.conversationCache.set(`${botId}-${userId}`, conversation);
    return conversation;
  }

  async sendMessage(conversationId, text, attachedMedia = null) {
    return await fetch(`/api/conversations/${conversationId}/messages`, {
      method: 'POST',
      headers: { 'Authorization': `Bearer ${this.token}` },
      body: JSON.stringify({
        message: {
          text: text,
          from_bot: false,
          attached_media: attachedMedia
        }
      })
    });
  }

  async getConversationHistory(conversationId) {
    const response = await fetch(`/api/conversations/${conversationId}`, {
      headers: { 'Authorization': `Bearer ${this.token}` }
    });
    return await response.json();
  }

  async getMemories(conversationId) {
    const response = await fetch(`/api/conversations/${conversationId}/memories`, {
      headers: { 'Authorization': `Bearer ${this.token}` }
    });
    return await response.json();
  }

  async uploadContent(botId, imageUrl) {
    return await fetch('/api/content', {
      method: 'POST',
      headers: { 'Authorization': `Bearer ${this.token}` },
      body: JSON.stringify({ bot_id: botId, image_url: imageUrl })
    });
  }

  async searchConversations(filters) {
    const params = new URLSearchParams(filters);
    return await fetch(`/api/conversations?${params}`, {
      headers: { 'Authorization': `Bearer ${this.token}` }
    });
  }

  async searchContent(botId, query, mediaType = null) {
    const params = new URLSearchParams({ bot_id: botId, search: query });
    if (mediaType) params.append('media_type', mediaType);
    
    return await fetch(`/api/content?${params}`, {
      headers: { 'Authorization': `Bearer ${this.token}` }
    });
  }
}
// ---- END seed 002

// Seed 000, steps 1 to 3.
const session = new ConversationSession(token);
const conversation = await session.getOrCreateConversation(
  "bot-456", 
  "user-789", 
  "https://webhook.example.com"
);
assert.ok(conversation.id, 'conversation has an id');
assert.equal(conversation.bot_id, 'bot-456');
assert.equal(conversation.webhook, 'https://webhook.example.com');
const sent = await session.sendMessage(conversation.id, "Hello");
assert.equal(sent.status, 201);
assert.equal((await sent.json()).message.text, 'Hello');

// Seed 002: the same conversation through the native V3 service.
const service = new ChatServiceV3(token);
const created = await service.createConversation("bot-456", "user-789", "https://webhook.example.com");
assert.equal(created.conversation.id, conversation.id, 'get-or-create finds the same conversation');
const withMedia = await service.sendMessage(conversation.id, "Look at this", [
  { url: "https://example.com/cat.png", media_type: "image/png" }]);
assert.equal(withMedia.status, 201);
const noMedia = await service.sendMessage(conversation.id, "And this");
assert.equal(noMedia.status, 201);

const history = await service.getConversationHistory(conversation.id);
const texts = history.messages.filter(m => !m.from_bot).map(m => m.text);
assert.deepEqual(texts, ["Hello", "Look at this", "And this"]);
assert.equal(history.messages[1].attached_media[0].url, "https://example.com/cat.png");

const other = await service.createConversation("bot-456", "user-000", "https://webhook.example.com");
await service.sendMessage(other.conversation.id, "Completely different topic");

let found;
for (let i = 0; i < 100; i++) { // the SQLite search index trails writes briefly
  const res = await service.searchConversations({ bot_id: "bot-456", q: "Look" });
  assert.equal(res.status, 200);
  found = await res.json();
  if (found.conversations.length > 0) break;
  await new Promise(r => setTimeout(r, 50));
}
assert.deepEqual(found.conversations.map(c => c.id), [conversation.id]);
const byUser = await (await service.searchConversations({ user_id: "user-000" })).json();
assert.deepEqual(byUser.conversations.map(c => c.id), [other.conversation.id]);

// Seed 002's getMemories: what the user said about themselves comes back
// as memories, extracted in the background a second or so later.
const ana = await service.createConversation("bot-456", "user-ana", "https://webhook.example.com");
const said = await service.sendMessage(ana.conversation.id, "Hi! My name is Ana and I live in Madrid.");
assert.equal(said.status, 201);
let memories;
for (let i = 0; i < 200; i++) {
  memories = await service.getMemories(ana.conversation.id);
  // The conversation is read before its memories: memories_seq may trail
  // the memories listed for a moment, never lead them.
  if (memories.memories && memories.memories.length >= 2 && memories.memories_seq >= 1) break;
  await new Promise(r => setTimeout(r, 50));
}
assert.deepEqual(memories.memories.map(m => m.text).sort(), ["Lives in Madrid", "Name: Ana"], JSON.stringify(memories));
assert.ok(memories.memories_seq >= 1, 'the memories say how current they are');
const none = await service.getMemories(conversation.id);
assert.deepEqual(none.memories, [], 'another user has their own');

// Seed 002's uploadContent and searchContent: the media host (MEDIA_URL) is
// a test server on an address the server was told it may reach.
const media = process.env.MEDIA_URL;
const up = await service.uploadContent("bot-456", `${media}/margherita-pizza.png`);
assert.equal(up.status, 201, await up.clone().text());
const item = await up.json();
assert.equal(item.media_type, "image/png");
assert.equal(item.file_name, "margherita-pizza.png");
const again = await service.uploadContent("bot-456", `${media}/margherita-pizza.png`);
assert.equal(again.status, 200, 'the same bytes again are the same item');
assert.equal((await again.json()).id, item.id);
const refused = await service.uploadContent("bot-456", `${media}/not-an-image.png`);
assert.equal(refused.status, 422);
assert.equal((await refused.json()).errors[0].location, "body.image_url");
const inner = await service.uploadContent("bot-456", "http://127.0.0.1:1/secret.png");
assert.equal(inner.status, 422, 'loopback is refused');
const results = await (await service.searchContent("bot-456", "pizza margherita", "image")).json();
assert.deepEqual(results.items.map(i => i.id), [item.id]);
const videos = await (await service.searchContent("bot-456", "pizza", "video")).json();
assert.deepEqual(videos.items, []);

// Seed 000's V1 usage, verbatim ("https://..." parses as a URL; deliveries
// to it fail and are logged, the reply is answered all the same).
const v1 = await sendMessage({
  id: "chat-123",
  botId: "bot-456", 
  userId: "user-789",
  newMessage: "Hello",
  fullHistory: [
    { bot: true, content: ["Hi there!"] },
    { bot: false, content: ["Hey"] }
  ],
  webhook: "https://...",
  language: "es",
  platform: "Qkkie"
});
assert.equal(v1.bot, true, JSON.stringify(v1));
assert.ok(Array.isArray(v1.content) && v1.content.length > 0 && typeof v1.content[0] === 'string');
assert.equal(v1.history.status, 'appended');
// The V1 conversation is an ordinary V3 conversation.
const v1History = await service.getConversationHistory(v1.conversation_id);
assert.deepEqual(v1History.messages.slice(0, 3).map(m => m.text), ["Hi there!", "Hey", "Hello"]);
const bad = await sendMessage({ id: "chat-123", botId: "bot-456", userId: "user-789", newMessage: "x",
  fullHistory: [], webhook: "not a url" });
assert.equal(bad.status, 422);
assert.equal(bad.errors[0].location, "body.webhook");

console.log("seed client OK");
