// The web chat page (GET /): login, app picker, chat list, history paged upwards, streaming
// answers over the WebSocket (cookie auth, same origin), stop, clear context, feedback, tool
// cards, and reconnect with `resume` (frames deduplicated by seq, so nothing is lost or doubled).
import { api, $, el, notify, whoAmI, loginForm, logout } from "./common.js";
import { renderMarkdown } from "./markdown.js";

const CHATS_PER_PAGE = 20;
const HISTORY_PAGE = 20;
const TOOL_CATEGORIES = new Set(["tool", "flow", "knowledge"]);

const state = {
  user: null,
  apps: [],
  app: null,          // {id, name, flow_type, inputKey}
  chatId: null,
  chatsPage: 0,
  oldestId: null,     // history cursor
  ws: null,
  wsWanted: false,    // false when we closed it on purpose
  retry: 0,
  lastSeq: {},        // chat_id -> highest seq rendered
  turn: null,         // the answer being streamed: {bubble, text, tools}
  running: false,
  fresh: false,       // a new chat nobody asked in yet
  opening: 0,         // counts openChat calls
  pending: [],        // frames waiting for the socket to (re)open
};

const newChatId = () => crypto.randomUUID().replaceAll("-", "");
const isAssistant = (app) => app && app.flow_type === 5;

// ---------------------------------------------------------------- apps and chats
async function loadApps() {
  const data = await api("/api/v1/chat/chat/online", { params: { limit: 100 } });
  state.apps = Array.isArray(data) ? data : data.list || [];
  const picker = $("#app-picker");
  picker.replaceChildren(...state.apps.map((a) =>
    el("option", { value: a.id }, a.name + (isAssistant(a) ? " · assistant" : " · flow"))));
  if (!state.apps.length) picker.append(el("option", { value: "" }, "no online apps"));
}

async function appById(id, flowType) {
  let app = state.apps.find((a) => a.id === id);
  if (!app) app = { id, name: id.slice(0, 8), flow_type: flowType };
  if (!isAssistant(app) && !app.inputKey) {
    try {
      const flow = await api(`/api/v1/flows/${id}`);
      const input = ((flow.data && flow.data.nodes) || []).find((n) => n.type === "Input");
      app.inputKey = (input && input.params && input.params.key) || "input";
      app.name = flow.name || app.name;
    } catch { app.inputKey = "input"; }
  }
  return app;
}

async function loadChats(more = false) {
  state.chatsPage = more ? state.chatsPage + 1 : 1;
  let rows;
  try {
    rows = await api("/api/v1/chat/chat/list", { params: { page: state.chatsPage, limit: CHATS_PER_PAGE } });
  } catch (err) { notify("Chat list: " + err.message); return; }
  const list = $("#chats");
  if (!more) list.replaceChildren();
  for (const chat of rows) list.append(chatItem(chat));
  $("#more-chats").hidden = rows.length < CHATS_PER_PAGE;
}

function preview(row) {
  if (!row) return "";
  return messageText(row).slice(0, 60);
}

function chatItem(chat) {
  const title = chat.name || chat.flow_name || chat.chat_id.slice(0, 8);
  const item = el("li", { class: "chat-item" + (chat.chat_id === state.chatId ? " active" : ""), "data-chat-id": chat.chat_id },
    el("button", { class: "chat-open", onclick: () => openChat(chat.chat_id, chat.flow_id, chat.flow_type) },
      el("span", { class: "chat-title" }, title),
      el("small", {}, (chat.flow_name || "") + " · " + new Date(chat.update_time).toLocaleString()),
      el("small", { class: "chat-preview" }, preview(chat.latest_message))),
    el("span", { class: "chat-tools" },
      el("button", { class: "link", title: "Rename", "aria-label": "rename", onclick: () => renameChat(chat, item) }, "Rename"),
      el("button", { class: "link", title: "Copy", "aria-label": "copy chat", onclick: () => copyChat(chat) }, "Copy"),
      el("button", { class: "link", title: "Delete", "aria-label": "delete", onclick: () => deleteChat(chat) }, "Delete")));
  return item;
}

