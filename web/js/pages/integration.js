// integration.js -- the Integration page: the TikTok Direct Message menu, the connected
// accounts, Add TikTok Account (TikTok's login page and back), and the settings step that
// follows a new connection.

import { api, isAdmin, serverNow } from '../api.js';
import {
  channelAvatar, channelById, channelList, channelName, ensureChannels, refreshChannels,
  statusPill, watchChannels,
} from '../channels.js';
import { callout, h, icon, toast } from '../dom.js';
import { fullWhen, plural, relative } from '../format.js';
import { subscribe } from '../live.js';
import { settingsForm } from '../settings-form.js';

// The left menu of the Integration page; TikTok Direct Message is its one channel type.
function subnav(active) {
  const count = channelList().length;
  return h('nav', { class: 'subnav', 'aria-label': 'Integrations' },
    h('p', { class: 'subnav-title' }, 'Channels'),
    h('a', {
      class: 'subnav-link', href: '/app/integration/tiktok',
      'aria-current': active ? 'page' : null, dataset: { testid: 'menu-tiktok' },
    },
    h('span', { class: 'tt-logo', 'aria-hidden': 'true' }, icon('note')),
    h('span', { class: 'subnav-text' }, 'TikTok Direct Message'),
    count ? h('span', { class: 'count' }, String(count)) : null));
}

function layout(root, active, ...content) {
  const section = h('div', { class: 'subpage' }, ...content);
  root.append(h('div', { class: 'page page--split' }, subnav(active), section));
  return section;
}

// The result of TikTok's login, as the server's redirect back reports it.
export function oauthNotice(query) {
  const result = query.get('oauth');
  const error = query.get('oauth_error');
  if (error) {
    return callout('error', 'The TikTok account was not connected',
      query.get('oauth_message') || `TikTok login failed (${error}).`);
  }
  if (result === 'reconnected') return callout('success', 'Your channel has been reconnected.', 'Messages, analytics and settings are unchanged.');
  if (result === 'updated') return callout('success', 'This TikTok account was already connected', 'Its channel was updated with the new login; nothing was duplicated.');
  if (result === 'connected') return callout('success', 'TikTok account connected', 'You can now receive and answer its direct messages.');
  return null;
}

function home(root) {
  document.title = 'Integration · ttdm';
  const count = h('span', { class: 'muted' });
  const draw = () => {
    const n = channelList().length;
    count.textContent = n ? `${plural(n, 'account', 'accounts')} connected` : 'No account connected yet';
  };
  draw();
  layout(root, false,
    h('header', { class: 'page-head' },
      h('div', {}, h('h1', {}, 'Integration'),
        h('p', { class: 'muted' }, 'Connect the channels your customers write to.'))),
    h('div', { class: 'integration-grid' },
      h('a', { class: 'card integration-card', href: '/app/integration/tiktok' },
        h('span', { class: 'tt-logo tt-logo--lg', 'aria-hidden': 'true' }, icon('note')),
        h('span', { class: 'integration-body' },
          h('strong', {}, 'TikTok Direct Message'),
          h('span', {}, 'Answer TikTok Business Account direct messages from this inbox. Connect as many accounts as you need.'),
          count),
        icon('chevron', 'integration-go'))));
  return watchChannels(draw);
}

// Whether an account has used its daily conversations: read from today's analytics.
const dailyUse = new Map();
async function readDailyUse(ch) {
  try {
    const r = await api.get(`/api/v1/channels/${ch.id}/analytics`);
    const days = r.days || [];
    const today = days[days.length - 1];
    dailyUse.set(ch.id, today ? today.daily_conversations_used || 0 : 0);
  } catch (e) {
    dailyUse.delete(ch.id);
  }
}

