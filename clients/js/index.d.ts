// Types of the Parley client. They follow the server's OpenAPI document
// (/openapi.json); test/client.test.js checks the calls against it.

export interface Media {
  url?: string;
  media_type?: string;
  content_id?: string;
  /** Set by the server for URLs users send. */
  status?: "pending" | "stored" | "failed";
  error?: string;
  file_url?: string;
  sha256?: string;
  size?: number;
  width?: number;
  height?: number;
}

export interface Message {
  id: string;
  conversation_id: string;
  seq: number;
  from_bot: boolean;
  text: string;
  bubbles: string[];
  attached_media: Media[];
  metadata?: Record<string, unknown>;
  status: string;
  created_at: string;
}

export interface Conversation {
  id: string;
  bot_id: string;
  user_id: string;
  external_id?: string;
  webhook: string;
  platform: string;
  language: string;
  message_count: number;
  created_at: string;
  updated_at: string;
  last_message_at: string | null;
  memories_seq: number;
}

export interface HistoryPage {
  messages: Message[];
  next_cursor: string;
  prev_cursor: string;
}

export interface Memory {
  id: string;
  bot_id: string;
  user_id: string;
  kind: "name" | "place" | "work" | "family" | "pet" | "like" | "dislike" | "plan" | "fact";
  key: string;
  text: string;
  confidence: number;
  confirmations: number;
  version: number;
  conversation_id?: string;
  source_seqs: number[];
  created_at: string;
  updated_at: string;
  confirmed_at: string;
}

export interface RecallHit {
  kind: "memory" | "message";
  text: string;
  memory_id?: string;
  seq?: number;
  conversation_id: string;
  source_seqs: number[];
  score: number;
}

export interface ContentItem {
  id: string;
  bot_id: string;
  media_type: string;
  sha256: string;
  size: number;
  width?: number;
  height?: number;
  title: string;
  description: string;
  tags: string[];
  caption: string;
  file_name?: string;
  source_url?: string;
  has_thumbnail: boolean;
  url: string;
  thumbnail_url?: string;
  created_at: string;
  updated_at: string;
}

export interface Bot {
  id: string;
  name: string;
  persona: string;
  language: string;
  webhook: string;
  model: Record<string, unknown>;
  reply: { policy?: "coalesce" | "enqueue" | "reject" | "interrupt"; debounce_ms?: number };
}

export interface Event {
  id?: number;
  type: string;
  data: any;
}

export class ParleyError extends Error {
  status: number;
  problem: any;
  /** The request field at fault, e.g. "body.message.text". */
  location: string;
}

export const operations: Record<string, [string, string]>;

export interface NewMessage {
  text?: string;
  bubbles?: string[];
  from_bot?: boolean;
  attached_media?: (Media | string)[] | null;
  metadata?: Record<string, unknown>;
}