function renameChat(chat, item) {
  const input = el("input", { class: "rename-input", value: chat.name || "", maxlength: 200 });
  const form = el("form", { class: "rename", onsubmit: async (e) => {
    e.preventDefault();
    try {
      await api("/api/v1/chat/chat/conversation/rename", { method: "POST", body: { conversationId: chat.chat_id, name: input.value.trim() } });
      notify("Chat renamed", "ok");
    } catch (err) { notify("Rename: " + err.message); }
    loadChats();
  } }, input, el("button", { type: "submit" }, "Save"));
  item.replaceChildren(form);
  input.focus();
}

async function copyChat(chat) {
  try {
    const data = await api("/api/v1/chat/chat/conversation/copy", { method: "POST", body: { conversationId: chat.chat_id } });
    notify("Chat copied", "ok");
    await loadChats();
    openChat(data.chat_id, chat.flow_id, chat.flow_type);
  } catch (err) { notify("Copy: " + err.message); }
}

async function deleteChat(chat) {
  if (!confirm(`Delete the chat "${chat.name || chat.flow_name}"?`)) return;
  try {
    await api(`/api/v1/chat/${encodeURIComponent(chat.chat_id)}`, { method: "DELETE" });
    if (chat.chat_id === state.chatId) newChat();
    loadChats();
  } catch (err) { notify("Delete: " + err.message); }
}

// ---------------------------------------------------------------- opening a chat
async function openChat(chatId, flowId, flowType, fresh = false) {
  closeSocket();
  setStatus("connecting…");
  $("#send").disabled = true;
  const opening = ++state.opening; // a later click wins over a slower earlier one
  const app = await appById(flowId, flowType);
  if (opening !== state.opening) return;
  state.app = app;
  state.chatId = chatId;
  state.fresh = fresh;
  state.oldestId = null;
  state.turn = null;
  setRunning(false);
  location.hash = `chat=${chatId}&app=${flowId}&type=${state.app.flow_type}`;
  $("#title").textContent = state.app.name;
  $("#log").replaceChildren();
  document.querySelectorAll(".chat-item").forEach((i) => i.classList.toggle("active", i.dataset.chatId === chatId));
  document.body.classList.remove("drawer-open");
  if (!fresh) await loadHistory();
  if (opening === state.opening) connect();
}

function newChat() {
  const id = $("#app-picker").value;
  if (!id) { notify("No online app to chat with"); return; }
  const app = state.apps.find((a) => a.id === id);
  openChat(newChatId(), id, app ? app.flow_type : 1, true);
}

async function loadHistory() {
  const params = { chat_id: state.chatId, flow_id: state.app.id, page_size: HISTORY_PAGE };
  if (state.oldestId) params.id = state.oldestId;
  let rows;
  try { rows = await api("/api/v1/chat/chat/history", { params }); } catch (err) { notify("History: " + err.message); return; }
  const log = $("#log");
  const keep = log.scrollHeight - log.scrollTop;
  const page = document.createDocumentFragment();
  for (const row of [...rows].reverse()) page.append(renderRow(row)); // rows come newest first
  const older = $("#older");
  if (older) older.after(page); else log.prepend(page);
  if (rows.length) state.oldestId = rows[rows.length - 1].id;
  if (rows.length === HISTORY_PAGE) {
    if (!older) log.prepend(el("button", { id: "older", class: "link older", onclick: loadHistory }, "Load older messages"));
  } else if (older) older.remove();
  if (!params.id) log.scrollTop = log.scrollHeight; else log.scrollTop = log.scrollHeight - keep;
}

function messageText(row) {
  const raw = row.message;
  if (typeof raw !== "string") return raw ? JSON.stringify(raw) : "";
  if (!row.is_bot && raw.startsWith("{")) {
    try {
      const inputs = JSON.parse(raw);
      return String(inputs.input ?? inputs.question ?? Object.values(inputs)[0] ?? "");
    } catch { /* plain text */ }
  }
  return raw;
}

function renderRow(row) {
  if (row.category === "divider") return divider(messageText(row) || "context cleared");
  if (TOOL_CATEGORIES.has(row.category)) return toolCard(row.category, row.message, row.message);
  if (!row.is_bot) return el("div", { class: "msg human" }, messageText(row));
  const bubble = answerBubble();
  setAnswer(bubble, messageText(row));
  if (row.remark === "break_answer") bubble.append(el("small", { class: "stopped" }, "stopped"));
  attachActions(bubble, row.id, row.liked, row.copied);
  return bubble;
}