function accountRow(ch) {
  const now = serverNow();
  const used = dailyUse.get(ch.id);
  const limitReached = used !== undefined && ch.daily_conversation_limit && used >= ch.daily_conversation_limit;
  const pills = [statusPill(ch.status)];
  if (limitReached) pills.push(h('span', { class: 'pill pill--warn', dataset: { status: 'daily_limit' } }, h('span', { class: 'pill-dot', 'aria-hidden': 'true' }), 'Daily limit reached today'));
  return h('li', {},
    h('a', { class: 'account', href: `/app/integration/tiktok/${ch.id}/overview`, dataset: { testid: 'account', id: ch.id } },
      channelAvatar(ch, 'lg'),
      h('span', { class: 'account-main' },
        h('strong', { class: 'account-name' }, channelName(ch)),
        h('span', { class: 'muted' }, `@${ch.username}`)),
      h('span', { class: 'account-status' }, pills),
      h('span', { class: 'account-meta' },
        h('span', {}, used !== undefined ? `${used} / ${ch.daily_conversation_limit} conversations today` : `Limit ${ch.daily_conversation_limit} conversations a day`),
        ch.token_expires_at ? h('span', { class: 'muted', title: fullWhen(ch.token_expires_at) },
          ch.token_expires_at > now ? `Token renews ${relative(ch.token_expires_at, now)}` : 'Token expired') : null),
      icon('chevron', 'account-go')));
}

function list(root, ctx) {
  document.title = 'TikTok Direct Message · Integration · ttdm';
  const items = h('ul', { class: 'accounts', dataset: { testid: 'accounts' } });
  const status = h('div', {});
  const draw = () => {
    const chans = channelList();
    if (!chans.length) {
      items.replaceChildren(h('li', { class: 'empty' },
        h('span', { class: 'tt-logo tt-logo--lg', 'aria-hidden': 'true' }, icon('note')),
        h('strong', {}, 'No TikTok account connected'),
        h('span', {}, 'Add a TikTok Business Account to start answering its direct messages here.')));
    } else {
      items.replaceChildren(...chans.map(accountRow));
    }
  };
  const readAll = async () => {
    await Promise.all(channelList().map(readDailyUse));
    draw();
  };
  const notice = oauthNotice(ctx.query);
  const add = isAdmin()
    ? h('a', { class: 'btn btn--primary', href: '/app/integration/tiktok/new' }, icon('plus'), 'Add TikTok Account')
    : null;
  layout(root, true,
    h('header', { class: 'page-head' },
      h('div', {}, h('h1', {}, 'TikTok Direct Message'),
        h('p', { class: 'muted' }, 'Connect your TikTok Business Accounts. Customers write first; you may then reply up to 10 times within 48 hours of their latest message.')),
      add),
    notice, status,
    h('section', { class: 'card card--flush', 'aria-labelledby': 'accounts-title' },
      h('h2', { class: 'card-title', id: 'accounts-title' }, 'Connected accounts'),
      items),
    h('details', { class: 'card rules' },
      h('summary', {}, 'What TikTok allows'),
      h('ul', {},
        h('li', {}, h('strong', {}, 'Only inbound: '), 'you can only message customers who wrote to you first.'),
        h('li', {}, h('strong', {}, 'Message window: '), 'up to 10 messages within 48 hours of the customer\'s latest message; every new customer message restores all 10.'),
        h('li', {}, h('strong', {}, 'Daily limit: '), '100–200 different conversations per account and day. Past it TikTok answers [40064] You are sending messages too fast. Take a rest.'),
        h('li', {}, h('strong', {}, 'Content: '), 'text (up to 6000 characters) or one JPEG/PNG image (up to 3 MB). Images are not available in some regions.'))));
  draw();
  ensureChannels().then(readAll).catch((e) => status.replaceChildren(callout('error', null, e.message)));
  const offWatch = watchChannels(() => readAll());
  const offLive = subscribe('channels', (d) => {
    if (d.type !== 'poll') readAll();
  });
  return () => {
    offWatch();
    offLive();
  };
}

