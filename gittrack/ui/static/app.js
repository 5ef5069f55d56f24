// gittrack web UI: a hash-routed single page over the JSON API (/api/openapi.json).
// Every value from the repository reaches the page through textContent (see h()), never
// through innerHTML, so run names, params and tags always render as text.
"use strict";

const C = window.GTCharts;
const state = {info: null, timer: null, route: 0};

// -- DOM helpers ----------------------------------------------------------------------
function h(tag, props, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (k === "checked" || k === "disabled" || k === "value" || k === "selected") node[k] = v;
    else node.setAttribute(k, v === true ? "" : String(v));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function mount(node, ...children) {
  node.replaceChildren(...children.flat(2).filter(c => c !== null && c !== undefined && c !== false));
}

function fmt(v) {
  if (v === null || v === undefined) return "—";
  if (typeof v === "number") {
    if (Number.isInteger(v)) return String(v);
    return C.fmt(v);
  }
  if (typeof v === "object") return JSON.stringify(v);
  return String(v);
}

function fmtTime(iso) {
  if (!iso) return "—";
  return String(iso).slice(0, 19).replace("T", " ");
}

function fmtDuration(s) {
  if (s === null || s === undefined) return "—";
  if (s < 60) return `${s.toFixed(1)} s`;
  if (s < 3600) return `${Math.floor(s / 60)} m ${Math.round(s % 60)} s`;
  return `${Math.floor(s / 3600)} h ${Math.round((s % 3600) / 60)} m`;
}

function fmtBytes(n) {
  if (n === null || n === undefined) return "—";
  const units = ["B", "KB", "MB", "GB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return `${i ? n.toFixed(1) : n} ${units[i]}`;
}

function statusBadge(status, live) {
  return h("span", {class: `status status-${status}`, title: live ? "training now" : status},
           live ? h("span", {class: "pulse"}) : null, status);
}

function shortLabel(col) {
  const labels = {start_time: "started", end_time: "ended", run_id: "id"};
  if (labels[col]) return labels[col];
  const dot = col.indexOf(".");
  return dot > 0 && ["metrics", "params", "tags"].includes(col.slice(0, dot))
    ? col.slice(dot + 1) : col;
}

function section(title, ...body) {
  return h("section", {class: "card"}, h("h2", {}, title), ...body);
}

function errorBox(message) {
  return h("div", {class: "error", role: "alert"}, message);
}

// -- API ------------------------------------------------------------------------------
async function api(path, options) {
  const res = await fetch(path, options);
  let body = null;
  try { body = await res.json(); } catch (e) { body = null; }
  if (!res.ok) {
    const err = new Error(body && body.error ? body.error : `${res.status} ${res.statusText}`);
    err.kind = body && body.kind; err.status = res.status;
    throw err;
  }
  return body;
}

function post(path, body) {
  return api(path, {method: "POST", headers: {"Content-Type": "application/json"},
                    body: JSON.stringify(body)});
}

function qs(params) {
  const u = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== "") u.set(k, v);
  }
  return u.toString();
}