// ---------------------------------------------------------------- rendering
const divider = (text) => el("div", { class: "divider" }, el("span", {}, text));

function answerBubble() {
  return el("div", { class: "msg bot" }, el("div", { class: "md" }));
}

function setAnswer(bubble, text) {
  bubble.dataset.text = text;
  $(".md", bubble).innerHTML = renderMarkdown(text);
}

function parseJson(text) {
  if (typeof text !== "string") return text || {};
  try { return JSON.parse(text); } catch { return { output: text }; }
}

function toolCard(category, startMessage, endMessage) {
  const start = parseJson(startMessage);
  const body = el("div", { class: "tool-body" },
    el("div", {}, el("b", {}, "input "), el("code", {}, start.input_str ?? "")));
  const card = el("details", { class: "tool-card " + category },
    el("summary", {}, (category === "flow" ? "flow " : category === "knowledge" ? "knowledge " : "tool ") + (start.tool_key || "")),
    body);
  if (endMessage !== undefined) finishTool(card, endMessage);
  return card;
}

function finishTool(card, message) {
  const end = parseJson(message);
  $(".tool-body", card).append(el("div", {}, el("b", {}, "output "), el("code", {}, end.output ?? "")));
  card.classList.add("done");
}

function attachActions(bubble, messageId, liked = 0, copied = 0) {
  if (!messageId) return;
  bubble.dataset.messageId = messageId;
  const like = el("button", { class: "act like", title: "Like", "aria-pressed": String(liked === 1) }, "Like");
  const dislike = el("button", { class: "act dislike", title: "Dislike", "aria-pressed": String(liked === 2) }, "Dislike");
  const copy = el("button", { class: "act copy", title: "Copy", "aria-pressed": String(copied === 1) }, "Copy");
  const comment = el("button", { class: "act comment", title: "Comment" }, "Comment");
  const setLiked = async (value) => {
    const now = like.getAttribute("aria-pressed") === "true" ? 1 : dislike.getAttribute("aria-pressed") === "true" ? 2 : 0;
    const next = now === value ? 0 : value;
    try {
      await api("/api/v1/chat/liked", { method: "POST", body: { message_id: messageId, liked: next } });
      like.setAttribute("aria-pressed", String(next === 1));
      dislike.setAttribute("aria-pressed", String(next === 2));
    } catch (err) { notify("Feedback: " + err.message); }
  };
  like.onclick = () => setLiked(1);
  dislike.onclick = () => setLiked(2);
  copy.onclick = async () => {
    try { await navigator.clipboard.writeText(bubble.dataset.text || ""); } catch { /* clipboard needs https or focus */ }
    try {
      await api("/api/v1/chat/copied", { method: "POST", body: { message_id: messageId } });
      copy.setAttribute("aria-pressed", "true");
      copy.textContent = "Copied";
    } catch (err) { notify("Copy: " + err.message); }
  };
  comment.onclick = () => {
    if ($(".comment-form", bubble)) return;
    const input = el("input", { class: "comment-input", maxlength: 4096, placeholder: "Your comment" });
    const form = el("form", { class: "comment-form", onsubmit: async (e) => {
      e.preventDefault();
      try {
        await api("/api/v1/chat/comment", { method: "POST", body: { message_id: messageId, comment: input.value } });
        form.replaceWith(el("small", { class: "commented" }, "Comment saved"));
        comment.setAttribute("aria-pressed", "true");
      } catch (err) { notify("Comment: " + err.message); }
    } }, input, el("button", { type: "submit" }, "Send"));
    bubble.append(form);
    input.focus();
  };
  $(".actions", bubble)?.remove();
  bubble.append(el("div", { class: "actions" }, like, dislike, copy, comment));
}

function scrollDown() {
  const log = $("#log");
  if (log.scrollHeight - log.scrollTop - log.clientHeight < 160) log.scrollTop = log.scrollHeight;
}

// ---------------------------------------------------------------- the socket
function socketUrl() {
  const proto = location.protocol === "https:" ? "wss" : "ws";
  const path = isAssistant(state.app) ? "assistant/chat" : "chat/chat";
  // The login cookie authenticates the socket (same origin): no token in the URL.
  // A new chat is named by its first ask, not the URL: watching a chat claims it, and a chat
  // that was opened but never asked must not appear in the chat list.
  const query = state.fresh ? "" : `?chat_id=${encodeURIComponent(state.chatId)}`;
  return `${proto}://${location.host}/api/v1/${path}/${state.app.id}${query}`;
}

