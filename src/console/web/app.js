// The agent's web console (see src/console/CONTRACT.md): one page, hash routes, the DOM built with
// createElement / createElementNS and textContent only. Every string the server sends is shown as text.
// The CSRF token lives in this module's memory only; an API key typed into the sign-in form is sent once
// and never kept anywhere.

const SVG_NS = "http://www.w3.org/2000/svg";
const MAX_EVENTS = 2000;
const HISTORY_LIMIT = 1000;
const MAX_ROWS = 500;
const MAX_STREAM_LINES = 5000;
const NAMESPACE_REFRESH_MS = 5000;
const HOST_REFRESH_MS = 15000;
const CHART_MINUTES = 30;

const PAGES = [
  { id: "live", title: "Live", render: pageLive },
  { id: "namespaces", title: "Namespaces", render: pageNamespaces },
  { id: "identities", title: "Identities", render: pageIdentities },
  { id: "policy", title: "Policy", render: pagePolicy },
  { id: "hosts", title: "Hosts", render: pageHosts },
];

const state = {
  /** @type {null | {user: string, administrator: boolean, csrf: string, expiresAt: string, via: string}} */
  session: null,
  agentName: "agent",
  /** The page being shown: its cleanups run when it goes away. */
  page: null,
};

/** Wall-clock milliseconds (the page's time origin plus the time since). */
function now() {
  return performance.timeOrigin + performance.now();
}

// ---------------------------------------------------------------------------------------------------------
// DOM helpers

const PROPERTIES = new Set(["value", "checked", "disabled", "hidden", "readOnly", "selected", "required"]);

/**
 * An element: h("button", { class: "x", data: { uuid }, onclick: fn }, "text", child...). Strings become
 * text nodes; null, undefined and false are skipped; arrays are flattened.
 */
function h(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.className = String(value);
    else if (key === "text") node.textContent = String(value);
    else if (key === "data") {
      for (const [name, v] of Object.entries(value)) {
        if (v !== null && v !== undefined) node.dataset[name] = String(v);
      }
    } else if (key.startsWith("on") && typeof value === "function") {
      node.addEventListener(key.slice(2), value);
    } else if (PROPERTIES.has(key)) node[key] = value;
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  append(node, children);
  return node;
}

function append(node, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(node, child);
    else if (child instanceof Node) node.appendChild(child);
    else node.appendChild(document.createTextNode(String(child)));
  }
}

/** An SVG element with its attributes. */
function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value !== null && value !== undefined) node.setAttribute(key, String(value));
  }
  for (const child of children) {
    if (typeof child === "string") node.appendChild(document.createTextNode(child));
    else if (child) node.appendChild(child);
  }
  return node;
}

function text(value) {
  return value === null || value === undefined || value === "" ? "-" : String(value);
}

function pad(n) {
  return String(n).padStart(2, "0");
}

/** "2024-05-01 12:03:04" in local time, or the input when it is not a time. */
function formatTime(iso) {
  if (!iso) return "-";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
    `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

function formatClock(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

function badge(label, kind) {
  return h("span", { class: `badge badge-${kind}`, text: label });
}

/** A table with a header row; rows go into the returned tbody. */
function table(id, columns) {
  const tbody = h("tbody");
  const node = h(
    "table",
    { id, class: "grid" },
    h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col", text: c })))),
    tbody,
  );
  return { node, tbody, columns: columns.length };
}

function emptyRow(tbody, columns, message) {
  tbody.replaceChildren(h("tr", { class: "empty" }, h("td", { colspan: columns, text: message })));
}

function cell(col, value, extra = {}) {
  return h("td", { data: { col }, ...extra }, value instanceof Node ? value : text(value));
}

function message(node, textValue, kind = "info") {
  node.textContent = textValue;
  node.className = `message message-${kind}`;
  node.hidden = !textValue;
}

function errorText(error) {
  return error instanceof Error ? error.message : String(error);
}

// ---------------------------------------------------------------------------------------------------------
// The server

class ApiError extends Error {
  constructor(status, text) {
    super(text);
    this.status = status;
  }
}

/**
 * A JSON request to the agent. Non-GET requests carry the CSRF token. A 401 ends the session (back to the
 * sign-in screen) unless `signIn` says this is the sign-in request itself.
 */
async function api(method, path, body, { signIn = false } = {}) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET" && method !== "HEAD" && state.session) headers["X-CSRF-Token"] = state.session.csrf;
  let res;
  try {
    res = await fetch(path, {
      method,
      headers,
      credentials: "same-origin",
      cache: "no-store",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (error) {
    throw new ApiError(0, `The agent did not answer (${errorText(error)}).`);
  }
  if (res.status === 401 && !signIn) {
    sessionEnded("Your session has ended. Sign in again.");
    throw new ApiError(401, "Signed out.");
  }
  const raw = await res.text();
  let data = null;
  if (raw) {
    try {
      data = JSON.parse(raw);
    } catch {
      data = null;
    }
  }
  if (!res.ok) {
    const reason = data && typeof data.error === "string" ? data.error : `${res.status} ${res.statusText}`;
    throw new ApiError(res.status, reason);
  }
  return data;
}

/** After a stream or websocket failed: a request that finds out whether the session is still there. */
function checkSession() {
  if (!state.session) return;
  api("GET", "/console/api/session").catch(() => {});
}

function socketUrl(path) {
  return `wss://${location.host}${path}`;
}

// ---------------------------------------------------------------------------------------------------------
// Start, sign-in, the shell, routing

const root = () => document.getElementById("app");

async function start() {
  globalThis.addEventListener("hashchange", route);
  try {
    const session = await api("GET", "/console/api/session", undefined, { signIn: true });
    signedIn(session);
  } catch (error) {
    showSignIn(error instanceof ApiError && error.status === 401 ? "" : errorText(error));
  }
}

function signedIn(session) {
  state.session = {
    user: String(session.user ?? ""),
    administrator: session.administrator === true,
    csrf: String(session.csrf ?? ""),
    expiresAt: String(session.expiresAt ?? ""),
    via: String(session.via ?? ""),
  };
  renderShell();
  route();
  api("GET", "/console/api/host").then((host) => {
    if (host && typeof host.name === "string" && host.name) {
      state.agentName = host.name;
      const name = document.getElementById("agent-name");
      if (name) name.textContent = host.name;
      document.title = `${host.name} - agent console`;
    }
  }).catch(() => {});
}

function sessionEnded(reason) {
  if (!state.session) return;
  leavePage();
  state.session = null;
  showSignIn(reason);
}

