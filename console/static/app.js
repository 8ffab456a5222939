// Parley console: a client of the public API, with the token the operator
// gives (kept in this tab's sessionStorage only). Everything shown is put
// in the page as text, never as HTML: conversations hold what strangers
// wrote.
"use strict";

const state = { token: sessionStorage.getItem("parley.token") || "", admin: false, stream: null };

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "text") el.textContent = v;
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

class APIError extends Error {
  constructor(status, problem) {
    const where = problem && problem.errors && problem.errors[0] && problem.errors[0].location;
    super(((problem && (problem.detail || problem.title)) || "HTTP " + status) + (where ? " (" + where + ")" : ""));
    this.status = status;
  }
}

async function api(path, opts = {}) {
  const headers = Object.assign({ Authorization: "Bearer " + state.token }, opts.headers || {});
  let body = opts.body;
  if (body !== undefined && !(body instanceof FormData) && typeof body !== "string") {
    body = JSON.stringify(body);
    headers["Content-Type"] = "application/json";
  }
  const res = await fetch(path, { method: opts.method || "GET", headers, body, signal: opts.signal });
  if (res.status === 204) return null;
  const type = res.headers.get("Content-Type") || "";
  const data = type.includes("json") ? await res.json() : await res.blob();
  if (!res.ok) throw new APIError(res.status, data);
  return data;
}

function qs(params) {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== "") p.set(k, v);
  const s = p.toString();
  return s ? "?" + s : "";
}

function when(t) {
  if (!t) return "";
  const d = new Date(t);
  return d.toLocaleString();
}

function show(...nodes) {
  const view = document.getElementById("view");
  view.replaceChildren(...nodes);
}

function errorBox(err) {
  return h("p", { role: "alert", class: "error", text: String(err.message || err) });
}

function stopStream() {
  if (state.stream) state.stream.abort();
  state.stream = null;
}

// ---- sign in

async function signIn(token) {
  state.token = token;
  await api("/api/conversations?limit=1"); // any valid token may
  try {
    await api("/api/tokens");
    state.admin = true;
  } catch (e) {
    state.admin = false;
  }
  sessionStorage.setItem("parley.token", token);
}

function signOut() {
  stopStream();
  state.token = "";
  sessionStorage.removeItem("parley.token");
  route();
}

// ---- conversations

async function conversationsView(params) {
  const form = h("form", { class: "filters", "aria-label": "Filter conversations" },
    h("label", { for: "f-bot" }, "Bot"), h("input", { id: "f-bot", name: "bot_id", value: params.get("bot_id") || "" }),
    h("label", { for: "f-user" }, "User"), h("input", { id: "f-user", name: "user_id", value: params.get("user_id") || "" }),
    h("label", { for: "f-platform" }, "Platform"), h("input", { id: "f-platform", name: "platform", value: params.get("platform") || "" }),
    h("label", { for: "f-q" }, "Search messages"), h("input", { id: "f-q", name: "q", type: "search", value: params.get("q") || "" }),
    h("button", { type: "submit" }, "Filter"));
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const f = new FormData(form);
    location.hash = "#/conversations" + qs(Object.fromEntries(f.entries()));
  });
  const list = h("div", { id: "conversations" }, h("p", { text: "Loading…" }));
  show(h("h1", { text: "Conversations" }), form, list);
  const query = { bot_id: params.get("bot_id"), user_id: params.get("user_id"), platform: params.get("platform"),
    q: params.get("q"), cursor: params.get("cursor"), limit: 50 };
  try {
    const page = await api("/api/conversations" + qs(query));
    const rows = page.conversations.map((c) => h("tr", {},
      h("td", {}, h("a", { href: "#/conversations/" + encodeURIComponent(c.id) }, c.id)),
      h("td", { text: c.bot_id }), h("td", { text: c.user_id }), h("td", { text: c.platform }),
      h("td", { text: c.message_count }), h("td", { text: when(c.last_message_at || c.updated_at) })));
    const table = h("table", { "aria-label": "Conversations" },
      h("thead", {}, h("tr", {}, ["Conversation", "Bot", "User", "Platform", "Messages", "Last message"].map((t) => h("th", { scope: "col", text: t })))),
      h("tbody", {}, rows));
    const more = page.next_cursor
      ? h("a", { class: "button", href: "#/conversations" + qs(Object.assign({}, query, { cursor: page.next_cursor, limit: undefined })) }, "Next page")
      : null;
    list.replaceChildren(rows.length ? table : h("p", { text: "No conversations." }), more || "");
    if (window.__parleyFirstList === undefined) window.__parleyFirstList = performance.now();
  } catch (e) {
    list.replaceChildren(errorBox(e));
  }
}

