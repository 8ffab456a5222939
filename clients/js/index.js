// Client of the Parley conversation server.
//
// Parley: typed calls for the whole API (operations.js lists them as the
// server's OpenAPI document names them), errors as ParleyError with the
// problem's field, and live events over server-sent events.
// ConversationSession, ChatServiceV3 and sendMessage: the classes and the
// function of the design seeds, with the same methods and answers, for code
// written against them.
import { operations } from "./operations.js";

export { operations };

/** An error answer of the API (RFC 9457 problem JSON). */
export class ParleyError extends Error {
  constructor(status, problem) {
    const detail = (problem && (problem.detail || problem.title)) || `HTTP ${status}`;
    super(detail);
    this.name = "ParleyError";
    this.status = status;
    this.problem = problem || null;
    /** The request field at fault, e.g. "body.message.text". */
    this.location = (problem && problem.errors && problem.errors[0] && problem.errors[0].location) || "";
  }
}

function query(params) {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {})) {
    if (v === undefined || v === null || v === "") continue;
    p.set(k, String(v));
  }
  const s = p.toString();
  return s ? `?${s}` : "";
}

const seg = encodeURIComponent;

export class Parley {
  /**
   * @param {{baseURL: string, token: string, fetch?: typeof fetch}} opts
   */
  constructor({ baseURL, token, fetch: f } = {}) {
    if (!baseURL) throw new TypeError("baseURL is required");
    this.baseURL = baseURL.replace(/\/+$/, "");
    this.token = token;
    this.fetch = f || globalThis.fetch.bind(globalThis);
  }

  /** A raw call: method, path (with its query), JSON body or FormData. */
  async request(method, path, body, headers = {}) {
    const h = { Authorization: `Bearer ${this.token}`, ...headers };
    let payload = body;
    if (body !== undefined && !(body instanceof FormData)) {
      payload = JSON.stringify(body);
      h["Content-Type"] = "application/json";
    }
    const res = await this.fetch(this.baseURL + path, { method, headers: h, body: payload });
    if (res.status === 204) return null;
    const type = res.headers.get("Content-Type") || "";
    const data = type.includes("json") ? await res.json() : new Uint8Array(await res.arrayBuffer());
    if (!res.ok) throw new ParleyError(res.status, data);
    return data;
  }

  // ---- conversations

  /** Gets or creates the conversation of a bot and a user. */
  createConversation({ bot_id, user_id, create_user_if_not_exists = true, webhook, platform, language }) {
    return this.request("POST", "/api/conversations", { bot_id, user_id, create_user_if_not_exists, webhook, platform, language });
  }
  listConversations(filters = {}) {
    return this.request("GET", "/api/conversations" + query(filters));
  }
  getConversation(id, page = {}) {
    return this.request("GET", `/api/conversations/${seg(id)}` + query(page));
  }
  listMessages(id, page = {}) {
    return this.request("GET", `/api/conversations/${seg(id)}/messages` + query(page));
  }
  /**
   * Appends a message. opts.wait ("30s") answers with the reply too;
   * opts.idempotencyKey makes retries safe.
   */
  sendMessage(id, message, opts = {}) {
    const headers = opts.idempotencyKey ? { "Idempotency-Key": opts.idempotencyKey } : {};
    return this.request("POST", `/api/conversations/${seg(id)}/messages` + query({ wait: opts.wait }), { message }, headers);
  }
  replyContext(id, seq) {
    return this.request("GET", `/api/conversations/${seg(id)}/messages/${seq}/context`);
  }
  memories(id, page = {}) {
    return this.request("GET", `/api/conversations/${seg(id)}/memories` + query(page));
  }
  recall(id, q, limit) {
    return this.request("GET", `/api/conversations/${seg(id)}/recall` + query({ q, limit }));
  }

