// A small, local, Perfetto-like view of a trace.export document (Chrome trace-event
// JSON): one row per thread (slices as boxes, instants as ticks) and per counter,
// grouped by process, on one time axis. It is not Perfetto: open the same file in
// https://ui.perfetto.dev for zooming, search and queries. Drawn on a canvas with no
// library; `window.showTrace(doc)` draws a document directly.
(() => {
  'use strict';
  const $ = (id) => document.getElementById(id);
  const LABEL_W = 230;
  const AXIS_H = 28;
  const ROW_H = 22;
  const COUNTER_H = 44;
  const PROC_H = 22;
  const PALETTE = ['#5b8def', '#e8a33d', '#5bb974', '#c76dd6', '#4fb3c8', '#e06666', '#8e8cd8', '#b8a14f'];

  function hash(s) {
    let h = 0;
    for (let i = 0; i < s.length; i++) h = (h * 31 + s.charCodeAt(i)) | 0;
    return Math.abs(h);
  }
  const fmtMs = (us) => `${(us / 1000).toFixed(3)} ms`;

  /** Rows in display order: process headers, thread rows, counter rows. */
  function layout(doc) {
    const events = doc.traceEvents || [];
    const procs = new Map();
    const proc = (pid) => {
      if (!procs.has(pid)) procs.set(pid, { pid, name: `process ${pid}`, sort: pid, threads: new Map(), counters: new Map() });
      return procs.get(pid);
    };
    let t0 = Infinity;
    let t1 = -Infinity;
    for (const e of events) {
      const p = proc(e.pid);
      if (e.ph === 'M') {
        if (e.name === 'process_name') p.name = e.args.name;
        else if (e.name === 'process_sort_index') p.sort = e.args.sort_index;
        else if (e.name === 'thread_name') (p.threads.get(e.tid) || p.threads.set(e.tid, { name: '', items: [] }).get(e.tid)).name = e.args.name;
        continue;
      }
      t0 = Math.min(t0, e.ts);
      t1 = Math.max(t1, e.ts + (e.dur || 0));
      if (e.ph === 'C') {
        for (const [k, v] of Object.entries(e.args || {})) {
          const key = `${e.name} · ${k}`;
          if (!p.counters.has(key)) p.counters.set(key, []);
          p.counters.get(key).push([e.ts, v]);
        }
      } else {
        const tid = e.tid || 0;
        if (!p.threads.has(tid)) p.threads.set(tid, { name: `thread ${tid}`, items: [] });
        p.threads.get(tid).items.push(e);
      }
    }
    if (doc.otherData && typeof doc.otherData.startNs === 'number') t0 = Math.min(t0, doc.otherData.startNs / 1000);
    if (doc.otherData && typeof doc.otherData.endNs === 'number') t1 = Math.max(t1, doc.otherData.endNs / 1000);
    const rows = [];
    for (const p of [...procs.values()].sort((a, b) => a.sort - b.sort)) {
      rows.push({ kind: 'proc', name: p.name, h: PROC_H });
      for (const [tid, th] of [...p.threads.entries()].sort((a, b) => a[0] - b[0])) rows.push({ kind: 'thread', name: th.name, items: th.items, h: ROW_H });
      for (const [name, points] of p.counters) {
        const max = Math.max(1, ...points.map((pt) => pt[1]));
        if (points.every((pt) => pt[1] === 0) && /timeouts|aborted/.test(name)) continue;
        rows.push({ kind: 'counter', name, points, max, h: COUNTER_H });
      }
    }
    return { rows, t0: isFinite(t0) ? t0 : 0, t1: isFinite(t1) && t1 > t0 ? t1 : t0 + 1 };
  }

  function niceStep(span, n) {
    const raw = span / n;
    const mag = 10 ** Math.floor(Math.log10(raw));
    for (const m of [1, 2, 5, 10]) if (raw <= m * mag) return m * mag;
    return 10 * mag;
  }

  function draw(doc) {
    const { rows, t0, t1 } = layout(doc);
    const canvas = $('canvas');
    const width = Math.max(800, document.body.clientWidth - 30);
    const height = AXIS_H + rows.reduce((s, r) => s + r.h, 0) + 8;
    const dpr = window.devicePixelRatio || 1;
    canvas.width = width * dpr;
    canvas.height = height * dpr;
    canvas.style.width = `${width}px`;
    canvas.style.height = `${height}px`;
    const ctx = canvas.getContext('2d');
    ctx.scale(dpr, dpr);
    const plotW = width - LABEL_W - 12;
    const x = (ts) => LABEL_W + ((ts - t0) / (t1 - t0)) * plotW;

    // Time axis and grid.
    ctx.font = '11px system-ui, sans-serif';
    ctx.fillStyle = '#1d2330';
    ctx.fillRect(0, 0, width, AXIS_H);
    const step = niceStep(t1 - t0, 10);
    ctx.strokeStyle = '#eceef2';
    for (let t = Math.ceil(t0 / step) * step; t <= t1; t += step) {
      const px = x(t);
      ctx.fillStyle = '#cfd6e2';
      if (px + 60 < width) ctx.fillText(fmtMs(t), px + 3, 18);
      ctx.beginPath();
      ctx.moveTo(px + 0.5, AXIS_H);
      ctx.lineTo(px + 0.5, height);
      ctx.stroke();
    }
    ctx.fillStyle = '#cfd6e2';
    ctx.fillText('virtual time', 10, 18);

    let y = AXIS_H;
    for (const r of rows) {
      if (r.kind === 'proc') {
        ctx.fillStyle = '#f0f2f6';
        ctx.fillRect(0, y, width, r.h);
        ctx.fillStyle = '#1d2330';
        ctx.font = 'bold 12px system-ui, sans-serif';
        ctx.fillText(r.name, 8, y + 15);
      } else {
        ctx.fillStyle = '#4a5263';
        ctx.font = '11px system-ui, sans-serif';
        ctx.fillText(r.name, 22, y + (r.kind === 'counter' ? 26 : 15), LABEL_W - 28);
        if (r.kind === 'thread') drawThread(ctx, r, y, x);
        else drawCounter(ctx, r, y, x, t1);
      }
      ctx.strokeStyle = '#e6e9ee';
      ctx.beginPath();
      ctx.moveTo(0, y + r.h + 0.5);
      ctx.lineTo(width, y + r.h + 0.5);
      ctx.stroke();
      y += r.h;
    }
    ctx.strokeStyle = '#d5d9e0';
    ctx.beginPath();
    ctx.moveTo(LABEL_W - 0.5, AXIS_H);
    ctx.lineTo(LABEL_W - 0.5, height);
    ctx.stroke();

    const o = doc.otherData || {};
    $('summary').textContent =
      `${(doc.traceEvents || []).length} trace events · ${o.events ?? '?'} recorded, ${o.dropped ?? 0} dropped · ${fmtMs(t0)} – ${fmtMs(t1)} · counters per ${o.counterBinNs ? o.counterBinNs / 1000 + ' µs' : '?'} · ${o.emulator || ''}`;
    window.traceDrawn = { rows: rows.length, t0, t1 };
  }

  function drawThread(ctx, r, y, x) {
    for (const e of r.items) {
      if (e.ph === 'X') {
        const x0 = x(e.ts);
        const w = Math.max(1, x(e.ts + e.dur) - x0);
        const bad = e.args && typeof e.args.statusName === 'string' && e.args.statusName !== 'SUCCESS';
        ctx.fillStyle = bad ? '#e06666' : /stall/.test(e.name) ? '#e8a33d' : PALETTE[hash(e.name) % PALETTE.length];
        ctx.fillRect(x0, y + 3, w, ROW_H - 6);
        const label = `${e.name}${e.args && e.args.statusName ? ` · ${e.args.statusName}` : ''} · ${fmtMs(e.dur)}`;
        ctx.save();
        ctx.beginPath();
        ctx.rect(x0, y, w, ROW_H);
        ctx.clip();
        ctx.fillStyle = '#fff';
        ctx.font = '11px system-ui, sans-serif';
        ctx.fillText(label, x0 + 4, y + 15);
        ctx.restore();
      } else if (e.ph === 'i') {
        const px = x(e.ts);
        const bad = /fault|ILLEGAL|timeout|aborted|interrupt/i.test(e.name) || (e.args && e.args.statusName && e.args.statusName !== 'SUCCESS');
        ctx.fillStyle = bad ? '#c62828' : '#5b6b8c';
        ctx.beginPath();
        ctx.moveTo(px, y + 4);
        ctx.lineTo(px + 5, y + 11);
        ctx.lineTo(px, y + 18);
        ctx.lineTo(px - 5, y + 11);
        ctx.closePath();
        ctx.fill();
      }
    }
  }

  function drawCounter(ctx, r, y, x, t1) {
    const color = /issued/.test(r.name) ? '#3b6fd8' : /held/.test(r.name) ? '#e08a00' : /completed/.test(r.name) ? '#2e9e5b' : '#c62828';
    const base = y + r.h - 3;
    const scale = (r.h - 8) / r.max;
    ctx.fillStyle = color + '55';
    ctx.strokeStyle = color;
    ctx.beginPath();
    ctx.moveTo(x(r.points[0][0]), base);
    for (let i = 0; i < r.points.length; i++) {
      const [ts, v] = r.points[i];
      const next = i + 1 < r.points.length ? r.points[i + 1][0] : t1;
      ctx.lineTo(x(ts), base - v * scale);
      ctx.lineTo(x(next), base - v * scale);
    }
    ctx.lineTo(x(t1), base);
    ctx.closePath();
    ctx.fill();
    ctx.stroke();
    ctx.fillStyle = '#8a93a3';
    ctx.font = '10px system-ui, sans-serif';
    ctx.fillText(`max ${r.max}`, 22, y + 39);
  }

  // ---- loading -------------------------------------------------------------------
  const query = new URLSearchParams(location.search);
  // ?path= names a platform of this server, nothing else: / or /platforms/NAME. The
  // URL is built on this page's own origin and checked to stay there, so no query
  // can point the page (and its token) at another host.
  const PLATFORM_PATH = /^\/(platforms\/[A-Za-z0-9_.-]{1,64})?$/;
  function serverUrl() {
    const path = query.get('path') || '/';
    if (!PLATFORM_PATH.test(path) || path.endsWith('/.') || path.endsWith('/..')) return { error: `path ${JSON.stringify(path)} is not a platform of this server: use / or /platforms/NAME` };
    const url = new URL(path, location.origin);
    url.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const token = query.get('token');
    if (token) url.searchParams.set('token', token);
    if (url.host !== location.host || url.pathname !== path) return { error: `path ${JSON.stringify(path)} leaves this server` };
    return { url: url.href };
  }
  window.traceServerUrl = serverUrl;
  function loadFromServer() {
    const target = serverUrl();
    if (target.error) {
      $('summary').textContent = target.error;
      return;
    }
    const ws = new WebSocket(target.url);
    ws.onopen = () => ws.send(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'trace.export', params: { format: 'perfetto-json' } }));
    ws.onmessage = (m) => {
      const r = JSON.parse(m.data);
      ws.close();
      if (r.error) $('summary').textContent = `trace.export: ${r.error.message} (${r.error.code}); start one with trace.start or smash-emu trace`;
      else draw(r.result.trace);
    };
  }
  $('load').addEventListener('click', loadFromServer);
  $('file').addEventListener('change', async (ev) => {
    const f = ev.target.files[0];
    if (f) draw(JSON.parse(await f.text()));
  });
  window.showTrace = draw;
})();
