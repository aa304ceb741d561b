// The smash-emu live dashboard: plain browser JavaScript, no build step. It speaks
// JSON-RPC 2.0 over a WebSocket to the path it was served from (/ or
// /platforms/NAME), subscribes to events (fw, tmpm, stall, iommu, dma) and, on each
// event (debounced) and every second, reads dma.stats, dma.timeline and
// dma.histogram to redraw. Charts are uPlot, served by the emulator itself.
(() => {
  'use strict';

  const $ = (id) => document.getElementById(id);
  const query = new URLSearchParams(location.search);
  const token = query.get('token');
  const wsPath = location.pathname === '/' ? '/' : location.pathname.replace(/\/$/, '');
  const platform = wsPath === '/' ? 'default platform' : `platform ${decodeURIComponent(wsPath.slice('/platforms/'.length))}`;
  const wsUrl = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}${wsPath}${token ? `?token=${encodeURIComponent(token)}` : ''}`;
  const MAX_ROWS = 200;

  const state = {
    connected: false,
    nowNs: 0,
    stats: null,
    timeline: null,
    histogram: null,
    /** Stall windows: from dma.stats, labelled from stall events when seen. */
    stalls: [],
    stallInfo: new Map(),
    commands: [],
    events: [],
    refreshes: 0,
  };

  // ---- formatting ----------------------------------------------------------
  const fmtMs = (ns) => `${(ns / 1e6).toFixed(3)} ms`;
  function fmtNs(ns) {
    if (ns >= 1e6) return `${+(ns / 1e6).toPrecision(3)} ms`;
    if (ns >= 1e3) return `${+(ns / 1e3).toPrecision(3)} µs`;
    return `${Math.round(ns)} ns`;
  }
  const hex2 = (n) => (typeof n === 'number' ? `0x${n.toString(16).padStart(2, '0')}` : '');
  function bdf(id) {
    const h = (n, w) => n.toString(16).padStart(w, '0');
    return `${h(id >> 8, 2)}:${h((id >> 3) & 0x1f, 2)}.${id & 7}`;
  }
  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === 'class') e.className = v;
      else e.setAttribute(k, v);
    }
    for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
    return e;
  }

  // ---- JSON-RPC over the WebSocket ----------------------------------------
  let ws = null;
  let nextId = 1;
  const pending = new Map();

  function call(method, params = {}) {
    return new Promise((resolve, reject) => {
      if (!ws || ws.readyState !== WebSocket.OPEN) return reject(new Error('not connected'));
      const id = nextId++;
      pending.set(id, { resolve, reject });
      ws.send(JSON.stringify({ jsonrpc: '2.0', id, method, params }));
    });
  }

  function connect() {
    setStatus('connecting');
    ws = new WebSocket(wsUrl);
    ws.onopen = async () => {
      state.connected = true;
      setStatus('connected');
      try {
        await call('events.subscribe', { topics: ['fw', 'tmpm', 'psp', 'stall', 'iommu', 'dma'] });
      } catch (e) {
        // A server without topic tmpm or psp: subscribe to the rest.
        await call('events.subscribe', { topics: ['fw', 'stall', 'iommu', 'dma'] });
      }
      refresh();
    };
    ws.onmessage = (m) => {
      let msg;
      try {
        msg = JSON.parse(m.data);
      } catch {
        return;
      }
      for (const item of Array.isArray(msg) ? msg : [msg]) {
        if (item.method === 'events.notify') onEvent(item.params.topic, item.params.atNs, item.params.data);
        else if (typeof item.id === 'number' && pending.has(item.id)) {
          const p = pending.get(item.id);
          pending.delete(item.id);
          if (item.error) p.reject(Object.assign(new Error(item.error.message), { code: item.error.code }));
          else p.resolve(item.result);
        }
      }
    };
    ws.onclose = () => {
      state.connected = false;
      setStatus('closed');
      for (const p of pending.values()) p.reject(new Error('connection closed'));
      pending.clear();
      setTimeout(connect, 2000);
    };
  }

  function setStatus(s) {
    const e = $('status');
    e.dataset.state = s;
    e.textContent = s;
  }

  // ---- events ----------------------------------------------------------------
  function onEvent(topic, atNs, d) {
    if (topic === 'fw') {
      const r = d.result || {};
      addCommand({ atNs, source: 'SEV fw', name: d.command, status: r.status, statusName: r.statusName, stallNs: r.stallNs, detail: (r.detail && (r.detail.reason || (r.detail.injected ? 'injected' : ''))) || '' });
    } else if (topic === 'tmpm') {
      if (d.kind === 'command') {
        const stallNs = typeof d.startNs === 'number' && typeof d.endNs === 'number' ? d.endNs - d.startNs : undefined;
        addCommand({ atNs, source: 'TMPM', name: `#${d.index} ${d.commandName || d.command}`, status: d.status, statusName: d.statusName, stallNs, detail: '' });
      } else addEvent(atNs, 'tmpm', `interrupt ${d.reason || ''}`);
    } else if (topic === 'psp') {
      if (d.kind === 'command') {
        const reason = (d.detail && (d.detail.reason || (d.detail.injected ? 'injected' : ''))) || '';
        addCommand({
          atNs,
          source: 'PSP',
          name: `${d.commandName || d.command}`,
          status: d.status,
          statusName: d.statusName,
          stallNs: typeof d.startNs === 'number' && typeof d.endNs === 'number' ? d.endNs - d.startNs : undefined,
          detail: reason,
        });
      } else if (d.kind === 'spdm') {
        addEvent(atNs, 'spdm', `${d.command} dev ${bdf(d.deviceId)} ${d.phase === 'request' ? '-> ' + d.request : '<- ' + d.request + (d.ok === false ? ' ERROR: ' + (d.why || '') : ' ok')}`);
      } else if (d.kind === 'interrupt') addEvent(atNs, 'psp', `interrupt SEV_CMD_COMPLETE (${d.commandName})`);
      else if (d.kind === 'ignored') addEvent(atNs, 'psp', `CMDRESP write ignored (${d.running} running)`);
    } else if (topic === 'stall') {
      const scope = d.scope === 'iommu' ? 'whole IOMMU' : `domain ${d.domainId}`;
      state.stallInfo.set(d.startNs, { scope, command: d.command });
      addEvent(atNs, 'stall', d.phase === 'begin' ? `begin ${scope}, ${fmtMs(d.endNs - d.startNs)} (${d.policy})` : `end ${scope} after ${fmtMs(d.endNs - d.startNs)}`);
    } else if (topic === 'iommu') {
      addEvent(atNs, 'iommu', `${d.typeName} dev ${bdf(d.deviceId)} addr ${d.address}${d.write ? ' W' : ' R'}`);
    } else if (topic === 'dma') {
      addEvent(atNs, 'dma', `${d.outcome} dev ${bdf(d.deviceId)} iova ${typeof d.iova === 'number' ? '0x' + d.iova.toString(16) : d.iova} ${fmtNs(d.latencyNs)}`);
    }
    scheduleRefresh();
  }

  function addCommand(c) {
    state.commands.unshift(c);
    state.commands.length = Math.min(state.commands.length, MAX_ROWS);
    renderCommands();
  }

  function addEvent(atNs, topic, text) {
    state.events.unshift({ atNs, topic, text });
    state.events.length = Math.min(state.events.length, MAX_ROWS);
    renderEvents();
  }

  // ---- refresh -----------------------------------------------------------------
  let refreshTimer = null;
  let refreshing = false;
  function scheduleRefresh() {
    if (refreshTimer === null) refreshTimer = setTimeout(refresh, 100);
  }

  async function refresh() {
    if (refreshTimer !== null) clearTimeout(refreshTimer);
    refreshTimer = null;
    if (!state.connected || refreshing) return;
    refreshing = true;
    try {
      const now = (await call('clock.now')).nowNs;
      const windowNs = Number($('window').value);
      const binNs = Math.max(10000, Math.ceil(windowNs / 200 / 10000) * 10000);
      const startNs = Math.floor(Math.max(0, now - windowNs) / binNs) * binNs;
      const [stats, timeline, histogram] = await Promise.all([call('dma.stats', {}), call('dma.timeline', { binNs, startNs, endNs: Math.max(now, startNs + binNs) }), call('dma.histogram', {})]);
      Object.assign(state, { nowNs: now, stats, timeline, histogram, stalls: stats.stalls });
      state.refreshes++;
      render();
    } catch (e) {
      // The next event or tick tries again.
    } finally {
      refreshing = false;
    }
  }

  // ---- plots -------------------------------------------------------------------
  const COLORS = { issued: '#3b6fd8', held: '#e08a00', completed: '#2e9e5b', faults: '#c62828' };
  let timelinePlot = null;
  let histogramPlot = null;

  function plotWidth(id) {
    return Math.max(300, $(id).clientWidth);
  }

  function stallBands(u) {
    const ctx = u.ctx;
    const { left, top, width, height } = u.bbox;
    ctx.save();
    for (const s of state.stalls) {
      const x0 = Math.max(left, u.valToPos(s.startNs / 1e6, 'x', true));
      const x1 = Math.min(left + width, u.valToPos(s.endNs / 1e6, 'x', true));
      if (x1 <= x0) continue;
      ctx.fillStyle = 'rgba(214, 48, 49, 0.16)';
      ctx.fillRect(x0, top, x1 - x0, height);
      ctx.fillStyle = 'rgba(214, 48, 49, 0.9)';
      ctx.fillRect(x0, top, x1 - x0, 3 * devicePixelRatio);
      ctx.font = `${11 * devicePixelRatio}px system-ui, sans-serif`;
      ctx.textAlign = 'left';
      ctx.textBaseline = 'alphabetic';
      ctx.fillText(`stall ${fmtMs(s.endNs - s.startNs)}`, x0 + 4 * devicePixelRatio, top + 16 * devicePixelRatio);
    }
    ctx.restore();
  }

  function makeTimeline() {
    const stepped = uPlot.paths.stepped({ align: 1 });
    const series = (label, color, fill) => ({ label, stroke: color, width: 1.5, paths: stepped, points: { show: false }, ...(fill ? { fill } : {}) });
    return new uPlot(
      {
        width: plotWidth('timeline'),
        height: 260,
        // asinh: the release of every held request at once (a spike of thousands) and
        // the tens per bin around it both stay readable.
        scales: { x: { time: false }, y: { distr: 4, log: 10, asinh: 1, range: (u, min, max) => [0, Math.max(10, max) * 1.3] } },
        axes: [
          { label: 'virtual time (ms)', values: (u, vals) => vals.map((v) => +v.toFixed(3)) },
          { label: 'requests per bin (asinh scale)', size: 60, splits: (u) => [0, 1, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7].filter((v) => v <= u.scales.y.max) },
        ],
        series: [
          { label: 'ms', value: (u, v) => (v == null ? '' : v.toFixed(3)) },
          series('issued', COLORS.issued),
          series('held', COLORS.held, 'rgba(224, 138, 0, 0.25)'),
          series('completed', COLORS.completed),
          series('faults', COLORS.faults),
        ],
        hooks: { drawClear: [stallBands] },
        legend: { live: false },
      },
      [[], [], [], [], []],
      $('timeline'),
    );
  }

  function makeHistogram() {
    return new uPlot(
      {
        width: plotWidth('histogram'),
        height: 220,
        scales: { x: { time: false, distr: 3 }, y: { distr: 3 } },
        axes: [
          { label: 'latency', values: (u, vals) => vals.map((v) => (v == null ? '' : fmtNs(v))) },
          { label: 'requests', size: 60 },
        ],
        series: [
          { label: 'latency', value: (u, v) => (v == null ? '' : fmtNs(v)) },
          { label: 'requests', stroke: '#3b6fd8', fill: 'rgba(59, 111, 216, 0.35)', width: 1, paths: uPlot.paths.bars({ size: [0.8, 24], align: 0 }), points: { show: false } },
        ],
        legend: { live: false },
      },
      [[], []],
      $('histogram'),
    );
  }

  // ---- rendering ---------------------------------------------------------------
  function render() {
    $('now').textContent = fmtMs(state.nowNs);
    const t = state.timeline;
    if (t) {
      const xs = [];
      for (let i = 0; i < t.count; i++) xs.push((t.startNs + i * t.binNs) / 1e6);
      const faults = t.ioPageFaults.map((v, i) => v + t.rmpFaults[i] + t.timeouts[i] + t.aborted[i]);
      timelinePlot.setData([xs, t.issued, t.held, t.completed, faults]);
      timelinePlot.setScale('x', { min: t.startNs / 1e6, max: (t.startNs + t.count * t.binNs) / 1e6 });
    }
    const h = state.histogram;
    if (h) {
      histogramPlot.setData([h.buckets.map((b) => b.valueNs), h.buckets.map((b) => b.count)]);
    }
    renderStalls();
    renderCounters();
  }

  function renderStalls() {
    const ul = $('stalls');
    ul.replaceChildren(
      ...(state.stalls.length === 0
        ? [el('li', { class: 'empty' }, 'no stall yet')]
        : state.stalls.map((s) => {
            const info = state.stallInfo.get(s.startNs);
            return el('li', { 'data-start-ns': s.startNs, 'data-end-ns': s.endNs }, `${fmtMs(s.startNs)} → ${fmtMs(s.endNs)}: ${fmtMs(s.endNs - s.startNs)}${info ? ` (${info.scope}, ${info.command})` : ''}`);
          })),
    );
  }

  function renderCounters() {
    const s = state.stats;
    if (!s) return;
    const tiles = [
      ['issued', s.issued],
      ['completed', s.completed],
      ['held by stalls', s.held],
      ['in flight', s.inFlight],
      ['IO page faults', s.ioPageFaults, true],
      ['RMP faults', s.rmpFaults, true],
      ['timeouts', s.timeouts, true],
      ['aborted', s.aborted, true],
      ['p50', fmtNs(s.latencyNs.p50)],
      ['p99', fmtNs(s.latencyNs.p99)],
      ['max', fmtNs(s.latencyNs.max)],
      ['stalls', s.stalls.length],
    ];
    $('counters').replaceChildren(
      ...tiles.map(([k, v, bad]) => el('div', { class: `tile${bad && v > 0 ? ' bad' : ''}`, 'data-key': k }, el('div', { class: 'v' }, typeof v === 'number' ? v.toLocaleString('en') : v), el('div', { class: 'k' }, k))),
    );
  }

  function renderCommands() {
    const body = $('commands').tBodies[0];
    body.replaceChildren(
      ...state.commands
        .slice(0, 12)
        .map((c) =>
          el(
            'tr',
            {},
            el('td', {}, fmtMs(c.atNs)),
            el('td', {}, c.source),
            el('td', {}, c.name),
            el('td', { class: c.statusName === 'SUCCESS' ? 'ok' : 'bad' }, `${c.statusName} ${hex2(c.status)}`),
            el('td', {}, typeof c.stallNs === 'number' ? fmtMs(c.stallNs) : ''),
            el('td', { class: 'detail', title: c.detail }, c.detail),
          ),
        ),
    );
  }

  function renderEvents() {
    $('events').replaceChildren(...state.events.slice(0, 60).map((e) => el('li', {}, el('span', { class: 't' }, fmtMs(e.atNs)), el('span', { class: 'topic' }, e.topic), e.text)));
  }

  // ---- start -------------------------------------------------------------------
  $('platform').textContent = platform;
  $('trace-link').href = `/dashboard/trace.html?path=${encodeURIComponent(wsPath)}${token ? `&token=${encodeURIComponent(token)}` : ''}`;
  $('window').addEventListener('change', refresh);
  timelinePlot = makeTimeline();
  histogramPlot = makeHistogram();
  renderStalls();
  renderCommands();
  renderEvents();
  window.addEventListener('resize', () => {
    timelinePlot.setSize({ width: plotWidth('timeline'), height: 260 });
    histogramPlot.setSize({ width: plotWidth('histogram'), height: 220 });
  });
  setInterval(refresh, 1000);
  connect();
  // For tests and the curious: the live state and the plots.
  window.smashDashboard = {
    state,
    refresh,
    get timelinePlot() {
      return timelinePlot;
    },
    get histogramPlot() {
      return histogramPlot;
    },
  };
})();
