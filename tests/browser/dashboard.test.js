// dashboard.test.js -- the dashboard in a real browser: Playwright drives Debian's Chromium
// (headless) against real ttdm and ttdm-sim processes on 127.0.0.1. The steps follow one
// agent's day: sign in, connect a TikTok account through the simulator's login page, answer
// a customer live, run out of replies, wait out the 48-hour window, reconnect an expired
// account, and read the analytics. Screenshots of each main page go to
// $TTDM_TEST_OUTPUT/screenshots/.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { deflateSync } from 'node:zlib';
import { chromium } from 'playwright-core';
import { sleep, startEnv } from './env.js';

const CHROMIUM = process.env.TTDM_CHROMIUM || '/usr/bin/chromium';
// Without the networking flags Chromium tries to reach Google's services at every start.
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic',
  '--no-first-run', '--disable-background-networking', '--disable-component-update',
  '--disable-sync'];
const OUT = join(process.env.TTDM_TEST_OUTPUT || join(process.cwd(), 'test-output'), 'screenshots');
const LIVE_MS = 15000; // news must show within this without reloading (poll is 2 s)
const HOUR = 3600 * 1000;

// A small PNG made here (RGB gradient), so the tests ship no binary files.
function png(width, height, pixel) {
  const crcTable = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  const crc = (buf) => {
    let c = 0xffffffff;
    for (const b of buf) c = crcTable[(c ^ b) & 0xff] ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
  };
  const chunk = (type, data) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
    const sum = Buffer.alloc(4);
    sum.writeUInt32BE(crc(body));
    return Buffer.concat([len, body, sum]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8;
  ihdr[9] = 2;
  const raw = Buffer.alloc((width * 3 + 1) * height);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const [r, g, b] = pixel(x, y);
      const o = y * (width * 3 + 1) + 1 + x * 3;
      raw[o] = r;
      raw[o + 1] = g;
      raw[o + 2] = b;
    }
  }
  return Buffer.concat([Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]), chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(raw)), chunk('IEND', Buffer.alloc(0))]);
}

const photo = png(240, 160, (x, y) => [80 + Math.round((x / 240) * 150), 70 + Math.round((y / 160) * 60), 220 - Math.round((x / 240) * 90)]);
const chart = png(200, 200, (x, y) => ((Math.floor(x / 25) + Math.floor(y / 25)) % 2 ? [236, 72, 153] : [255, 255, 255]));
const badgeSvg = Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64"><rect width="64" height="64" rx="14" fill="#f97316"/><text x="32" y="43" font-size="30" font-family="sans-serif" font-weight="700" text-anchor="middle" fill="#fff">DS</text></svg>');

