"""`chronodbg timeline`'s page: the swimlanes as one self-contained HTML file.

Inline CSS, inline script, SVG drawn by that script; nothing is fetched, so
the file opens offline, from a mail attachment, anywhere. Everything from the
recording (thread names, labels, values, locals) is untrusted: it travels as
JSON inside `<script type="application/json">` with `<`, `>` and `&` escaped,
and the script puts it on the page only through `textContent` and
`setAttribute`, never as markup.

The page is capped (`MAX_EVENTS`): a browser draws tens of thousands of SVG
shapes briskly, not millions. What was left out is said on the page.
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass
from typing import Any

from chronodbg import values
from chronodbg.analysis import lanes
from chronodbg.errors import LogError, UsageError
from chronodbg.logfile.reader import Event, Recording
from chronodbg.replay.index import Index

MAX_EVENTS = 20_000
#: Bounds on the text each event carries into the page.
DATA_CHARS = 400
VALUE_CHARS = 160
LOCALS_CHARS = 1_500


@dataclass
class Page:
    html: str
    first: int
    last: int
    total: int
    lanes: int
    #: What was left out, when the range was cut to the cap; None when nothing was.
    note: str | None


def page_range(index: Index, first: int | None, last: int | None, max_events: int = MAX_EVENTS) -> tuple[int, int, str | None]:
    """The seqs to draw: the asked range, cut to `max_events` from its start (and why, if cut)."""
    if not index.events:
        raise UsageError(f"timeline: {index.rec.path} has no events")
    if max_events < 1:
        raise UsageError("timeline: --max-events must be 1 or more")
    low = 1 if first is None else first
    high = index.last if last is None else last
    if not 1 <= low <= high <= index.last:
        raise UsageError(f"timeline: range {low}..{high} is not within 1..{index.last}, first to last")
    if high - low + 1 <= max_events:
        return low, high, None
    cut = low + max_events - 1
    note = f"only events {low}..{cut} drawn, the {high - cut} after them left out (choose others with --from/--to, or raise --max-events)"
    return low, cut, note


def render(index: Index, first: int | None = None, last: int | None = None, max_events: int = MAX_EVENTS, order: bool = False) -> Page:
    """The page for events `first`..`last` (default: all, up to the cap); `order`: space by event order, not time."""
    low, high, note = page_range(index, first, last, max_events)
    timeline = lanes.build(index, low, high)
    data = _data(index, timeline, note, order)
    title = f"chronodbg timeline: {index.rec.header.get('program') or index.rec.path}"
    parts = {"TITLE": html.escape(str(title)), "STYLE": _STYLE, "SCRIPT": _SCRIPT, "DATA": embed_json(data)}
    # One pass: a title or a value that happens to read `%SCRIPT%` stays text.
    text = re.sub(r"%(TITLE|STYLE|SCRIPT|DATA)%", lambda m: parts[m.group(1)], _TEMPLATE)
    return Page(text, low, high, index.last, len(timeline.lanes), note)


def embed_json(data: Any) -> str:
    """JSON that cannot end its `<script>` element or open a comment: `<`, `>`, `&` as \\u escapes."""
    text = json.dumps(data, ensure_ascii=True, allow_nan=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _data(index: Index, timeline: lanes.Timeline, note: str | None, order: bool) -> dict[str, Any]:
    rec = index.rec
    lock_ids = list(timeline.locks)
    lane_of = {lane.actor: i for i, lane in enumerate(timeline.lanes)}
    events = []
    for seq in range(timeline.first, timeline.last + 1):
        event = index.events[seq - 1]
        lane = lane_of.get(lanes.lane_key(event), -1)
        events.append([event.t_ns, lane, event.kind, _obj(rec, event.obj), _site(rec, event), _fields(rec, event), _locals(event)])
    return {
        "program": str(rec.header.get("program") or ""),
        "path": rec.path,
        "first": timeline.first,
        "last": timeline.last,
        "total": index.last,
        "note": note,
        "order": order,
        "locks": [timeline.locks[oid] for oid in lock_ids],
        "lanes": [
            {
                "name": lane.name,
                "kind": lane.actor[0],
                "segs": [
                    [s.first, s.last, s.status.state, s.status.text(), [lock_ids.index(oid) for oid in s.status.holds]]
                    for s in lane.segments
                ],
            }
            for lane in timeline.lanes
        ],
        "events": events,
        "links": [list(link) for link in timeline.links],
    }


def _obj(rec: Recording, oid: int | None) -> str:
    info = rec.objects.get(oid) if oid is not None else None
    return info.label if info else ""


def _site(rec: Recording, event: Event) -> str:
    site = rec.site_of(event)
    return f"{site.file.rsplit('/', 1)[-1]}:{site.line} {site.func}" if site else ""


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _fields(rec: Recording, event: Event) -> str:
    return _cut(" ".join(f"{k}={values.to_text(v)}" for k, v in rec.data_dict(event).items()), DATA_CHARS)


def _locals(event: Event) -> str:
    try:
        snapshot = event.locals
    except LogError:
        return "(locals unreadable: damaged in the recording)"
    if not snapshot:
        return ""
    return _cut("\n".join(f"{name} = {_cut(values.to_text(value), VALUE_CHARS)}" for name, value in snapshot), LOCALS_CHARS)


_TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:">
<title>%TITLE%</title>
<style>%STYLE%</style>
</head>
<body>
<header>
  <h1 id="title"></h1>
  <p id="summary"></p>
  <p id="note" hidden></p>
  <div id="controls">
    <button id="zoom-in" title="zoom in (or the mouse wheel)">+</button>
    <button id="zoom-out" title="zoom out">&minus;</button>
    <button id="fit" title="show the whole range">fit</button>
    <label><input type="radio" name="space" id="by-time"> time</label>
    <label><input type="radio" name="space" id="by-order"> event order</label>
    <label><input type="checkbox" id="show-links" checked> causal links</label> <span id="link-note"></span>
    <span id="legend"></span>
  </div>
</header>
<div id="chart"></div>
<pre id="tip" hidden></pre>
<script type="application/json" id="timeline-data">%DATA%</script>
<script>%SCRIPT%</script>
</body>
</html>
"""

