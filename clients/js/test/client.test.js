// The client against a real Parley server: PARLEY_URL and PARLEY_TOKEN
// name it (cmd/parley's TestJSClient starts one and runs this file).
import { test } from "node:test";
import assert from "node:assert/strict";
import { Parley, ParleyError, ChatServiceV3, ConversationSession, sendMessage, operations } from "../index.js";

const baseURL = process.env.PARLEY_URL;
const token = process.env.PARLEY_TOKEN;
const client = new Parley({ baseURL, token });

test("every call is an operation of the server's OpenAPI document", async () => {
  const spec = await (await fetch(baseURL + "/openapi.json")).json();
  const ids = new Map();
  for (const [path, item] of Object.entries(spec.paths)) {
    for (const [method, op] of Object.entries(item)) ids.set(op.operationId, [method.toUpperCase(), path]);
  }
  for (const [id, want] of Object.entries(operations)) {
    assert.deepEqual(ids.get(id), want, `operation ${id}`);
  }
});

test("conversations, live replies and errors", async () => {
  await client.createBot({ id: "js-bot", name: "JS" }).catch((e) => assert.equal(e.status, 409));
  const { conversation } = await client.createConversation({ bot_id: "js-bot", user_id: "js-user" });
  assert.equal(conversation.bot_id, "js-bot");

  const deltas = [];
  const reply = await client.ask(conversation.id, "hello from node", { onDelta: (t) => deltas.push(t) });
  assert.equal(reply.from_bot, true);
  assert.match(reply.text, /hello from node/);
  assert.ok(deltas.join("").length > 0, "the reply streamed");

  const page = await client.listMessages(conversation.id, { order: "desc", limit: 2 });
  assert.deepEqual(page.messages.map((m) => m.from_bot), [true, false]);
  const ctx = await client.replyContext(conversation.id, reply.seq);
  assert.ok(ctx.parts.some((p) => p.name === "persona"));

  await assert.rejects(client.sendMessage(conversation.id, { text: "" }), (e) => {
    assert.ok(e instanceof ParleyError);
    assert.equal(e.status, 422);
    assert.equal(e.location, "body.message.text");
    return true;
  });
  await assert.rejects(new Parley({ baseURL, token: "prly_nope" }).listBots(), (e) => e.status === 401);
});

test("content library: upload a file, search it", async () => {
  // A 1x1 PNG.
  const png = Uint8Array.from(atob("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg=="), (c) => c.charCodeAt(0));
  const item = await client.uploadContent("js-bot", new Blob([png]), { filename: "dot.png", title: "A tiny dot", tags: ["dot"] });
  assert.equal(item.media_type, "image/png");
  const found = await client.searchContent("js-bot", "tiny dot", { media_type: "image" });
  assert.deepEqual(found.items.map((i) => i.id), [item.id]);
  await client.deleteContent(item.id);
  await assert.rejects(client.getContent(item.id), (e) => e.status === 404);
});

test("the seeds' classes and V1 function", async () => {
  const session = new ConversationSession(token, { baseURL });
  const conv = await session.getOrCreateConversation("js-bot", "seed-user", "https://webhook.example.com");
  assert.equal(conv.webhook, "https://webhook.example.com");
  assert.equal(await session.getOrCreateConversation("js-bot", "seed-user"), conv, "cached");
  const res = await session.sendMessage(conv.id, "Hello");
  assert.equal(res.status, 201);

  const service = new ChatServiceV3(token, { baseURL });
  const created = await service.createConversation("js-bot", "seed-user", "https://webhook.example.com");
  assert.equal(created.conversation.id, conv.id);
  const history = await service.getConversationHistory(conv.id);
  assert.equal(history.messages[0].text, "Hello");
  const memories = await service.getMemories(conv.id);
  assert.ok(Array.isArray(memories.memories));
  const search = await service.searchContent("js-bot", "nothing here");
  assert.equal(search.status, 200);

  const v1 = await sendMessage({ id: "js-chat-1", botId: "js-bot", userId: "seed-user", newMessage: "Hi",
    fullHistory: [{ bot: true, content: ["Hello!"] }], language: "en" }, { baseURL, token });
  assert.equal(v1.bot, true);
  assert.ok(v1.content.length > 0);
});
