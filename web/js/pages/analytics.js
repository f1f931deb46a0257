// analytics.js -- the Analytics page: one channel's figures over a range of days.

import { analyticsView } from '../charts.js';
import { h } from '../dom.js';

export function render(root, params, ctx) {
  document.title = 'Analytics · ttdm';
  const host = h('div', {});
  root.append(h('div', { class: 'page' },
    h('header', { class: 'page-head' },
      h('div', {}, h('h1', {}, 'Analytics'),
        h('p', { class: 'muted' }, 'Conversations, messages, response times and refusals per TikTok account and day (UTC).'))),
    host));
  const channel = Number(ctx.query.get('channel')) || null;
  return analyticsView(host, { initialChannelId: channel });
}
