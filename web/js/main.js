// main.js -- starts the dashboard: restores the sign-in, draws the shell (navigation and the
// reconnect banner) and routes /app/... paths to pages, all without reloading.

import { auth, restore, setUnauthorizedHandler, signOut } from './api.js';
import {
  channelName, ensureChannels, needingReconnect, startChannelUpdates, watchChannels,
} from './channels.js';
import { callout, focusHeading, h, icon } from './dom.js';
import { liveMode, onModeChange, startLive, stopLive } from './live.js';
import * as analyticsPage from './pages/analytics.js';
import * as channelPage from './pages/channel.js';
import * as inboxPage from './pages/inbox.js';
import * as integrationPage from './pages/integration.js';
import * as loginPage from './pages/login.js';

const routes = [
  { re: /^\/app\/login\/?$/, page: loginPage, shell: false, public: true },
  { re: /^\/app\/inbox\/?$/, page: inboxPage, nav: 'inbox' },
  { re: /^\/app\/inbox\/(\d+)\/?$/, page: inboxPage, nav: 'inbox', keys: ['conversationId'] },
  { re: /^\/app\/integration\/?$/, page: integrationPage, nav: 'integration', params: { view: 'home' } },
  { re: /^\/app\/integration\/tiktok\/?$/, page: integrationPage, nav: 'integration', params: { view: 'list' } },
  { re: /^\/app\/integration\/tiktok\/new\/?$/, page: integrationPage, nav: 'integration', params: { view: 'new' } },
  { re: /^\/app\/integration\/tiktok\/(\d+)\/setup\/?$/, page: integrationPage, nav: 'integration', params: { view: 'setup' }, keys: ['channelId'] },
  { re: /^\/app\/integration\/tiktok\/(\d+)(?:\/(overview|settings|analytics))?\/?$/, page: channelPage, nav: 'integration', keys: ['channelId', 'tab'] },
  { re: /^\/app\/analytics\/?$/, page: analyticsPage, nav: 'analytics' },
];

const NAV = [
  { id: 'inbox', href: '/app/inbox', label: 'Inbox', icon: 'inbox' },
  { id: 'integration', href: '/app/integration', label: 'Integration', icon: 'plug' },
  { id: 'analytics', href: '/app/analytics', label: 'Analytics', icon: 'chart' },
];

const app = document.getElementById('app');
let shell = null;
let cleanup = null;
let current = null;

function match(pathname) {
  for (const r of routes) {
    const m = r.re.exec(pathname);
    if (!m) continue;
    const params = { ...(r.params || {}) };
    (r.keys || []).forEach((k, i) => {
      if (m[i + 1] !== undefined) params[k] = m[i + 1];
    });
    return { route: r, params };
  }
  return null;
}

export function navigate(href, { replace = false } = {}) {
  const url = new URL(href, location.origin);
  if (replace) history.replaceState(null, '', url);
  else history.pushState(null, '', url);
  render();
}

// Same-origin /app/ links are handled here; others (TikTok shares, downloads) are not.
document.addEventListener('click', (ev) => {
  if (ev.defaultPrevented || ev.button !== 0 || ev.metaKey || ev.ctrlKey || ev.shiftKey || ev.altKey) return;
  const a = ev.target.closest('a[href]');
  if (!a || a.target || a.hasAttribute('download') || a.getAttribute('href').startsWith('#')) return;
  const url = new URL(a.href, location.origin);
  if (url.origin !== location.origin || !url.pathname.startsWith('/app/')) return;
  ev.preventDefault();
  navigate(url.pathname + url.search);
});
window.addEventListener('popstate', () => render());