function addAccount(root) {
  document.title = 'Add TikTok Account · ttdm';
  const status = h('div', {});
  const login = h('button', { class: 'btn btn--primary btn--large', type: 'button', dataset: { testid: 'login-tiktok' } },
    h('span', { class: 'tt-logo tt-logo--sm', 'aria-hidden': 'true' }, icon('note')), 'Login TikTok Account');
  login.addEventListener('click', async () => {
    status.replaceChildren();
    login.disabled = true;
    try {
      const r = await api.post('/api/v1/channels/connect', {});
      location.assign(r.authorize_url);
    } catch (e) {
      status.append(callout('error', null, e.message));
      login.disabled = false;
    }
  });
  layout(root, true,
    h('nav', { class: 'crumbs', 'aria-label': 'Breadcrumb' },
      h('a', { href: '/app/integration/tiktok' }, 'TikTok Direct Message'), h('span', { 'aria-hidden': 'true' }, '/'), h('span', { 'aria-current': 'page' }, 'Add account')),
    h('header', { class: 'page-head' }, h('div', {}, h('h1', {}, 'Add TikTok Account'))),
    h('div', { class: 'card connect-card' },
      h('ol', { class: 'steps' },
        h('li', { class: 'step step--active' }, h('span', { class: 'step-n' }, '1'), h('span', {}, h('strong', {}, 'Log in to TikTok'), h('span', { class: 'muted' }, 'You are sent to TikTok\'s login page. Use your TikTok Business Account.'))),
        h('li', { class: 'step' }, h('span', { class: 'step-n' }, '2'), h('span', {}, h('strong', {}, 'Continue'), h('span', { class: 'muted' }, 'Review the permissions TikTok asks for and click Continue.'))),
        h('li', { class: 'step' }, h('span', { class: 'step-n' }, '3'), h('span', {}, h('strong', {}, 'Set up the channel'), h('span', { class: 'muted' }, 'Back here, choose an auto-responder and a badge icon, or do it later.')))),
      status,
      h('div', { class: 'connect-actions' }, login,
        h('a', { class: 'btn btn--ghost', href: '/app/integration/tiktok' }, 'Cancel'))));
  return null;
}

function setup(root, params, ctx) {
  document.title = 'Set up the channel · ttdm';
  const id = Number(params.channelId);
  const body = h('div', {}, h('p', { class: 'muted' }, 'Loading…'));
  layout(root, true,
    h('nav', { class: 'crumbs', 'aria-label': 'Breadcrumb' },
      h('a', { href: '/app/integration/tiktok' }, 'TikTok Direct Message'), h('span', { 'aria-hidden': 'true' }, '/'), h('span', { 'aria-current': 'page' }, 'Set up')),
    h('header', { class: 'page-head' }, h('div', {}, h('h1', {}, 'Set up your TikTok channel'),
      h('p', { class: 'muted' }, 'Set the auto-responder and the channel badge icon now, or set them up later.'))),
    oauthNotice(ctx.query), body);
  (async () => {
    try {
      await refreshChannels();
      const ch = channelById(id) || await api.get(`/api/v1/channels/${id}`);
      const full = await api.get(`/api/v1/channels/${id}`).catch(() => ch);
      const overview = `/app/integration/tiktok/${id}/overview`;
      body.replaceChildren(
        h('div', { class: 'card account-summary' }, channelAvatar(full, 'lg'),
          h('div', {}, h('strong', {}, channelName(full)), h('span', { class: 'muted' }, ` @${full.username}`)),
          statusPill(full.status)),
        settingsForm({
          channel: full,
          secondary: h('a', { class: 'btn btn--ghost', href: overview, dataset: { testid: 'setup-later' } }, 'Set up later'),
          onSaved: () => {
            toast('Changes saved', 'success');
            ctx.navigate(overview);
          },
        }));
    } catch (e) {
      body.replaceChildren(callout('error', null, e.message));
    }
  })();
  return null;
}

export function render(root, params, ctx) {
  switch (params.view) {
  case 'list':
    return list(root, ctx);
  case 'new':
    return addAccount(root, ctx);
  case 'setup':
    return setup(root, params, ctx);
  default:
    return home(root, ctx);
  }
}
