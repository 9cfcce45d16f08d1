// Plugboard dashboard: read only, no framework. Every value is set with textContent, never parsed as HTML,
// so nothing a plugin reports (names, health messages, endpoints) can become markup.

// Off loopback the data needs an admin credential: open the page as /#token=<credential>. The fragment
// never reaches the server or its logs; it is moved into memory and removed from the address bar.
let token = "";
const fragment = new URLSearchParams(location.hash.slice(1));
if (fragment.get("token")) {
  token = fragment.get("token");
  history.replaceState(null, "", location.pathname + location.search);
}
const authHeaders = () => (token ? { authorization: `Bearer ${token}` } : {});

const $ = (id) => document.getElementById(id);
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (k === "class") node.className = v;
    else node.setAttribute(k, String(v));
  }
  for (const child of children) node.append(child instanceof Node ? child : document.createTextNode(child == null ? "" : String(child)));
  return node;
}
const dash = "–";
const fmt = (n, digits = 0) => (n == null || Number.isNaN(n) ? dash : n.toLocaleString(undefined, { maximumFractionDigits: digits, minimumFractionDigits: digits }));

const STATE_LABEL = { starting: "starting", ready: "running", restarting: "backing off", stopped: "stopped", failed: "failed", "gave-up": "gave up" };
const STATE_TONE = { ready: "ok", starting: "warn", restarting: "warn", stopped: "", failed: "bad", "gave-up": "bad" };
const HEALTH_TONE = { healthy: "ok", degraded: "warn", unhealthy: "bad", unknown: "" };
const pill = (text, tone) => el("span", { class: `pill ${tone ?? ""}` }, text);

function fill(tbody, rows, columns, emptyText) {
  tbody.replaceChildren(...(rows.length ? rows : [el("tr", {}, el("td", { class: "empty", colspan: columns }, emptyText))]));
}

/** One row per runtime, plus launched plugins that have no live runtime (starting, backing off, gave up…). */
function pluginRows(state) {
  const rows = state.runtimes.map((r) => {
    const l = r.launched;
    const health = el("td", {}, pill(r.health, HEALTH_TONE[r.health]));
    if (r.healthMessage) health.append(el("span", { class: "msg" }, r.healthMessage));
    const regs = el("td", {}, ...r.registrations.map((g) => el("span", { class: "reg mono" }, `${g.serviceType}@${g.version} → ${g.endpoint}`)));
    return el(
      "tr",
      { "data-plugin": r.pluginName, "data-runtime": r.runtimeId, "data-state": l ? l.state : "external" },
      el("td", {}, el("strong", {}, r.pluginName), el("span", { class: "msg mono" }, r.runtimeId)),
      el("td", {}, r.nameProof ?? dash),
      el("td", {}, r.pluginVersion),
      el("td", { class: "num" }, l && l.pid ? l.pid : dash),
      el("td", { class: "num" }, l ? l.restarts : dash),
      el("td", {}, l ? pill(STATE_LABEL[l.state] ?? l.state, STATE_TONE[l.state]) : pill("external or in-process")),
      health,
      regs,
    );
  });
  const live = new Set(state.runtimes.map((r) => r.runtimeId));
  for (const p of state.plugins) {
    if (p.runtimeId && live.has(p.runtimeId)) continue;
    rows.push(
      el(
        "tr",
        { "data-plugin": p.name, "data-state": p.state },
        el("td", {}, el("strong", {}, p.name), el("span", { class: "msg" }, "no runtime")),
        el("td", {}, dash),
        el("td", {}, dash),
        el("td", { class: "num" }, p.pid ? p.pid : dash),
        el("td", { class: "num" }, p.restarts),
        el("td", {}, pill(STATE_LABEL[p.state] ?? p.state, STATE_TONE[p.state])),
        el("td", {}, dash),
        el("td", {}, dash),
      ),
    );
  }
  return rows.sort((a, b) => a.dataset.plugin.localeCompare(b.dataset.plugin));
}