// ---- one conversation

function messageView(convId, m) {
  const media = (m.attached_media || []).map((a) => h("li", {},
    a.content_id ? "library item " + a.content_id : (a.url || ""),
    a.status ? " — " + a.status + (a.error ? ": " + a.error : "") : ""));
  let meta = null;
  try {
    meta = m.metadata && m.metadata.reply;
  } catch (e) { meta = null; }
  const ctxButton = m.from_bot && meta
    ? h("button", { type: "button", class: "link", onclick: () => showContext(convId, m.seq) },
      "Context sent to the model (" + (meta.prompt_tokens || 0) + " tokens)")
    : null;
  return h("li", { class: "msg " + (m.from_bot ? "bot" : "user"), "data-seq": m.seq },
    h("div", { class: "who", text: (m.from_bot ? "bot" : "user") + " · #" + m.seq + " · " + when(m.created_at) + (m.status && m.status !== "ok" ? " · " + m.status : "") }),
    (m.bubbles && m.bubbles.length ? m.bubbles : [m.text]).map((b) => h("p", { class: "bubble", text: b })),
    media.length ? h("ul", { class: "media" }, media) : null,
    ctxButton);
}

async function showContext(convId, seq) {
  const panel = document.getElementById("side");
  panel.replaceChildren(h("p", { text: "Loading context…" }));
  try {
    const c = await api("/api/conversations/" + encodeURIComponent(convId) + "/messages/" + seq + "/context");
    // Which memories (their ids) and which earlier messages (#seq) the reply used.
    const which = (p) => (p.seqs ? p.seqs.map((s) => "#" + s).join(", ") : (p.ids || []).join(", "));
    const parts = (c.parts || []).map((p) => h("tr", {}, h("td", { text: p.name }), h("td", { text: p.tokens }), h("td", { text: p.items || "" }), h("td", { text: which(p) })));
    panel.replaceChildren(
      h("h2", { text: "Context of reply #" + seq }),
      h("p", { text: (c.tokens || 0) + " of " + (c.budget || 0) + " tokens" + (c.provider ? " · " + c.provider + " " + (c.model || "") : "") }),
      h("table", { "aria-label": "Context parts" }, h("thead", {}, h("tr", {}, h("th", { text: "part" }), h("th", { text: "tokens" }), h("th", { text: "items" }), h("th", { text: "which" }))), h("tbody", {}, parts)),
      h("ol", { class: "context" }, (c.messages || []).map((m) => h("li", {}, h("strong", { text: m.role + ": " }), h("span", { class: "pre", text: m.content || "" })))));
  } catch (e) {
    panel.replaceChildren(errorBox(e));
  }
}

const KINDS = ["fact", "name", "place", "work", "family", "pet", "like", "dislike", "plan"];

function kindSelect(id, value) {
  return h("select", { id, name: "kind" }, KINDS.map((k) => h("option", { value: k, selected: k === value }, k)));
}

// reporting wraps an action so that its failure is shown in problem
// (cleared when the action starts again).
function reporting(problem) {
  return (fn) => async (...args) => {
    problem.textContent = "";
    try {
      await fn(...args);
    } catch (e) {
      problem.textContent = e.message;
    }
  };
}

// confirmTwice makes a destructive button ask for a second click instead
// of a modal dialog: the first click says what the second will do.
function confirmTwice(label, ask, action) {
  const b = h("button", { type: "button", class: "danger" }, label);
  let armed = false;
  b.addEventListener("click", async () => {
    if (!armed) {
      armed = true;
      b.textContent = ask;
      setTimeout(() => { armed = false; b.textContent = label; }, 5000);
      return;
    }
    await action();
  });
  return b;
}

