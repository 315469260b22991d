"""The HTML report of a torture run: one self-contained file, no network.

The page holds the summary, every anomaly with its operations, and a
timeline drawn on a canvas by a small inline script from the history
embedded as JSON: one lane per client (and one for the final reads), an
operation as a bar from its call to its answer (green ok, orange
indeterminate: fading to the end of the run, since it may take effect at any
time after its call; grey refused), faults as coloured bands in a lane per
node and as thin lines across the client lanes, anomalous operations in red.
Wheel or the buttons zoom, dragging pans, hovering names an operation, and
each anomaly has a button that zooms to it.

A pure function of the result: no I/O here; the caller writes the file.
"""

from __future__ import annotations

import html
import json

from raftviz.lab.torture.run import TortureResult, summary_lines
from raftviz.lab.torture.workload import Record

_STYLE = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 16px; color: #222; background: #fafafa; }
h1 { font-size: 20px; margin: 0 0 8px; }
.verdict { display: inline-block; padding: 2px 10px; border-radius: 4px; color: white; font-weight: bold; }
.pass { background: #2e7d32; } .fail { background: #c62828; } .unknown { background: #ef6c00; }
pre { background: white; border: 1px solid #ddd; padding: 8px; overflow-x: auto; }
#controls { margin: 8px 0; } button { margin-right: 4px; }
#wrap { position: relative; border: 1px solid #ccc; background: white; }
canvas { display: block; cursor: grab; }
#tip { position: absolute; pointer-events: none; background: #333; color: white; padding: 4px 6px;
       border-radius: 3px; font: 12px monospace; white-space: pre; display: none; }
.legend span { display: inline-block; margin-right: 14px; }
.sw { display: inline-block; width: 14px; height: 10px; margin-right: 4px; vertical-align: middle; }
"""

_SCRIPT = r"""
const D = JSON.parse(document.getElementById('data').textContent);
D.ops = D.ops.map(a => ({client: a[0], kind: a[1], call: a[2], ret: a[3], gaveUp: a[4], status: a[5],
                         anomaly: a[6] === 1, head: a[7], error: a[8]}));
function describe(op) {
  const end = op.ret !== null ? op.ret.toFixed(4) + ' s' : 'never answered';
  return op.head + '\ncalled ' + op.call.toFixed(4) + ' s, ' + end + ', ' + op.status +
    (op.error ? '\n' + op.error : '');
}
const canvas = document.getElementById('timeline'), ctx = canvas.getContext('2d');
const tip = document.getElementById('tip');
const LANE = 22, TOP = 24, LEFT = 70;
const lanes = D.nodes.map(n => 'node ' + n).concat(D.clients);
const nodeLane = n => D.nodes.indexOf(n), clientLane = c => D.nodes.length + D.clients.indexOf(c);
const FAULT = {kill: '#c62828', pause: '#1565c0', disk: '#6a1b9a'};
let t0 = 0, t1 = D.end;
function resize() {
  canvas.width = document.getElementById('wrap').clientWidth;
  canvas.height = TOP + lanes.length * LANE + 8;
  draw();
}
const X = t => LEFT + (t - t0) / (t1 - t0) * (canvas.width - LEFT - 8);
function draw() {
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  ctx.font = '12px monospace'; ctx.textBaseline = 'middle';
  lanes.forEach((name, i) => {
    const y = TOP + i * LANE;
    ctx.fillStyle = i % 2 ? '#f6f6f6' : '#fff'; ctx.fillRect(0, y, canvas.width, LANE);
  });
  // Everything on the time axis is clipped to the right of the lane names.
  ctx.save(); ctx.beginPath(); ctx.rect(LEFT, 0, canvas.width - LEFT, canvas.height); ctx.clip();
  // The time axis.
  const span = t1 - t0, step = Math.pow(10, Math.floor(Math.log10(span / 5)));
  const tick = span / step > 20 ? step * 5 : span / step > 10 ? step * 2 : step;
  ctx.fillStyle = '#666'; ctx.strokeStyle = '#eee';
  for (let t = Math.ceil(t0 / tick) * tick; t <= t1; t += tick) {
    const x = X(t); ctx.beginPath(); ctx.moveTo(x, TOP); ctx.lineTo(x, canvas.height); ctx.stroke();
    ctx.fillText(+t.toFixed(6) + ' s', x + 2, 10);
  }
  // Faults: a band in the node's lane, a thin line across the clients at each end.
  for (const f of D.faults) {
    const a = X(f.start), b = X(f.end === null ? D.end : f.end), y = TOP + nodeLane(f.node) * LANE;
    ctx.fillStyle = FAULT[f.kind] || '#555'; ctx.globalAlpha = 0.8;
    ctx.fillRect(a, y + 3, Math.max(b - a, 1), LANE - 6); ctx.globalAlpha = 1;
    if (b - a > 40) {
      ctx.fillStyle = 'white'; ctx.fillText((f.kind + ' ' + f.detail).trim(), a + 3, y + LANE / 2);
    }
    ctx.strokeStyle = FAULT[f.kind]; ctx.globalAlpha = 0.35;
    const yc = TOP + D.nodes.length * LANE;
    for (const x of [a, b]) {
      ctx.beginPath(); ctx.moveTo(x, yc); ctx.lineTo(x, canvas.height); ctx.stroke();
    }
    ctx.globalAlpha = 1;
  }
  // Operations: at most one bar per pixel column and lane is enough, except for what must show.
  for (const op of D.ops) {
    // An indeterminate operation is drawn until the client gave up, then fades out:
    // it may still take effect at any later time.
    const end = op.ret !== null ? op.ret : op.gaveUp !== null ? op.gaveUp : D.end;
    if (end < t0 || op.call > t1) continue;
    const a = X(op.call), b = Math.max(X(end), a + 1), y = TOP + clientLane(op.client) * LANE;
    if (op.ret === null && op.status !== 'failed') {
      const g = ctx.createLinearGradient(b, 0, b + 30, 0);
      g.addColorStop(0, 'rgba(239,108,0,0.6)'); g.addColorStop(1, 'rgba(239,108,0,0)'); ctx.fillStyle = g;
      ctx.fillRect(b, y + 4, 30, LANE - 8);
      ctx.fillStyle = '#ef6c00';
    } else {
      ctx.fillStyle = op.status === 'failed' ? '#9e9e9e' : op.kind === 'get' ? '#43a047' : '#2e7d32';
    }
    ctx.fillRect(a, y + 4, b - a, LANE - 8);
    if (op.anomaly) {
      ctx.strokeStyle = '#d50000'; ctx.lineWidth = 3; ctx.strokeRect(a - 1, y + 2, b - a + 2, LANE - 4);
      ctx.lineWidth = 1;
    }
    if (b - a > 70) {
      // Wide enough to say what it is: "append a0 'c1-7;'" or "get a0".
      const label = op.head.replace(/^#\d+ \S+ /, '');
      ctx.save(); ctx.beginPath(); ctx.rect(a, y, b - a - 2, LANE); ctx.clip();
      ctx.fillStyle = op.status === 'failed' ? '#222' : 'white';
      ctx.fillText(label, Math.max(a, LEFT) + 3, y + LANE / 2); ctx.restore();
    }
  }
  ctx.restore();
  ctx.fillStyle = '#fafafa'; ctx.fillRect(0, TOP, LEFT, lanes.length * LANE);
  ctx.fillStyle = '#444';
  lanes.forEach((name, i) => ctx.fillText(name, 4, TOP + i * LANE + LANE / 2));
}
function opAt(mx, my) {
  const lane = Math.floor((my - TOP) / LANE) - D.nodes.length;
  if (lane < 0 || lane >= D.clients.length) return null;
  const client = D.clients[lane], t = t0 + (mx - LEFT) / (canvas.width - LEFT - 8) * (t1 - t0);
  const slack = 3 / (canvas.width - LEFT - 8) * (t1 - t0);
  let best = null, bestSpan = Infinity;
  for (const op of D.ops) {
    if (op.client !== client) continue;
    const end = op.ret !== null ? op.ret : op.gaveUp !== null ? op.gaveUp : D.end;
    if (op.call - slack > t || t > end + slack) continue;
    if (!best || op.anomaly || end - op.call < bestSpan) { best = op; bestSpan = end - op.call; }
  }
  return best;
}
function faultAt(mx, my) {
  const lane = Math.floor((my - TOP) / LANE);
  if (lane < 0 || lane >= D.nodes.length) return null;
  const t = t0 + (mx - LEFT) / (canvas.width - LEFT - 8) * (t1 - t0);
  const node = D.nodes[lane];
  return D.faults.find(f => f.node === node && f.start <= t && t <= (f.end === null ? D.end : f.end));
}
function zoom(factor, centre) {
  const c = centre === undefined ? (t0 + t1) / 2 : centre;
  t0 = Math.max(D.start, c - (c - t0) * factor); t1 = Math.min(D.end, c + (t1 - c) * factor);
  if (t1 - t0 < 1e-4) t1 = t0 + 1e-4;
  draw();
}
function show(a, b) {
  const pad = Math.max((b - a) * 0.3, 0.002);
  t0 = Math.max(D.start, a - pad); t1 = Math.min(D.end, b + pad); draw();
}
canvas.addEventListener('wheel', e => {
  e.preventDefault();
  const t = t0 + (e.offsetX - LEFT) / (canvas.width - LEFT - 8) * (t1 - t0);
  zoom(e.deltaY > 0 ? 1.25 : 0.8, t);
});
let drag = null;
canvas.addEventListener('mousedown', e => {
  drag = {x: e.offsetX, t0, t1}; canvas.style.cursor = 'grabbing';
});
window.addEventListener('mouseup', () => { drag = null; canvas.style.cursor = 'grab'; });
canvas.addEventListener('mousemove', e => {
  if (drag) {
    const dt = (e.offsetX - drag.x) / (canvas.width - LEFT - 8) * (drag.t1 - drag.t0);
    let a = drag.t0 - dt, b = drag.t1 - dt;
    if (a < D.start) { b += D.start - a; a = D.start; }
    if (b > D.end) { a -= b - D.end; b = D.end; }
    t0 = a; t1 = b; draw(); return;
  }
  const op = opAt(e.offsetX, e.offsetY), f = op ? null : faultAt(e.offsetX, e.offsetY);
  const text = op ? describe(op) : f ? f.text : null;
  if (!text) { tip.style.display = 'none'; return; }
  tip.textContent = text; tip.style.display = 'block';
  tip.style.left = Math.min(e.offsetX + 12, canvas.width - 320) + 'px';
  tip.style.top = (e.offsetY + 14) + 'px';
});
canvas.addEventListener('mouseleave', () => { tip.style.display = 'none'; });
document.getElementById('zin').onclick = () => zoom(0.5);
document.getElementById('zout').onclick = () => zoom(2);
document.getElementById('all').onclick = () => { t0 = D.start; t1 = D.end; draw(); };
document.querySelectorAll('button[data-a]').forEach(b => {
  b.onclick = () => show(+b.dataset.a, +b.dataset.b);
});
window.addEventListener('resize', resize);
if (D.anomalies.length) show(D.anomalies[0].start, D.anomalies[0].end);
resize();
"""


def render_report(result: TortureResult) -> str:
    """The whole report as one HTML page."""
    anomalous = result.anomaly_ids()
    end = max(
        [result.duration]
        + [r.ret for r in result.records if r.ret is not None]
        + [r.call for r in result.records]
        + [f.end for f in result.faults if f.end is not None]
    )
    clients = sorted({r.client for r in result.records if r.client != "final"}, key=_client_order)
    if any(r.client == "final" for r in result.records):
        clients.append("final")
    # Arrays, not objects: a minute's run holds over 100,000 operations.
    ops = [
        [
            r.client,
            r.kind,
            round(r.call, 6),
            None if r.ret is None else round(r.ret, 6),
            None if r.gave_up is None else round(r.gave_up, 6),
            r.status or "indeterminate",
            int(r.id in anomalous),
            _head(r),
            r.error,
        ]
        for r in result.records
    ]
    faults = [
        {
            "kind": f.kind,
            "node": f.node,
            "start": round(f.start, 6),
            "end": None if f.end is None else round(f.end, 6),
            "detail": f.detail,
            "text": f.describe(),
        }
        for f in result.faults
    ]
    windows = []
    for anomaly in result.check.anomalies:
        shown = anomaly.witness or anomaly.ops
        calls = [op.call for op in shown]
        rets = [op.ret if op.ret is not None else op.call for op in shown]
        windows.append({"start": min(calls), "end": max(rets + calls)})
    data = {
        "start": 0,
        "end": round(end, 6),
        "nodes": list(range(1, result.options.nodes + 1)),
        "clients": clients,
        "ops": ops,
        "faults": faults,
        "anomalies": windows,
    }
    verdict, css = _verdict(result)
    anomaly_html = "".join(
        f"<h3>anomaly {i + 1}: key {html.escape(a.key)} "
        f'<button data-a="{w["start"]}" data-b="{w["end"]}">show</button></h3>'
        f"<pre>{html.escape(a.describe())}</pre>"
        for i, (a, w) in enumerate(zip(result.check.anomalies, windows, strict=True))
    )
    other = (
        result.lost
        + result.unread
        + [f"checker budget ran out on key {k}" for k in result.check.unknown_keys]
    )
    other_html = "".join(f"<pre>{html.escape(text)}</pre>" for text in other)
    # The JSON sits in a script element; "</" must not end it early.
    payload = json.dumps(data, separators=(",", ":")).replace("</", "<\\/")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>raftviz torture: {html.escape(verdict)}</title>
<style>{_STYLE}</style></head>
<body>
<h1>raftviz torture <span class="verdict {css}">{html.escape(verdict)}</span></h1>
<pre>{html.escape(chr(10).join(summary_lines(result)))}</pre>
{anomaly_html}{other_html}
<div id="controls"><button id="zin">zoom in</button><button id="zout">zoom out</button>
<button id="all">whole run</button> wheel: zoom, drag: pan, hover: details</div>
<div class="legend"><span><i class="sw" style="background:#2e7d32"></i>ok</span>
<span><i class="sw" style="background:linear-gradient(90deg,#ef6c00,#fff)"></i>indeterminate</span>
<span><i class="sw" style="background:#9e9e9e"></i>refused</span>
<span><i class="sw" style="border:2px solid #d50000"></i>in an anomaly</span>
<span><i class="sw" style="background:#c62828"></i>kill</span>
<span><i class="sw" style="background:#1565c0"></i>pause</span>
<span><i class="sw" style="background:#6a1b9a"></i>disk</span></div>
<div id="wrap"><canvas id="timeline"></canvas><div id="tip"></div></div>
<script type="application/json" id="data">{payload}</script>
<script>{_SCRIPT}</script>
</body></html>
"""


def _verdict(result: TortureResult) -> tuple[str, str]:
    if result.passed:
        return "PASS: 0 anomalies", "pass"
    if result.check.anomalies or result.lost or result.unread:
        return "FAIL", "fail"
    return "UNKNOWN (not a pass)", "unknown"


def _client_order(name: str) -> tuple[int, str]:
    digits = name.lstrip("c")
    return (int(digits), name) if digits.isdigit() else (10**9, name)


def _head(r: Record) -> str:
    """What an operation was: ``#12 c3 get a0 -> 'c1-4;'`` (its times are added by the page)."""
    text = f"#{r.id} {r.client} {r.kind} {r.key}"
    if r.kind != "get":
        text += f" {r.value!r}"
    elif r.status == "ok":
        text += f" -> {'(none)' if r.output is None else repr(_short(r.output))}"
    return text


def _short(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else f"…{text[-limit:]}"