_STYLE = """
body { font: 13px system-ui, sans-serif; margin: 0; color: #222; background: #fff; }
header { padding: 8px 14px 4px; border-bottom: 1px solid #ddd; }
h1 { font-size: 16px; margin: 0 0 2px; }
header p { margin: 2px 0; color: #555; }
#note { color: #a33; }
#link-note { color: #777; }
#controls { display: flex; gap: 10px; align-items: center; flex-wrap: wrap; margin-top: 4px; }
#controls button { min-width: 32px; }
#legend span.sw { display: inline-block; width: 12px; height: 10px; margin: 0 3px 0 8px; vertical-align: middle; }
#chart { padding: 6px 14px; user-select: none; }
#chart svg { display: block; cursor: grab; }
#chart svg.dragging { cursor: grabbing; }
.name { font: 12px ui-monospace, monospace; fill: #222; }
.axis text { font-size: 11px; fill: #666; }
.axis line { stroke: #e6e6e6; }
.ev { fill: #222; }
.seglabel { font: 11px ui-monospace, monospace; fill: #fff; }
.link { fill: none; stroke: #7b4fc9; stroke-opacity: 0.55; stroke-width: 1.2; }
#tip { position: fixed; z-index: 10; max-width: 560px; white-space: pre-wrap; margin: 0; padding: 6px 8px;
       font: 12px ui-monospace, monospace; background: #fffff4; border: 1px solid #bbb; box-shadow: 0 2px 6px #0003;
       pointer-events: none; }
"""

