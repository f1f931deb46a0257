// channels.js -- the workspace's TikTok channels as every page sees them: one cached list,
// re-read when live updates say channels changed, and the pieces that show a channel
// (avatar with badge, status pill).

import { api, loadImage } from './api.js';
import { h, icon } from './dom.js';
import { initials, hue, statusLabel } from './format.js';
import { subscribe } from './live.js';

let channels = [];
let loaded = false;
let inflight = null;
const watchers = new Set();

export function channelList() {
  return channels;
}

export function channelById(id) {
  return channels.find((c) => c.id === Number(id)) || null;
}

export function needingReconnect() {
  return channels.filter((c) => c.status === 'reconnect_required');
}

export function refreshChannels() {
  if (inflight) return inflight;
  inflight = api.get('/api/v1/channels')
    .then((r) => {
      const next = (r && r.data) || [];
      const changed = JSON.stringify(next) !== JSON.stringify(channels);
      channels = next;
      loaded = true;
      if (changed) for (const fn of watchers) fn(channels);
      return channels;
    })
    .finally(() => {
      inflight = null;
    });
  return inflight;
}

export async function ensureChannels() {
  if (!loaded) await refreshChannels();
  return channels;
}

// fn(channels) whenever the list changes. Returns the unsubscribe function.
export function watchChannels(fn) {
  watchers.add(fn);
  return () => watchers.delete(fn);
}

let started = false;
export function startChannelUpdates() {
  if (started) return;
  started = true;
  // Channels change rarely: each poll round or event reads them (a small answer).
  subscribe('channels', () => refreshChannels().catch(() => {}));
  subscribe('tick', () => refreshChannels().catch(() => {}));
}

export function channelName(c) {
  if (!c) return 'TikTok';
  return c.display_name || (c.username ? `@${c.username}` : `Channel ${c.id}`);
}

// The channel's badge icon if it has one, else a TikTok note on the channel's colour.
export function channelBadge(c, size = 'sm') {
  const el = h('span', {
    class: `ch-badge ch-badge--${size} hue-${hue(c ? c.username || String(c.id) : '')}`,
    title: channelName(c),
  });
  if (c && c.badge_url) {
    const img = h('img', { alt: '', class: 'ch-badge-img', width: 16, height: 16 });
    loadImage(img, c.badge_url);
    el.append(img);
    el.classList.add('ch-badge--custom');
  } else {
    el.append(icon('note'));
  }
  return el;
}

// Initials on a stable colour; an image only when the URL is served by ttdm itself, since
// the dashboard loads nothing from other hosts.
export function avatar(name, url, size = 'md') {
  const el = h('span', { class: `avatar avatar--${size} hue-${hue(name)}`, 'aria-hidden': 'true' },
    h('span', { class: 'avatar-initials' }, initials(name)));
  if (url && url.startsWith('/')) {
    const img = h('img', { alt: '', class: 'avatar-img' });
    img.addEventListener('load', () => el.classList.add('avatar--img'));
    loadImage(img, url);
    el.append(img);
  }
  return el;
}

export function channelAvatar(c, size = 'md') {
  return h('span', { class: 'avatar-wrap' },
    avatar(c ? c.display_name || c.username : '?', c && c.avatar_url, size),
    channelBadge(c, 'xs'));
}

export function statusPill(status, extra) {
  const tone = status === 'connected' ? 'ok' : status === 'reconnect_required' ? 'danger' : 'muted';
  return h('span', { class: `pill pill--${tone}`, dataset: { status } },
    h('span', { class: 'pill-dot', 'aria-hidden': 'true' }), extra || statusLabel(status));
}