function showSignIn(reason) {
  leavePage();
  document.title = "Sign in - agent console";
  const error = h("p", { id: "signin-error", class: "message message-error", role: "alert" });
  message(error, reason ?? "", "error");
  const user = h("input", {
    id: "signin-user",
    name: "user",
    type: "text",
    autocomplete: "username",
    spellcheck: "false",
    required: true,
  });
  const key = h("input", {
    id: "signin-key",
    name: "apikey",
    type: "password",
    autocomplete: "off",
    spellcheck: "false",
    required: true,
  });
  // Hosts with the macaroon gate judge every API call with a macaroon too: the session carries it.
  const macaroon = h("textarea", {
    id: "signin-macaroon",
    name: "macaroon",
    rows: "3",
    autocomplete: "off",
    spellcheck: "false",
    placeholder: "only on hosts with the macaroon gate (agent id create ...)",
  });
  const withMacaroon = (body) => {
    const token = macaroon.value.trim();
    return token === "" ? body : { ...body, macaroon: token };
  };
  const submit = h("button", { id: "signin-submit", type: "submit", class: "primary", text: "Sign in" });
  const cert = h("button", { id: "signin-cert", type: "button", text: "Use my client certificate" });

  async function attempt(body) {
    submit.disabled = true;
    cert.disabled = true;
    message(error, "");
    try {
      const session = await api("POST", "/console/api/session", withMacaroon(body), { signIn: true });
      key.value = "";
      macaroon.value = "";
      signedIn(session);
    } catch (e) {
      key.value = "";
      const reason = e instanceof ApiError && e.status === 401
        ? `Sign-in refused: ${errorText(e)}`
        : errorText(e);
      message(error, reason, "error");
      submit.disabled = false;
      cert.disabled = false;
    }
  }

  const form = h(
    "form",
    {
      id: "signin-form",
      class: "signin-form",
      autocomplete: "off",
      onsubmit: (event) => {
        event.preventDefault();
        attempt({ user: user.value.trim(), apikey: key.value });
      },
    },
    h("h1", { text: "Agent console" }),
    h("p", {
      class: "muted",
      text: "Sign in with your user name and an API key, or with your client certificate.",
    }),
    h("label", { for: "signin-user", text: "User" }),
    user,
    h("label", { for: "signin-key", text: "API key" }),
    key,
    h(
      "details",
      { class: "signin-macaroon" },
      h("summary", { text: "A macaroon (optional)" }),
      h("label", { for: "signin-macaroon", text: "Macaroon" }),
      macaroon,
    ),
    error,
    h("div", { class: "row" }, submit),
    h("div", { class: "divider" }, h("span", { text: "or" })),
    cert,
  );
  cert.addEventListener("click", () => attempt({}));
  root().replaceChildren(h("div", { id: "signin", class: "signin" }, form));
  user.focus();
}

function renderShell() {
  const s = state.session;
  const signout = h("button", { id: "signout", type: "button", class: "ghost", text: "Sign out" });
  signout.addEventListener("click", async () => {
    signout.disabled = true;
    try {
      await api("DELETE", "/console/api/session");
    } catch {
      // Signed out here either way.
    }
    sessionEnded("You signed out.");
  });
  const nav = h(
    "nav",
    { class: "nav", "aria-label": "Pages" },
    PAGES.map((p) => h("a", { href: `#/${p.id}`, data: { nav: p.id }, text: p.title })),
  );
  const bar = h(
    "header",
    { class: "topbar" },
    h(
      "div",
      { class: "brand" },
      h("span", { id: "agent-name", text: state.agentName }),
      h("span", {
        class: "brand-sub",
        text: "console",
      }),
    ),
    nav,
    h(
      "div",
      { class: "who" },
      h("span", {
        id: "session-user",
        class: "user",
        text: s.user,
        title: s.expiresAt ? `Session ends ${formatTime(s.expiresAt)}` : null,
      }),
      s.administrator
        ? h("span", { id: "session-admin", class: "badge badge-admin", text: "administrator" })
        : null,
      s.via ? h("span", { id: "session-via", class: "via", text: `via ${s.via}` }) : null,
      signout,
    ),
  );
  root().replaceChildren(bar, h("main", { id: "page", class: "page" }));
}