function connect() {
  closeSocket();
  const ws = new WebSocket(socketUrl());
  const chatId = state.chatId;
  state.ws = ws;
  state.wsWanted = true;
  setStatus("connecting…");
  ws.onopen = () => {
    state.retry = 0;
    setStatus("connected");
    $("#send").disabled = false;
    console.info(`socket open for chat ${chatId}`);
    if (state.lastSeq[chatId] !== undefined) send({ action: "resume", chat_id: chatId, last_seq: state.lastSeq[chatId] });
    flushPending(chatId);
  };
  ws.onmessage = (event) => {
    let frame;
    try { frame = JSON.parse(event.data); } catch { return; }
    onFrame(frame);
  };
  ws.onclose = (event) => {
    console.info(`socket closed: ${event.code} ${event.reason}`);
    if (state.ws !== ws) return;
    state.ws = null;
    if (!state.wsWanted) return;
    if (event.code === 1008) { setStatus("refused"); notify("The server refused the chat: " + (event.reason || "not allowed (log in again?)")); return; }
    scheduleReconnect();
  };
}

function closeSocket() {
  state.wsWanted = false;
  if (state.ws) { const ws = state.ws; state.ws = null; ws.close(); }
}

function scheduleReconnect() {
  const delay = Math.min(8000, 500 * 2 ** state.retry++);
  setStatus(navigator.onLine ? `disconnected, reconnecting in ${Math.round(delay / 1000)} s…` : "offline, waiting for the network…");
  clearTimeout(state.reconnectTimer);
  state.reconnectTimer = setTimeout(() => { if (navigator.onLine && !state.ws && state.chatId) connect(); }, delay);
}

// Frames typed while the socket reconnects wait here and go out right after it opens (and
// after its resume), in order; a pending frame is dropped when another chat is opened.
function send(frame) {
  if (!state.ws || state.ws.readyState !== WebSocket.OPEN) {
    if (!state.chatId) { notify("Not connected"); return false; }
    state.pending.push(frame);
    notify("Reconnecting: your message goes out once the connection is back", "ok");
    return true;
  }
  state.ws.send(JSON.stringify(frame));
  return true;
}

function flushPending(chatId) {
  const frames = state.pending.filter((f) => !f.chat_id || f.chat_id === chatId);
  state.pending = [];
  for (const frame of frames) state.ws.send(JSON.stringify(frame));
}

function setStatus(text) { $("#status").textContent = text; $("#status").dataset.state = text.split(/[ ,]/)[0]; }

function setRunning(running) {
  state.running = running;
  $("#stop").disabled = !running;
  $("#question").placeholder = running ? "The answer is streaming…" : "Ask something";
}

function onFrame(frame) {
  const chatId = frame.chat_id;
  if (chatId && typeof frame.seq === "number") {
    const last = state.lastSeq[chatId] ?? -1;
    if (frame.seq <= last) return; // already rendered (a resume replays what a live pump sent)
    state.lastSeq[chatId] = frame.seq;
  }
  if (chatId && chatId !== state.chatId) return; // another chat of this socket
  const { type, category } = frame;
  if (type === "info") {
    const text = typeof frame.message === "string" ? frame.message : JSON.stringify(frame.message);
    $("#log").append(divider(text));
    if (/history|older|kept/i.test(text)) { // resume too old: fall back to REST history
      $("#log").replaceChildren(); state.oldestId = null; state.turn = null; loadHistory();
    }
    return;
  }
  if (category === "error") {
    const m = frame.message || {};
    const detail = m.data && m.data.error ? String(m.data.error) : "";
    let text = typeof m === "string" ? m : m.status_message || "error";
    // A message template the server left unfilled (13005 "... error={error}") gets its detail.
    if (text.includes("{error}")) text = text.replace("{error}", detail || "unknown");
    else if (detail) text += ` (${detail})`;
    $("#log").append(el("div", { class: "msg error", role: "alert" }, text));
    state.turn = null;
    scrollDown();
    return;
  }
  if (category === "divider") { $("#log").append(divider(messageTextOf(frame) || "context cleared")); return; }
  if (type === "begin") { setRunning(true); state.turn = null; return; }
  if (type === "close") { setRunning(false); state.turn = null; state.stopping = false; loadChats(); return; }
  if (TOOL_CATEGORIES.has(category)) { onTool(frame); return; }
  if (type === "stream") {
    const turn = currentTurn();
    turn.text += (frame.message && frame.message.content) || "";
    setAnswer(turn.bubble, turn.text);
    scrollDown();
    return;
  }
  if (category === "answer" && (type === "end" || type === "end_cover")) {
    const turn = currentTurn();
    const full = messageTextOf(frame);
    if (full) turn.text = full; // a stop's end frame may carry "" (Bisheng): keep what streamed
    setAnswer(turn.bubble, turn.text);
    if (state.stopping) turn.bubble.append(el("small", { class: "stopped" }, "stopped"));
    state.stopping = false;
    attachActions(turn.bubble, frame.message_id, frame.liked || 0);
    scrollDown();
  }
}

