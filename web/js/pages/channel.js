// channel.js -- one TikTok channel with tabs: Overview (account, status, token expiry, daily
// conversations, Reconnect Account), Settings and Analytics.

import { api, isAdmin, serverNow } from '../api.js';
import { channelAvatar, channelName, refreshChannels, statusPill } from '../channels.js';
import { analyticsView } from '../charts.js';
import { callout, h, icon, toast } from '../dom.js';
import { fullWhen, relative } from '../format.js';
import { subscribe } from '../live.js';
import { settingsForm } from '../settings-form.js';
import { oauthNotice } from './integration.js';

const TABS = [
  { id: 'overview', label: 'Overview' },
  { id: 'settings', label: 'Settings' },
  { id: 'analytics', label: 'Analytics' },
];

const ORIGIN = { app: 'TikTok mobile app', web: 'TikTok web', unknown: 'Unknown' };

function row(label, value, testid) {
  return [h('dt', {}, label), h('dd', { dataset: testid ? { testid } : null }, value)];
}

export function render(root, params, ctx) {
  const id = Number(params.channelId);
  let tab = TABS.some((t) => t.id === params.tab) ? params.tab : 'overview';
  let channel = null;
  let today = null;
  let notice = oauthNotice(ctx.query);
  let panelCleanup = null;
  const disposers = [];

  // The heading stays the same element, so focus put on it after navigation stays there.
  const avatarSlot = h('span', {});
  const title = h('h1', {}, 'TikTok channel');
  const sub = h('div', { class: 'muted' });
  const pillSlot = h('span', {});
  const head = h('header', { class: 'channel-head' }, avatarSlot,
    h('div', { class: 'channel-title' }, title, sub), pillSlot);
  const tablist = h('div', { class: 'tabs', role: 'tablist', 'aria-label': 'Channel' });
  const panel = h('div', { class: 'tab-panel', role: 'tabpanel', tabindex: '0' });
  const status = h('div', {});
  root.append(h('div', { class: 'page page--channel' },
    h('nav', { class: 'crumbs', 'aria-label': 'Breadcrumb' },
      h('a', { href: '/app/integration' }, 'Integration'), h('span', { 'aria-hidden': 'true' }, '/'),
      h('a', { href: '/app/integration/tiktok' }, 'TikTok Direct Message'), h('span', { 'aria-hidden': 'true' }, '/'),
      h('span', { 'aria-current': 'page', class: 'crumb-current' }, '…')),
    head, status, tablist, panel));

  const buttons = TABS.map((t) => h('button', {
    class: 'tab', type: 'button', role: 'tab', id: `tab-${t.id}`, 'aria-controls': 'tab-panel',
    onclick: () => select(t.id, true),
  }, t.label));
  panel.id = 'tab-panel';
  tablist.append(...buttons);
  tablist.addEventListener('keydown', (ev) => {
    const i = TABS.findIndex((t) => t.id === tab);
    let j = null;
    if (ev.key === 'ArrowRight') j = (i + 1) % TABS.length;
    else if (ev.key === 'ArrowLeft') j = (i + TABS.length - 1) % TABS.length;
    else if (ev.key === 'Home') j = 0;
    else if (ev.key === 'End') j = TABS.length - 1;
    if (j === null) return;
    ev.preventDefault();
    select(TABS[j].id, true);
    buttons[j].focus();
  });

  function select(next, updateUrl) {
    tab = next;
    if (updateUrl) {
      history.replaceState(null, '', `/app/integration/tiktok/${id}/${tab}`);
      notice = null;
    }
    buttons.forEach((b, i) => {
      const on = TABS[i].id === tab;
      b.setAttribute('aria-selected', on ? 'true' : 'false');
      b.tabIndex = on ? 0 : -1;
    });
    panel.setAttribute('aria-labelledby', `tab-${tab}`);
    drawPanel();
  }

  function drawHead() {
    if (!channel) return;
    document.title = `${channelName(channel)} · ${TABS.find((t) => t.id === tab).label} · ttdm`;
    root.querySelector('.crumb-current').textContent = channelName(channel);
    avatarSlot.replaceChildren(channelAvatar(channel, 'xl'));
    title.textContent = channelName(channel);
    sub.textContent = `@${channel.username} · TikTok Direct Message`;
    pillSlot.replaceChildren(statusPill(channel.status));
  }

  async function reconnect(button) {
    status.replaceChildren();
    button.disabled = true;
    try {
      const r = await api.post(`/api/v1/channels/${id}/reconnect`, {});
      location.assign(r.authorize_url);
    } catch (e) {
      status.append(callout('error', null, e.message));
      button.disabled = false;
    }
  }

  function overview() {
    const now = serverNow();
    const ch = channel;
    const broken = ch.status === 'reconnect_required';
    const limit = ch.daily_conversation_limit;
    const used = today ? today.daily_conversations_used || 0 : null;
    const reconnectButton = h('button', {
      class: `btn ${broken ? 'btn--primary' : 'btn--secondary'}`, type: 'button',
      dataset: { testid: 'reconnect' }, disabled: !isAdmin(),
      onclick: () => reconnectButton && reconnect(reconnectButton),
    }, icon('retry'), 'Reconnect Account');
    const meter = used === null ? h('span', { class: 'muted' }, `— / ${limit}`) : h('span', { class: 'meter-wrap' },
      h('meter', { min: '0', max: String(limit), value: String(used), high: String(Math.floor(limit * 0.8)), optimum: '0', 'aria-label': 'Daily conversations used' }),
      h('span', {}, `${used} / ${limit}`, used >= limit ? h('span', { class: 'pill pill--warn' }, 'Daily limit reached today') : null));
    return h('div', { class: 'overview' },
      notice,
      broken ? callout('warning', 'Reconnect required', ch.status_message ||
        'The connection to this TikTok account stopped working: its access expired or its permissions changed. Reconnect it with the same TikTok account; messages, analytics and settings stay as they are.') : null,
      h('div', { class: 'overview-grid' },
        h('section', { class: 'card', 'aria-labelledby': 'account-title' },
          h('h2', { class: 'card-title', id: 'account-title' }, 'Account'),
          h('dl', { class: 'facts' },
            row('Name', channelName(ch)),
            row('Username', `@${ch.username}`),
            row('Business ID', h('code', {}, ch.business_id)),
            row('Region', ch.region || 'Unknown'),
            row('Created in', ORIGIN[ch.account_origin] || ch.account_origin || 'Unknown'),
            ch.connected_at ? row('Connected', fullWhen(ch.connected_at)) : null)),
        h('section', { class: 'card', 'aria-labelledby': 'connection-title' },
          h('h2', { class: 'card-title', id: 'connection-title' }, 'Connection'),
          h('dl', { class: 'facts' },
            row('Status', statusPill(ch.status), 'channel-status'),
            row('Access token', ch.token_expires_at
              ? h('span', { title: fullWhen(ch.token_expires_at) },
                ch.token_expires_at > now ? `expires ${relative(ch.token_expires_at, now)}` : `expired ${relative(ch.token_expires_at, now)}`,
                h('span', { class: 'muted' }, ` · ${fullWhen(ch.token_expires_at)}`))
              : 'Unknown', 'token-expiry'),
            ch.refresh_token_expires_at ? row('Refresh token', `expires ${relative(ch.refresh_token_expires_at, now)}`) : null,
            row('Daily conversations', meter, 'daily-use')),
          h('div', { class: 'card-foot' },
            h('p', { class: 'hint' }, 'Reconnect when the token expired or you changed the account\'s permissions in TikTok. Log in with the same TikTok account; nothing is lost or duplicated.'),
            reconnectButton))));
  }

  function drawPanel() {
    if (panelCleanup) panelCleanup();
    panelCleanup = null;
    if (!channel) return;
    drawHead();
    if (tab === 'overview') {
      panel.replaceChildren(overview());
    } else if (tab === 'settings') {
      panel.replaceChildren(settingsForm({
        channel,
        showLimit: true,
        onSaved: (saved) => {
          channel = { ...channel, ...saved };
          toast('Changes saved', 'success');
          drawPanel();
        },
      }));
    } else {
      const host = h('div', {});
      panel.replaceChildren(host);
      panelCleanup = analyticsView(host, { channelId: id, compact: true });
    }
  }

  async function load(first) {
    try {
      const [ch, stats] = await Promise.all([
        api.get(`/api/v1/channels/${id}`),
        api.get(`/api/v1/channels/${id}/analytics`).catch(() => null),
      ]);
      const days = (stats && stats.days) || [];
      const changed = JSON.stringify(ch) !== JSON.stringify(channel) ||
        JSON.stringify(days[days.length - 1]) !== JSON.stringify(today);
      channel = ch;
      today = days.length ? days[days.length - 1] : null;
      status.replaceChildren();
      // The Settings form and the charts are not redrawn under the user's hands.
      if (first || (changed && tab === 'overview')) drawPanel();
      else drawHead();
    } catch (e) {
      status.replaceChildren(callout('error', e.status === 404 ? 'Channel not found' : null, e.message));
    }
  }

  select(tab, false);
  load(true).then(() => {
    if (ctx.query.get('oauth')) refreshChannels().catch(() => {});
  });
  disposers.push(subscribe('channels', () => load(false)));
  disposers.push(subscribe('tick', () => load(false)));
  return () => {
    for (const d of disposers) d();
    if (panelCleanup) panelCleanup();
  };
}