let previous; // the last state, for rates
function render(state) {
  $("host").textContent = state.hostId;
  const dt = previous ? (state.at - previous.at) / 1000 : 0;
  const before = new Map((previous?.services ?? []).map((s) => [s.service, s]));
  const rate = (s, key) => (dt > 0 && before.has(s.service) ? Math.max(0, s[key] - before.get(s.service)[key]) / dt : null);

  fill($("plugins").tBodies[0], pluginRows(state), 8, "no plugins");
  fill(
    $("services").tBodies[0],
    state.services.map((s) =>
      el(
        "tr",
        { "data-service": s.service },
        el("td", { class: "mono" }, s.service),
        el("td", { class: "num" }, fmt(rate(s, "calls"), 1)),
        el("td", { class: "num" }, fmt(s.calls)),
        el("td", { class: "num" }, fmt(s.errors)),
        el("td", { class: "num" }, s.calls ? fmt((100 * s.errors) / s.calls, 1) : dash),
        el("td", { class: "num" }, fmt(s.meanMs, 2)),
        el("td", { class: "num" }, fmt(s.p95Ms, 1)),
      ),
    ),
    7,
    "no routed calls yet",
  );
  fill(
    $("grants").tBodies[0],
    state.grants.map((g) => el("tr", {}, el("td", { class: "mono" }, g.capability), el("td", { class: "num" }, fmt(g.issued)))),
    2,
    "no grants issued",
  );
  fill(
    $("audit").tBodies[0],
    [...state.audit].reverse().map((e) =>
      el(
        "tr",
        { "data-event": e.event },
        el("td", { class: "mono" }, new Date(e.at).toLocaleTimeString()),
        el("td", {}, e.event),
        el("td", {}, pill(e.outcome, e.outcome === "success" ? "ok" : "bad")),
        el("td", { class: "mono" }, e.actor ? (e.actor.pluginName ?? e.actor.subject) : dash),
        el("td", { class: "mono" }, e.target ?? dash),
        el("td", {}, e.reason ?? dash),
      ),
    ),
    6,
    "no audit events yet",
  );

  const healthy = state.runtimes.filter((r) => r.health === "healthy").length;
  $("sum-plugins").textContent = String(state.plugins.length);
  $("sum-runtimes").textContent = `${state.runtimes.length} (${healthy})`;
  $("sum-services").textContent = String(new Set(state.runtimes.flatMap((r) => r.registrations.map((g) => g.serviceType))).size);
  const total = (key) => (dt > 0 ? state.services.reduce((sum, s) => sum + (rate(s, key) ?? 0), 0) : null);
  $("sum-rate").textContent = fmt(total("calls"), 1);
  $("sum-errors").textContent = fmt(total("errors"), 1);
  previous = state;
}

function setConnection(status, notice) {
  const badge = $("connection");
  badge.dataset.connection = status;
  badge.textContent = status;
  $("notice").hidden = !notice;
  $("notice").textContent = notice ?? "";
}

/** Server-sent events read through fetch (EventSource cannot send an authorization header). */
async function follow() {
  let delay = 1000;
  for (;;) {
    try {
      const res = await fetch("api/events", { headers: { accept: "text/event-stream", ...authHeaders() }, cache: "no-store" });
      if (res.status === 401 || res.status === 403) {
        setConnection("denied", "This dashboard is served off loopback: open it as …/#token=<admin credential> (docs/operations.md).");
        return;
      }
      if (!res.ok || !res.body) throw new Error(`HTTP ${res.status}`);
      setConnection("live");
      delay = 1000;
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
        let end;
        while ((end = buffer.indexOf("\n\n")) >= 0) {
          const frame = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const data = frame.split("\n").filter((l) => l.startsWith("data: ")).map((l) => l.slice(6)).join("\n");
          if (data) render(JSON.parse(data));
        }
      }
    } catch {
      // fall through to reconnect
    }
    setConnection("reconnecting");
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(delay * 2, 15000);
  }
}

void follow();
