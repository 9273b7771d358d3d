// The actor dashboard (GET /dashboard): polls GET /api/v1/monitor/overview (admins) with the
// login cookie and draws hosts per node with their sessions, rate charts, storage and errors.
import { api, $, el, notify, whoAmI, loginForm, logout } from "./common.js";

const POLL_MS = 2000;
const QUEUE_SAMPLES = 150; // the queue depth has no history on the server: kept here (5 min)
const queue = [];
const SVG = "http://www.w3.org/2000/svg";

function spark(svg, values, color = "#2563eb", bars = false) {
  const w = 300, h = 60, max = Math.max(1e-9, ...values);
  svg.setAttribute("viewBox", `0 0 ${w} ${h}`);
  svg.setAttribute("preserveAspectRatio", "none");
  svg.replaceChildren();
  if (!values.length) return;
  const step = w / Math.max(1, values.length - (bars ? 0 : 1));
  if (bars) {
    values.forEach((v, i) => {
      const r = document.createElementNS(SVG, "rect");
      const bh = (v / max) * (h - 4);
      r.setAttribute("x", i * step); r.setAttribute("width", Math.max(1, step - 1));
      r.setAttribute("y", h - bh); r.setAttribute("height", bh); r.setAttribute("fill", color);
      svg.append(r);
    });
    return;
  }
  const points = values.map((v, i) => `${(i * step).toFixed(1)},${(h - 2 - (v / max) * (h - 6)).toFixed(1)}`);
  const area = document.createElementNS(SVG, "polygon");
  area.setAttribute("points", `0,${h} ${points.join(" ")} ${w},${h}`);
  area.setAttribute("fill", color + "22");
  const line = document.createElementNS(SVG, "polyline");
  line.setAttribute("points", points.join(" "));
  line.setAttribute("fill", "none"); line.setAttribute("stroke", color); line.setAttribute("stroke-width", "2");
  svg.append(area, line);
}

const fmt = (n) => (n >= 100 ? Math.round(n) : Number(n).toFixed(n >= 10 ? 1 : 2));
const idle = (s) => (s < 60 ? `${Math.round(s)} s` : s < 3600 ? `${Math.round(s / 60)} min` : `${(s / 3600).toFixed(1)} h`);

function sessionsTable(host) {
  if (!host.sessions.length) return el("small", {}, host.running ? "no live sessions" : "not started");
  const rows = host.sessions.map((s) => el("tr", { "data-chat-id": s.chat_id },
    el("td", {}, s.app_name || s.flow_id.slice(0, 8), el("small", {}, " " + s.kind)),
    el("td", {}, s.user_name || "–", el("small", {}, s.user_id === null ? "" : ` #${s.user_id}`)),
    el("td", { class: "state-" + s.state }, s.state),
    el("td", {}, s.turns),
    el("td", {}, idle(s.idle_s)),
    el("td", {}, el("small", {}, s.chat_id + (s.persist ? "" : " (preview)")))));
  return el("div", { class: "table-wrap" }, el("table", { class: "sessions" },
    el("thead", {}, el("tr", {}, ...["app", "user", "state", "turns", "idle", "chat"].map((h) => el("th", {}, h)))),
    el("tbody", {}, rows)),
    host.truncated ? el("small", {}, `showing ${host.sessions.length} of ${host.live_sessions}`) : null);
}

function render(data) {
  const hosts = data.hosts;
  $("#live").textContent = hosts.reduce((n, h) => n + h.live_sessions, 0);
  $("#hosts-count").textContent = `${hosts.filter((h) => h.running).length} of ${hosts.length} hosts started`;
  const series = data.rates.series;
  const last = series.length > 1 ? series[series.length - 2] : series[0]; // the last full slot
  const turns = series.map((b) => b.turns_per_s), tokens = series.map((b) => b.tokens_per_s);
  $("#turns-now").textContent = fmt(last ? last.turns_per_s : 0);
  $("#tokens-now").textContent = fmt(last ? last.tokens_per_s : 0);
  spark($("#turns-chart"), turns, "#2563eb");
  spark($("#tokens-chart"), tokens, "#7c3aed");
  const st = data.storage;
  queue.push(st.queue_depth ?? 0); if (queue.length > QUEUE_SAMPLES) queue.shift();
  $("#queue").textContent = st.queue_depth ?? "?";
  spark($("#queue-chart"), queue, "#0891b2");
  $("#batch").replaceChildren(String(st.mean_batch_rows), el("small", {}, ` avg · ${st.max_batch_rows} max`));
  spark($("#batch-chart"), st.flushes.map((f) => f.rows), "#16a34a", true);
  $("#flush").replaceChildren(String(st.mean_flush_ms), el("small", {}, ` avg · ${st.max_flush_ms} max`));
  spark($("#flush-chart"), st.flushes.map((f) => f.ms), "#ea580c", true);

  const byNode = new Map();
  for (const h of hosts) {
    const key = h.node_id || "not started";
    if (!byNode.has(key)) byNode.set(key, { ip: h.node_ip, hosts: [] });
    byNode.get(key).hosts.push(h);
  }
  $("#nodes").replaceChildren(...[...byNode.entries()].map(([node, info]) => el("section", { class: "node" },
    el("h3", {}, node === "not started" ? "hosts not started yet" : `node ${info.ip || ""} `, el("small", {}, node === "not started" ? "" : node.slice(0, 12))),
    ...info.hosts.map((h) => el("div", { class: "host", "data-host": h.name },
      el("div", { class: "row" }, el("strong", {}, h.name), el("small", {}, `${h.live_sessions} live`),
        h.error ? el("small", { class: "form-error" }, h.error) : null),
      sessionsTable(h))))));

  const errors = data.errors;
  $("#errors").replaceChildren(...(errors.length ? errors.map((e) => el("li", {},
    el("small", {}, new Date(e.time * 1000).toLocaleTimeString() + " "), el("b", {}, e.source), " ",
    e.code ? `[${e.code}] ` : "", e.message)) : [el("li", {}, el("small", {}, "none"))]));

  const ray = $("#ray-link");
  if (data.ray_dashboard) { ray.href = data.ray_dashboard; ray.hidden = false; } else ray.hidden = true;
  $("#updated").textContent = "updated " + new Date(data.time * 1000).toLocaleTimeString();
}

async function poll() {
  try {
    render(await api("/api/v1/monitor/overview"));
    if ($("#notice").classList.contains("error")) $("#notice").replaceChildren();
  } catch (err) {
    notify(err.status === 403 ? "The dashboard is for admins: log in as an admin." : "Monitor: " + err.message);
    if (err.status === 401 || err.status === 403) return; // no point polling
  }
  setTimeout(poll, POLL_MS);
}

async function start() {
  let user = await whoAmI().catch((err) => { notify(err.message); return null; });
  if (!user) {
    document.body.classList.add("logged-out");
    user = await loginForm($("#login"), { title: "Log in to the raychat dashboard", allowRegister: false });
    document.body.classList.remove("logged-out");
  }
  $("#who").textContent = user.user_name + (user.role === "admin" ? " (admin)" : "");
  $("#logout").addEventListener("click", logout);
  poll();
}

start();