function buildShell() {
  const liveDot = h('span', { class: 'live-dot', 'aria-hidden': 'true' });
  const liveText = h('span', { class: 'live-text' });
  const live = h('div', { class: 'live', title: 'How updates arrive' }, liveDot, liveText);
  const setLive = (m) => {
    liveText.textContent = m === 'sse' ? 'Live' : m === 'poll' ? 'Live (polling)' : 'Offline';
    live.dataset.mode = m;
  };
  setLive(liveMode());
  onModeChange(setLive);

  const who = auth.user ? auth.user.name || auth.user.email : 'Developer';
  const links = NAV.map((n) => h('li', {},
    h('a', { class: 'nav-link', href: n.href, dataset: { nav: n.id } },
      icon(n.icon), h('span', { class: 'nav-label' }, n.label))));
  const nav = h('nav', { class: 'sidenav', 'aria-label': 'Main' },
    h('a', { class: 'brand', href: '/app/inbox', 'aria-label': 'ttdm home' },
      h('img', { src: '/app/img/logo.svg', alt: '', width: 28, height: 28 }),
      h('span', { class: 'brand-name' }, 'ttdm')),
    h('ul', { class: 'nav-list' }, links),
    h('div', { class: 'nav-foot' },
      live,
      h('div', { class: 'who', title: who },
        h('span', { class: 'who-name' }, who),
        h('span', { class: 'who-role' }, auth.mode === 'apikey' ? `${auth.role || 'admin'} · API key` : auth.role || '')),
      h('button', {
        class: 'nav-link nav-signout', type: 'button',
        onclick: async () => {
          stopLive();
          await signOut();
          shell = null;
          navigate('/app/login');
        },
      }, icon('logout'), h('span', { class: 'nav-label' }, 'Sign out'))));
  const banner = h('div', { class: 'banner-area', id: 'banner-area' });
  const main = h('main', { id: 'main', class: 'main', tabindex: '-1' });
  const root = h('div', { class: 'shell' }, nav, h('div', { class: 'main-col' }, banner, main));
  return { root, nav, banner, main };
}

// A banner on every page while any channel needs a reconnect, linking to its Overview tab.
function drawBanner() {
  if (!shell) return;
  const broken = needingReconnect();
  shell.banner.replaceChildren();
  if (!broken.length) return;
  const first = broken[0];
  const text = broken.length === 1
    ? `The TikTok account ${channelName(first)} (@${first.username}) needs to be reconnected. Messages can't be sent or received for it until an admin reconnects it.`
    : `${broken.length} TikTok accounts need to be reconnected. Messages can't be sent or received for them until an admin reconnects them.`;
  shell.banner.append(h('div', { class: 'reconnect-banner', role: 'alert', dataset: { testid: 'reconnect-banner' } },
    icon('alert'),
    h('span', { class: 'reconnect-text' }, text),
    h('a', { class: 'btn btn--small btn--danger', href: `/app/integration/tiktok/${first.id}/overview` },
      'Reconnect on the Overview tab')));
}

async function render() {
  const path = location.pathname;
  if (path === '/' || path === '/app' || path === '/app/' || path === '/app/index.html') {
    navigate('/app/inbox', { replace: true });
    return;
  }
  const found = match(path);
  if (cleanup) {
    try {
      cleanup();
    } catch (e) {
      console.error(e);
    }
    cleanup = null;
  }
  if (found && !found.route.public && !auth.mode) {
    const next = path + location.search;
    navigate(`/app/login?next=${encodeURIComponent(next)}`, { replace: true });
    return;
  }
  current = found;
  let host;
  if (!found || found.route.shell !== false) {
    if (!shell) {
      shell = buildShell();
      app.replaceChildren(shell.root);
      drawBanner();
    }
    for (const a of shell.nav.querySelectorAll('[data-nav]')) {
      if (found && a.dataset.nav === found.route.nav) a.setAttribute('aria-current', 'page');
      else a.removeAttribute('aria-current');
    }
    host = shell.main;
    host.replaceChildren();
    host.className = `main main--${found ? found.route.nav : 'none'}`;
  } else {
    shell = null;
    app.replaceChildren();
    host = app;
  }
  if (!found) {
    document.title = 'Not found · ttdm';
    host.append(h('div', { class: 'page' }, h('h1', {}, 'Page not found'),
      callout('info', null, 'Nothing lives at this address. Use the navigation to go on.')));
    focusHeading(host);
    return;
  }
  const ctx = {
    navigate,
    query: new URLSearchParams(location.search),
    afterSignIn: async () => {
      await afterSignIn();
    },
  };
  try {
    cleanup = found.route.page.render(host, found.params, ctx) || null;
  } catch (e) {
    console.error(e);
    host.append(callout('error', 'This page failed to load', e.message));
  }
  if (current === found && !host.contains(document.activeElement)) focusHeading(host);
}

async function afterSignIn() {
  startLive();
  startChannelUpdates();
  await ensureChannels().catch(() => {});
}

watchChannels(() => drawBanner());

setUnauthorizedHandler(() => {
  if (!auth.mode) return;
  stopLive();
  auth.mode = null;
  shell = null;
  const next = location.pathname + location.search;
  navigate(`/app/login?expired=1&next=${encodeURIComponent(next)}`, { replace: true });
});

async function boot() {
  let signedIn = false;
  try {
    signedIn = await restore();
  } catch (e) {
    app.replaceChildren(h('div', { class: 'page page--center' },
      callout('error', 'The dashboard cannot start', e.message)));
    return;
  }
  if (signedIn) await afterSignIn();
  render();
}

boot();