function route() {
  if (!state.session) return;
  const id = location.hash.replace(/^#\/?/, "").split(/[/?]/)[0];
  const page = PAGES.find((p) => p.id === id);
  if (!page) {
    history.replaceState(null, "", "#/live");
    renderPage(PAGES[0]);
    return;
  }
  renderPage(page);
}

function leavePage() {
  const page = state.page;
  state.page = null;
  if (!page) return;
  page.alive = false;
  for (const fn of page.cleanups.splice(0)) {
    try {
      fn();
    } catch {
      // A cleanup that fails must not keep the others from running.
    }
  }
}

function renderPage(page) {
  leavePage();
  const main = document.getElementById("page");
  if (!main) return;
  for (const link of document.querySelectorAll("[data-nav]")) {
    const active = link.dataset.nav === page.id;
    link.classList.toggle("active", active);
    if (active) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  const ctx = {
    alive: true,
    cleanups: [],
    onCleanup(fn) {
      this.cleanups.push(fn);
    },
    every(ms, fn) {
      const timer = setInterval(() => {
        if (ctx.alive && !document.hidden) fn();
      }, ms);
      ctx.onCleanup(() => clearInterval(timer));
    },
  };
  state.page = ctx;
  main.dataset.page = page.id;
  main.replaceChildren();
  document.title = `${page.title} - ${state.agentName} console`;
  page.render(ctx, main);
}

// ---------------------------------------------------------------------------------------------------------
// Live decisions

function eventKey(e) {
  return `${e.decisionId}/${e.phase}`;
}

function eventObject(e) {
  const values = e.resources && typeof e.resources === "object" ? Object.values(e.resources) : [];
  const shown = values.filter((v) => v !== null && v !== undefined && v !== "").map(String);
  return shown.length > 0 ? shown.join(", ") : text(e.uri);
}

/** Who made the call: the unix socket (no user) is the policy's `anonymous`. */
function eventUser(e) {
  return e.user ?? "anonymous";
}

function eventTime(e) {
  const t = Date.parse(e.time);
  return Number.isNaN(t) ? 0 : t;
}

/** One entry per decision: its first event's time and whether any of its events denied. */
function decisions(events) {
  const byId = new Map();
  for (const e of events) {
    const id = e.decisionId ?? eventKey(e);
    const seen = byId.get(id);
    if (seen) {
      if (!e.allow) {
        seen.denied = true;
        seen.deniedBy = e;
      }
    } else byId.set(id, { time: eventTime(e), denied: !e.allow, deniedBy: e.allow ? null : e });
  }
  return [...byId.values()];
}

function pageLive(ctx, main) {
  const events = [];
  const byKey = new Map();
  let paused = false;
  let pending = 0;
  let selected = null;
  let renderTimer = null;

  const filterUser = h("input", { id: "live-filter-user", type: "search", placeholder: "user" });
  const filterAction = h("input", { id: "live-filter-action", type: "search", placeholder: "action" });
  const filterOutcome = h(
    "select",
    { id: "live-filter-outcome" },
    h("option", { value: "", text: "allowed and denied" }),
    h("option", { value: "allowed", text: "allowed" }),
    h("option", { value: "denied", text: "denied" }),
  );
  const filterNamespace = h("input", {
    id: "live-filter-namespace",
    type: "search",
    placeholder: "namespace",
  });
  const pause = h("button", { id: "live-pause", type: "button", text: "Pause" });
  const status = h("span", { id: "live-status", class: "status status-connecting", text: "connecting" });
  const count = h("span", { id: "live-count", class: "muted" });
  const list = table("live-table", [
    "Time",
    "Door",
    "User",
    "Action",
    "Object",
    "Outcome",
    "Rule",
    "Reason",
    "Client",
  ]);
  list.tbody.id = "live-rows";
  const chart = h("div", { id: "live-chart", class: "chart" });
  const topRules = h("ol", { id: "live-top-rules", class: "top-rules" });
  const detailTitle = h("h3", { id: "live-detail-title" });
  const detailJson = h("pre", { id: "live-detail-json", class: "json" });
  const detailClose = h("button", { id: "live-detail-close", type: "button", class: "ghost", text: "Close" });
  const detail = h(
    "aside",
    { id: "live-detail", class: "panel detail", hidden: true },
    h("div", { class: "panel-head" }, detailTitle, detailClose),
    detailJson,
  );
  const loadError = h("p", { id: "live-error", class: "message message-error", hidden: true });

  main.append(
    h("h2", { text: "Live decisions" }),
    loadError,
    h(
      "div",
      { class: "cards" },
      h(
        "section",
        { class: "card card-wide" },
        h("h3", { text: `Decisions per minute, last ${CHART_MINUTES} minutes` }),
        chart,
        h(
          "div",
          { class: "legend" },
          h("span", { class: "swatch swatch-allowed" }),
          "allowed",
          h("span", { class: "swatch swatch-denied" }),
          "denied",
        ),
      ),
      h("section", { class: "card" }, h("h3", { text: "Most frequent denying rules" }), topRules),
    ),
    h(
      "div",
      { class: "toolbar", id: "live-filters" },
      filterUser,
      filterAction,
      filterOutcome,
      filterNamespace,
      pause,
      status,
      count,
    ),
    h("div", { class: "split" }, h("div", { class: "table-wrap" }, list.node), detail),
  );

  function matches(e) {
    const user = filterUser.value.trim().toLowerCase();
    const action = filterAction.value.trim().toLowerCase();
    const outcome = filterOutcome.value;
    const ns = filterNamespace.value.trim().toLowerCase();
    if (user && !eventUser(e).toLowerCase().includes(user)) return false;
    if (action && !String(e.action ?? "").toLowerCase().includes(action)) return false;
    if (outcome === "allowed" && !e.allow) return false;
    if (outcome === "denied" && e.allow) return false;
    // A namespace shows in the URI (`/api/app/v1/NS/...`), or is the caller's own (its user name).
    if (ns && !String(e.uri ?? "").toLowerCase().includes(`/${ns}/`) && eventUser(e).toLowerCase() !== ns) {
      return false;
    }
    return true;
  }

  function row(e) {
    const key = eventKey(e);
    return h(
      "tr",
      {
        class: [e.allow ? "allowed" : "denied", key === selected ? "selected" : ""].join(" ").trim(),
        data: { decisionId: e.decisionId, phase: e.phase, key },
        title: `${e.phase ?? ""} phase; click for the full event`,
      },
      cell("time", formatClock(e.time), { title: String(e.time ?? "") }),
      cell("door", e.door ?? "plugin"),
      cell("user", eventUser(e)),
      cell("action", e.action),
      cell("object", eventObject(e), { title: text(e.uri) }),
      cell("outcome", badge(e.allow ? "allowed" : "denied", e.allow ? "allowed" : "denied")),
      cell("rule", e.ruleId ?? (e.decidedBy ? `(${e.decidedBy})` : null)),
      cell("reason", e.reason),
      cell("client", e.clientAddress),
    );
  }

  function renderTable() {
    const shown = [];
    let total = 0;
    for (let i = events.length - 1; i >= 0; i--) {
      const e = events[i];
      if (!matches(e)) continue;
      total++;
      if (shown.length < MAX_ROWS) shown.push(e);
    }
    if (shown.length === 0) {
      emptyRow(list.tbody, list.columns, events.length === 0 ? "No decisions yet." : "No decision matches.");
    } else list.tbody.replaceChildren(...shown.map(row));
    count.textContent = total > shown.length
      ? `newest ${shown.length} of ${total} matching (${events.length} held)`
      : `${total} of ${events.length} held`;
  }

  function renderChart() {
    const width = 640;
    const height = 170;
    const left = 30;
    const bottom = 20;
    const top = 8;
    const plotW = width - left - 6;
    const plotH = height - bottom - top;
    const endMinute = Math.floor(now() / 60000);
    const startMinute = endMinute - CHART_MINUTES + 1;
    const buckets = Array.from({ length: CHART_MINUTES }, () => ({ allowed: 0, denied: 0 }));
    const all = decisions(events);
    for (const d of all) {
      const minute = Math.floor(d.time / 60000);
      if (minute < startMinute || minute > endMinute) continue;
      const b = buckets[minute - startMinute];
      if (d.denied) b.denied++;
      else b.allowed++;
    }
    const max = Math.max(1, ...buckets.map((b) => b.allowed + b.denied));
    const slot = plotW / CHART_MINUTES;
    const barW = Math.max(2, slot - 3);
    const node = svg("svg", {
      id: "live-chart-svg",
      viewBox: `0 0 ${width} ${height}`,
      role: "img",
      "aria-label": "Decisions per minute, allowed and denied",
      class: "chart-svg",
    });
    node.appendChild(svg("line", {
      x1: left,
      y1: top + plotH,
      x2: width - 6,
      y2: top + plotH,
      class: "axis",
    }));
    const ticks = max >= 2 ? [max, Math.floor(max / 2)] : [max];
    for (const value of ticks) {
      const y = top + plotH - (value / max) * plotH;
      node.appendChild(svg("line", { x1: left, y1: y, x2: width - 6, y2: y, class: "gridline" }));
      node.appendChild(svg("text", { x: left - 4, y: y + 4, class: "tick tick-y" }, String(value)));
    }
    buckets.forEach((b, i) => {
      const x = left + i * slot + (slot - barW) / 2;
      const allowedH = (b.allowed / max) * plotH;
      const deniedH = (b.denied / max) * plotH;
      const minute = new Date((startMinute + i) * 60000);
      const label = `${pad(minute.getHours())}:${pad(minute.getMinutes())}: ${b.allowed} allowed, ` +
        `${b.denied} denied`;
      const group = svg("g", { class: "bucket", "data-minute": String(i) }, svg("title", {}, label));
      if (b.allowed > 0) {
        group.appendChild(svg("rect", {
          x: x.toFixed(1),
          y: (top + plotH - allowedH).toFixed(1),
          width: barW.toFixed(1),
          height: allowedH.toFixed(1),
          class: "bar-allowed",
        }));
      }
      if (b.denied > 0) {
        group.appendChild(svg("rect", {
          x: x.toFixed(1),
          y: (top + plotH - allowedH - deniedH).toFixed(1),
          width: barW.toFixed(1),
          height: deniedH.toFixed(1),
          class: "bar-denied",
        }));
      }
      group.appendChild(svg("rect", {
        x: (left + i * slot).toFixed(1),
        y: top,
        width: slot.toFixed(1),
        height: plotH,
        class: "bar-hit",
      }));
      node.appendChild(group);
    });
    for (
      const [i, label] of [[0, `-${CHART_MINUTES}m`], [CHART_MINUTES / 2, `-${CHART_MINUTES / 2}m`], [
        CHART_MINUTES - 1,
        "now",
      ]]
    ) {
      node.appendChild(svg("text", {
        x: (left + i * slot + slot / 2).toFixed(1),
        y: height - 5,
        class: "tick tick-x",
      }, label));
    }
    chart.replaceChildren(node);

    const rules = new Map();
    for (const d of all) {
      if (!d.denied || !d.deniedBy) continue;
      const name = d.deniedBy.ruleId ?? `(${d.deniedBy.decidedBy ?? "no rule"})`;
      rules.set(name, (rules.get(name) ?? 0) + 1);
    }
    const top5 = [...rules.entries()].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).slice(0, 5);
    if (top5.length === 0) {
      topRules.replaceChildren(
        h("li", { class: "muted empty", text: "No denials among the held decisions." }),
      );
    } else {
      topRules.replaceChildren(
        ...top5.map(([name, n]) =>
          h(
            "li",
            { data: { rule: name } },
            h("code", { class: "rule-name", text: name }),
            h("span", { class: "rule-count", text: String(n) }),
          )
        ),
      );
    }
  }

  function render() {
    renderTimer = null;
    if (!ctx.alive) return;
    renderTable();
    renderChart();
  }

  function scheduleRender() {
    if (paused) {
      pause.textContent = pending > 0 ? `Resume (${pending} new)` : "Resume";
      return;
    }
    if (renderTimer === null) renderTimer = setTimeout(render, 200);
  }
  ctx.onCleanup(() => {
    if (renderTimer !== null) clearTimeout(renderTimer);
  });

  function add(e) {
    if (!e || typeof e !== "object" || typeof e.decisionId !== "string") return false;
    const key = eventKey(e);
    if (byKey.has(key)) return false;
    byKey.set(key, e);
    events.push(e);
    if (paused) pending++;
    return true;
  }

  function trim() {
    if (events.length <= MAX_EVENTS) return;
    for (const e of events.splice(0, events.length - MAX_EVENTS)) byKey.delete(eventKey(e));
  }

  function showDetail(e) {
    selected = eventKey(e);
    detailTitle.textContent = `${e.allow ? "Allowed" : "Denied"}: ${text(e.action)} (${text(e.phase)})`;
    detailJson.textContent = JSON.stringify(e, null, 2);
    detail.hidden = false;
    for (const tr of list.tbody.querySelectorAll("tr.selected")) tr.classList.remove("selected");
    for (const tr of list.tbody.querySelectorAll("tr[data-key]")) {
      if (tr.dataset.key === selected) tr.classList.add("selected");
    }
  }

  list.tbody.addEventListener("click", (event) => {
    const tr = event.target instanceof Element ? event.target.closest("tr[data-key]") : null;
    const e = tr ? byKey.get(tr.dataset.key) : null;
    if (e) showDetail(e);
  });
  detailClose.addEventListener("click", () => {
    detail.hidden = true;
    selected = null;
    for (const tr of list.tbody.querySelectorAll("tr.selected")) tr.classList.remove("selected");
  });
  for (const input of [filterUser, filterAction, filterNamespace]) {
    input.addEventListener("input", renderTable);
  }
  filterOutcome.addEventListener("change", renderTable);
  pause.addEventListener("click", () => {
    paused = !paused;
    pause.classList.toggle("active", paused);
    pause.setAttribute("aria-pressed", String(paused));
    if (paused) {
      pending = 0;
      pause.textContent = "Resume";
    } else {
      pause.textContent = "Pause";
      pending = 0;
      render();
    }
  });
  pause.setAttribute("aria-pressed", "false");

  function setStatus(kind, label) {
    status.className = `status status-${kind}`;
    status.textContent = label;
  }

  // The stream first (so nothing falls between the history and the stream), then the history.
  let source = null;
  let retry = null;
  function connect() {
    if (!ctx.alive) return;
    source = new EventSource("/console/api/decisions/stream");
    source.addEventListener("open", () => setStatus("live", "live"));
    source.addEventListener("message", (m) => {
      let e;
      try {
        e = JSON.parse(m.data);
      } catch {
        return;
      }
      if (add(e)) {
        trim();
        scheduleRender();
      }
    });
    source.addEventListener("error", () => {
      if (!ctx.alive || !source) return;
      if (source.readyState === EventSource.CLOSED) {
        setStatus("down", "disconnected");
        source = null;
        checkSession();
        retry = setTimeout(connect, 5000);
      } else setStatus("connecting", "reconnecting");
    });
  }
  ctx.onCleanup(() => {
    if (retry !== null) clearTimeout(retry);
    if (source) source.close();
    source = null;
  });
  connect();

  api("GET", `/console/api/decisions?limit=${HISTORY_LIMIT}`).then((data) => {
    if (!ctx.alive) return;
    const history = Array.isArray(data?.events) ? data.events : [];
    for (const e of history) add(e);
    events.sort((a, b) => eventTime(a) - eventTime(b));
    trim();
    render();
  }).catch((error) => {
    if (!ctx.alive) return;
    message(loadError, `Could not load recent decisions: ${errorText(error)}`, "error");
    render();
  });
  ctx.every(30000, () => {
    if (!paused) renderChart();
  });
  render();
}

// ---------------------------------------------------------------------------------------------------------
// Namespaces: services and containers

const ACTION_LABELS = {
  start: "Start",
  stop: "Stop",
  redeploy: "Redeploy",
  scale: "Scale",
  terminate: "Terminate",
  logs: "Logs",
  terminal: "Terminal",
};

function pageNamespaces(ctx, main) {
  const permissions = new Map();
  const rows = new Map();
  const notice = h("p", { id: "ns-message", class: "message", role: "status", hidden: true });
  const services = table("services-table", ["Name", "State", "Image", "Containers", "Actions"]);
  const containers = table("containers-table", ["Name", "State", "Image", "Service", "Actions"]);
  const panels = h("div", { id: "ns-panels", class: "panels" });
  const refresh = h("button", { id: "ns-refresh", type: "button", text: "Refresh" });
  const updated = h("span", { id: "ns-updated", class: "muted" });
  let loading = false;
  let serviceNames = new Map();

  main.append(
    h("div", { class: "page-head" }, h("h2", { text: "My namespaces" }), refresh, updated),
    notice,
    h(
      "section",
      { class: "card" },
      h("h3", { text: "Services" }),
      h("div", { class: "table-wrap" }, services.node),
    ),
    h(
      "section",
      { class: "card" },
      h("h3", { text: "Containers" }),
      h("div", { class: "table-wrap" }, containers.node),
    ),
    panels,
  );
  emptyRow(services.tbody, services.columns, "Loading...");
  emptyRow(containers.tbody, containers.columns, "Loading...");

  function objectUrl(kind, uuid) {
    return `/api/app/v1/${kind}/${encodeURIComponent(uuid)}/`;
  }

  async function permissionsOf(kind, uuid) {
    const key = `${kind}/${uuid}`;
    if (!permissions.has(key)) {
      const p = api("GET", `/console/api/permissions?${kind}=${encodeURIComponent(uuid)}`).catch((error) => {
        permissions.delete(key);
        throw error;
      });
      permissions.set(key, p);
    }
    return await permissions.get(key);
  }

  function button(action, obj, kind, onclick) {
    return h("button", {
      type: "button",
      class: action === "terminate" ? "danger small" : "small",
      data: { action, uuid: obj.uuid, kind },
      text: ACTION_LABELS[action],
      onclick,
    });
  }

  function actionsFor(kind, obj, perms, entry) {
    const out = [];
    for (const action of ["start", "stop", "redeploy"]) {
      if (perms[action] === true) out.push(button(action, obj, kind, () => act(kind, obj, action)));
    }
    if (kind === "service" && perms.scale === true) {
      const input = h("input", {
        type: "number",
        min: "0",
        step: "1",
        class: "scale-input",
        value: String(obj.target_num_containers ?? 1),
        "aria-label": `Containers for ${obj.name ?? obj.uuid}`,
        data: { scaleInput: "", uuid: obj.uuid },
      });
      input.addEventListener("input", () => {
        entry.scaleDirty = true;
      });
      entry.scaleInput = input;
      out.push(
        h(
          "span",
          { class: "scale" },
          input,
          button("scale", obj, kind, () => act(kind, obj, "scale", input.value)),
        ),
      );
    }
    if (perms.terminate === true) out.push(button("terminate", obj, kind, () => act(kind, obj, "terminate")));
    if (kind === "container" && perms.logs === true) {
      out.push(button("logs", obj, kind, () => openLogs(obj)));
    }
    if (kind === "container" && perms.exec === true) {
      out.push(button("terminal", obj, kind, () => openTerminal(obj)));
    }
    if (out.length === 0) out.push(h("span", { class: "muted", text: "no actions" }));
    return out;
  }

  async function act(kind, obj, action, value) {
    const name = obj.name ?? obj.uuid;
    let method = "POST";
    let url = `${objectUrl(kind, obj.uuid)}${action}/`;
    let body;
    if (action === "scale") {
      const n = Number(value);
      if (!Number.isInteger(n) || n < 0) {
        message(notice, "The number of containers is a whole number, 0 or more.", "error");
        return;
      }
      // Docker Cloud's scale verb: the new target, applied at once (a PATCH alone waits for the next start).
      body = { target_num_containers: n };
    } else if (action === "terminate") {
      if (!confirm(`Terminate the ${kind} "${name}"? This cannot be undone.`)) return;
      method = "DELETE";
      url = objectUrl(kind, obj.uuid);
    }
    const entry = rows.get(`${kind}/${obj.uuid}`);
    const buttons = entry ? [...entry.actions.querySelectorAll("button")] : [];
    for (const b of buttons) b.disabled = true;
    message(notice, `${ACTION_LABELS[action]}: ${kind} ${name}...`, "info");
    try {
      await api(method, url, body);
      message(notice, `${ACTION_LABELS[action]} accepted for the ${kind} ${name}.`, "ok");
      if (entry && action === "scale") entry.scaleDirty = false;
    } catch (error) {
      message(notice, `${ACTION_LABELS[action]} of the ${kind} ${name} failed: ${errorText(error)}`, "error");
    } finally {
      for (const b of buttons) b.disabled = false;
    }
    permissions.delete(`${kind}/${obj.uuid}`);
    if (entry) entry.permsShown = null;
    await load();
  }

  function stateBadge(value) {
    const s = String(value ?? "unknown");
    return h("span", { class: `state state-${s.toLowerCase().replace(/[^a-z]+/g, "-")}`, text: s });
  }

  function upsert(kind, tbody, obj, cells) {
    const key = `${kind}/${obj.uuid}`;
    let entry = rows.get(key);
    if (!entry) {
      const actions = h("td", { data: { col: "actions" }, class: "actions" });
      const tds = cells.map(([col]) => h("td", { data: { col } }));
      const tr = h("tr", { data: { uuid: obj.uuid, kind } }, tds, actions);
      entry = { tr, tds, actions, obj, permsShown: null, scaleInput: null, scaleDirty: false };
      rows.set(key, entry);
    }
    entry.obj = obj;
    cells.forEach(([, value], i) => {
      const td = entry.tds[i];
      const node = value instanceof Node ? value : document.createTextNode(text(value));
      td.replaceChildren(node);
    });
    if (
      entry.scaleInput && !entry.scaleDirty && document.activeElement !== entry.scaleInput &&
      obj.target_num_containers !== undefined
    ) entry.scaleInput.value = String(obj.target_num_containers);
    if (entry.permsShown === null) {
      entry.permsShown = "loading";
      if (entry.actions.childNodes.length === 0) {
        entry.actions.replaceChildren(h("span", { class: "muted", text: "..." }));
      }
      permissionsOf(kind, obj.uuid).then((perms) => {
        if (!ctx.alive) return;
        entry.scaleInput = null;
        entry.actions.replaceChildren(...actionsFor(kind, entry.obj, perms ?? {}, entry));
        entry.permsShown = "shown";
      }).catch((error) => {
        entry.permsShown = null;
        entry.actions.replaceChildren(
          h("span", { class: "muted", text: `no permissions: ${errorText(error)}` }),
        );
      });
    }
    tbody.appendChild(entry.tr);
    return key;
  }

  function fill(kind, list, tbody, objects, cellsOf) {
    const keep = new Set();
    if (objects.length === 0) {
      emptyRow(tbody, list.columns, kind === "service" ? "No services." : "No containers.");
    } else {
      for (const row of [...tbody.querySelectorAll("tr.empty")]) row.remove();
      for (const obj of objects) {
        if (obj && typeof obj.uuid === "string") keep.add(upsert(kind, tbody, obj, cellsOf(obj)));
      }
    }
    for (const [key, entry] of rows) {
      if (key.startsWith(`${kind}/`) && !keep.has(key)) {
        entry.tr.remove();
        rows.delete(key);
      }
    }
  }

  async function load() {
    if (loading || !ctx.alive) return;
    loading = true;
    try {
      const [svc, ctr] = await Promise.all([
        api("GET", "/api/app/v1/service/?limit=100"),
        api("GET", "/api/app/v1/container/?limit=100"),
      ]);
      if (!ctx.alive) return;
      const svcObjects = Array.isArray(svc?.objects) ? svc.objects : [];
      const ctrObjects = Array.isArray(ctr?.objects) ? ctr.objects : [];
      serviceNames = new Map(svcObjects.map((s) => [s.resource_uri, s.name]));
      fill("service", services, services.tbody, svcObjects, (s) => [
        ["name", s.name],
        ["state", stateBadge(s.state)],
        ["image", s.image_name],
        ["containers", `${text(s.current_num_containers)} / ${text(s.target_num_containers)}`],
      ]);
      fill("container", containers, containers.tbody, ctrObjects, (c) => [
        ["name", c.name],
        ["state", stateBadge(c.state)],
        ["image", c.image_name],
        ["service", c.service ? (serviceNames.get(c.service) ?? c.service) : null],
      ]);
      updated.textContent = `updated ${formatClock(new Date(now()).toISOString())}`;
    } catch (error) {
      if (ctx.alive) message(notice, `Could not load the namespaces: ${errorText(error)}`, "error");
    } finally {
      loading = false;
    }
  }

  // Panels: the logs that follow and the terminal (one of each at a time).
  let logs = null;
  let terminal = null;
  function closeLogs() {
    if (logs) {
      logs.close();
      logs = null;
    }
  }
  function closeTerminal() {
    if (terminal) {
      terminal.close();
      terminal = null;
    }
  }
  ctx.onCleanup(closeLogs);
  ctx.onCleanup(closeTerminal);

  function openLogs(obj) {
    closeLogs();
    logs = streamPanel({
      id: "logs",
      title: `Logs: ${obj.name ?? obj.uuid}`,
      url: socketUrl(`${objectUrl("container", obj.uuid)}logs/?follow=true&tail=100`),
      onMessage(msg, out) {
        if (msg.type !== "log") return;
        appendLine(out, String(msg.log ?? ""), msg.streamType === "stderr" ? "stderr" : "stdout");
      },
      onClose: closeLogs,
    });
    panels.prepend(logs.node);
  }

  function openTerminal(obj) {
    closeTerminal();
    const input = h("input", {
      id: "terminal-input",
      type: "text",
      autocomplete: "off",
      spellcheck: "false",
      placeholder: "a command, then Enter",
      "aria-label": "Terminal input",
    });
    const send = h("button", { id: "terminal-send", type: "submit", class: "small", text: "Send" });
    const form = h(
      "form",
      { id: "terminal-form", class: "terminal-form" },
      h("span", {
        class: "prompt",
        text: "$",
      }),
      input,
      send,
    );
    const panel = streamPanel({
      id: "terminal",
      title: `Terminal: ${obj.name ?? obj.uuid} (sh)`,
      url: socketUrl(`${objectUrl("container", obj.uuid)}exec/?command=sh`),
      footer: form,
      onOpen() {
        input.focus();
      },
      onMessage(msg, out, setStatus) {
        if (msg.type === "output") {
          appendText(out, String(msg.output ?? ""), msg.streamType === "stderr" ? "stderr" : "stdout");
        } else if (msg.type === "exit") {
          appendLine(out, `[exited with code ${text(msg.exit_code)}]`, "note");
          setStatus("down", `exited (${text(msg.exit_code)})`);
          input.disabled = true;
          send.disabled = true;
        }
      },
      onEnd() {
        input.disabled = true;
        send.disabled = true;
      },
      onClose: closeTerminal,
    });
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const line = input.value;
      if (!panel.send(`${line}\n`)) return;
      appendLine(panel.out, `$ ${line}`, "echo");
      input.value = "";
    });
    terminal = panel;
    panels.prepend(panel.node);
  }

  refresh.addEventListener("click", () => load());
  ctx.every(NAMESPACE_REFRESH_MS, () => load());
  load();
}