// showMemories lists what the bot remembers of the conversation's user,
// with editing, forgetting, each memory's history, and adding one.
async function showMemories(convId) {
  const panel = document.getElementById("side");
  const problem = h("p", { role: "alert", class: "error" });
  const run = reporting(problem);
  let conv;
  try {
    conv = (await api("/api/conversations/" + encodeURIComponent(convId) + qs({ limit: 1 }))).conversation;
  } catch (e) {
    panel.replaceChildren(errorBox(e));
    return;
  }
  const reload = () => showMemories(convId);
  function item(m) {
    const li = h("li", { "data-memory": m.id });
    const view = () => li.replaceChildren(h("strong", { text: m.kind + ": " }), h("span", { class: "mtext", text: m.text }),
      h("span", { class: "dim", text: " · said " + m.confirmations + "×, from #" + (m.source_seqs || []).join(", #") }), " ",
      h("button", { type: "button", onclick: edit }, "Edit"), " ",
      h("button", { type: "button", onclick: run(history) }, "History"), " ",
      confirmTwice("Forget", "Click again to forget", run(async () => {
        await api("/api/memories/" + encodeURIComponent(m.id), { method: "DELETE" });
        await reload();
      })));
    function edit() {
      const text = h("input", { id: "m-text-" + m.id, name: "text", value: m.text, required: true, maxlength: 1000 });
      const kind = kindSelect("m-kind-" + m.id, m.kind);
      const form = h("form", { class: "inline", "aria-label": "Edit memory" }, h("label", { for: kind.id }, "Kind"), kind,
        h("label", { for: text.id }, "Text"), text, h("button", { type: "submit" }, "Save"),
        h("button", { type: "button", onclick: view }, "Cancel"));
      form.addEventListener("submit", run(async (ev) => {
        ev.preventDefault();
        await api("/api/memories/" + encodeURIComponent(m.id), { method: "PATCH", body: { kind: kind.value, text: text.value } });
        await reload();
      }));
      li.replaceChildren(form);
      text.focus();
    }
    async function history() {
      const res = await api("/api/memories/" + encodeURIComponent(m.id) + "/history");
      li.append(h("ol", { class: "versions", "aria-label": "Earlier versions" }, res.versions.length ? res.versions.map((v) =>
        h("li", {}, v.kind + ": " + v.text, h("span", { class: "dim", text: " · " + v.reason + " " + when(v.replaced_at) }))) : h("li", { text: "No earlier versions." })));
    }
    view();
    return li;
  }
  const text = h("input", { id: "m-new", name: "text", required: true, maxlength: 1000 });
  const kind = kindSelect("m-new-kind", "fact");
  const add = h("form", { class: "inline", "aria-label": "Add a memory" }, h("label", { for: "m-new-kind" }, "Kind"), kind,
    h("label", { for: "m-new" }, "New memory"), text, h("button", { type: "submit" }, "Add"));
  add.addEventListener("submit", run(async (ev) => {
    ev.preventDefault();
    await api("/api/users/" + encodeURIComponent(conv.user_id) + "/memories", { method: "POST",
      body: { bot_id: conv.bot_id, kind: kind.value, text: text.value } });
    await reload();
  }));
  try {
    const res = await api("/api/conversations/" + encodeURIComponent(convId) + "/memories" + qs({ limit: 200 }));
    panel.replaceChildren(h("h2", { text: "Memories (current up to #" + res.memories_seq + ")" }),
      res.memories.length ? h("ul", { id: "memories" }, res.memories.map(item)) : h("p", { text: "None yet." }), add, problem);
  } catch (e) {
    panel.replaceChildren(errorBox(e));
  }
}

