// charts.js -- a channel's analytics for a range of days: totals, charts (uPlot, vendored
// under web/vendor/) and the same numbers as a table, exactly as
// GET /api/v1/channels/{id}/analytics returns them.

import { api } from './api.js';
import { channelList, channelName, ensureChannels } from './channels.js';
import { callout, h } from './dom.js';
import { plural, responseTime } from './format.js';
import uPlot from '../vendor/uplot/uPlot.esm.js';

const DAY_S = 86400;
const COLORS = {
  indigo: '#4f46e5', teal: '#0d9488', amber: '#d97706', pink: '#db2777', slate: '#64748b', red: '#dc2626',
};

export const REFUSAL_LABELS = {
  window_closed: 'Reply window closed',
  reply_quota_used_up: 'All 10 replies used',
  daily_conversation_limit: 'Daily conversation limit',
  no_customer_message: 'Customer had not written',
  reconnect_required: 'Channel needed reconnect',
  access_token_expired: 'Access token expired',
  image_region_business: 'Image: account region',
  image_region_customer: 'Image: customer region',
  image_account_origin: 'Image: account not from the app',
  text_too_long: 'Text over 6000 characters',
  text_empty: 'Empty text',
  text_with_image: 'Text and image together',
  image_format: 'Image not JPEG/PNG',
  image_too_large: 'Image over 3 MB',
};

export const TIKTOK_ERRORS = {
  40102: 'access token expired',
  40064: 'rule refusal / sending too fast',
  40118: 'image not allowed',
  40002: 'invalid parameter',
  40007: 'conversation does not exist',
  40100: 'too many requests',
  40105: 'access token invalid',
  40907: 'image too large',
  40908: 'image format',
  51065: 'temporary failure',
};

function dayToSeconds(date) {
  const [y, m, d] = date.split('-').map(Number);
  return Date.UTC(y, m - 1, d) / 1000;
}

function secondsToDay(s) {
  return new Date(s * 1000).toISOString().slice(0, 10);
}

function sum(obj) {
  return Object.values(obj || {}).reduce((a, b) => a + b, 0);
}

function tile(label, value, sub, testid) {
  return h('div', { class: 'stat', dataset: { testid } },
    h('span', { class: 'stat-label' }, label),
    h('strong', { class: 'stat-value', dataset: { testid: `${testid}-value` } }, String(value)),
    sub ? h('span', { class: 'stat-sub' }, sub) : null);
}

function chartCard(title, body, testid) {
  return h('section', { class: 'card chart-card', dataset: { testid }, 'aria-label': title },
    h('h3', { class: 'card-title' }, title), body);
}

// Horizontal bars drawn with HTML: readable without the canvas, and exact numbers.
function hbars(entries, labelOf, emptyText, testid) {
  if (!entries.length) return h('p', { class: 'muted chart-empty' }, emptyText);
  const max = Math.max(...entries.map(([, v]) => v));
  return h('ul', { class: 'hbars', dataset: { testid } }, entries.map(([k, v]) => {
    const fill = h('span', { class: 'hbar-fill' });
    fill.style.width = `${Math.max(2, (v / max) * 100)}%`;
    return h('li', { class: 'hbar', dataset: { key: k } },
      h('span', { class: 'hbar-label' }, labelOf(k)),
      h('span', { class: 'hbar-track', 'aria-hidden': 'true' }, fill),
      h('span', { class: 'hbar-value' }, String(v)));
  }));
}

function timeChart(host, xs, series, yFormat) {
  const el = h('div', { class: 'chart', 'aria-hidden': 'true' });
  host.append(el);
  const width = () => Math.max(260, Math.floor(el.clientWidth || host.clientWidth || 560));
  const axis = { stroke: '#64748b', grid: { stroke: '#eef1f5', width: 1 }, ticks: { stroke: '#e2e8f0', width: 1 }, font: '11px system-ui, sans-serif' };
  const opts = {
    width: width(),
    height: 200,
    tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), 'Etc/UTC'),
    cursor: { drag: { x: false, y: false }, points: { size: 7 } },
    legend: { live: false },
    scales: {
      x: { time: true, range: (u, min, max) => [min - DAY_S / 2, max + DAY_S / 2] },
      y: { range: (u, min, max) => [0, Math.max(1, max || 0) * 1.15] },
    },
    axes: [
      { ...axis, space: 60, values: (u, ticks) => ticks.map((t) => secondsToDay(t).slice(5).replace('-', '/')) },
      { ...axis, size: 46, values: (u, ticks) => ticks.map((t) => (yFormat ? yFormat(t) : (Number.isInteger(t) ? String(t) : ''))) },
    ],
    series: [{ value: (u, v) => (v === null ? '' : secondsToDay(v)) }, ...series],
  };
  const u = new uPlot(opts, [xs, ...series.map((s) => s.data)], el);
  const ro = new ResizeObserver(() => u.setSize({ width: width(), height: 200 }));
  ro.observe(host);
  return () => {
    ro.disconnect();
    u.destroy();
  };
}