function appendText(out, value, kind) {
  const nearBottom = out.scrollHeight - out.scrollTop - out.clientHeight < 40;
  out.appendChild(h("span", { class: `line-${kind}`, text: value }));
  while (out.childNodes.length > MAX_STREAM_LINES) out.removeChild(out.firstChild);
  if (nearBottom) out.scrollTop = out.scrollHeight;
}

function appendLine(out, value, kind) {
  appendText(out, value.endsWith("\n") ? value : `${value}\n`, kind);
}

/** A panel with an output pane following a websocket of JSON messages. */
function streamPanel({ id, title, url, footer, onOpen, onMessage, onEnd, onClose }) {
  const out = h("pre", { id: `${id}-output`, class: "stream", tabindex: "0" });
  const status = h("span", { id: `${id}-status`, class: "status status-connecting", text: "connecting" });
  const close = h("button", { id: `${id}-close`, type: "button", class: "ghost small", text: "Close" });
  const node = h(
    "section",
    { id: `${id}-panel`, class: "panel stream-panel" },
    h("div", { class: "panel-head" }, h("h3", { text: title }), status, close),
    out,
    footer ?? null,
  );
  function setStatus(kind, label) {
    status.className = `status status-${kind}`;
    status.textContent = label;
  }
  let closed = false;
  let ended = false;
  const ws = new WebSocket(url);
  const pending = [];
  ws.addEventListener("open", () => {
    setStatus("live", "connected");
    for (const data of pending.splice(0)) ws.send(data);
    onOpen?.();
  });
  ws.addEventListener("message", async (m) => {
    const raw = typeof m.data === "string" ? m.data : await m.data.text();
    let msg;
    try {
      msg = JSON.parse(raw);
    } catch {
      appendText(out, raw, "stdout");
      return;
    }
    if (msg && typeof msg === "object") onMessage(msg, out, setStatus);
  });
  ws.addEventListener("close", (e) => {
    if (closed) return;
    if (!ended) {
      ended = true;
      if (!status.textContent.startsWith("exited")) {
        setStatus("down", e.code === 1000 ? "ended" : `closed (${e.code}${e.reason ? `: ${e.reason}` : ""})`);
      }
      onEnd?.();
      if (e.code !== 1000) checkSession();
    }
  });
  close.addEventListener("click", () => onClose());
  return {
    node,
    out,
    // What is typed before the socket opens is sent when it does, in order.
    send(data) {
      if (ws.readyState === WebSocket.CONNECTING) {
        pending.push(data);
        return true;
      }
      if (ws.readyState !== WebSocket.OPEN) return false;
      ws.send(data);
      return true;
    },
    close() {
      closed = true;
      try {
        ws.close(1000);
      } catch {
        // Already closed.
      }
      node.remove();
    },
  };
}