async function conversationView(id) {
  const list = h("ol", { id: "history", class: "history", "aria-label": "Messages" });
  const typing = h("p", { id: "typing", class: "typing", hidden: true });
  const status = h("p", { class: "dim", id: "live", text: "connecting…" });
  const text = h("textarea", { id: "compose", name: "text", rows: 2, required: true });
  const as = h("select", { id: "as", name: "as" }, h("option", { value: "user" }, "a test user (the bot replies)"), h("option", { value: "bot" }, "the bot (a human taking over)"));
  const sendError = h("p", { role: "alert", class: "error" });
  const composer = h("form", { class: "composer", "aria-label": "Send a message" },
    h("label", { for: "compose" }, "Message"), text, h("label", { for: "as" }, "Send as"), as, h("button", { type: "submit" }, "Send"), sendError);
  const side = h("aside", { id: "side", "aria-label": "Details" });
  const head = h("div", { class: "convhead" }, h("h1", { text: "Conversation " + id }),
    h("button", { type: "button", onclick: () => showMemories(id) }, "Memories"),
    h("a", { class: "button", href: "#/deliveries" + qs({ conversation_id: id }) }, "Webhook deliveries"),
    h("button", { type: "button", id: "older" }, "Older messages"));
  show(head, status, h("div", { class: "split" }, h("div", {}, list, typing, composer), side));

  const shown = new Map();
  let prevCursor = "";
  function render(msgs) {
    for (const m of msgs) shown.set(m.seq, m);
    const sorted = [...shown.values()].sort((a, b) => a.seq - b.seq);
    list.replaceChildren(...sorted.map((m) => messageView(id, m)));
  }
  async function latest() {
    const page = await api("/api/conversations/" + encodeURIComponent(id) + "/messages" + qs({ limit: 50, order: "desc" }));
    if (!prevCursor) prevCursor = page.next_cursor || "";
    render(page.messages);
    typing.hidden = true;
    list.lastElementChild && list.lastElementChild.scrollIntoView({ block: "nearest" });
  }
  document.getElementById("older").addEventListener("click", async () => {
    if (!prevCursor) return;
    const page = await api("/api/conversations/" + encodeURIComponent(id) + "/messages" + qs({ limit: 50, order: "desc", cursor: prevCursor }));
    prevCursor = page.next_cursor || "";
    render(page.messages);
  });
  composer.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    sendError.textContent = "";
    try {
      await api("/api/conversations/" + encodeURIComponent(id) + "/messages", { method: "POST",
        body: { message: { text: text.value, from_bot: as.value === "bot" } } });
      text.value = "";
      await latest();
    } catch (e) {
      sendError.textContent = e.message;
    }
  });
  try {
    await latest();
  } catch (e) {
    show(errorBox(e));
    return;
  }
  follow(id, status, typing, latest);
}

// follow reads the conversation's event stream (fetch, not EventSource,
// which cannot send the token), reconnecting from the last event seen.
function follow(id, status, typing, refresh) {
  stopStream();
  const ctl = new AbortController();
  state.stream = ctl;
  let last = 0;
  let pending = null;
  const soon = () => {
    clearTimeout(pending);
    pending = setTimeout(() => refresh().catch(() => {}), 50);
  };
  (async () => {
    while (!ctl.signal.aborted) {
      try {
        const res = await fetch("/api/conversations/" + encodeURIComponent(id) + "/events", {
          headers: { Authorization: "Bearer " + state.token, "Last-Event-ID": String(last) }, signal: ctl.signal });
        if (!res.ok) throw new APIError(res.status, await res.json().catch(() => null));
        status.textContent = "live";
        const reader = res.body.getReader();
        const decoder = new TextDecoder();
        let buf = "";
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buf += decoder.decode(value, { stream: true });
          let i;
          while ((i = buf.indexOf("\n\n")) >= 0) {
            const block = buf.slice(0, i);
            buf = buf.slice(i + 2);
            let type = "message", data = "";
            for (const line of block.split("\n")) {
              if (line.startsWith("id: ")) last = Number(line.slice(4));
              else if (line.startsWith("event: ")) type = line.slice(7);
              else if (line.startsWith("data: ")) data += line.slice(6);
            }
            if (!data) continue;
            if (type === "message.delta") {
              const d = JSON.parse(data);
              typing.hidden = false;
              typing.textContent = "bot is writing: " + (d.text || "");
            } else {
              soon();
            }
          }
        }
      } catch (e) {
        if (ctl.signal.aborted) return;
        status.textContent = "reconnecting… (" + e.message + ")";
      }
      await new Promise((r) => setTimeout(r, 1000));
    }
  })();
}