function bars(color, data, label) {
  return { label, data, stroke: color, fill: `${color}cc`, width: 0, paths: uPlot.paths.bars({ size: [0.6, 36] }), points: { show: false } };
}

function line(color, data, label, dash) {
  // Dots help on a few days; on a month they only clutter the line.
  return { label, data, stroke: color, width: 2, dash, points: { show: data.length <= 14, size: 5, fill: color }, spanGaps: false };
}

// Draws the analytics of one channel into `host`. opts.channelId fixes the channel (the
// channel page); without it a channel picker is shown (the Analytics page).
export function analyticsView(host, opts = {}) {
  let channelId = opts.channelId || opts.initialChannelId || null;
  let preset = '30';
  let serverToday = null;
  let chartCleanups = [];
  let seq = 0;

  const channelSelect = h('select', { id: 'analytics-channel', class: 'select', onchange: () => { channelId = Number(channelSelect.value); load(); } });
  const rangeSelect = h('select', {
    id: 'analytics-range', class: 'select',
    onchange: () => {
      preset = rangeSelect.value;
      custom.hidden = preset !== 'custom';
      if (preset !== 'custom') load();
    },
  },
  h('option', { value: '7' }, 'Last 7 days'),
  h('option', { value: '30', selected: true }, 'Last 30 days'),
  h('option', { value: '90' }, 'Last 90 days'),
  h('option', { value: 'custom' }, 'Custom range'));
  const fromInput = h('input', { type: 'date', id: 'analytics-from', class: 'input' });
  const toInput = h('input', { type: 'date', id: 'analytics-to', class: 'input' });
  const custom = h('div', { class: 'custom-range', hidden: true },
    h('label', { for: 'analytics-from' }, 'From'), fromInput,
    h('label', { for: 'analytics-to' }, 'To'), toInput,
    h('button', { class: 'btn btn--secondary btn--small', type: 'button', onclick: () => load() }, 'Show'));
  const toolbar = h('div', { class: 'toolbar', role: 'group', 'aria-label': 'What to show' },
    opts.channelId ? null : h('div', { class: 'toolbar-field' }, h('label', { for: 'analytics-channel' }, 'Channel'), channelSelect),
    h('div', { class: 'toolbar-field' }, h('label', { for: 'analytics-range' }, 'Range'), rangeSelect),
    custom);
  const status = h('div', { class: 'analytics-status', role: 'status' });
  const body = h('div', { class: 'analytics-body' });
  host.append(h('div', { class: 'analytics' }, toolbar, status, body));

  function query() {
    if (preset === 'custom') {
      const q = new URLSearchParams();
      if (fromInput.value) q.set('from', fromInput.value);
      if (toInput.value) q.set('to', toInput.value);
      return q;
    }
    // Without a range the server answers its own last 30 days, which tells its "today";
    // other presets count back from that day (the server's clock may not be ours).
    if (preset === '30' || !serverToday) return new URLSearchParams();
    const to = dayToSeconds(serverToday);
    return new URLSearchParams({ from: secondsToDay(to - (Number(preset) - 1) * DAY_S), to: serverToday });
  }

  function clearCharts() {
    for (const c of chartCleanups) c();
    chartCleanups = [];
  }

  function draw(r) {
    clearCharts();
    const days = r.days || [];
    const t = r.totals || {};
    const b = t.business_messages || {};
    const frt = t.first_response_ms || {};
    const refused = sum(t.refused);
    const errors = sum(t.tiktok_errors);
    status.textContent = `${r.from} to ${r.to} (UTC)`;
    const xs = days.map((d) => dayToSeconds(d.date));

    const conversationsHost = h('div', { class: 'chart-host' });
    const messagesHost = h('div', { class: 'chart-host' });
    const responseHost = h('div', { class: 'chart-host' });
    const refusedEntries = Object.entries(t.refused || {}).sort((a, c) => c[1] - a[1]);
    const errorEntries = Object.entries(t.tiktok_errors || {}).sort((a, c) => c[1] - a[1]);

    const table = h('table', { class: 'table', dataset: { testid: 'analytics-table' } },
      h('caption', { class: 'sr-only' }, 'Analytics by day'),
      h('thead', {}, h('tr', {}, ['Day', 'New conversations', 'Conversations messaged', 'Customer messages', 'Agent', 'Auto-responder', 'TikTok app', 'Median first response', 'Refused', 'TikTok errors']
        .map((c) => h('th', { scope: 'col' }, c)))),
      h('tbody', {}, days.slice().reverse().map((d) => h('tr', {},
        h('th', { scope: 'row' }, d.date),
        h('td', {}, String(d.new_conversations)),
        h('td', {}, String(d.daily_conversations_used || 0)),
        h('td', {}, String(d.customer_messages)),
        h('td', {}, String(d.business_messages.agent)),
        h('td', {}, String(d.business_messages.auto_responder)),
        h('td', {}, String(d.business_messages.tiktok_app)),
        h('td', {}, responseTime(d.first_response_ms && d.first_response_ms.median)),
        h('td', {}, String(sum(d.refused))),
        h('td', {}, String(sum(d.tiktok_errors)))))));

    body.replaceChildren(
      h('div', { class: 'stats' },
        tile('New conversations', t.new_conversations || 0, `peak ${t.daily_conversations_used_max || 0} / ${r.daily_conversation_limit} messaged a day`, 'stat-conversations'),
        tile('Customer messages', t.customer_messages || 0, 'received', 'stat-customer'),
        tile('Business messages', b.total || 0, `${b.agent || 0} agent · ${b.auto_responder || 0} auto · ${b.tiktok_app || 0} app`, 'stat-business'),
        tile('Median first response', responseTime(frt.median), frt.count ? `p90 ${responseTime(frt.p90)} · ${plural(frt.count, 'window', 'windows')}` : 'no replies yet', 'stat-response'),
        tile('Refused sends', refused, 'stopped by TikTok\'s rules', 'stat-refused'),
        tile('TikTok errors', errors, 'answered by TikTok', 'stat-errors')),
      h('div', { class: 'charts' },
        chartCard('Conversations', conversationsHost, 'chart-conversations'),
        chartCard('Messages by direction and source', messagesHost, 'chart-messages'),
        chartCard('First-response time (median, minutes)', responseHost, 'chart-response'),
        chartCard('Refusals by reason', hbars(refusedEntries, (k) => REFUSAL_LABELS[k] || k, 'No send was refused in this range.', 'refusals'), 'chart-refusals'),
        chartCard('TikTok errors', hbars(errorEntries, (k) => `[${k}] ${TIKTOK_ERRORS[k] || 'error'}`, 'TikTok reported no error in this range.', 'tiktok-errors'), 'chart-errors')),
      h('details', { class: 'card numbers' }, h('summary', {}, 'Show the numbers by day'), h('div', { class: 'table-wrap' }, table)));

    if (!days.length) return;
    chartCleanups.push(timeChart(conversationsHost, xs, [
      bars(COLORS.indigo, days.map((d) => d.new_conversations), 'New conversations'),
      line(COLORS.amber, days.map((d) => d.daily_conversations_used || 0), 'Conversations messaged'),
    ]));
    chartCleanups.push(timeChart(messagesHost, xs, [
      line(COLORS.slate, days.map((d) => d.customer_messages), 'Customer'),
      line(COLORS.indigo, days.map((d) => d.business_messages.agent), 'Agent'),
      line(COLORS.teal, days.map((d) => d.business_messages.auto_responder), 'Auto-responder'),
      line(COLORS.pink, days.map((d) => d.business_messages.tiktok_app), 'TikTok app'),
    ]));
    chartCleanups.push(timeChart(responseHost, xs, [
      line(COLORS.teal, days.map((d) => (d.first_response_ms && d.first_response_ms.median !== null ? d.first_response_ms.median / 60000 : null)), 'Median'),
      line(COLORS.amber, days.map((d) => (d.first_response_ms && d.first_response_ms.p90 !== null ? d.first_response_ms.p90 / 60000 : null)), 'p90', [4, 4]),
    ], (v) => (v >= 10 ? v.toFixed(0) : v.toFixed(1))));
  }

  async function load() {
    const mine = ++seq;
    if (!channelId) {
      body.replaceChildren(callout('info', 'No channel yet', 'Connect a TikTok account on the Integration page; its analytics appear here.'));
      return;
    }
    status.textContent = 'Loading…';
    try {
      const q = query();
      const r = await api.get(`/api/v1/channels/${channelId}/analytics${q.toString() ? `?${q}` : ''}`);
      if (mine !== seq) return;
      if (!q.toString()) serverToday = r.to;
      if (!fromInput.value) fromInput.value = r.from;
      if (!toInput.value) toInput.value = r.to;
      draw(r);
    } catch (e) {
      if (mine !== seq) return;
      status.textContent = '';
      clearCharts();
      body.replaceChildren(callout('error', null, e.message));
    }
  }

  (async () => {
    if (!opts.channelId) {
      await ensureChannels().catch(() => {});
      const chans = channelList();
      channelSelect.replaceChildren(...chans.map((c) => h('option', { value: String(c.id) }, channelName(c))));
      if (!channelId && chans.length) channelId = chans[0].id;
      if (channelId) channelSelect.value = String(channelId);
    }
    load();
  })();

  return () => {
    seq++;
    clearCharts();
  };
}