// ---------------------------------------------------------------------------------------------------------
// Identities

function pageIdentities(ctx, main) {
  const admin = state.session?.administrator === true;
  const keys = table("apikeys-table", [
    "ID",
    "Prefix",
    "User",
    "Name",
    "Created",
    "Expires",
    "Last used",
    "Status",
    "",
  ]);
  const keysNotice = h("p", { id: "apikeys-message", class: "message", role: "status", hidden: true });
  const name = h("input", { id: "apikey-name", type: "text", placeholder: "laptop", autocomplete: "off" });
  const expires = h("input", {
    id: "apikey-expires",
    type: "text",
    placeholder: "30d (empty: the default)",
    autocomplete: "off",
  });
  const create = h("button", {
    id: "apikey-create",
    type: "submit",
    class: "primary",
    text: "Create API key",
  });
  const createError = h("p", { id: "apikey-error", class: "message message-error", hidden: true });
  const newKey = h("code", { id: "apikey-new", class: "secret" });
  const copy = h("button", { id: "apikey-copy", type: "button", class: "small", text: "Copy" });
  const newBox = h(
    "div",
    { id: "apikey-new-box", class: "once", hidden: true, role: "alert" },
    h("strong", { text: "Your new API key" }),
    h("div", { class: "once-key" }, newKey, copy),
    h("p", {
      id: "apikey-new-note",
      text:
        "This key is shown once, now: copy it to a safe place. The agent keeps only its hash and cannot " +
        "show it again.",
    }),
  );
  const form = h(
    "form",
    { id: "apikey-form", class: "inline-form", autocomplete: "off" },
    h("label", { for: "apikey-name", text: "Name" }),
    name,
    h("label", { for: "apikey-expires", text: "Expires in" }),
    expires,
    create,
  );

  main.append(
    h("h2", { text: "Identities" }),
    h(
      "section",
      { class: "card" },
      h("h3", { text: admin ? "API keys (every user's)" : "My API keys" }),
      keysNotice,
      h("div", { class: "table-wrap" }, keys.node),
      h("h4", { text: "Create an API key" }),
      form,
      createError,
      newBox,
    ),
  );

  copy.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(newKey.textContent ?? "");
      copy.textContent = "Copied";
    } catch {
      const range = document.createRange();
      range.selectNodeContents(newKey);
      const selection = getSelection();
      selection?.removeAllRanges();
      selection?.addRange(range);
      copy.textContent = "Selected: press Ctrl+C";
    }
  });

  async function loadKeys() {
    try {
      const data = await api("GET", "/console/api/apikeys");
      if (!ctx.alive) return;
      const list = Array.isArray(data?.keys) ? data.keys : [];
      if (list.length === 0) {
        emptyRow(keys.tbody, keys.columns, "No API keys.");
        return;
      }
      keys.tbody.replaceChildren(...list.map((k) => {
        const revoked = k.status === "revoked" || Boolean(k.revokedAt);
        const revoke = revoked ? null : h("button", {
          type: "button",
          class: "danger small",
          data: { revokeKey: k.id },
          text: "Revoke",
          onclick: (event) => revokeKey(k, event.currentTarget),
        });
        return h(
          "tr",
          { data: { keyId: k.id }, class: revoked ? "revoked" : "" },
          cell("id", h("code", { text: text(k.id) })),
          cell("prefix", h("code", { text: text(k.prefix) })),
          cell("user", k.user),
          cell("name", k.name),
          cell("created", formatTime(k.createdAt)),
          cell("expires", k.expiresAt ? formatTime(k.expiresAt) : "never"),
          cell("lastUsed", k.lastUsedAt ? formatTime(k.lastUsedAt) : "never"),
          cell("status", badge(text(k.status), statusKind(k.status))),
          h("td", { class: "actions", data: { col: "actions" } }, revoke),
        );
      }));
    } catch (error) {
      if (ctx.alive) emptyRow(keys.tbody, keys.columns, `Could not load the API keys: ${errorText(error)}`);
    }
  }

  async function revokeKey(k, button) {
    button.disabled = true;
    try {
      await api("DELETE", `/console/api/apikeys/${encodeURIComponent(k.id)}`);
      message(keysNotice, `The API key ${k.name ? `"${k.name}" ` : ""}(${k.id}) is revoked.`, "ok");
    } catch (error) {
      message(keysNotice, `Could not revoke the key ${k.id}: ${errorText(error)}`, "error");
      button.disabled = false;
    }
    if (ctx.alive && state.session) await loadKeys();
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    create.disabled = true;
    message(createError, "");
    newBox.hidden = true;
    newKey.textContent = "";
    const body = {};
    if (name.value.trim()) body.name = name.value.trim();
    if (expires.value.trim()) body.expires = expires.value.trim();
    try {
      const made = await api("POST", "/console/api/apikeys", body);
      if (!ctx.alive) return;
      newKey.textContent = String(made?.key ?? "");
      copy.textContent = "Copy";
      newBox.hidden = false;
      name.value = "";
      expires.value = "";
      await loadKeys();
    } catch (error) {
      message(createError, `Could not create the key: ${errorText(error)}`, "error");
    } finally {
      create.disabled = false;
    }
  });
  ctx.onCleanup(() => {
    newKey.textContent = "";
  });

  emptyRow(keys.tbody, keys.columns, "Loading...");
  loadKeys();
  if (admin) adminIdentities(ctx, main);
}