// ---- webhook deliveries

async function deliveriesView(params) {
  const list = h("div", {}, h("p", { text: "Loading…" }));
  show(h("h1", { text: "Webhook deliveries" + (params.get("conversation_id") ? " of " + params.get("conversation_id") : "") }), list);
  try {
    const page = await api("/api/webhook-deliveries" + qs({ conversation_id: params.get("conversation_id"), cursor: params.get("cursor") }));
    const rows = page.deliveries.map((d) => h("tr", {},
      h("td", { text: d.id }), h("td", { text: d.event_type }), h("td", { text: d.status + (d.last_error ? ": " + d.last_error : "") }),
      h("td", { text: d.attempts + (d.attempt_log && d.attempt_log.length ? " (" + d.attempt_log.map((a) => a.status_code || a.error || "?").join(", ") + ")" : "") }),
      h("td", {}, h("button", { type: "button", onclick: async (ev) => {
        try {
          await api("/api/webhook-deliveries/" + encodeURIComponent(d.id) + "/replay", { method: "POST" });
          ev.target.textContent = "Replayed";
        } catch (e) { ev.target.replaceWith(errorBox(e)); }
      } }, "Replay"))));
    list.replaceChildren(rows.length ? h("table", { "aria-label": "Deliveries" },
      h("thead", {}, h("tr", {}, ["Delivery", "Event", "Status", "Attempts", ""].map((t) => h("th", { scope: "col", text: t })))),
      h("tbody", {}, rows)) : h("p", { text: "No deliveries." }));
  } catch (e) {
    list.replaceChildren(errorBox(e));
  }
}

// ---- bots

async function botsView() {
  const list = h("div", {}, h("p", { text: "Loading…" }));
  const idIn = h("input", { id: "b-id", name: "id", required: true });
  const nameIn = h("input", { id: "b-name", name: "name" });
  const persona = h("textarea", { id: "b-persona", name: "persona", rows: 3 });
  const policy = h("select", { id: "b-policy", name: "policy" }, ["coalesce", "enqueue", "reject", "interrupt"].map((p) => h("option", { value: p }, p)));
  const err = h("p", { role: "alert", class: "error" });
  const form = h("form", { class: "card", "aria-label": "New bot", hidden: !state.admin },
    h("h2", { text: "New bot" }), h("label", { for: "b-id" }, "Id"), idIn, h("label", { for: "b-name" }, "Name"), nameIn,
    h("label", { for: "b-persona" }, "Persona"), persona, h("label", { for: "b-policy" }, "Reply policy"), policy,
    h("button", { type: "submit" }, "Create"), err);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try {
      await api("/api/bots", { method: "POST", body: { id: idIn.value, name: nameIn.value, persona: persona.value, reply: { policy: policy.value } } });
      botsView();
    } catch (e) { err.textContent = e.message; }
  });
  const rBot = h("input", { id: "r-bot", name: "bot", required: true });
  const rDays = h("input", { id: "r-days", name: "days", type: "number", min: 0, max: 3650, required: true });
  const rErr = h("p", { role: "alert", class: "error" });
  const rForm = h("form", { class: "card", "aria-label": "Retention", hidden: !state.admin },
    h("h2", { text: "Retention" }), h("p", { class: "dim", text: "Conversations idle longer than this are deleted hourly, with their messages and media (0 keeps them)." }),
    h("label", { for: "r-bot" }, "Bot"), rBot, h("label", { for: "r-days" }, "Days"), rDays, h("button", { type: "submit" }, "Save"), rErr);
  rForm.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try {
      await api("/api/bots/" + encodeURIComponent(rBot.value) + "/retention", { method: "PUT", body: { days: Number(rDays.value) } });
      botsView();
    } catch (e) { rErr.textContent = e.message; }
  });
  show(h("h1", { text: "Bots" }), list, form, rForm);
  try {
    const [res, ret] = await Promise.all([api("/api/bots"), api("/api/retention")]);
    const days = new Map((ret.retention || []).map((r) => [r.bot_id, r.days]));
    list.replaceChildren(h("table", { "aria-label": "Bots" },
      h("thead", {}, h("tr", {}, ["Bot", "Name", "Persona", "Model", "Reply policy", "Retention"].map((t) => h("th", { scope: "col", text: t })))),
      h("tbody", {}, (res.bots || []).map((b) => h("tr", {}, h("td", { text: b.id }), h("td", { text: b.name }),
        h("td", { text: b.persona }), h("td", { text: (b.model && (b.model.model || b.model.provider)) || "default" }),
        h("td", { text: (b.reply && b.reply.policy) || "coalesce" }),
        h("td", { text: days.has(b.id) ? days.get(b.id) + " days" : "kept" }))))));
  } catch (e) {
    list.replaceChildren(errorBox(e));
  }
}