  /**
   * The conversation's events as they happen (message.created,
   * message.delta, reply.failed, memory.*), from after lastEventId; the
   * stream reconnects by itself from the last event seen. Stop it with
   * opts.signal. opts.onOpen is called each time the stream is open: from
   * then on nothing that happens is missed.
   * @returns {AsyncGenerator<{id?: number, type: string, data: any}>}
   */
  async *events(id, { lastEventId = 0, signal, onOpen } = {}) {
    let last = lastEventId;
    while (!(signal && signal.aborted)) {
      let res;
      try {
        res = await this.fetch(`${this.baseURL}/api/conversations/${seg(id)}/events`, {
          headers: { Authorization: `Bearer ${this.token}`, "Last-Event-ID": String(last) }, signal });
      } catch (e) {
        if (signal && signal.aborted) return;
        await new Promise((r) => setTimeout(r, 1000));
        continue;
      }
      if (!res.ok) throw new ParleyError(res.status, await res.json().catch(() => null));
      if (onOpen) onOpen();
      const reader = res.body.getReader();
      const decoder = new TextDecoder();
      let buf = "";
      try {
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buf += decoder.decode(value, { stream: true });
          let i;
          while ((i = buf.indexOf("\n\n")) >= 0) {
            const block = buf.slice(0, i);
            buf = buf.slice(i + 2);
            const ev = { type: "message", data: "" };
            for (const line of block.split("\n")) {
              if (line.startsWith("id: ")) ev.id = last = Number(line.slice(4));
              else if (line.startsWith("event: ")) ev.type = line.slice(7);
              else if (line.startsWith("data: ")) ev.data += line.slice(6);
            }
            if (ev.data) {
              ev.data = JSON.parse(ev.data);
              yield ev;
            }
          }
        }
      } catch (e) {
        if (signal && signal.aborted) return;
        throw e;
      }
    }
  }

  /**
   * Sends a user message and resolves with the bot's reply when it is
   * stored, calling onDelta with its text as the model writes it.
   */
  async ask(id, text, { onDelta, timeoutMs = 60000 } = {}) {
    const ctl = new AbortController();
    const timer = setTimeout(() => ctl.abort(), timeoutMs);
    try {
      // The stream first: a reply's deltas are not stored, and those made
      // before it opened would be missed.
      let opened;
      const open = new Promise((resolve) => (opened = resolve));
      const stream = this.events(id, { signal: ctl.signal, onOpen: () => opened() });
      const next = stream.next();
      await Promise.race([open, next]);
      const sent = await this.sendMessage(id, { text, from_bot: false });
      const seq = sent.message.seq;
      for (let r = await next; !r.done; r = await stream.next()) {
        const ev = r.value;
        // A stored event's data is the event ({id, type, data, ...});
        // a delta's is the streamed piece ({text, upto_seq, ...}).
        if (ev.type === "message.delta" && onDelta) onDelta(ev.data.text);
        const m = ev.data && ev.data.data;
        if (ev.type === "message.created" && m && m.from_bot && m.seq > seq) return m;
        if (ev.type === "reply.failed" && m) throw new ParleyError(502, { detail: m.reason || "the reply failed" });
      }
      throw new ParleyError(504, { detail: "no reply within the timeout" });
    } finally {
      clearTimeout(timer);
      ctl.abort();
    }
  }

  // ---- memories, content, bots, users, tokens, webhooks

  userMemories(userId, filters = {}) {
    return this.request("GET", `/api/users/${seg(userId)}/memories` + query(filters));
  }
  addMemory(userId, { bot_id, text, kind, key }) {
    return this.request("POST", `/api/users/${seg(userId)}/memories`, { bot_id, text, kind, key });
  }
  editMemory(id, patch) {
    return this.request("PATCH", `/api/memories/${seg(id)}`, patch);
  }
  deleteMemory(id) {
    return this.request("DELETE", `/api/memories/${seg(id)}`);
  }
  /** Fetches media from a URL into a bot's library. */
  addContent({ bot_id, image_url, media_type, title, description, tags }) {
    return this.request("POST", "/api/content", { bot_id, image_url, media_type, title, description, tags });
  }
  /** Uploads a file (a Blob or File) into a bot's library. */
  uploadContent(botId, file, { filename = "upload", title, description, tags = [], media_type } = {}) {
    const form = new FormData();
    form.set("bot_id", botId);
    form.set("file", file, filename);
    if (title) form.set("title", title);
    if (description) form.set("description", description);
    if (media_type) form.set("media_type", media_type);
    for (const t of tags) form.append("tags", t);
    return this.request("POST", "/api/content/upload", form);
  }
  searchContent(botId, search, { media_type, limit, cursor } = {}) {
    return this.request("GET", "/api/content" + query({ bot_id: botId, search, media_type, limit, cursor }));
  }
  getContent(id) {
    return this.request("GET", `/api/content/${seg(id)}`);
  }
  patchContent(id, patch) {
    return this.request("PATCH", `/api/content/${seg(id)}`, patch);
  }
  deleteContent(id) {
    return this.request("DELETE", `/api/content/${seg(id)}`);
  }
  createBot(bot) {
    return this.request("POST", "/api/bots", bot);
  }
  listBots() {
    return this.request("GET", "/api/bots");
  }
  getBot(id) {
    return this.request("GET", `/api/bots/${seg(id)}`);
  }
  updateBot(id, patch) {
    return this.request("PATCH", `/api/bots/${seg(id)}`, patch);
  }
  deleteBot(id) {
    return this.request("DELETE", `/api/bots/${seg(id)}`);
  }
  putUser(id, user) {
    return this.request("PUT", `/api/users/${seg(id)}`, user);
  }
  getUser(id) {
    return this.request("GET", `/api/users/${seg(id)}`);
  }
  deleteUser(id) {
    return this.request("DELETE", `/api/users/${seg(id)}`);
  }
  createToken({ name, admin = false } = {}) {
    return this.request("POST", "/api/tokens", { name, admin });
  }
  listTokens() {
    return this.request("GET", "/api/tokens");
  }
  deleteToken(id) {
    return this.request("DELETE", `/api/tokens/${seg(id)}`);
  }
  listDeliveries(filters = {}) {
    return this.request("GET", "/api/webhook-deliveries" + query(filters));
  }
  replayDelivery(id) {
    return this.request("POST", `/api/webhook-deliveries/${seg(id)}/replay`);
  }
  /** V1: the whole history and the new message; answers with the reply. */
  complete(body) {
    return this.request("POST", "/v2/complete", body);
  }
}