function statusKind(status) {
  switch (status) {
    case "valid":
    case "active":
    case "current":
      return "ok";
    case "revoked":
      return "denied";
    case "expired":
    case "retired":
      return "muted";
    default:
      return "info";
  }
}

function adminIdentities(ctx, main) {
  const certs = table("certs-table", ["Serial", "Kind", "Name", "Not after", "Status", "Reason", ""]);
  const certsNotice = h("p", { id: "certs-message", class: "message", role: "status", hidden: true });
  const macKeys = table("macaroon-keys-table", ["Key", "Status", "Created", "Retired"]);
  const revocations = table("macaroon-revocations-table", ["Nonce", "Revoked"]);
  main.append(
    h(
      "section",
      { class: "card", id: "certs-section" },
      h("h3", { text: "Certificates" }),
      certsNotice,
      h("div", { class: "table-wrap" }, certs.node),
    ),
    h(
      "section",
      { class: "card", id: "macaroons-section" },
      h("h3", { text: "Macaroon keys" }),
      h("div", { class: "table-wrap" }, macKeys.node),
      h("h4", { text: "Revoked macaroons" }),
      h("div", { class: "table-wrap" }, revocations.node),
    ),
  );
  emptyRow(certs.tbody, certs.columns, "Loading...");
  emptyRow(macKeys.tbody, macKeys.columns, "Loading...");
  emptyRow(revocations.tbody, revocations.columns, "Loading...");

  async function loadCerts() {
    try {
      const data = await api("GET", "/console/api/certificates");
      if (!ctx.alive) return;
      const list = Array.isArray(data?.certificates) ? data.certificates : [];
      if (list.length === 0) return emptyRow(certs.tbody, certs.columns, "No certificates.");
      certs.tbody.replaceChildren(...list.map((c) =>
        h(
          "tr",
          { data: { serial: c.serial }, class: c.status === "valid" ? "" : c.status },
          cell("serial", h("code", { text: text(c.serial) })),
          cell("kind", c.kind),
          cell("name", c.name),
          cell("notAfter", formatTime(c.notAfter)),
          cell("status", badge(text(c.status), statusKind(c.status))),
          cell("reason", c.reason),
          h(
            "td",
            { class: "actions", data: { col: "actions" } },
            c.status === "valid"
              ? h("button", {
                type: "button",
                class: "danger small",
                data: { revokeCert: c.serial },
                text: "Revoke",
                onclick: (event) => revokeCert(c, event.currentTarget),
              })
              : null,
          ),
        )
      ));
    } catch (error) {
      if (ctx.alive) {
        emptyRow(certs.tbody, certs.columns, `Could not load the certificates: ${errorText(error)}`);
      }
    }
  }

  async function revokeCert(c, button) {
    button.disabled = true;
    try {
      await api("POST", `/console/api/certificates/${encodeURIComponent(c.serial)}/revoke`);
      message(certsNotice, `The certificate ${c.serial} (${text(c.name)}) is revoked.`, "ok");
    } catch (error) {
      message(certsNotice, `Could not revoke the certificate ${c.serial}: ${errorText(error)}`, "error");
      button.disabled = false;
    }
    if (ctx.alive) await loadCerts();
  }

  async function loadMacaroons() {
    try {
      const data = await api("GET", "/console/api/macaroons");
      if (!ctx.alive) return;
      const list = Array.isArray(data?.keys) ? data.keys : [];
      const revoked = Array.isArray(data?.revocations) ? data.revocations : [];
      if (list.length === 0) emptyRow(macKeys.tbody, macKeys.columns, "No macaroon keys.");
      else {
        macKeys.tbody.replaceChildren(...list.map((k) =>
          h(
            "tr",
            { data: { macaroonKey: k.id } },
            cell("id", h("code", { text: text(k.id) })),
            cell("status", badge(text(k.status), statusKind(k.status))),
            cell("created", formatTime(k.createdAt)),
            cell("retired", k.retiredAt ? formatTime(k.retiredAt) : null),
          )
        ));
      }
      if (revoked.length === 0) emptyRow(revocations.tbody, revocations.columns, "No revoked macaroons.");
      else {
        revocations.tbody.replaceChildren(...revoked.map((r) =>
          h(
            "tr",
            { data: { nonce: r.nonce } },
            cell("nonce", h("code", { text: text(r.nonce) })),
            cell("revokedAt", formatTime(r.revokedAt)),
          )
        ));
      }
    } catch (error) {
      if (!ctx.alive) return;
      const reason = `Could not load the macaroon keys: ${errorText(error)}`;
      emptyRow(macKeys.tbody, macKeys.columns, reason);
      emptyRow(revocations.tbody, revocations.columns, reason);
    }
  }

  loadCerts();
  loadMacaroons();
}

