// gittrack charts: line charts, parallel coordinates and scatter plots drawn as SVG.
// No dependencies. Every label is set with textContent, never parsed as HTML.
"use strict";

(function () {
  const NS = "http://www.w3.org/2000/svg";
  const PALETTE = ["#2563eb", "#dc2626", "#16a34a", "#d97706", "#7c3aed", "#0891b2",
                   "#db2777", "#65a30d", "#4b5563", "#ea580c"];

  function el(tag, attrs, text) {
    const node = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v !== undefined && v !== null) node.setAttribute(k, String(v));
    }
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function html(tag, cls, text) {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function finite(v) { return typeof v === "number" && Number.isFinite(v); }

  function niceTicks(lo, hi, count) {
    if (!finite(lo) || !finite(hi)) return [];
    if (lo === hi) { lo -= Math.abs(lo) * 0.1 || 1; hi += Math.abs(hi) * 0.1 || 1; }
    const span = hi - lo;
    const raw = span / Math.max(1, count);
    const mag = Math.pow(10, Math.floor(Math.log10(raw)));
    const step = [1, 2, 2.5, 5, 10].map(m => m * mag).find(s => span / s <= count) || 10 * mag;
    const out = [];
    for (let t = Math.ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) {
      out.push(Math.abs(t) < step * 1e-9 ? 0 : t);
    }
    return out;
  }

  function extent(values) {
    let lo = Infinity, hi = -Infinity;
    for (const v of values) { if (finite(v)) { if (v < lo) lo = v; if (v > hi) hi = v; } }
    if (lo === Infinity) return [0, 1];
    if (lo === hi) { const pad = Math.abs(lo) * 0.05 || 1; return [lo - pad, hi + pad]; }
    return [lo, hi];
  }

  function fmt(v) {
    if (!finite(v)) return String(v);
    const a = Math.abs(v);
    if (a !== 0 && (a >= 1e6 || a < 1e-3)) return v.toExponential(2);
    return String(Number(v.toPrecision(5)));
  }

  function scale(d0, d1, r0, r1) {
    const k = d1 === d0 ? 0 : (r1 - r0) / (d1 - d0);
    return v => r0 + (v - d0) * k;
  }

  function legend(items) {
    const box = html("div", "legend");
    for (const it of items) {
      const item = html("span", "legend-item");
      const swatch = html("span", "swatch");
      swatch.style.background = it.color;
      item.append(swatch, html("span", "", it.name));
      box.append(item);
    }
    return box;
  }

  // Draw with draw(W) at the chart's own width, and again when that width changes, so one
  // SVG unit is one pixel: the chart fills its panel and text keeps its CSS size (a fixed
  // viewBox scaled to the panel blew labels up on wide screens and shrank charts on others).
  function responsive(wrap, draw, initial) {
    let current = draw(initial), width = 0;
    wrap.append(current);
    if (typeof ResizeObserver === "function") {
      new ResizeObserver(() => {
        const w = Math.floor(wrap.clientWidth);
        if (w > 0 && Math.abs(w - width) > 1) {
          width = w;
          const next = draw(w);
          current.replaceWith(next);
          current = next;
        }
      }).observe(wrap);
    }
  }

  // series: [{name, color, points: [[x, y], ...]}]
  function line(opts) {
    const H = opts.height || 260;
    const wrap = html("div", "chart");
    if (opts.title) wrap.append(html("div", "chart-title", opts.title));
    const tip = html("div", "tooltip");
    tip.hidden = true;
    responsive(wrap, W => lineSvg(opts, W, H, tip), opts.width || 560);
    wrap.append(tip);
    if (opts.legend !== false && opts.series.length > 1) {
      wrap.append(legend(opts.series.map((s, i) => ({name: s.name,
        color: s.color || PALETTE[i % PALETTE.length]}))));
    }
    return wrap;
  }

  function lineSvg(opts, W, H, tip) {
    const m = {l: 56, r: 14, t: 12, b: 34};
    const svg = el("svg", {viewBox: `0 0 ${W} ${H}`, width: W, height: H, class: "chart-line",
                           role: "img", "data-series": opts.series.length});
    const xs = [], ys = [];
    for (const s of opts.series) for (const [x, y] of s.points) { xs.push(x); ys.push(y); }
    const [x0, x1] = extent(xs), [y0, y1] = extent(ys);
    const X = scale(x0, x1, m.l, W - m.r), Y = scale(y0, y1, H - m.b, m.t);
    const grid = el("g", {class: "grid"});
    for (const t of niceTicks(y0, y1, 5)) {
      grid.append(el("line", {x1: m.l, x2: W - m.r, y1: Y(t), y2: Y(t)}));
      grid.append(el("text", {x: m.l - 6, y: Y(t) + 4, "text-anchor": "end"}, fmt(t)));
    }
    for (const t of niceTicks(x0, x1, Math.max(2, Math.min(10, Math.floor(W / 90))))) {
      grid.append(el("text", {x: X(t), y: H - m.b + 16, "text-anchor": "middle"}, fmt(t)));
    }
    grid.append(el("line", {class: "axis", x1: m.l, x2: W - m.r, y1: H - m.b, y2: H - m.b}));
    grid.append(el("text", {class: "axis-label", x: W - m.r, y: H - 4, "text-anchor": "end"},
                   opts.xLabel || "step"));
    svg.append(grid);
    for (const mk of opts.markers || []) {  // vertical lines, e.g. where the version changed
      if (!finite(mk.x) || mk.x < x0 || mk.x > x1) continue;
      const g = el("g", {class: "marker", "data-x": mk.x});
      g.append(el("line", {x1: X(mk.x), x2: X(mk.x), y1: m.t, y2: H - m.b,
                           stroke: "#6b7280", "stroke-dasharray": "4 3"}));
      g.append(el("text", {x: X(mk.x) + 3, y: m.t + 10, class: "marker-label"}, mk.label));
      svg.append(g);
    }
    opts.series.forEach((s, i) => {
      const color = s.color || PALETTE[i % PALETTE.length];
      const pts = s.points.filter(p => finite(p[0]) && finite(p[1]));
      if (pts.length === 1 || opts.dots) {
        for (const p of pts) {
          svg.append(el("circle", {class: "series-dot", cx: X(p[0]), cy: Y(p[1]), r: 3.5,
                                   fill: color}));
        }
      }
      const d = pts.map((p, j) => `${j ? "L" : "M"}${X(p[0]).toFixed(1)},${Y(p[1]).toFixed(1)}`)
        .join("");
      const path = el("path", {class: "series", d: d || "M0,0", stroke: color, fill: "none",
                               "stroke-width": 2, "data-name": s.name});
      path.append(el("title", {}, s.name));
      svg.append(path);
    });
    const guide = el("line", {class: "guide", y1: m.t, y2: H - m.b, visibility: "hidden"});
    svg.append(guide);
    svg.addEventListener("mousemove", ev => {
      const box = svg.getBoundingClientRect();
      const px = (ev.clientX - box.left) * W / box.width;
      const x = x0 + (px - m.l) / ((W - m.r - m.l) || 1) * (x1 - x0);
      const rows = [];
      let at = null;
      opts.series.forEach((s, i) => {
        let best = null;
        for (const p of s.points) {
          if (finite(p[1]) && (best === null || Math.abs(p[0] - x) < Math.abs(best[0] - x))) best = p;
        }
        if (best) { rows.push([s, best, s.color || PALETTE[i % PALETTE.length]]); at = best[0]; }
      });
      if (at === null) return;
      guide.setAttribute("x1", X(at)); guide.setAttribute("x2", X(at));
      guide.setAttribute("visibility", "visible");
      tip.replaceChildren(html("div", "tip-head", `${opts.xLabel || "step"} ${fmt(at)}`));
      for (const [s, p, color] of rows) {
        const row = html("div", "tip-row");
        const sw = html("span", "swatch"); sw.style.background = color;
        row.append(sw, html("span", "tip-name", s.name), html("span", "tip-value", fmt(p[1])));
        tip.append(row);
      }
      tip.hidden = false;
      const left = (X(at) / W) * box.width;
      tip.style.left = `${Math.min(left + 12, box.width - 180)}px`;
    });
    svg.addEventListener("mouseleave", () => {
      guide.setAttribute("visibility", "hidden"); tip.hidden = true;
    });
    return svg;
  }

  // A numeric or categorical axis over values (null: missing).
  function axisOf(values, r0, r1) {
    const nums = values.filter(finite);
    const cats = values.filter(v => v !== null && v !== undefined && !finite(v)).map(String);
    if (cats.length === 0) {
      const [lo, hi] = extent(nums);
      const S = scale(lo, hi, r0, r1);
      return {pos: v => finite(v) ? S(v) : null, ticks: [[lo, fmt(lo)], [hi, fmt(hi)]], num: true};
    }
    const names = [...new Set(values.filter(v => v !== null && v !== undefined).map(String))]
      .sort();
    const step = names.length > 1 ? (r1 - r0) / (names.length - 1) : 0;
    const at = new Map(names.map((n, i) => [n, names.length > 1 ? r0 + i * step : (r0 + r1) / 2]));
    return {pos: v => (v === null || v === undefined) ? null : at.get(String(v)),
            ticks: names.map(n => [n, n]), num: false, at};
  }

  // dims: [{label, values: [one per run]}]; runs: [{name, color}]
  function parcoords(opts) {
    const wrap = html("div", "chart");
    responsive(wrap, W => parcoordsSvg(opts, W, opts.height || 300),
               opts.width || Math.max(560, opts.dims.length * 120));
    wrap.append(legend(opts.runs));
    return wrap;
  }

  function clip(text, chars) {
    const s = String(text);
    return s.length > chars ? s.slice(0, Math.max(1, chars - 1)) + "…" : s;
  }

  function parcoordsSvg(opts, W, H) {
    const dims = opts.dims, runs = opts.runs;
    const half = d => d ? String(d.label).length * 3.6 + 4 : 0;  // ~7.2 px a character at 12 px
    const m = {l: Math.min(120, Math.max(30, half(dims[0]))),
               r: Math.min(120, Math.max(60, half(dims[dims.length - 1]))), t: 30, b: 24};
    const svg = el("svg", {viewBox: `0 0 ${W} ${H}`, width: W, height: H, class: "parcoords",
                           role: "img", "data-axes": dims.length});
    const gap = dims.length > 1 ? (W - m.l - m.r) / (dims.length - 1) : 0;
    const chars = Math.max(4, Math.floor((gap || W) / 7.2));
    const axes = dims.map((d, i) => {
      const ax = axisOf(d.values, H - m.b, m.t);
      ax.x = m.l + i * gap;
      return ax;
    });
    runs.forEach((run, r) => {
      const pts = axes.map((ax, i) => [ax.x, ax.pos(dims[i].values[r])]).filter(p => p[1] !== null);
      const d = pts.map((p, j) => `${j ? "L" : "M"}${p[0].toFixed(1)},${p[1].toFixed(1)}`).join("");
      const path = el("path", {class: "pc-line", d: d || "M0,0", stroke: run.color, fill: "none",
                               "stroke-width": 2, "data-name": run.name});
      path.append(el("title", {}, run.name));
      svg.append(path);
    });
    // Axes and their labels after the lines, each label on a white halo (style.css), so no
    // line runs over a value or a name.
    axes.forEach((ax, i) => {
      const g = el("g", {class: "pc-axis"});
      g.append(el("line", {x1: ax.x, x2: ax.x, y1: m.t, y2: H - m.b}));
      const label = el("text", {class: "pc-label", x: ax.x, y: m.t - 12, "text-anchor": "middle"},
                       clip(dims[i].label, chars));
      label.append(el("title", {}, dims[i].label));
      g.append(label);
      const ticks = ax.num ? ax.ticks : ax.ticks.slice(0, 12);
      for (const [v, text] of ticks) {
        const y = ax.num ? ax.pos(v) : ax.at.get(v);
        const shown = clip(text, chars - 1);  // on a plate, so lines pass behind it
        g.append(el("rect", {class: "pc-plate", x: ax.x + 3, y: y - 7, rx: 2, height: 14,
                             width: shown.length * 6.4 + 4}));
        g.append(el("text", {class: "pc-tick", x: ax.x + 5, y: y + 4}, shown));
      }
      svg.append(g);
    });
    return svg;
  }

  // points: [{x, y, label, color}]
  function scatter(opts) {
    const wrap = html("div", "chart chart-scatter");
    responsive(wrap, W => scatterSvg(opts, W, opts.height || 300), opts.width || 560);
    return wrap;
  }

  function scatterSvg(opts, W, H) {
    const m = {l: 60, r: 20, t: 14, b: 40};
    const svg = el("svg", {viewBox: `0 0 ${W} ${H}`, width: W, height: H, class: "scatter",
                           role: "img"});
    const xa = axisOf(opts.points.map(p => p.x), m.l + 10, W - m.r - 10);
    const [ylo, yhi] = extent(opts.points.map(p => p.y));
    const pad = (yhi - ylo) * 0.08;
    const [y0, y1] = [ylo - pad, yhi + pad];
    const Y = scale(y0, y1, H - m.b, m.t + 10);
    const grid = el("g", {class: "grid"});
    for (const t of niceTicks(y0, y1, 5)) {
      grid.append(el("line", {x1: m.l, x2: W - m.r, y1: Y(t), y2: Y(t)}));
      grid.append(el("text", {x: m.l - 6, y: Y(t) + 4, "text-anchor": "end"}, fmt(t)));
    }
    const xt = xa.num ? niceTicks(xa.ticks[0][0], xa.ticks[1][0], 6).map(t => [t, fmt(t)])
      : xa.ticks;
    for (const [v, label] of xt) {
      const x = xa.num ? xa.pos(v) : xa.at.get(v);
      grid.append(el("text", {x, y: H - m.b + 16, "text-anchor": "middle"}, label));
    }
    grid.append(el("line", {class: "axis", x1: m.l, x2: W - m.r, y1: H - m.b, y2: H - m.b}));
    grid.append(el("text", {class: "axis-label", x: W - m.r, y: H - 4, "text-anchor": "end"},
                   opts.xLabel));
    grid.append(el("text", {class: "axis-label", x: 4, y: m.t - 2}, opts.yLabel));
    svg.append(grid);
    for (const p of opts.points) {
      const x = xa.pos(p.x);
      if (x === null || x === undefined || !finite(p.y)) continue;
      const c = el("circle", {class: "point", cx: x, cy: Y(p.y), r: 6, fill: p.color,
                              "fill-opacity": 0.85});
      c.append(el("title", {}, `${p.label}: ${p.x}, ${fmt(p.y)}`));
      svg.append(c);
    }
    return svg;
  }

  // Overlaid shares of two distributions. opts: {title, labels | edges, reference, current}
  function bars(opts) {
    const W = opts.width || 420, H = opts.height || 200;
    const m = {l: 40, r: 10, t: 10, b: 34};
    const wrap = html("div", "chart drift-bars");
    if (opts.title) wrap.append(html("div", "chart-title", opts.title));
    const svg = el("svg", {viewBox: `0 0 ${W} ${H}`, class: "chart-bars", role: "img"});
    const ref = opts.reference || [], cur = opts.current || [];
    const n = Math.max(ref.length, cur.length, 1);
    const top = Math.max(1e-12, ...ref, ...cur);
    const slot = (W - m.l - m.r) / n, ph = H - m.t - m.b;
    const cats = Boolean(opts.labels);
    [[ref, "#2563eb", 0, "reference"], [cur, "#dc2626", 1, "current"]].forEach(([vals, color, k, name]) => {
      vals.forEach((v, i) => {
        const h = v / top * ph;
        const x = m.l + i * slot + (cats ? k * slot / 2 : 0);
        const r = el("rect", {x, y: m.t + ph - h, width: Math.max((cats ? slot / 2 : slot) - 0.5, 0.5),
                              height: h, fill: color, "fill-opacity": 0.45, class: `bar-${name}`});
        r.append(el("title", {}, `${name}: ${(v * 100).toFixed(1)}%`));
        svg.append(r);
      });
    });
    svg.append(el("line", {class: "axis", x1: m.l, x2: W - m.r, y1: m.t + ph, y2: m.t + ph}));
    svg.append(el("text", {x: m.l - 4, y: m.t + 8, "text-anchor": "end"}, `${(top * 100).toFixed(0)}%`));
    if (cats) {
      const step = Math.max(1, Math.ceil(opts.labels.length / 8));
      opts.labels.forEach((label, i) => {
        if (i % step) return;
        svg.append(el("text", {x: m.l + (i + 0.5) * slot, y: H - m.b + 14, "text-anchor": "middle"},
                       String(label).slice(0, 12)));
      });
    } else if (opts.edges && opts.edges.length) {
      const e = opts.edges;
      for (const i of [0, Math.floor(e.length / 2), e.length - 1]) {
        svg.append(el("text", {x: m.l + i * slot, y: H - m.b + 14, "text-anchor": "middle"}, fmt(e[i])));
      }
    }
    wrap.append(svg);
    wrap.append(legend([{name: "reference", color: "#2563eb"}, {name: "current", color: "#dc2626"}]));
    return wrap;
  }

  window.GTCharts = {line, parcoords, scatter, bars, PALETTE, fmt};
})();