function messageTextOf(frame) {
  const m = frame.message;
  if (typeof m === "string") return m;
  if (m && typeof m.content === "string") return m.content;
  return "";
}

function currentTurn() {
  if (!state.turn) {
    const bubble = answerBubble();
    $("#log").append(bubble);
    state.turn = { bubble, text: "", tools: {} };
  }
  return state.turn;
}

function onTool(frame) {
  const turn = currentTurn();
  const extra = typeof frame.extra === "string" ? parseJson(frame.extra) : frame.extra || {};
  const runId = extra.run_id || frame.seq; // `extra` is JSON text on the wire
  if (frame.type === "start") {
    const card = toolCard(frame.category, frame.message);
    turn.tools[runId] = card;
    turn.bubble.before(card);
  } else if (frame.type === "end") {
    const card = turn.tools[runId];
    if (card) finishTool(card, frame.message); else turn.bubble.before(toolCard(frame.category, frame.message, frame.message));
  }
}

// ---------------------------------------------------------------- asking
function ask(text) {
  if (!state.app) { notify("Pick an app and start a chat first"); return; }
  const inputs = isAssistant(state.app) ? { input: text } : { [state.app.inputKey || "input"]: text };
  if (!send({ chat_id: state.chatId, inputs, client_msg_id: crypto.randomUUID() })) return;
  state.fresh = false; // from now on a reconnect names the chat
  $("#log").append(el("div", { class: "msg human" }, text));
  state.turn = null;
  setRunning(true);
  scrollDown();
}

// ---------------------------------------------------------------- start
async function start() {
  state.user = await whoAmI().catch((err) => { notify(err.message); return null; });
  if (!state.user) {
    document.body.classList.add("logged-out");
    state.user = await loginForm($("#login"));
    document.body.classList.remove("logged-out");
  }
  $("#who").textContent = state.user.user_name + (state.user.role === "admin" ? " (admin)" : "");
  $("#dashboard-link").hidden = state.user.role !== "admin";
  try { await loadApps(); } catch (err) { notify("Apps: " + err.message); }
  await loadChats();
  const hash = new URLSearchParams(location.hash.slice(1));
  if (hash.get("chat") && hash.get("app")) openChat(hash.get("chat"), hash.get("app"), Number(hash.get("type")) || 1);
  else newChat();
}

$("#ask").addEventListener("submit", (e) => {
  e.preventDefault();
  const text = $("#question").value.trim();
  if (!text) return;
  $("#question").value = "";
  ask(text);
});
$("#question").addEventListener("keydown", (e) => {
  if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); $("#ask").requestSubmit(); }
});
$("#stop").addEventListener("click", () => { state.stopping = true; send({ action: "stop", chat_id: state.chatId }); });
$("#clear").addEventListener("click", () => { if (send({ clear_history: true, chat_id: state.chatId })) notify("The next answer starts with an empty context", "ok"); });
$("#new-chat").addEventListener("click", newChat);
$("#more-chats").addEventListener("click", () => loadChats(true));
$("#logout").addEventListener("click", logout);
$("#menu").addEventListener("click", () => document.body.classList.toggle("drawer-open"));
window.addEventListener("offline", () => {
  // The socket may look open while the network is gone: drop it and resume when back.
  if (state.ws) { const ws = state.ws; state.ws = null; ws.close(); }
  setStatus("offline, waiting for the network…");
});
window.addEventListener("online", () => { if (!state.ws && state.chatId) { state.retry = 0; connect(); } });

start();