// ---------------------------------------------------------------------------------------------------------
// Policy

const METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"];

function pagePolicy(ctx, main) {
  const s = state.session;
  const admin = s?.administrator === true;
  const facts = h("dl", { id: "policy-facts", class: "facts" });
  const policyError = h("p", { id: "policy-error", class: "message message-error", hidden: true });
  const policyText = h("pre", { id: "policy-text", class: "source" });
  const textNote = h("p", { id: "policy-text-note", class: "muted", hidden: true });

  const user = h("input", {
    id: "policy-try-user",
    type: "text",
    autocomplete: "off",
    spellcheck: "false",
    value: admin ? "" : (s?.user ?? ""),
    placeholder: admin ? `user (empty: ${s?.user ?? "me"})` : null,
    readOnly: !admin,
    disabled: !admin,
  });
  const method = h(
    "select",
    { id: "policy-try-method" },
    METHODS.map((m) => h("option", { value: m, text: m })),
  );
  method.value = "POST";
  const uri = h("input", {
    id: "policy-try-uri",
    type: "text",
    autocomplete: "off",
    spellcheck: "false",
    required: true,
    value: "/v1.41/containers/create",
  });
  const body = h("textarea", {
    id: "policy-try-body",
    rows: "6",
    spellcheck: "false",
    placeholder: "request body (JSON), optional",
  });
  const submit = h("button", { id: "policy-try-submit", type: "submit", class: "primary", text: "Try" });
  const tryError = h("p", { id: "policy-try-error", class: "message message-error", hidden: true });
  const outcome = h("span", { id: "policy-try-allow" });
  const resultFields = {};
  const result = h(
    "div",
    { id: "policy-try-result", class: "result", hidden: true },
    h("div", { class: "result-head" }, outcome),
    h(
      "dl",
      { class: "facts" },
      ["action", "effect", "rule", "reason"].map((k) => {
        resultFields[k] = h("dd", { id: `policy-try-${k}` });
        return [h("dt", { text: k }), resultFields[k]];
      }),
    ),
  );
  const form = h(
    "form",
    { id: "policy-try-form", class: "try-form", autocomplete: "off" },
    h("label", { for: "policy-try-user", text: "User" }),
    user,
    h("label", { for: "policy-try-method", text: "Method" }),
    method,
    h("label", { for: "policy-try-uri", text: "URI" }),
    uri,
    h("label", { for: "policy-try-body", text: "Body" }),
    body,
    h("div", { class: "row" }, submit),
  );

  main.append(
    h("h2", { text: "Policy" }),
    policyError,
    h(
      "div",
      { class: "cards" },
      h("section", { class: "card" }, h("h3", { text: "Loaded policy" }), facts),
      h(
        "section",
        { class: "card card-wide" },
        h("h3", { text: admin ? "Try a request" : "Try a request as yourself" }),
        form,
        tryError,
        result,
      ),
    ),
    h("section", { class: "card" }, h("h3", { text: "Policy text" }), textNote, policyText),
  );

  function fact(label, value, id) {
    return [h("dt", { text: label }), h("dd", { id }, value instanceof Node ? value : text(value))];
  }

  api("GET", "/console/api/policy").then((p) => {
    if (!ctx.alive) return;
    facts.replaceChildren(
      ...fact("hash", h("code", { text: text(p?.hash) }), "policy-hash"),
      ...fact("source", p?.source, "policy-source"),
      ...fact("rules", p?.ruleCount, "policy-rule-count"),
      ...fact("loaded", formatTime(p?.loadedAt), "policy-loaded-at"),
    );
    if (typeof p?.text === "string") {
      policyText.textContent = p.text;
      policyText.hidden = false;
    } else {
      policyText.hidden = true;
      message(textNote, "Only administrators see the policy's text.", "muted");
    }
  }).catch((error) => {
    if (ctx.alive) message(policyError, `Could not load the policy: ${errorText(error)}`, "error");
  });

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    submit.disabled = true;
    message(tryError, "");
    const request = { method: method.value, uri: uri.value.trim() };
    if (admin && user.value.trim()) request.user = user.value.trim();
    if (body.value.trim()) request.body = body.value;
    try {
      const r = await api("POST", "/console/api/policy/try", request);
      if (!ctx.alive) return;
      const allow = r?.allow === true;
      outcome.replaceChildren(badge(allow ? "allow" : "deny", allow ? "allowed" : "denied"));
      outcome.dataset.allow = String(allow);
      for (const k of ["action", "effect", "rule", "reason"]) resultFields[k].textContent = text(r?.[k]);
      result.hidden = false;
    } catch (error) {
      result.hidden = true;
      message(tryError, `The try failed: ${errorText(error)}`, "error");
    } finally {
      submit.disabled = false;
    }
  });
}