// ---- content

async function contentView(params) {
  const botID = params.get("bot_id") || "";
  const bot = h("input", { id: "c-bot", name: "bot_id", value: botID, required: true });
  const search = h("input", { id: "c-search", name: "search", type: "search", value: params.get("search") || "" });
  const form = h("form", { class: "filters", "aria-label": "Search the library" },
    h("label", { for: "c-bot" }, "Bot"), bot, h("label", { for: "c-search" }, "Search"), search, h("button", { type: "submit" }, "Show"));
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    location.hash = "#/content" + qs({ bot_id: bot.value, search: search.value });
  });
  const grid = h("div", { class: "grid" });
  const problem = h("p", { role: "alert", class: "error" });
  show(h("h1", { text: "Content library" }), form, grid);
  if (!botID) return;
  const reload = () => contentView(params);
  const run = reporting(problem);

  // Adding: from a URL (the server fetches it through its egress guard) or a file.
  const url = h("input", { id: "c-url", name: "image_url", type: "url", required: true });
  const title = h("input", { id: "c-title", name: "title" });
  const fromURL = h("form", { class: "inline", "aria-label": "Add from a URL" }, h("label", { for: "c-url" }, "Image URL"), url,
    h("label", { for: "c-title" }, "Title"), title, h("button", { type: "submit" }, "Fetch"));
  fromURL.addEventListener("submit", run(async (ev) => {
    ev.preventDefault();
    await api("/api/content", { method: "POST", body: { bot_id: botID, image_url: url.value, title: title.value || undefined } });
    await reload();
  }));
  const file = h("input", { id: "c-file", name: "file", type: "file", required: true });
  const upload = h("form", { class: "inline", "aria-label": "Upload a file" }, h("label", { for: "c-file" }, "File"), file,
    h("button", { type: "submit" }, "Upload"));
  upload.addEventListener("submit", run(async (ev) => {
    ev.preventDefault();
    const fd = new FormData();
    fd.append("bot_id", botID);
    fd.append("file", file.files[0]);
    await api("/api/content/upload", { method: "POST", body: fd });
    await reload();
  }));
  document.getElementById("view").append(fromURL, upload, problem);

  function figure(it) {
    const fig = h("figure", { "data-content": it.id });
    const img = h("img", { alt: it.title || it.caption || it.file_name || it.id, width: 160 });
    if (it.thumbnail_url) api(it.thumbnail_url).then((b) => { img.src = URL.createObjectURL(b); }).catch(() => {});
    const view = () => fig.replaceChildren(img, h("figcaption", {}, h("strong", { text: it.title || it.file_name || it.id }), h("br"),
      it.media_type + " · " + it.size + " bytes" + (it.width ? " · " + it.width + "×" + it.height : ""), h("br"),
      it.caption || "", it.description ? h("span", { class: "dim", text: " " + it.description }) : "",
      (it.tags || []).length ? h("span", { class: "dim", text: " #" + it.tags.join(" #") }) : "", h("br"),
      h("button", { type: "button", onclick: edit }, "Edit"), " ",
      confirmTwice("Delete", "Click again to delete", run(async () => {
        await api("/api/content/" + encodeURIComponent(it.id), { method: "DELETE" });
        await reload();
      }))));
    function edit() {
      const field = (name, label, value, tag) => {
        const el = h(tag || "input", { id: "c-" + name + "-" + it.id, name, value: tag ? undefined : value });
        if (tag) el.value = value;
        return [h("label", { for: el.id }, label), el];
      };
      const [tl, t] = field("title", "Title", it.title || "");
      const [dl, d] = field("description", "Description", it.description || "", "textarea");
      const [gl, g] = field("tags", "Tags (comma-separated)", (it.tags || []).join(", "));
      const f = h("form", { class: "stack", "aria-label": "Edit item" }, tl, t, dl, d, gl, g, h("button", { type: "submit" }, "Save"),
        h("button", { type: "button", onclick: view }, "Cancel"));
      f.addEventListener("submit", run(async (ev) => {
        ev.preventDefault();
        const tags = g.value.split(",").map((x) => x.trim()).filter((x) => x);
        await api("/api/content/" + encodeURIComponent(it.id), { method: "PATCH", body: { title: t.value, description: d.value, tags } });
        await reload();
      }));
      fig.replaceChildren(img, f);
      t.focus();
    }
    view();
    return fig;
  }
  try {
    const res = await api("/api/content" + qs({ bot_id: botID, search: params.get("search") }));
    grid.replaceChildren(...res.items.map(figure));
    if (!res.items.length) grid.replaceChildren(h("p", { text: "Nothing found." }));
  } catch (e) {
    grid.replaceChildren(errorBox(e));
  }
}