// -- routing --------------------------------------------------------------------------
function parseHash() {
  const raw = location.hash.replace(/^#/, "") || "/";
  const [path, query] = raw.split("?");
  return {parts: path.split("/").filter(Boolean).map(decodeURIComponent),
          query: new URLSearchParams(query || "")};
}

function go(hash) { location.hash = hash; }

function stopPolling() {
  if (state.timer) { clearTimeout(state.timer); state.timer = null; }
}

function poll(fn, ms) {
  stopPolling();
  const route = state.route;
  state.timer = setTimeout(async () => {
    if (route !== state.route) return;
    try { await fn(); } catch (e) { /* the next navigation or poll shows errors */ }
  }, ms);
}

async function render() {
  stopPolling();
  state.route += 1;
  const {parts, query} = parseHash();
  const main = document.getElementById("main");
  for (const a of document.querySelectorAll("[data-nav]")) {
    a.classList.toggle("active", (parts[0] === "models") === (a.dataset.nav === "models"));
  }
  try {
    if (parts[0] === "models" && parts[1]) await modelPage(main, parts[1], query);
    else if (parts[0] === "models") await modelsPage(main);
    else if (parts[0] === "e" && parts[1]) await runsPage(main, parts[1], query);
    else if (parts[0] === "r" && parts[1]) await runPage(main, parts[1]);
    else if (parts[0] === "compare") await comparePage(main, (query.get("runs") || "").split(",").filter(Boolean));
    else await experimentsPage(main);
  } catch (e) {
    mount(main, errorBox(e.message));
  }
}

// -- experiments ----------------------------------------------------------------------
async function experimentsPage(main) {
  document.title = "Experiments · gittrack";
  const exps = await api("/api/experiments");
  const rows = exps.map(e => h("tr", {},
    h("td", {}, h("a", {href: `#/e/${encodeURIComponent(e.name)}`, class: "strong"}, e.name)),
    h("td", {class: "num"}, e.runs),
    h("td", {class: "num"}, e.running ? statusBadge("running", true) : "—"),
    h("td", {}, fmtTime(e.last_start)),
    h("td", {}, e.baseline ? h("code", {}, e.baseline.slice(0, 10)) : "—")));
  mount(main, 
    h("div", {class: "page-head"}, h("h1", {}, "Experiments"),
      h("span", {class: "muted"}, `${exps.length} experiment${exps.length === 1 ? "" : "s"}`)),
    exps.length ? h("table", {class: "grid-table experiments"},
      h("thead", {}, h("tr", {}, ["experiment", "runs", "running", "latest start", "baseline"]
        .map(t => h("th", {}, t)))),
      h("tbody", {}, rows))
      : h("p", {class: "empty"}, "No runs yet. Log one with gittrack.start_run() or `gittrack run -- python train.py`."));
}

// -- the runs table -------------------------------------------------------------------
function columnsKey(exp) { return `gittrack.columns.${exp}`; }

async function runsPage(main, exp, query) {
  document.title = `${exp} · gittrack`;
  const params = {where: query.get("where") || "", order: query.get("order") || "",
                  offset: Number(query.get("offset") || 0), limit: Number(query.get("limit") || 50)};
  const saved = localStorage.getItem(columnsKey(exp));
  const selected = new Set((sessionStorage.getItem(`gittrack.sel.${exp}`) || "").split(",").filter(Boolean));
  const filter = h("input", {type: "search", class: "filter", value: params.where, spellcheck: "false",
                             placeholder: "metrics.rmse < 100 AND params.model = 'rf'",
                             "aria-label": "filter"});
  const errorSlot = h("div", {});
  const tableSlot = h("div", {class: "table-wrap"});
  const pagerSlot = h("div", {class: "pager"});
  const compareBtn = h("button", {type: "button", class: "primary", disabled: true, onclick: () =>
    go(`#/compare?runs=${[...selected].join(",")}`)}, "Compare");
  const chooser = h("details", {class: "chooser"}, h("summary", {}, "Columns"));
  const nav = changes => {
    const next = {...params, ...changes};
    go(`#/e/${encodeURIComponent(exp)}?${qs({where: next.where, order: next.order,
      offset: next.offset || "", limit: next.limit === 50 ? "" : next.limit})}`);
  };
  const form = h("form", {class: "toolbar", onsubmit: ev => {
    ev.preventDefault(); nav({where: filter.value.trim(), offset: 0});
  }}, filter, h("button", {type: "submit"}, "Filter"),
    params.where ? h("button", {type: "button", class: "link", onclick: () => nav({where: "", offset: 0})}, "clear") : null,
    h("span", {class: "spacer"}), chooser, compareBtn);
  mount(main, 
    h("div", {class: "page-head"}, h("div", {class: "crumbs"}, h("a", {href: "#/"}, "Experiments"), " / "),
      h("h1", {}, exp), h("span", {class: "muted", id: "count"})),
    form, errorSlot, tableSlot, pagerSlot);

  const updateCompare = () => {
    compareBtn.disabled = selected.size < 2;
    compareBtn.textContent = selected.size ? `Compare ${selected.size}` : "Compare";
    sessionStorage.setItem(`gittrack.sel.${exp}`, [...selected].join(","));
  };
  updateCompare();

  async function load(first) {
    let page;
    try {
      page = await api(`/api/experiments/${encodeURIComponent(exp)}/runs?${qs({...params,
        columns: saved || ""})}`);
    } catch (e) {
      if (e.kind === "filter" || e.status === 400) {
        errorSlot.replaceChildren(errorBox(`Filter error: ${e.message}`));
        filter.classList.add("invalid");
        tableSlot.replaceChildren();
        return;
      }
      throw e;
    }
    errorSlot.replaceChildren();
    filter.classList.remove("invalid");
    document.getElementById("count").textContent = page.total === page.all
      ? `${page.all.toLocaleString()} runs`
      : `${page.total.toLocaleString()} of ${page.all.toLocaleString()} runs match`;
    if (first) buildChooser(page);
    tableSlot.replaceChildren(runsTable(page));
    pagerSlot.replaceChildren(...pager(page));
    if (page.rows.some(r => r.status === "running")) poll(() => load(false), 2000);
  }

  function buildChooser(page) {
    const shown = new Set(page.columns);
    const groups = {attributes: [], metrics: [], params: [], tags: []};
    for (const col of page.available) {
      const sec = col.split(".")[0];
      (groups[sec] || groups.attributes).push(col);
    }
    const body = h("div", {class: "chooser-body"});
    for (const [name, cols] of Object.entries(groups)) {
      if (!cols.length) continue;
      body.append(h("div", {class: "chooser-group"}, h("div", {class: "chooser-title"}, name),
        cols.map(col => h("label", {}, h("input", {type: "checkbox", checked: shown.has(col),
          value: col, onchange: ev => {
            if (ev.target.checked) shown.add(col); else shown.delete(col);
            const order = page.available.filter(c => shown.has(c));
            localStorage.setItem(columnsKey(exp), order.join(","));
          }}), " ", shortLabel(col)))));
    }
    body.append(h("div", {class: "chooser-actions"},
      h("button", {type: "button", onclick: () => { chooser.open = false; render(); }}, "Apply"),
      h("button", {type: "button", class: "link", onclick: () => {
        localStorage.removeItem(columnsKey(exp)); chooser.open = false; render();
      }}, "Reset")));
    chooser.append(body);
  }

  function sortBy(col) {
    if (col === "duration") return;
    const [cur, dir] = params.order.split(" ");
    const desc = cur === col ? dir !== "DESC" : col.startsWith("metrics.") ? false : col === "start_time";
    nav({order: `${col} ${desc ? "DESC" : "ASC"}`, offset: 0});
  }

  function runsTable(page) {
    const [sortCol, sortDir] = (page.order || "").split(" ");
    const head = h("tr", {}, h("th", {class: "sel"}),
      page.columns.map(col => h("th", {
        class: `${col.split(".")[0]}-col ${col === "duration" ? "" : "sortable"} ${col === sortCol ? "sorted" : ""}`,
        title: col === "duration" ? col : `${col}: click to sort`, "data-col": col,
        onclick: () => sortBy(col)},
        col.includes(".") ? h("span", {class: "sec"}, col.split(".")[0].replace(/s$/, "")) : null,
        shortLabel(col),
        col === sortCol ? h("span", {class: "arrow"}, sortDir === "DESC" ? " ▼" : " ▲") : null)));
    const body = page.rows.map(r => h("tr", {class: r.baseline ? "baseline-row" : "", "data-id": r.id},
      h("td", {class: "sel"}, h("input", {type: "checkbox", checked: selected.has(r.id),
        "aria-label": `select ${r.name}`, onchange: ev => {
          if (ev.target.checked) selected.add(r.id); else selected.delete(r.id);
          updateCompare();
        }})),
      page.columns.map(col => runCell(r, col, page.better))));
    if (!page.rows.length) {
      return h("p", {class: "empty"}, page.where ? "No run matches this filter." : "No runs.");
    }
    return h("table", {class: "grid-table runs"}, h("thead", {}, head), h("tbody", {}, body));
  }

  function runCell(r, col, better) {
    const v = r.values[col];
    if (col === "name") {
      return h("td", {class: "name"}, h("a", {href: `#/r/${r.id}`}, r.name),
               r.baseline ? h("span", {class: "tag"}, "baseline") : null);
    }
    if (col === "status") return h("td", {}, statusBadge(r.status, r.status === "running"));
    if (col === "start_time" || col === "end_time") return h("td", {class: "time"}, fmtTime(v));
    if (col === "duration") return h("td", {class: "num"}, fmtDuration(v));
    if (col === "run_id") return h("td", {}, h("code", {}, String(v).slice(0, 8)));
    const d = r.delta[col];
    const isNum = typeof v === "number";
    return h("td", {class: isNum ? "num" : ""}, fmt(v),
      typeof d === "number" ? deltaBadge(d, (better || {})[col]) : null);
  }

  // A difference to the baseline, green when it is an improvement and red when it is worse
  // (by the metric's direction: from its name or metric_directions in the config), grey when
  // the direction is unknown.
  function deltaBadge(d, direction) {
    const good = direction === "higher" ? d > 0 : direction === "lower" ? d < 0 : null;
    const verdict = d === 0 || good === null ? "" : good ? "better" : "worse";
    const says = direction ? ` (${direction} is better)` : "";
    return h("span", {class: `delta ${d > 0 ? "up" : d < 0 ? "down" : ""} ${verdict}`.trim(),
                      title: `difference to the baseline${says}`},
             `${d > 0 ? "+" : ""}${C.fmt(d)}`);
  }

  function pager(page) {
    const from = page.total ? page.offset + 1 : 0, to = Math.min(page.offset + page.limit, page.total);
    const size = h("select", {"aria-label": "page size", onchange: ev => nav({limit: Number(ev.target.value), offset: 0})},
      [25, 50, 100, 200].map(n => h("option", {value: n, selected: n === page.limit}, `${n} / page`)));
    return [
      h("span", {class: "muted"}, `${from.toLocaleString()}–${to.toLocaleString()} of ${page.total.toLocaleString()}`),
      h("button", {disabled: page.offset === 0, onclick: () => nav({offset: Math.max(0, page.offset - page.limit)})}, "‹ Prev"),
      h("button", {disabled: to >= page.total, onclick: () => nav({offset: page.offset + page.limit})}, "Next ›"),
      size];
  }

  await load(true);
}

// -- one run --------------------------------------------------------------------------
// Arguments joined as a shell would read them back: spaces between, quotes where needed.
function shellJoin(args) {
  if (!Array.isArray(args)) return String(args);
  return args.map(a => {
    const s = String(a);
    return s !== "" && /^[A-Za-z0-9_@%+=:,.\/-]+$/.test(s) ? s : `'${s.replace(/'/g, `'"'"'`)}'`;
  }).join(" ");
}

function kvTable(obj, empty) {
  const keys = Object.keys(obj || {});
  if (!keys.length) return h("p", {class: "empty"}, empty);
  return h("table", {class: "kv"}, h("tbody", {}, keys.sort().map(k =>
    h("tr", {}, h("th", {}, k), h("td", {}, fmt(obj[k]))))));
}

function metricsTable(metrics) {
  const keys = Object.keys(metrics || {});
  if (!keys.length) return h("p", {class: "empty"}, "No metrics.");
  return h("table", {class: "kv"}, h("thead", {}, h("tr", {}, h("th", {}, "metric"), h("th", {}, "value"), h("th", {}, "step"))),
    h("tbody", {}, keys.map(k => h("tr", {}, h("th", {}, k), h("td", {class: "num"}, fmt(metrics[k].value)),
      h("td", {class: "num muted"}, metrics[k].step)))));
}

function curveCharts(series, multi) {
  // series: {key: [[step, value, ts]]} or, with multi, {key: [{name, color, points}]}
  const keys = Object.keys(series).filter(k => multi
    ? series[k].some(s => s.points.length > 1) : series[k].length > 1);
  if (!keys.length) return h("p", {class: "empty"}, "No metric has more than one point to draw.");
  return h("div", {class: "charts"}, keys.map(k => C.line({
    title: k, xLabel: "step",
    series: multi ? series[k] : [{name: k, color: C.PALETTE[0],
                                   points: series[k].map(p => [p[0], p[1]])}],
  })));
}

async function runPage(main, id) {
  const run = await api(`/api/runs/${encodeURIComponent(id)}`);
  document.title = `${run.name} · gittrack`;
  const statusSlot = h("span", {}, statusBadge(run.status, run.live));
  const metricsSlot = h("div", {}, metricsTable(run.metrics));
  const curvesSlot = h("div", {class: "curves"}, h("p", {class: "muted"}, "Loading curves…"));
  const info = run.info;
  mount(main, 
    h("div", {class: "page-head"},
      h("div", {class: "crumbs"}, h("a", {href: "#/"}, "Experiments"), " / ",
        h("a", {href: `#/e/${encodeURIComponent(run.experiment)}`}, run.experiment), " / "),
      h("h1", {class: "run-name"}, run.name), statusSlot),
    h("div", {class: "meta"},
      meta("id", h("code", {}, run.id)), meta("commit", h("code", {}, run.commit.slice(0, 12))),
      meta("started", fmtTime(info.start_time)), meta("duration", fmtDuration(run.duration)),
      info.user ? meta("user", info.user) : null, info.command ? meta("command", h("code", {class: "command"}, shellJoin(info.command))) : null,
      info.baseline ? meta("code baseline", h("code", {}, info.baseline.slice(0, 12))) : null,
      info.dirty ? meta("working tree", "uncommitted edits captured") : null),
    h("div", {class: "two"},
      section("Parameters", kvTable(run.params, "No parameters.")),
      section("Metrics", metricsSlot)),
    section("Metric curves", curvesSlot),
    h("div", {class: "two"},
      section("Tags", kvTable(run.tags, "No tags.")),
      section("Data inputs", inputsTable(run.inputs))),
    section("Artifacts", h("div", {id: "artifacts"}, h("p", {class: "muted"}, "Loading…"))),
    section("Code changed against the baseline commit", h("div", {id: "code"}, h("p", {class: "muted"}, "Loading…"))));

  async function refresh(first) {
    const [now, series] = await Promise.all([
      first ? run : api(`/api/runs/${encodeURIComponent(id)}`),
      api(`/api/runs/${encodeURIComponent(id)}/metrics`)]);
    statusSlot.replaceChildren(statusBadge(now.status, now.live));
    metricsSlot.replaceChildren(metricsTable(now.metrics));
    curvesSlot.replaceChildren(curveCharts(series.series, false));
    const points = Object.values(series.series).reduce((n, s) => n + s.length, 0);
    curvesSlot.dataset.points = String(points);
    if (now.status === "running") poll(() => refresh(false), 1500);
  }
  await refresh(true);
  artifactsView(document.getElementById("artifacts"), run.id);
  codeView(document.getElementById("code"), run.id);
}

function meta(label, value) {
  return h("div", {class: "meta-item"}, h("span", {class: "meta-label"}, label), h("span", {}, value));
}

function inputsTable(inputs) {
  const names = Object.keys(inputs || {});
  if (!names.length) return h("p", {class: "empty"}, "No data inputs logged.");
  return h("table", {class: "kv"}, h("thead", {}, h("tr", {}, ["name", "path", "rows", "columns", "md5", "size"].map(t => h("th", {}, t)))),
    h("tbody", {}, names.map(n => {
      const e = inputs[n] || {};
      return h("tr", {}, h("th", {}, n), h("td", {}, fmt(e.path)), h("td", {class: "num"}, fmt(e.rows)),
        h("td", {}, Array.isArray(e.columns) ? e.columns.join(", ") : fmt(e.columns)),
        h("td", {}, h("code", {}, String(e.md5 || "").slice(0, 10))), h("td", {class: "num"}, fmtBytes(e.size)));
    })));
}

async function artifactsView(box, runId) {
  let listed;
  try { listed = (await api(`/api/runs/${encodeURIComponent(runId)}/artifacts`)).artifacts; }
  catch (e) { box.replaceChildren(errorBox(e.message)); return; }
  if (!listed.length) { box.replaceChildren(h("p", {class: "empty"}, "No artifacts.")); return; }
  const preview = h("div", {class: "preview"}, h("p", {class: "muted"}, "Choose a file to preview it."));
  const list = h("ul", {class: "files"});
  const open = async (path, file, item) => {
    for (const li of list.querySelectorAll(".current")) li.classList.remove("current");
    item.classList.add("current");
    preview.replaceChildren(h("p", {class: "muted"}, "Loading…"));
    try { preview.replaceChildren(await previewOf(runId, path, file)); }
    catch (e) { preview.replaceChildren(errorBox(e.message)); }
  };
  for (const a of listed) {
    const head = h("li", {class: "artifact"}, h("span", {class: `kind kind-${a.kind}`}, a.kind), " ",
      a.kind === "file" ? h("button", {class: "link", onclick: ev => open(a.path, null, ev.currentTarget.parentNode)}, a.path)
        : h("span", {class: "strong"}, a.path),
      h("span", {class: "muted"}, ` ${fmtBytes(a.size)}`), a.cached ? null : h("span", {class: "tag warn"}, "not in cache"));
    list.append(head);
    for (const f of a.files || []) {
      list.append(h("li", {class: "inner"}, h("button", {class: "link",
        onclick: ev => open(a.path, f.path, ev.currentTarget.parentNode)}, f.path),
        h("span", {class: "muted"}, ` ${fmtBytes(f.size)}`)));
    }
  }
  box.replaceChildren(h("div", {class: "artifacts"}, list, preview));
  const first = list.querySelector("button.link");
  if (first) first.click();
}

async function previewOf(runId, path, file) {
  const q = qs({path, file: file || ""});
  const p = await api(`/api/runs/${encodeURIComponent(runId)}/preview?${q}`);
  const title = h("div", {class: "preview-title"}, p.name, p.truncated ? h("span", {class: "tag"}, "truncated") : null);
  if (p.type === "image") {
    return h("div", {}, title, h("img", {src: `/api/runs/${encodeURIComponent(runId)}/raw?${q}`, alt: p.name}));
  }
  if (p.type === "csv") {
    return h("div", {}, title, h("div", {class: "table-wrap"}, h("table", {class: "grid-table csv"},
      h("thead", {}, h("tr", {}, p.header.map(c => h("th", {}, c)))),
      h("tbody", {}, p.rows.map(r => h("tr", {}, r.map(c => h("td", {}, c))))))));
  }
  if (p.type === "binary") {
    return h("div", {}, title, h("p", {class: "muted"}, "Binary file: not shown, and never loaded by this server."));
  }
  return h("div", {}, title, h("pre", {class: p.type === "model" ? "model-yaml" : ""}, p.text));
}

async function codeView(box, runId) {
  let doc;
  try { doc = await api(`/api/runs/${encodeURIComponent(runId)}/code`); }
  catch (e) { box.replaceChildren(errorBox(e.message)); return; }
  if (!doc.baseline) { box.replaceChildren(h("p", {class: "empty"}, "The run started with no commit to compare with.")); return; }
  if (!doc.patch) {
    box.replaceChildren(h("p", {class: "empty"}, `The code is exactly commit ${doc.baseline.slice(0, 12)}.`));
    return;
  }
  const lines = doc.patch.split("\n").map(line => {
    let cls = "";
    if (line.startsWith("+++") || line.startsWith("---") || line.startsWith("diff ")) cls = "d-file";
    else if (line.startsWith("@@")) cls = "d-hunk";
    else if (line.startsWith("+")) cls = "d-add";
    else if (line.startsWith("-")) cls = "d-del";
    return h("span", {class: cls}, line + "\n");
  });
  box.replaceChildren(
    h("p", {class: "muted"}, `${doc.files.length} file${doc.files.length === 1 ? "" : "s"} changed against `,
      h("code", {}, doc.baseline.slice(0, 12)), doc.truncated ? " (patch truncated)" : ""),
    h("pre", {class: "diff"}, lines));
}

// -- compare --------------------------------------------------------------------------
async function comparePage(main, ids) {
  document.title = "Compare · gittrack";
  if (ids.length < 2) { mount(main, errorBox("Choose two or more runs in a runs table to compare them.")); return; }
  const [doc, curves] = await Promise.all([
    api(`/api/compare?${qs({runs: ids.join(",")})}`),
    api(`/api/metrics?${qs({runs: ids.join(",")})}`)]);
  const runs = doc.runs.map((r, i) => ({...r, color: C.PALETTE[i % C.PALETTE.length]}));
  const diffOnly = h("input", {type: "checkbox", checked: true, id: "diff-only"});
  const paramsSlot = h("div", {class: "table-wrap"});
  const drawParams = () => paramsSlot.replaceChildren(compareTable(doc.params, runs, diffOnly.checked, "parameters"));
  diffOnly.addEventListener("change", drawParams);
  drawParams();

  const byKey = {};
  curves.runs.forEach((r, i) => {
    for (const [k, pts] of Object.entries(r.series)) {
      (byKey[k] = byKey[k] || []).push({name: runs[i].name, color: runs[i].color,
                                        points: pts.map(p => [p[0], p[1]])});
    }
  });

  // Parallel coordinates: params that differ, then every metric.
  const dims = [];
  for (const e of doc.params) if (e.change !== "same" && e.values.some(v => v !== null && typeof v !== "object")) dims.push({label: e.key, values: e.values});
  for (const e of doc.metrics) dims.push({label: e.key, values: e.values.map(v => typeof v === "number" ? v : null)});

  const keys = [...doc.params.map(e => `params.${e.key}`), ...doc.metrics.map(e => `metrics.${e.key}`)];
  const metricKeys = doc.metrics.map(e => `metrics.${e.key}`);
  const firstChanged = doc.params.find(e => e.change !== "same");
  const xSel = h("select", {"aria-label": "x axis"}, keys.map(k => h("option", {value: k,
    selected: firstChanged ? k === `params.${firstChanged.key}` : k === keys[0]}, k)));
  const ySel = h("select", {"aria-label": "y axis"}, metricKeys.map((k, i) => h("option", {value: k, selected: i === 0}, k)));
  const scatterSlot = h("div", {});
  const valueOf = (key, i) => {
    const [sec, ...rest] = key.split(".");
    const name = rest.join(".");
    const entry = doc[sec].find(e => e.key === name);
    return entry ? entry.values[i] : null;
  };
  const drawScatter = () => {
    if (!metricKeys.length) { scatterSlot.replaceChildren(h("p", {class: "empty"}, "No metrics to plot.")); return; }
    scatterSlot.replaceChildren(C.scatter({xLabel: xSel.value, yLabel: ySel.value,
      points: runs.map((r, i) => ({x: valueOf(xSel.value, i), y: valueOf(ySel.value, i), label: r.name, color: r.color}))}));
  };
  xSel.addEventListener("change", drawScatter); ySel.addEventListener("change", drawScatter);
  drawScatter();

  mount(main, 
    h("div", {class: "page-head"}, h("div", {class: "crumbs"}, h("a", {href: "#/"}, "Experiments"), " / "),
      h("h1", {}, `Compare ${runs.length} runs`)),
    h("div", {class: "chips"}, runs.map(r => {
      const sw = h("span", {class: "swatch"}); sw.style.background = r.color;
      return h("a", {class: "chip", href: `#/r/${r.id}`}, sw, r.name, h("span", {class: "muted"}, ` ${r.experiment}`));
    })),
    section("Parameters", h("label", {class: "toggle"}, diffOnly, " differences only"), paramsSlot),
    section("Metrics", h("div", {class: "table-wrap"}, compareTable(doc.metrics, runs, false, "metrics"))),
    section("Metric curves", curveCharts(byKey, true)),
    section("Parallel coordinates", dims.length >= 2 ? C.parcoords({dims, runs})
      : h("p", {class: "empty"}, "Needs two or more params or metrics.")),
    section("Scatter", h("div", {class: "toolbar"}, h("label", {}, "x ", xSel), h("label", {}, "y ", ySel)), scatterSlot));
}

function compareTable(entries, runs, diffOnly, what) {
  const shown = entries.filter(e => !diffOnly || e.change !== "same");
  if (!shown.length) return h("p", {class: "empty"}, diffOnly ? `No ${what} differ.` : `No ${what}.`);
  return h("table", {class: "grid-table compare"},
    h("thead", {}, h("tr", {}, h("th", {}, what === "metrics" ? "metric" : "param"), runs.map(r => h("th", {}, r.name)))),
    h("tbody", {}, shown.map(e => {
      return h("tr", {class: e.change === "same" ? "same" : "changed"}, h("th", {}, e.key),
        e.values.map(v => h("td", {class: typeof v === "number" ? "num" : ""}, fmt(v))));
    })));
}

// -- models ---------------------------------------------------------------------------
async function modelsPage(main) {
  document.title = "Models · gittrack";
  const doc = await api("/api/models");
  const ro = state.info && state.info.read_only;
  const flash = h("div", {id: "flash"});
  const cards = doc.models.map(m => modelCard(m, ro, flash));
  mount(main, 
    h("div", {class: "page-head"}, h("h1", {}, "Models"),
      h("span", {class: "muted"}, `${doc.models.length} registered`),
      ro ? h("span", {class: "tag"}, "read-only: promote and roll back are disabled") : null),
    flash,
    doc.warnings.length ? h("div", {class: "warning"}, doc.warnings.map(w => h("div", {}, w))) : null,
    cards.length ? cards : h("p", {class: "empty"}, "No registered models yet; register one with `gittrack register MODEL RUN`."));
}

function modelCard(m, ro, flash) {
  const stageChips = Object.entries(m.stages).map(([stage, v]) => h("div", {class: "stage"},
    h("span", {class: "stage-name"}, stage), h("span", {class: "stage-version"}, `v${v}`),
    h("button", {class: "small", disabled: ro, title: ro ? "read-only server" : `demote v${v} from ${stage}`,
      "data-action": "rollback", "data-stage": stage,
      onclick: () => confirmDialog(`Roll back ${m.name} / ${stage}?`,
        `v${v} is demoted from ${stage}; the previous active version becomes current again. Only new tags are written.`,
        "Roll back", async () => {
          const events = await post(`/api/models/${encodeURIComponent(m.name)}/rollback`, {stage});
          return `Rolled back ${m.name}/${stage}: ${events.map(e => e.tag).join(", ")}`;
        }, flash)}, "Roll back")));
  const metricKeys = [...new Set(m.versions.flatMap(v => Object.keys(v.metrics)))].slice(0, 3);
  const rows = m.versions.map(v => h("tr", {"data-version": v.version},
    h("td", {class: "strong"}, `v${v.version}`),
    h("td", {}, v.stages.map(s => h("span", {class: `tag stage-tag`}, s))),
    h("td", {}, h("a", {href: `#/r/${v.run}`}, v.run_name || v.run.slice(0, 8))),
    h("td", {}, v.experiment),
    metricKeys.map(k => h("td", {class: "num"}, fmt(v.metrics[k]))),
    h("td", {class: "time"}, fmtTime(v.time)),
    h("td", {}, h("button", {class: "small", disabled: ro, title: ro ? "read-only server" : "promote this version",
      "data-action": "promote", onclick: () => promoteDialog(m, v, flash)}, "Promote…"))));
  const timeline = h("ol", {class: "timeline"}, m.history.map(e => h("li", {class: `ev ev-${e.action}`},
    h("span", {class: "time"}, fmtTime(e.time)),
    h("span", {class: `action action-${e.action}`}, e.action),
    h("span", {class: "strong"}, `v${e.version}`), e.stage ? h("span", {}, ` → ${e.stage}`) : null,
    h("span", {class: "muted"}, ` by ${String(e.actor || "").split(" <")[0]}`),
    h("span", {class: `sig sig-${e.signature || "unsigned"}`, title: e.signature_detail || "not signed"},
      e.verified ? " ✓ verified" : e.signature === "unverified" ? " ✗ unverified" : " unsigned"),
    e.note ? h("span", {class: "note"}, ` “${e.note}”`) : null)));
  return h("section", {class: "card model", "data-model": m.name},
    h("div", {class: "model-head"}, h("h2", {}, h("a", {href: `#/models/${encodeURIComponent(m.name)}`}, m.name)),
      h("span", {class: "muted"}, `${m.versions.length} versions · latest v${m.latest}`),
      h("a", {class: "small-link", href: `#/models/${encodeURIComponent(m.name)}`, "data-link": "monitoring"}, "monitoring →")),
    h("div", {class: "stages"}, stageChips.length ? stageChips : h("span", {class: "muted"}, "No stage yet.")),
    h("div", {class: "model-body"},
      h("div", {class: "table-wrap"}, h("table", {class: "grid-table versions"},
        h("thead", {}, h("tr", {}, ["version", "stages", "run", "experiment", ...metricKeys, "registered", ""].map(t => h("th", {}, t)))),
        h("tbody", {}, rows))),
      h("div", {class: "history"}, h("h3", {}, "History"), timeline)));
}

// -- one model: its card, then error and drift over time from its monitoring runs ---------
async function modelPage(main, name, query) {
  document.title = `${name} · gittrack`;
  const [doc, mon] = await Promise.all([api("/api/models"),
    api(`/api/models/${encodeURIComponent(name)}/monitoring`)]);
  const m = doc.models.find(x => x.name === name);
  if (!m) { mount(main, errorBox(`No model '${name}' in the registry.`)); return; }
  const ro = state.info && state.info.read_only;
  const flash = h("div", {id: "flash"});
  const reportSlot = h("div", {id: "drift-report"});
  const markers = mon.changes.map(c => ({x: c.step, label: `v${c.version}`}));
  const runs = mon.runs.filter(r => r.step !== null);
  const series = key => ({name: key, points: runs.filter(r => typeof r.metrics[key] === "number")
    .map(r => [r.step, r.metrics[key]])});
  const errorCharts = mon.errors.map(k => C.line({title: k, series: [series(k)], markers, xLabel: "batch (step)", dots: true}));
  const driftCharts = ["drift/share", "drift/columns"].filter(k => mon.drift.includes(k))
    .map(k => C.line({title: k, series: [series(k)], markers, xLabel: "batch (step)", dots: true}));
  const selected = query.get("run") || (runs.length ? runs[runs.length - 1].id : null);
  const rows = mon.runs.map(r => h("tr", {class: `${r.alert ? "alert-row" : ""} ${r.id === selected ? "current" : ""}`,
      "data-id": r.id, onclick: () => go(`#/models/${encodeURIComponent(name)}?run=${r.id}`)},
    h("td", {class: "num"}, fmt(r.step)), h("td", {}, h("a", {href: `#/r/${r.id}`}, r.name)),
    h("td", {class: "strong"}, r.version === null || r.version === undefined ? "—" : `v${r.version}`),
    mon.errors.map(k => h("td", {class: "num"}, fmt(r.metrics[k]))),
    h("td", {class: "num"}, fmt(r.metrics["drift/share"])),
    h("td", {class: "num"}, fmt(r.metrics["drift/columns"])),
    h("td", {}, r.alert ? h("span", {class: "tag warn", title: r.alert}, r.rollback_to ? `alert · roll back to ${r.rollback_to}` : "alert") : "")));
  mount(main,
    h("div", {class: "page-head"}, h("div", {class: "crumbs"}, h("a", {href: "#/models"}, "Models"), " / "),
      h("h1", {}, name), h("span", {class: "muted"}, `${mon.runs.length} monitoring runs in ${mon.experiment}`)),
    flash, modelCard(m, ro, flash),
    mon.runs.length ? [
      section("Error over time", errorCharts.length ? h("div", {class: "charts"}, errorCharts)
        : h("p", {class: "empty"}, "No error metrics: monitor with --target COLUMN to score batches.")),
      section("Drift over time", h("div", {class: "charts"}, driftCharts)),
      section("Batches", h("div", {class: "table-wrap"}, h("table", {class: "grid-table batches"},
        h("thead", {}, h("tr", {}, ["step", "run", "version", ...mon.errors, "drift share", "drifted", ""].map(t => h("th", {}, t)))),
        h("tbody", {}, rows)))),
      reportSlot]
      : h("p", {class: "empty"}, `No monitoring runs yet; record one with \`gittrack monitor models:/${name}/prod --data BATCH\`.`));
  if (selected) await driftView(reportSlot, selected);
}

async function driftView(box, runId) {
  let rep;
  try { rep = await api(`/api/runs/${encodeURIComponent(runId)}/drift`); }
  catch (e) { box.replaceChildren(errorBox(e.message)); return; }
  const cols = rep.columns || [];
  const table = h("table", {class: "grid-table drift"},
    h("thead", {}, h("tr", {}, ["column", "kind", "test", "score", "threshold", "drift", "psi", "note"].map(t => h("th", {}, t)))),
    h("tbody", {}, cols.map(c => h("tr", {class: c.drifted ? "drift-row" : ""},
      h("th", {}, c.column), h("td", {}, c.kind), h("td", {}, c.test || "—"),
      h("td", {class: "num"}, fmt(c.score)), h("td", {class: "num"}, fmt(c.threshold)),
      h("td", {}, c.test ? (c.drifted ? h("span", {class: "tag warn"}, "drift") : "no") : "—"),
      h("td", {class: "num"}, fmt(c.psi)),
      h("td", {class: "muted"}, [c.note, (c.new_categories || []).length ? `new: ${c.new_categories.join(", ")}` : null].filter(Boolean).join("; "))))));
  const charts = cols.filter(c => c.display).map(c => {
    const d = c.display;
    return C.bars({title: `${c.column}${c.drifted ? " — drift" : ""}`, labels: d.type === "categories" ? d.labels : null,
                   edges: d.edges, reference: d.reference, current: d.current});
  });
  const ref = rep.reference || {};
  box.replaceChildren(section(`Drift report: ${rep.name}`,
    h("p", {}, h("span", {class: "strong"}, rep.dataset_drift ? "Dataset drift" : "No dataset drift"),
      ` — ${(rep.drifted || []).length} of ${rep.tested} columns drifted (${((rep.share || 0) * 100).toFixed(0)}%; the dataset drifts at ${((rep.drift_share || 0) * 100).toFixed(0)}%). Reference: ${ref.label || "—"}.`),
    h("div", {class: "table-wrap"}, table), h("div", {class: "charts"}, charts)));
}

function dialogShell(title, body, okLabel, onOk) {
  const error = h("div", {});
  const ok = h("button", {class: "primary", "data-confirm": "1"}, okLabel);
  const cancel = h("button", {type: "button"}, "Cancel");
  const dlg = h("dialog", {class: "confirm"}, h("h3", {}, title), body, error,
    h("div", {class: "dialog-actions"}, cancel, ok));
  cancel.addEventListener("click", () => { dlg.close(); dlg.remove(); });
  ok.addEventListener("click", async () => {
    ok.disabled = true;
    try { await onOk(); dlg.close(); dlg.remove(); }
    catch (e) { error.replaceChildren(errorBox(e.message)); ok.disabled = false; }
  });
  document.body.append(dlg);
  dlg.showModal();
  return dlg;
}

function confirmDialog(title, text, okLabel, action, flash) {
  dialogShell(title, h("p", {}, text), okLabel, async () => {
    const message = await action();
    await render();
    document.getElementById("flash").replaceChildren(h("div", {class: "ok"}, message));
  });
}

function promoteDialog(m, v, flash) {
  const known = [...new Set([...Object.keys(m.stages), "staging", "prod"])];
  const stage = h("input", {type: "text", list: "stage-list", value: "prod", name: "stage", "aria-label": "stage"});
  const list = h("datalist", {id: "stage-list"}, known.map(s => h("option", {value: s})));
  const note = h("input", {type: "text", name: "note", placeholder: "optional note", "aria-label": "note"});
  dialogShell(`Promote ${m.name} v${v.version}`,
    h("div", {class: "form"}, h("p", {}, `Run ${v.run_name || v.run} of ${v.experiment}. This writes the tag ${m.name}/<stage>/v${v.version}.`),
      h("label", {}, "Stage ", stage, list), h("label", {}, "Note ", note)),
    "Promote", async () => {
      const event = await post(`/api/models/${encodeURIComponent(m.name)}/promote`,
        {version: v.version, stage: stage.value.trim(), note: note.value.trim() || null});
      await render();
      document.getElementById("flash").replaceChildren(h("div", {class: "ok"},
        `Promoted ${m.name} v${event.version} to ${event.stage} (tag ${event.tag}).`));
    });
}

// -- start ----------------------------------------------------------------------------
async function start() {
  try {
    state.info = await api("/api/info");
    document.getElementById("repo").textContent = state.info.repo;
    document.getElementById("readonly").hidden = !state.info.read_only;
  } catch (e) { /* the page shows the error of its own request */ }
  window.addEventListener("hashchange", render);
  await render();
}

start();