// ---------------------------------------------------------------------------------------------------------
// Hosts

function pageHosts(ctx, main) {
  const refresh = h("button", { id: "host-refresh", type: "button", text: "Refresh" });
  const error = h("p", { id: "host-error", class: "message message-error", hidden: true });
  const facts = h("dl", { id: "host-facts", class: "facts" });
  const pieces = table("host-state", ["State", "Digest", "Loaded", "Error"]);
  const fleetBox = h("section", { id: "host-fleet", class: "card", hidden: true });
  const nodes = table("host-nodes", ["Name", "Addresses", "Agent version", "State revision"]);
  const nodesBox = h(
    "section",
    { id: "host-nodes-section", class: "card", hidden: true },
    h("h3", { text: "Nodes" }),
    h("div", { class: "table-wrap" }, nodes.node),
  );
  main.append(
    h("div", { class: "page-head" }, h("h2", { text: "Hosts" }), refresh),
    error,
    h(
      "div",
      { class: "cards" },
      h("section", { class: "card" }, h("h3", { text: "This node" }), facts),
      h(
        "section",
        { class: "card card-wide" },
        h("h3", { text: "State" }),
        h("div", { class: "table-wrap" }, pieces.node),
      ),
    ),
    fleetBox,
    nodesBox,
  );
  emptyRow(pieces.tbody, pieces.columns, "Loading...");

  async function load() {
    try {
      const host = await api("GET", "/console/api/host");
      if (!ctx.alive) return;
      message(error, "");
      const gates = Array.isArray(host?.gates) ? host.gates : [];
      facts.replaceChildren(
        h("dt", { text: "name" }),
        h("dd", { id: "host-name", text: text(host?.name) }),
        h("dt", { text: "version" }),
        h("dd", { id: "host-version", text: text(host?.version) }),
        h("dt", { text: "gates" }),
        h(
          "dd",
          { id: "host-gates", class: "chips" },
          gates.length === 0
            ? "-"
            : gates.map((g) => h("span", { class: "chip", data: { gate: g }, text: g })),
        ),
      );
      const entries = host?.state && typeof host.state === "object" ? Object.entries(host.state) : [];
      if (entries.length === 0) emptyRow(pieces.tbody, pieces.columns, "No state.");
      else {
        pieces.tbody.replaceChildren(...entries.map(([name, piece]) => {
          const digest = typeof piece?.digest === "string" ? piece.digest : "";
          const err = piece?.error;
          return h(
            "tr",
            { data: { state: name }, class: err ? "denied" : "" },
            cell("name", name),
            cell("digest", digest ? h("code", { text: digest.slice(0, 12), title: digest }) : null),
            cell("loadedAt", formatTime(piece?.loadedAt)),
            cell(
              "error",
              err
                ? h("span", { class: "error-text", text: `${text(err.code)}: ${text(err.message)}` })
                : null,
            ),
          );
        }));
      }
      const fleet = host?.fleet;
      if (fleet && typeof fleet === "object") {
        const dl = h("dl", { class: "facts" });
        for (
          const [k, label] of [
            ["name", "fleet"],
            ["prefix", "prefix"],
            ["connected", "connected"],
            ["revision", "revision"],
            ["staleSeconds", "stale for (s)"],
            ["endpoint", "endpoint"],
          ]
        ) {
          const value = k === "connected"
            ? badge(fleet.connected ? "connected" : "disconnected", fleet.connected ? "ok" : "denied")
            : text(fleet[k]);
          dl.append(h("dt", { text: label }), h("dd", { id: `host-fleet-${k}` }, value));
        }
        fleetBox.replaceChildren(h("h3", { text: "Fleet" }), dl);
        fleetBox.hidden = false;
      } else {
        fleetBox.hidden = true;
      }
      const nodeList = Array.isArray(host?.nodes) ? host.nodes : [];
      nodesBox.hidden = nodeList.length === 0;
      if (nodeList.length > 0) {
        nodes.tbody.replaceChildren(...nodeList.map((n) =>
          h(
            "tr",
            { data: { node: n.name } },
            cell("name", n.name),
            cell("addresses", Array.isArray(n.addresses) ? n.addresses.join(", ") : n.addresses),
            cell("agentVersion", n.agentVersion),
            cell("stateRevision", n.stateRevision),
          )
        ));
      }
    } catch (e) {
      if (ctx.alive) message(error, `Could not load this host: ${errorText(e)}`, "error");
    }
  }
  refresh.addEventListener("click", () => load());
  ctx.every(HOST_REFRESH_MS, () => load());
  load();
}

start();