export class Parley {
  constructor(opts: { baseURL: string; token: string; fetch?: typeof fetch });
  request(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<any>;
  createConversation(c: { bot_id: string; user_id: string; create_user_if_not_exists?: boolean; webhook?: string; platform?: string; language?: string }): Promise<{ conversation: Conversation; created: boolean }>;
  listConversations(filters?: { bot_id?: string; user_id?: string; platform?: string; language?: string; q?: string; limit?: number; cursor?: string }): Promise<{ conversations: Conversation[]; next_cursor: string }>;
  getConversation(id: string, page?: { limit?: number; order?: "asc" | "desc"; cursor?: string }): Promise<{ conversation: Conversation } & HistoryPage>;
  listMessages(id: string, page?: { limit?: number; order?: "asc" | "desc"; cursor?: string }): Promise<HistoryPage>;
  sendMessage(id: string, message: NewMessage, opts?: { wait?: string; idempotencyKey?: string }): Promise<{ message: Message; reply?: Message; reply_status?: string }>;
  replyContext(id: string, seq: number): Promise<{ messages: { role: string; content: string; seq?: number }[]; parts: { name: string; tokens: number; items?: number }[]; tokens: number; budget: number }>;
  memories(id: string, page?: { search?: string; limit?: number; cursor?: string }): Promise<{ memories: Memory[]; next_cursor: string; memories_seq: number }>;
  recall(id: string, q: string, limit?: number): Promise<{ hits: RecallHit[] }>;
  events(id: string, opts?: { lastEventId?: number; signal?: AbortSignal; onOpen?: () => void }): AsyncGenerator<Event>;
  ask(id: string, text: string, opts?: { onDelta?: (text: string) => void; timeoutMs?: number }): Promise<Message>;
  userMemories(userId: string, filters?: { bot_id?: string; kind?: string; search?: string; cursor?: string }): Promise<{ memories: Memory[]; next_cursor: string }>;
  addMemory(userId: string, m: { bot_id: string; text: string; kind?: string; key?: string }): Promise<{ memory: Memory; change?: string }>;
  editMemory(id: string, patch: { text?: string; kind?: string }): Promise<{ memory: Memory }>;
  deleteMemory(id: string): Promise<null>;
  addContent(c: { bot_id: string; image_url: string; media_type?: string; title?: string; description?: string; tags?: string[] }): Promise<ContentItem>;
  uploadContent(botId: string, file: Blob, opts?: { filename?: string; title?: string; description?: string; tags?: string[]; media_type?: string }): Promise<ContentItem>;
  searchContent(botId: string, search?: string, opts?: { media_type?: string; limit?: number; cursor?: string }): Promise<{ items: ContentItem[]; next_cursor: string }>;
  getContent(id: string): Promise<ContentItem>;
  patchContent(id: string, patch: { title?: string; description?: string; caption?: string; tags?: string[] }): Promise<ContentItem>;
  deleteContent(id: string): Promise<null>;
  createBot(bot: Partial<Bot> & { id: string }): Promise<Bot>;
  listBots(): Promise<{ bots: Bot[]; next_cursor: string }>;
  getBot(id: string): Promise<Bot>;
  updateBot(id: string, patch: Partial<Bot>): Promise<Bot>;
  deleteBot(id: string): Promise<null>;
  putUser(id: string, user: { platform?: string; language?: string; kv?: Record<string, unknown> }): Promise<any>;
  getUser(id: string): Promise<any>;
  deleteUser(id: string): Promise<null>;
  createToken(t?: { name?: string; admin?: boolean }): Promise<{ token: any; secret: string }>;
  listTokens(): Promise<{ tokens: any[] }>;
  deleteToken(id: string): Promise<null>;
  listDeliveries(filters?: { conversation_id?: string; status?: string; limit?: number; cursor?: string }): Promise<{ deliveries: any[]; next_cursor: string }>;
  replayDelivery(id: string): Promise<any>;
  complete(body: Record<string, unknown>): Promise<{ bot: boolean; content: string[]; attached_media: Media[]; conversation_id: string; reply: Message }>;
}

export class ConversationSession {
  constructor(token: string, opts: { baseURL: string });
  getOrCreateConversation(botId: string, userId: string, webhook?: string): Promise<Conversation>;
  sendMessage(conversationId: string, text: string): Promise<Response>;
}

export class ChatServiceV3 {
  constructor(token: string, opts: { baseURL: string });
  createConversation(botId: string, userId: string, webhook?: string): Promise<{ conversation: Conversation; created: boolean }>;
  sendMessage(conversationId: string, text: string, attachedMedia?: (Media | string)[] | null): Promise<Response>;
  getConversationHistory(conversationId: string): Promise<{ conversation: Conversation } & HistoryPage>;
  getMemories(conversationId: string): Promise<{ memories: Memory[]; next_cursor: string; memories_seq: number }>;
  uploadContent(botId: string, imageUrl: string): Promise<Response>;
  searchConversations(filters: Record<string, string>): Promise<Response>;
  searchContent(botId: string, query: string, mediaType?: string | null): Promise<Response>;
}

export function sendMessage(conversationData: {
  id: string; botId: string; userId: string; newMessage: string;
  fullHistory?: { bot: boolean; content: string[] }[]; webhook?: string; language?: string; platform?: string;
  userContext?: Record<string, unknown>;
}, opts: { baseURL: string; token: string }): Promise<any>;