async function waitFor(what, fn, timeoutMs = LIVE_MS) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      last = await fn();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what} (last: ${last && last.message ? last.message : JSON.stringify(last)})`);
    await sleep(100);
  }
}

describe('dashboard', () => {
  let env;
  let browser;
  let page;
  let channelId;
  let ayu;
  let conversationId;
  const pageErrors = [];

  const shot = (name) => page.screenshot({ path: join(OUT, `${name}.png`) });
  const budgetText = () => page.locator('[data-testid="budget-line"]').innerText();
  const goInbox = async () => {
    await page.click('nav[aria-label="Main"] a:has-text("Inbox")');
    await page.waitForSelector('.inbox');
  };

  // TikTok's page lists the test accounts; Continue logs in as one of them, and ttdm's
  // callback sends the browser back to the dashboard (docs/DASHBOARD.md, "TikTok login").
  async function tiktokLogin(username) {
    await page.waitForURL(/\/v2\/auth\/authorize/);
    await page.locator('form.acct', { hasText: `@${username}` }).locator('button:has-text("Continue")').click();
    // ttdm's callback answers 303 to the dashboard page that shows the outcome.
    await page.waitForURL((u) => u.pathname.startsWith('/app/'));
    await page.waitForLoadState('load');
  }

  before(async () => {
    mkdirSync(OUT, { recursive: true });
    env = await startEnv({
      withChannel: false,
      username: 'demo_shop',
      displayName: 'Demo Shop',
      moreAccounts: [
        { username: 'acme_beauty', display_name: 'Acme Beauty', business_id: 'biz-acme-beauty' },
        { username: 'other_shop', display_name: 'Other Shop' },
      ],
    });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, locale: 'en-US', timezoneId: 'UTC' });
    context.setDefaultTimeout(LIVE_MS);
    page = await context.newPage();
    page.on('pageerror', (e) => pageErrors.push(e.message));
  });

  after(async () => {
    if (browser) await browser.close();
    if (env) await env.stop();
  });

  test('ttdm serves the dashboard itself, with strict security headers', async () => {
    const r = await fetch(`${env.url}/app/inbox`);
    assert.equal(r.status, 200);
    assert.match(r.headers.get('content-type'), /^text\/html/);
    assert.equal(r.headers.get('content-security-policy'),
      "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; object-src 'none'; frame-ancestors 'none'; base-uri 'none'");
    assert.equal(r.headers.get('x-content-type-options'), 'nosniff');
    assert.equal(r.headers.get('referrer-policy'), 'no-referrer');
    const js = await fetch(`${env.url}/app/js/main.js`);
    assert.match(js.headers.get('content-type'), /^text\/javascript/);
    const etag = js.headers.get('etag');
    assert.ok(etag);
    const again = await fetch(`${env.url}/app/js/main.js`, { headers: { 'If-None-Match': etag } });
    assert.equal(again.status, 304);
    assert.equal((await fetch(`${env.url}/app/js/missing.js`)).status, 404);
    assert.equal((await fetch(`${env.url}/app/inbox`, { method: 'POST' })).status, 405);
    const html = await r.text();
    assert.doesNotMatch(html, /https?:\/\//, 'the page loads nothing from other hosts');
  });

  test('an admin signs in with email and password', async () => {
    await page.goto(env.url);
    await page.waitForURL(/\/app\/login/);
    await page.waitForSelector('#email');
    await shot('login');
    await page.fill('#password', 'wrong password');
    await page.fill('#email', env.admin.email);
    await page.click('form.login-form button[type="submit"]');
    const error = page.locator('#login-error');
    await error.waitFor({ state: 'visible' });
    assert.ok((await error.innerText()).length > 10, 'the server\'s reason is shown');
    await page.fill('#password', env.admin.password);
    await page.click('form.login-form button[type="submit"]');
    await page.waitForURL(/\/app\/inbox/);
    await page.waitForSelector('.conv-list');
    // The session cookie is HttpOnly: no script of the page can read it.
    const cookies = await page.context().cookies();
    assert.ok(cookies.some((c) => c.name === 'ttdm_session' && c.httpOnly));
    assert.doesNotMatch(await page.evaluate(() => document.cookie), /ttdm_session/);
  });

  test('Add TikTok Account through TikTok\'s login page, then save settings with a badge', async () => {
    await page.click('nav[aria-label="Main"] a:has-text("Integration")');
    await page.click('[data-testid="menu-tiktok"]');
    await page.click('a:has-text("Add TikTok Account")');
    await page.click('[data-testid="login-tiktok"]');
    await page.waitForURL(/\/v2\/auth\/authorize/);
    await shot('tiktok-login');
    await tiktokLogin('demo_shop');
    await page.waitForURL(/\/app\/integration\/tiktok\/\d+\/setup/);
    channelId = Number(/tiktok\/(\d+)\/setup/.exec(page.url())[1]);
    await page.waitForSelector('form.settings-form');

    await page.click('label[for="auto-enabled"]');
    await page.fill('#auto-text', 'Thanks for your message! An agent will answer you shortly.');
    await page.setInputFiles('#badge-file', { name: 'badge.svg', mimeType: 'image/svg+xml', buffer: badgeSvg });
    await page.waitForSelector('[data-testid="badge-preview"] img[alt="New badge icon preview"]');
    await shot('channel-setup');
    await page.click('button:has-text("Save Changes")');
    await page.waitForURL(new RegExp(`/app/integration/tiktok/${channelId}/overview`));

    const ch = (await env.api('GET', `/api/v1/channels/${channelId}`)).json;
    assert.equal(ch.username, 'demo_shop');
    assert.equal(ch.auto_responder.enabled, true);
    assert.equal(ch.auto_responder.text, 'Thanks for your message! An agent will answer you shortly.');
    assert.ok(ch.badge_url, 'the badge was uploaded');

    // A second account, set up later.
    await page.click('a:has-text("TikTok Direct Message")');
    await page.click('a:has-text("Add TikTok Account")');
    await page.click('[data-testid="login-tiktok"]');
    await tiktokLogin('acme_beauty');
    await page.waitForURL(/\/app\/integration\/tiktok\/\d+\/setup/);
    await page.click('[data-testid="setup-later"]');
    await page.waitForURL(/\/app\/integration\/tiktok\/\d+\/overview/);
    await page.locator('h1', { hasText: 'Acme Beauty' }).waitFor();

    await page.click('a:has-text("TikTok Direct Message")');
    await page.locator('[data-testid="account"]').nth(1).waitFor();
    const row = page.locator('[data-testid="account"]', { hasText: '@demo_shop' });
    await row.waitFor();
    await waitFor('the badge in the accounts list', () => row.locator('.ch-badge--custom img').evaluate((img) => img.complete && img.naturalWidth > 0));
    assert.match(await row.innerText(), /Connected/);
    await shot('integration');
  });

  test('a customer writes and the message appears live, with the auto-responder\'s reply', async () => {
    await goInbox();
    await page.evaluate(() => { window.__sameDocument = true; });
    ayu = await env.customer('ayu_s', 'SG');
    await env.says(ayu, 'Hi! Is the blue tote still in stock?');
    const item = page.locator('[data-testid="conversation"]', { hasText: 'ayu_s' });
    await item.waitFor();
    assert.match(await item.innerText(), /Thanks for your message|blue tote/);
    await item.click();
    await page.waitForURL(/\/app\/inbox\/\d+/);
    conversationId = Number(/inbox\/(\d+)/.exec(page.url())[1]);
    await page.locator('.msg--in', { hasText: 'blue tote' }).waitFor();
    const auto = page.locator('.msg--out', { hasText: 'Thanks for your message' });
    await auto.waitFor();
    assert.match(await auto.innerText(), /Auto-reply/);
    await waitFor('9 replies left after the auto-reply', async () => /9 of 10 replies left/.test(await budgetText()));

    // The open conversation updates by itself: the customer's next message restores 10.
    await env.says(ayu, 'Can you ship to Jakarta?');
    await page.locator('.msg--in', { hasText: 'ship to Jakarta' }).waitFor();
    await waitFor('10 replies left', async () => /^10 of 10 replies left · window closes in 4[78] h/.test(await budgetText()));
    assert.equal(await page.evaluate(() => window.__sameDocument), true, 'no reload happened');

    // Other customers: every TikTok message type has a place in the thread.
    const budi = await env.customer('budi_id', 'ID');
    await env.says(budi, 'Halo, my order #1042 has not arrived yet');
    const yuki = await env.customer('yuki_jp', 'JP');
    await env.says(yuki, 'Do you have this in size M?');
    await env.sends(yuki, { type: 'share_post' });
    await env.sends(yuki, { type: 'video' });
    const yukiItem = page.locator('[data-testid="conversation"]', { hasText: 'yuki_jp' });
    await yukiItem.waitFor();
    await page.locator('[data-testid="conversation"]', { hasText: 'budi_id' }).waitFor();
    await yukiItem.click();
    await page.locator('.msg--share_post .share-card', { hasText: 'Shared a TikTok post' }).waitFor();
    assert.match(await page.locator('[data-testid="unsupported"]').innerText(), /unsupported: open TikTok to see it \(video\)/);

    // A customer of the second account; the channel filter tells them apart.
    const lina = await env.customer('lina_tan', 'SG', 'biz-acme-beauty');
    await env.says(lina, 'Is the vitamin C serum good for sensitive skin?');
    const linaItem = page.locator('[data-testid="conversation"]', { hasText: 'lina_tan' });
    await linaItem.waitFor();
    assert.match(await linaItem.innerText(), /Acme Beauty/);
    const acme = (await env.api('GET', '/api/v1/channels')).json.data.find((c) => c.username === 'acme_beauty');
    await page.selectOption('#channel-filter', String(acme.id));
    await waitFor('only Acme Beauty\'s conversations', async () => (await page.locator('[data-testid="conversation"]').count()) === 1);
    await linaItem.waitFor();
    await page.selectOption('#channel-filter', '');
    await waitFor('all conversations again', async () => (await page.locator('[data-testid="conversation"]').count()) === 4);

    await page.locator('[data-testid="conversation"]', { hasText: 'ayu_s' }).click();
    await page.locator('.msg--in', { hasText: 'ship to Jakarta' }).waitFor();
  });

  test('the agent replies and the budget drops from 10 to 9', async () => {
    await page.fill('#reply', 'Yes, it is in stock! Shipping to Jakarta takes 3–5 days.');
    assert.match(await page.locator('#reply-count').innerText(), /^56 \/ 6000$/);
    await page.press('#reply', 'Enter');
    const mine = page.locator('.msg--out', { hasText: 'Shipping to Jakarta takes' });
    await mine.waitFor();
    await waitFor('the reply to be sent', async () => ['sent', 'read'].includes(await mine.getAttribute('data-status')));
    assert.match(await budgetText(), /^9 of 10 replies left · window closes in 4[78] h \d+ m$/);
    assert.equal(await page.inputValue('#reply'), '');
    await waitFor('the list to show 9/10', async () => /9\/10 left/.test(await page.locator('.conv[aria-current="true"]').innerText()));
  });

  test('images: a customer\'s image opens large; text plus a pasted image go out as two messages', async () => {
    await env.sends(ayu, { type: 'image', image_base64: photo.toString('base64') });
    const theirs = page.locator('.msg--in [data-testid="message-image"]');
    await theirs.waitFor();
    await waitFor('the customer image to load', () => theirs.evaluate((img) => img.complete && img.naturalWidth === 240));
    await page.locator('.msg--in .msg-img-btn').click();
    await page.waitForSelector('dialog.lightbox[open] img');
    await page.keyboard.press('Escape');
    await page.waitForSelector('dialog.lightbox:not([open])', { state: 'attached' });
    await waitFor('10 replies left after the image', async () => /^10 of 10/.test(await budgetText()));

    await page.fill('#reply', 'Here is the size chart:');
    // Paste an image into the composer, as from the clipboard.
    await page.evaluate(async (b64) => {
      const bytes = Uint8Array.from(atob(b64), (ch) => ch.charCodeAt(0));
      const dt = new DataTransfer();
      dt.items.add(new File([bytes], 'size-chart.png', { type: 'image/png' }));
      document.querySelector('#reply').dispatchEvent(new ClipboardEvent('paste', { clipboardData: dt, bubbles: true, cancelable: true }));
    }, chart.toString('base64'));
    await page.waitForSelector('.attach-preview img');
    const out = page.locator('.msg--out');
    const before = await out.count();
    // TikTok answers both sends late, after their echoes: each echo is stored first as a
    // message of its own and merged into the reply when the send is recorded. The screen
    // must end with the text and then the image, once each.
    const late = await env.sim('POST', '/sim/faults',
      { endpoint: 'message/send', kind: 'timeout', process: true, delay_ms: 400, count: 2 });
    assert.equal(late.status, 200, late.text);
    await page.click('button.send');
    await waitFor('the text, then the image', async () => {
      const types = await out.evaluateAll((els) => els.map((e) => e.getAttribute('data-type')));
      return types.length === before + 2 && types.slice(-2).join() === 'text,image';
    });
    const last = out.nth(before + 1);
    const beforeLast = out.nth(before);
    assert.equal(await beforeLast.getAttribute('data-type'), 'text');
    assert.match(await beforeLast.innerText(), /size chart/);
    assert.equal(await last.getAttribute('data-type'), 'image');
    await waitFor('the image to be sent', async () => ['sent', 'read'].includes(await last.getAttribute('data-status')));
    await waitFor('our image to show', () => last.locator('img').evaluate((img) => img.complete && img.naturalWidth === 200));
    assert.match(await budgetText(), /^8 of 10 replies left/);
    await page.locator('.attach-preview').waitFor({ state: 'hidden' });
    await shot('inbox');
  });

  test('when the replies are used up, the composer is disabled with the reason', async () => {
    for (let i = 1; i <= 8; i++) {
      const r = await env.api('POST', `/api/v1/conversations/${conversationId}/messages`, { text: `Update ${i} on your order.` });
      assert.equal(r.status, 202, r.text);
    }
    const refused = await env.api('POST', `/api/v1/conversations/${conversationId}/messages`, { text: 'One too many.' });
    assert.equal(refused.status, 409);
    assert.equal(refused.json.error.code, 'reply_quota_used_up');
    const blocked = page.locator('[data-testid="composer-blocked"]');
    await blocked.waitFor();
    assert.equal(await blocked.getAttribute('data-code'), 'reply_quota_used_up');
    assert.match(await blocked.innerText(), /No replies left/);
    assert.ok((await blocked.innerText()).includes(refused.json.error.message.slice(0, 40)));
    assert.equal(await page.locator('#reply').isDisabled(), true);
    assert.equal(await page.locator('button.send').isDisabled(), true);
    assert.match(await budgetText(), /^0 of 10 replies left/);
    await shot('inbox-quota-used-up');
  });

  test('past 48 hours the window is closed', async () => {
    await env.setClock(49 * HOUR);
    const blocked = page.locator('[data-testid="composer-blocked"][data-code="window_closed"]');
    await blocked.waitFor();
    assert.match(await blocked.innerText(), /Reply window closed/);
    assert.match(await blocked.innerText(), /48-hour reply window closed/);
    assert.equal(await page.locator('#reply').isDisabled(), true);
    await waitFor('the list to say the window closed', async () => /Window closed/.test(await page.locator('.conv[aria-current="true"]').innerText()));
    await shot('inbox-window-closed');
  });

  test('an expired token shows the reconnect banner; the wrong account is refused, the right one reconnects', async () => {
    const expired = await env.sim('POST', `/sim/accounts/${env.businessId}/expire_token`, { which: 'both' });
    assert.equal(expired.status, 200);
    // The customer writes again (a new window; the auto-responder tries to answer), then
    // the agent's reply meets TikTok's 40102.
    await env.says(ayu, 'Are you still there?');
    await page.locator('.msg--in', { hasText: 'still there' }).waitFor();
    // The countdown follows the server's clock, 49 hours ahead of this browser's.
    await waitFor('a fresh 48-hour window', async () => /window closes in 4[78] h/.test(await budgetText()));
    const reply = 'Yes! Your order ships today.';
    // The auto-reply may meet 40102 first, and its live event then disables the composer at any
    // moment, even between a check and the typing: either way the channel ends up as below.
    try {
      await page.fill('#reply', reply, { timeout: 2000 });
      await page.press('#reply', 'Enter', { timeout: 2000 });
    } catch (e) {
      if (!(await page.locator('#reply').isDisabled())) throw e;
    }
    const banner = page.locator('[data-testid="reconnect-banner"]');
    await banner.waitFor({ timeout: 30000 });
    assert.match(await banner.innerText(), /needs to be reconnected/);
    const failed = page.locator('.msg--failed').last();
    await failed.waitFor();
    assert.match(await failed.locator('[data-testid="message-error"]').innerText(), /\[40102\] the access token has expired/);
    const blocked = page.locator('[data-testid="composer-blocked"][data-code="reconnect_required"]');
    await blocked.waitFor();
    await shot('inbox-reconnect-required');

    // The banner is on every page and leads to the channel's Overview tab.
    await page.click('nav[aria-label="Main"] a:has-text("Analytics")');
    await banner.waitFor();
    await banner.locator('a').click();
    await page.waitForURL(new RegExp(`/app/integration/tiktok/${channelId}/overview`));
    await page.locator('[data-testid="channel-status"]', { hasText: 'Reconnect required' }).waitFor();

    await page.click('[data-testid="reconnect"]');
    await tiktokLogin('other_shop');
    await page.waitForURL(/oauth_error=/);
    const refusal = page.locator('.callout--error');
    await refusal.waitFor();
    assert.match(await refusal.innerText(), /other_shop/);
    let channels = (await env.api('GET', '/api/v1/channels')).json.data;
    assert.equal(channels.length, 2, 'no channel was created for the other account');
    assert.equal(channels.find((c) => c.id === channelId).status, 'reconnect_required');

    await page.click('[data-testid="reconnect"]');
    await tiktokLogin('demo_shop');
    await page.waitForURL(/oauth=reconnected/);
    await page.locator('.callout--success', { hasText: 'Your channel has been reconnected.' }).waitFor();
    await page.locator('[data-testid="channel-status"]', { hasText: 'Connected' }).waitFor();
    await banner.waitFor({ state: 'detached' });
    channels = (await env.api('GET', '/api/v1/channels')).json.data;
    assert.equal(channels.length, 2, 'the same channel, reconnected in place');
    assert.equal(channels.find((c) => c.id === channelId).status, 'connected');
    await shot('channel-overview');

    // The old messages are all there; the failed reply can be sent again.
    await page.goto(`${env.url}/app/inbox/${conversationId}`);
    await page.locator('.msg--in', { hasText: 'blue tote' }).waitFor();
    await page.locator('.msg--out', { hasText: 'Shipping to Jakarta takes' }).waitFor();
    const failedCount = await page.locator('.msg--failed').count();
    assert.ok(failedCount >= 1);
    const again = page.locator('.msg--failed').last();
    await again.locator('button:has-text("Retry")').click();
    await waitFor('the retried message to be sent', async () => (await page.locator('.msg--failed').count()) === failedCount - 1);
  });

  test('the analytics page shows the numbers of the API', async () => {
    await page.click('nav[aria-label="Main"] a:has-text("Analytics")');
    await page.waitForSelector('[data-testid="stat-customer-value"]');
    const api = (await env.api('GET', `/api/v1/channels/${channelId}/analytics`)).json;
    const t = api.totals;
    const sum = (o) => Object.values(o || {}).reduce((a, b) => a + b, 0);
    const value = async (id) => Number(await page.locator(`[data-testid="${id}-value"]`).innerText());
    // What this story did: 3 customers wrote 8 messages (ayu 4, budi 1, yuki 3); the
    // quota refused one send.
    assert.equal(t.customer_messages, 8);
    assert.equal(t.new_conversations, 3);
    assert.ok(t.refused.reply_quota_used_up >= 1);
    assert.equal(await value('stat-customer'), t.customer_messages);
    assert.equal(await value('stat-business'), t.business_messages.total);
    assert.equal(await value('stat-conversations'), t.new_conversations);
    assert.equal(await value('stat-refused'), sum(t.refused));
    assert.equal(await value('stat-errors'), sum(t.tiktok_errors));
    const quotaBar = page.locator('[data-testid="refusals"] .hbar[data-key="reply_quota_used_up"] .hbar-value');
    assert.equal(Number(await quotaBar.innerText()), t.refused.reply_quota_used_up);
    await page.waitForSelector('[data-testid="chart-messages"] canvas');
    await shot('analytics');
  });

  test('readable on a phone-sized screen', async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    await page.goto(`${env.url}/app/inbox`);
    await page.waitForSelector('[data-testid="conversation"]');
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `no horizontal scrolling (${overflow} px too wide)`);
    await page.click('[data-testid="conversation"]');
    await page.waitForSelector('.msg');
    assert.equal(await page.locator('.conv-pane').isVisible(), false, 'the thread takes the screen');
    await shot('inbox-phone');
    await page.setViewportSize({ width: 1280, height: 800 });
  });

  test('developers can sign in with an API key kept only in the tab', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const p = await context.newPage();
    await p.goto(`${env.url}/app/login`);
    await p.click('summary:has-text("API key")');
    await p.fill('#api-key', env.apiKey);
    await p.click('button:has-text("Sign in with API key")');
    await p.waitForSelector('[data-testid="conversation"]');
    assert.equal(await p.evaluate(() => localStorage.length), 0, 'nothing kept beyond the tab');
    await context.close();
  });

  test('the keyboard reaches everything', async () => {
    await page.goto(`${env.url}/app/inbox`);
    await page.waitForSelector('[data-testid="conversation"]');
    // The skip link is the first stop of the tab order and leads into the page.
    const first = await page.evaluate(() => document.querySelector(
      'a[href], button:not([disabled]), input:not([disabled]), select, textarea, [tabindex="0"]').className);
    assert.equal(first, 'skip-link');
    await page.focus('a.skip-link');
    await page.keyboard.press('Enter');
    assert.equal(await page.evaluate(() => document.activeElement.id), 'main');
    // Arrow keys move through the conversations; Enter opens one.
    const items = page.locator('[data-testid="conversation"]');
    await items.first().focus();
    await page.keyboard.press('ArrowDown');
    const second = await items.nth(1).getAttribute('data-id');
    assert.equal(await page.evaluate(() => document.activeElement.dataset.id), second);
    await page.keyboard.press('Enter');
    await page.waitForURL(new RegExp(`/app/inbox/${second}`));
    await page.waitForSelector('.msg');
    assert.deepEqual(pageErrors, [], 'no script error on any page');
  });
});
