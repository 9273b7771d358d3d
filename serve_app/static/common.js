// Shared by both pages: REST calls with the login cookie (never a token in a URL), the
// envelope's error messages, and the login/register form.

export class ApiError extends Error {
  constructor(status, code, message, data) {
    super(message);
    this.status = status; this.code = code; this.data = data;
  }
}

// A REST call: `data` of the envelope, or an ApiError carrying its status_message.
export async function api(path, { method = "GET", body, params } = {}) {
  let url = path;
  if (params) {
    const query = new URLSearchParams();
    for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null) query.append(k, v);
    url += "?" + query.toString();
  }
  let res;
  try {
    res = await fetch(url, {
      method,
      credentials: "same-origin",
      headers: body === undefined ? {} : { "Content-Type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (err) {
    throw new ApiError(0, 0, "The server cannot be reached (network down?)");
  }
  let envelope = null;
  try { envelope = await res.json(); } catch { /* not JSON */ }
  if (res.ok && envelope && envelope.status_code === 200) return envelope.data;
  const message = envelope && envelope.status_message ? envelope.status_message : `HTTP ${res.status}`;
  const wait = res.headers.get("Retry-After");
  throw new ApiError(res.status, envelope ? envelope.status_code : res.status,
    wait ? `${message} (try again in ${wait} s)` : message, envelope && envelope.data);
}

export const $ = (sel, root = document) => root.querySelector(sel);

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (v !== undefined && v !== null && v !== false) node.setAttribute(k, v === true ? "" : v);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

// A message in the page's notice bar; errors stay until dismissed or replaced.
export function notify(text, kind = "error") {
  const bar = $("#notice");
  if (!bar) return;
  bar.replaceChildren(el("span", {}, text), el("button", { class: "link", "aria-label": "dismiss", onclick: () => bar.replaceChildren() }, "×"));
  bar.className = "notice " + kind;
  if (kind !== "error") setTimeout(() => { if (bar.firstChild && bar.firstChild.textContent === text) bar.replaceChildren(); }, 4000);
}

// The signed-in user, or null (401).
export async function whoAmI() {
  try { return await api("/api/v1/user/info"); } catch (err) {
    if (err.status === 401) return null;
    throw err;
  }
}

export async function logout() {
  try { await api("/api/v1/user/logout", { method: "POST" }); } finally { location.reload(); }
}

// Show the login/register form in `root`; resolves with the user once logged in.
export function loginForm(root, { title = "Log in to raychat", allowRegister = true } = {}) {
  return new Promise((resolve) => {
    const error = el("p", { class: "form-error", role: "alert" });
    const name = el("input", { id: "login-name", name: "user_name", autocomplete: "username", required: true, maxlength: 64 });
    const password = el("input", { id: "login-password", name: "password", type: "password", autocomplete: "current-password", required: true });
    const submit = async (path) => {
      error.textContent = "";
      if (!name.value.trim() || !password.value) { error.textContent = "Enter a user name and a password."; return; }
      const body = { user_name: name.value.trim(), password: password.value };
      try {
        if (path === "register") await api("/api/v1/user/register", { method: "POST", body });
        await api("/api/v1/user/login", { method: "POST", body });
        resolve(await whoAmI());
      } catch (err) {
        error.textContent = err.message;
      }
    };
    const form = el("form", { class: "login card", onsubmit: (e) => { e.preventDefault(); submit("login"); } },
      el("h1", {}, title),
      el("label", { for: "login-name" }, "User name"), name,
      el("label", { for: "login-password" }, "Password"), password,
      error,
      el("div", { class: "row" },
        el("button", { type: "submit", id: "login-button", class: "primary" }, "Log in"),
        allowRegister ? el("button", { type: "button", id: "register-button", onclick: () => submit("register") }, "Register") : null),
    );
    root.replaceChildren(form);
    name.focus();
  });
}