// ---- tokens

async function tokensView() {
  const list = h("div", {});
  const name = h("input", { id: "t-name", name: "name" });
  const admin = h("input", { id: "t-admin", name: "admin", type: "checkbox" });
  const out = h("p", { role: "status" });
  const form = h("form", { class: "card", "aria-label": "New token" }, h("h2", { text: "New token" }),
    h("label", { for: "t-name" }, "Name"), name, h("label", { for: "t-admin" }, admin, " admin"), h("button", { type: "submit" }, "Create"), out);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try {
      const t = await api("/api/tokens", { method: "POST", body: { name: name.value, admin: admin.checked } });
      out.replaceChildren("Shown once: ", h("code", { text: t.secret }));
      load();
    } catch (e) { out.textContent = e.message; }
  });
  show(h("h1", { text: "Tokens" }), list, form);
  async function load() {
    try {
      const res = await api("/api/tokens");
      list.replaceChildren(h("table", { "aria-label": "Tokens" },
        h("thead", {}, h("tr", {}, ["Token", "Name", "Admin", "Created"].map((t) => h("th", { scope: "col", text: t })))),
        h("tbody", {}, (res.tokens || []).map((t) => h("tr", {}, h("td", { text: t.id }), h("td", { text: t.name }),
          h("td", { text: t.admin ? "yes" : "no" }), h("td", { text: when(t.created_at) }))))));
    } catch (e) {
      list.replaceChildren(errorBox(e));
    }
  }
  load();
}

// ---- routing

function route() {
  const signed = !!state.token;
  document.getElementById("signin").hidden = signed;
  document.getElementById("nav").hidden = !signed;
  if (!signed) {
    show();
    document.getElementById("token").focus();
    return;
  }
  stopStream();
  const [path, query] = (location.hash.slice(1) || "/conversations").split("?");
  const params = new URLSearchParams(query || "");
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  if (parts[0] === "conversations" && parts[1]) return conversationView(parts[1]);
  if (parts[0] === "deliveries") return deliveriesView(params);
  if (parts[0] === "bots") return botsView();
  if (parts[0] === "content") return contentView(params);
  if (parts[0] === "tokens") return tokensView();
  return conversationsView(params);
}

document.addEventListener("DOMContentLoaded", async () => {
  document.getElementById("signin").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const err = document.getElementById("signin-error");
    err.textContent = "";
    try {
      await signIn(document.getElementById("token").value.trim());
      route();
    } catch (e) {
      state.token = "";
      err.textContent = e.status === 401 ? "That token is not valid." : e.message;
    }
  });
  document.getElementById("signout").addEventListener("click", signOut);
  window.addEventListener("hashchange", route);
  if (state.token) {
    try {
      await signIn(state.token);
    } catch (e) {
      state.token = "";
    }
  }
  route();
});