// ---- the seeds' classes and function

/** The seeds' V3 session: get-or-create conversations, send messages. */
export class ConversationSession {
  constructor(token, { baseURL } = {}) {
    this.token = token;
    this.conversations = new Map();
    this.client = new Parley({ baseURL, token });
  }

  async getOrCreateConversation(botId, userId, webhook) {
    const key = `${botId}-${userId}`;
    if (this.conversations.has(key)) return this.conversations.get(key);
    const res = await this.client.createConversation({ bot_id: botId, user_id: userId, webhook });
    this.conversations.set(key, res.conversation);
    return res.conversation;
  }

  /** As the seed: resolves with the fetch Response. */
  sendMessage(conversationId, text) {
    return rawFetch(this.client, "POST", `/api/conversations/${seg(conversationId)}/messages`, { message: { text, from_bot: false } });
  }
}

/** The seeds' native V3 service. Methods answer as the seed's do. */
export class ChatServiceV3 {
  constructor(token, { baseURL } = {}) {
    this.token = token;
    this.conversationCache = new Map();
    this.client = new Parley({ baseURL, token });
  }

  async createConversation(botId, userId, webhook) {
    const conversation = await (await rawFetch(this.client, "POST", "/api/conversations",
      { bot_id: botId, user_id: userId, create_user_if_not_exists: true, webhook })).json();
    this.conversationCache.set(`${botId}-${userId}`, conversation);
    return conversation;
  }
  sendMessage(conversationId, text, attachedMedia = null) {
    return rawFetch(this.client, "POST", `/api/conversations/${seg(conversationId)}/messages`,
      { message: { text, from_bot: false, attached_media: attachedMedia } });
  }
  async getConversationHistory(conversationId) {
    return (await rawFetch(this.client, "GET", `/api/conversations/${seg(conversationId)}`)).json();
  }
  async getMemories(conversationId) {
    return (await rawFetch(this.client, "GET", `/api/conversations/${seg(conversationId)}/memories`)).json();
  }
  uploadContent(botId, imageUrl) {
    return rawFetch(this.client, "POST", "/api/content", { bot_id: botId, image_url: imageUrl });
  }
  searchConversations(filters) {
    return rawFetch(this.client, "GET", `/api/conversations?${new URLSearchParams(filters)}`);
  }
  searchContent(botId, query, mediaType = null) {
    const params = new URLSearchParams({ bot_id: botId, search: query });
    if (mediaType) params.append("media_type", mediaType);
    return rawFetch(this.client, "GET", `/api/content?${params}`);
  }
}

/** The seeds' V1 call: the whole history every time. Resolves with the JSON answer. */
export async function sendMessage(conversationData, { baseURL, token } = {}) {
  const client = new Parley({ baseURL, token });
  const res = await rawFetch(client, "POST", "/v2/complete", {
    conversation_id: conversationData.id,
    bot_id: conversationData.botId,
    user_id: conversationData.userId,
    message: conversationData.newMessage,
    messages: conversationData.fullHistory,
    webhook: conversationData.webhook,
    language: conversationData.language,
    platform: conversationData.platform,
    user_kv_pairs: conversationData.userContext,
  });
  return res.json();
}

function rawFetch(client, method, path, body) {
  return client.fetch(client.baseURL + path, {
    method,
    headers: { Authorization: `Bearer ${client.token}` },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}