_SCRIPT = r"""
"use strict";
// The body's data-rendered attribute says how it went: ok, or the error (a headless check reads it).
try { (function () {
  const D = JSON.parse(document.getElementById("timeline-data").textContent);
  const SVG = "http://www.w3.org/2000/svg";
  const COLORS = { "running": "#2e9d5b", "blocked": "#d64541", "suspended": "#e3a21a", "ready": "#9cc3e6",
                   "finished": "#d9d9d9", "not started": null };
  const RANK = { "blocked": 5, "suspended": 4, "running": 2, "ready": 1, "finished": 0, "not started": -1 };
  const LOCK_COLORS = ["#1f77b4", "#ff7f0e", "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#9467bd", "#7f7f7f"];
  const NAME_W = 210, ROW_H = 30, AXIS_H = 26, BAR_H = 14, MAX_LINKS = 400;
  const n = D.events.length, F = D.first;
  const chart = document.getElementById("chart"), tip = document.getElementById("tip"), linkNote = document.getElementById("link-note");
  let byOrder = D.order || /(?:^#|&)order(?:&|$)/.test(location.hash);
  let v0 = 0, v1 = 1, showLinks = true;

  function el(name, attrs, parent) {
    const node = document.createElementNS(SVG, name);
    for (const key in attrs) node.setAttribute(key, String(attrs[key]));
    if (parent) parent.appendChild(node);
    return node;
  }
  function t(seq) { return D.events[seq - F][0]; }
  // Where an event sits on the x axis, in the current spacing's own units.
  function pos(seq) {
    if (seq > D.last) return byOrder ? n : end();
    return byOrder ? seq - F : t(seq) - t(F);
  }
  function end() { const span = t(D.last) - t(F); return span + Math.max(1, span / 200); }
  function extent() { return byOrder ? n : end(); }
  function secs(ns) { return "+" + (ns / 1e9).toFixed(6) + "s"; }
  function fmtTime(ns) {
    const a = Math.abs(ns);
    if (a >= 1e9) return (ns / 1e9).toPrecision(4) + " s";
    if (a >= 1e6) return (ns / 1e6).toPrecision(4) + " ms";
    if (a >= 1e3) return (ns / 1e3).toPrecision(4) + " µs";
    return ns + " ns";
  }

  document.getElementById("title").textContent = "chronodbg timeline: " + (D.program || D.path);
  document.getElementById("summary").textContent = D.path + " · events " + D.first + ".." + D.last + " of " + D.total +
    " · " + D.lanes.length + " lanes · wheel to zoom, drag to pan, hover for details";
  if (D.note) { const note = document.getElementById("note"); note.textContent = D.note; note.hidden = false; }
  const legend = document.getElementById("legend");
  for (const state of ["running", "blocked", "suspended", "ready", "finished"]) {
    const sw = document.createElement("span"); sw.className = "sw"; sw.style.background = COLORS[state];
    legend.appendChild(sw); legend.appendChild(document.createTextNode(state));
  }
  D.locks.forEach(function (label, i) {
    const sw = document.createElement("span"); sw.className = "sw"; sw.style.background = LOCK_COLORS[i % LOCK_COLORS.length];
    sw.style.height = "4px"; legend.appendChild(sw); legend.appendChild(document.createTextNode("holds " + label));
  });

  const svg = el("svg", {}, null);
  chart.appendChild(svg);
  const defs = el("defs", {}, svg);
  const marker = el("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto" }, defs);
  el("path", { d: "M0,0 L10,5 L0,10 z", fill: "#7b4fc9" }, marker);
  const clip = el("clipPath", { id: "plot" }, defs);
  const clipRect = el("rect", { x: NAME_W, y: 0, width: 10, height: 10 }, clip);
  const axis = el("g", { "class": "axis" }, svg);
  const nameClip = el("clipPath", { id: "names" }, defs);
  el("rect", { x: 0, y: 0, width: NAME_W - 8, height: AXIS_H + D.lanes.length * ROW_H + 8 }, nameClip);
  const names = el("g", { "clip-path": "url(#names)" }, svg);
  const plot = el("g", { "clip-path": "url(#plot)" }, svg);
  const height = AXIS_H + D.lanes.length * ROW_H + 8;

  D.lanes.forEach(function (lane, i) {
    const label = el("text", { "class": "name", x: 4, y: AXIS_H + i * ROW_H + ROW_H / 2 + 4 }, names);
    label.textContent = lane.name.length > 30 ? lane.name.slice(0, 29) + "…" : lane.name;
    const full = el("title", {}, label); full.textContent = lane.name;
  });

  function width() { return Math.max(400, chart.clientWidth - 28); }
  function x(p, w) { return NAME_W + (p - v0) / (v1 - v0) * (w - NAME_W); }
  function laneY(i) { return AXIS_H + i * ROW_H + (ROW_H - BAR_H) / 2 - 2; }

  function niceStep(span) {
    const raw = span / 8, p = Math.pow(10, Math.floor(Math.log10(raw))), m = raw / p;
    return p * (m < 1.5 ? 1 : m < 3.5 ? 2 : m < 7.5 ? 5 : 10);
  }

  function draw() {
    const w = width();
    svg.setAttribute("width", w); svg.setAttribute("height", height);
    clipRect.setAttribute("width", w - NAME_W); clipRect.setAttribute("height", height);
    axis.textContent = ""; plot.textContent = "";
    const step = niceStep(v1 - v0);
    for (let p = Math.ceil(v0 / step) * step; p <= v1; p += step) {
      const px = x(p, w);
      el("line", { x1: px, x2: px, y1: AXIS_H - 6, y2: height }, axis);
      const label = el("text", { x: px + 2, y: AXIS_H - 10 }, axis);
      label.textContent = byOrder ? "seq " + Math.round(p + F) : fmtTime(p + t(F));
    }
    D.lanes.forEach(function (lane, li) {
      const y = laneY(li);
      let pending = null;
      function flush() {
        if (!pending) return;
        const color = COLORS[pending.state];
        if (color) {
          const h = pending.state === "finished" ? 4 : BAR_H;
          el("rect", { x: pending.x0, y: y + (BAR_H - h) / 2, width: Math.max(pending.x1 - pending.x0, 0.8), height: h,
                       fill: color, "data-k": "s " + li + " " + pending.si }, plot);
          // On what it waits, written in the bar when the bar is wide enough.
          const what = pending.state === "blocked" || pending.state === "suspended" ? lane.segs[pending.si][3].replace(/^(blocked on|suspended awaiting) /, "") : "";
          const left = Math.max(pending.x0, NAME_W) + 8;
          if (what && pending.x1 - left > what.length * 6.6) {
            const label = el("text", { "class": "seglabel", x: left, y: y + BAR_H - 3, "data-k": "s " + li + " " + pending.si }, plot);
            label.textContent = what;
          }
        }
        pending.holds.slice(0, 3).forEach(function (lock, k) {
          el("rect", { x: pending.x0, y: y + BAR_H + 1 + k * 4, width: Math.max(pending.x1 - pending.x0, 0.8), height: 3,
                       fill: LOCK_COLORS[lock % LOCK_COLORS.length], "data-k": "s " + li + " " + pending.si }, plot);
        });
        pending = null;
      }
      lane.segs.forEach(function (seg, si) {
        const x0 = x(pos(seg[0]), w), x1 = x(pos(seg[1] + 1), w);
        if (x1 < NAME_W || x0 > w) return;
        // Segments narrower than a pixel share it: the most telling state is drawn.
        if (pending && x1 - pending.x0 < 1) {
          if (RANK[seg[2]] > RANK[pending.state]) { pending.state = seg[2]; pending.si = si; pending.holds = seg[4]; }
          pending.x1 = x1;
          return;
        }
        flush();
        pending = { x0: x0, x1: x1, state: seg[2], si: si, holds: seg[4] };
      });
      flush();
    });
    let lastPx = {};
    for (let i = 0; i < n; i++) {
      const ev = D.events[i], px = x(pos(F + i), w);
      if (px < NAME_W - 4 || px > w + 4 || ev[1] < 0) continue;
      const key = Math.round(px * 2);
      if (lastPx[ev[1]] === key) continue;
      lastPx[ev[1]] = key;
      el("circle", { "class": "ev", cx: px, cy: laneY(ev[1]) + BAR_H / 2, r: 3, "data-k": "e " + i }, plot);
    }
    linkNote.textContent = "";
    if (showLinks) {
      const shown = [];
      for (const link of D.links) {
        const a = D.events[link[0] - F], b = D.events[link[1] - F];
        if (a[1] < 0 || b[1] < 0) continue;
        const xa = x(pos(link[0]), w), xb = x(pos(link[1]), w);
        if ((xa < NAME_W && xb < NAME_W) || (xa > w && xb > w)) continue;
        shown.push([link, a, b, xa, xb]);
      }
      // A few hundred arrows still read as arrows; thousands only hide the lanes.
      if (shown.length > MAX_LINKS) {
        linkNote.textContent = "(" + shown.length + " links in view: zoom in to draw them)";
        shown.length = 0;
      }
      for (const [link, a, b, xa, xb] of shown) {
        const ya = laneY(a[1]) + BAR_H / 2, yb = laneY(b[1]) + BAR_H / 2, bend = Math.max(12, Math.abs(yb - ya) / 2);
        const d = ya === yb ? "M" + xa + "," + ya + " C" + xa + "," + (ya - bend) + " " + xb + "," + (yb - bend) + " " + xb + "," + yb
                            : "M" + xa + "," + ya + " C" + (xa + bend) + "," + ya + " " + (xb - bend) + "," + yb + " " + xb + "," + yb;
        el("path", { "class": "link", d: d, "marker-end": "url(#arrow)", "data-k": "l " + link[0] + " " + link[1] }, plot);
      }
    }
  }

  function describe(key) {
    const parts = key.split(" ");
    if (parts[0] === "e") {
      const i = Number(parts[1]), ev = D.events[i], seq = F + i;
      const lines = ["seq " + seq + " · " + secs(ev[0]) + " · " + ev[2] + (ev[3] ? " " + ev[3] : "")];
      if (ev[1] >= 0) lines.push(D.lanes[ev[1]].name);
      if (ev[4]) lines.push(ev[4]);
      if (ev[5]) lines.push(ev[5]);
      if (ev[6]) lines.push("locals:\n  " + ev[6].split("\n").join("\n  "));
      return lines.join("\n");
    }
    if (parts[0] === "s") {
      const lane = D.lanes[Number(parts[1])], seg = lane.segs[Number(parts[2])];
      const until = seg[1] < D.last ? secs(t(seg[1] + 1)) : "end";
      const lines = [lane.name + ": " + seg[3], "seqs " + seg[0] + ".." + seg[1] + " (" + secs(t(seg[0])) + " .. " + until + ")"];
      if (seg[4].length) lines.push("holds " + seg[4].map(function (k) { return D.locks[k]; }).join(", "));
      return lines.join("\n");
    }
    const a = Number(parts[1]), b = Number(parts[2]);
    return "seq " + a + " (" + D.events[a - F][2] + ") made seq " + b + " (" + D.events[b - F][2] + ") possible";
  }

  function zoom(factor, around) {
    const w = width(), p = v0 + (around - NAME_W) / (w - NAME_W) * (v1 - v0);
    const span = Math.max(byOrder ? 2 : 10, Math.min(extent() * 1.05, (v1 - v0) * factor));
    v0 = p - (p - v0) / (v1 - v0) * span; v1 = v0 + span;
    draw();
  }
  function fit() { const e = extent(); v0 = -e * 0.01; v1 = e * 1.01; draw(); }

  svg.addEventListener("wheel", function (e) {
    e.preventDefault();
    const box = svg.getBoundingClientRect();
    zoom(e.deltaY > 0 ? 1.25 : 0.8, Math.max(NAME_W, e.clientX - box.left));
  }, { passive: false });
  let drag = null;
  svg.addEventListener("mousedown", function (e) { drag = { x: e.clientX, v0: v0, v1: v1 }; svg.classList.add("dragging"); });
  window.addEventListener("mouseup", function () { drag = null; svg.classList.remove("dragging"); });
  window.addEventListener("mousemove", function (e) {
    if (drag) {
      const shift = (e.clientX - drag.x) / (width() - NAME_W) * (drag.v1 - drag.v0);
      v0 = drag.v0 - shift; v1 = drag.v1 - shift; draw();
      tip.hidden = true;
      return;
    }
    const key = e.target && e.target.getAttribute ? e.target.getAttribute("data-k") : null;
    if (!key) { tip.hidden = true; return; }
    tip.textContent = describe(key);
    tip.hidden = false;
    const left = Math.min(e.clientX + 14, window.innerWidth - tip.offsetWidth - 8);
    const top = e.clientY + 14 + tip.offsetHeight > window.innerHeight ? e.clientY - tip.offsetHeight - 8 : e.clientY + 14;
    tip.style.left = Math.max(0, left) + "px"; tip.style.top = Math.max(0, top) + "px";
  });
  document.getElementById("zoom-in").addEventListener("click", function () { zoom(0.5, (width() + NAME_W) / 2); });
  document.getElementById("zoom-out").addEventListener("click", function () { zoom(2, (width() + NAME_W) / 2); });
  document.getElementById("fit").addEventListener("click", fit);
  const byTime = document.getElementById("by-time"), orderBox = document.getElementById("by-order");
  byTime.checked = !byOrder; orderBox.checked = byOrder;
  byTime.addEventListener("change", function () { byOrder = false; fit(); });
  orderBox.addEventListener("change", function () { byOrder = true; fit(); });
  document.getElementById("show-links").addEventListener("change", function (e) { showLinks = e.target.checked; draw(); });
  window.addEventListener("resize", draw);
  fit();
  // `#seq=N` opens with event N's details shown (a link to one event; the docs' screenshot).
  const asked = /(?:^#|&)seq=(\d+)/.exec(location.hash);
  if (asked && Number(asked[1]) >= F && Number(asked[1]) <= D.last) {
    const i = Number(asked[1]) - F, ev = D.events[i];
    const box = svg.getBoundingClientRect(), w = width();
    tip.textContent = describe("e " + i);
    tip.hidden = false;
    // Under the lanes when that is on screen (so it hides none), else under the event's own lane.
    const under = box.top + height + 4, px = box.left + x(pos(F + i), w);
    const py = under + tip.offsetHeight < window.innerHeight ? under : box.top + laneY(Math.max(ev[1], 0)) + BAR_H + 10;
    tip.style.left = Math.max(0, Math.min(px - 40, window.innerWidth - tip.offsetWidth - 8)) + "px";
    tip.style.top = py + "px";
  }
  document.body.setAttribute("data-rendered", "ok");
})(); } catch (err) { document.body.setAttribute("data-rendered", "error: " + err); throw err; }
"""
