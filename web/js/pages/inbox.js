// inbox.js -- conversations of every channel and the open conversation: messages with their
// status, and the composer that always says whether, and how many times, the agent may
// still reply.

import { api, learnServerTime, learnServerTimeAtLeast, loadImage, serverNow } from '../api.js';
import {
  avatar, channelBadge, channelById, channelList, channelName, ensureChannels, watchChannels,
} from '../channels.js';
import { callout, h, icon, srOnly } from '../dom.js';
import {
  budgetChip, budgetLine, bytes, clock, codePoints, dayKey, dayLabel, fullWhen, plural,
  refusalTitle, shortWhen,
} from '../format.js';
import { coalesced, nudge, subscribe } from '../live.js';

const TEXT_MAX = 6000;
const IMAGE_MAX = 3 * 1024 * 1024;
const PAGE = 50;

const STATUS = {
  queued: { icon: 'clock', label: 'Queued' },
  sent: { icon: 'check', label: 'Sent' },
  delivered: { icon: 'checks', label: 'Delivered' },
  read: { icon: 'checks', label: 'Read' },
  failed: { icon: 'alert', label: 'Failed' },
};

const SOURCE = {
  auto_responder: 'Auto-reply',
  tiktok_app: 'Sent in the TikTok app',
};

function customerName(conv) {
  const c = (conv && conv.customer) || {};
  return c.display_name || c.username || 'TikTok customer';
}

function conversationChannel(conv) {
  // Conversations carry a summary of their channel; the full list has the rest.
  const summary = conv.channel || { id: conv.channel_id, status: conv.channel_status };
  return { ...(channelById(conv.channel_id) || {}), ...summary };
}

function channelStatus(conv) {
  return (conv.channel && conv.channel.status) || conv.channel_status;
}

function fileToBase64(file) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(String(reader.result).replace(/^data:[^,]*,/, ''));
    reader.onerror = () => reject(new Error('The image could not be read from your device.'));
    reader.readAsDataURL(file);
  });
}

function shareLabel(url) {
  try {
    const u = new URL(url);
    return u.host + u.pathname;
  } catch (e) {
    return url;
  }
}

export function render(root, params, ctx) {
  document.title = 'Inbox · ttdm';
  const disposers = [];
  const selectedId = params.conversationId ? Number(params.conversationId) : null;
  let filter = ctx.query.get('channel') || '';
  let conversations = [];
  let listCursor = null;
  let listError = null;
  let listLoaded = false;

  const announcer = h('div', { class: 'sr-only', 'aria-live': 'polite', 'aria-atomic': 'false' });
  const announce = (text) => {
    announcer.append(h('p', {}, text));
    while (announcer.childNodes.length > 5) announcer.firstChild.remove();
  };

  // ---- Conversation list ----------------------------------------------------------------

  const filterSelect = h('select', {
    id: 'channel-filter', class: 'select select--small',
    onchange: () => {
      filter = filterSelect.value;
      const url = new URL(location.href);
      if (filter) url.searchParams.set('channel', filter);
      else url.searchParams.delete('channel');
      history.replaceState(null, '', url);
      conversations = [];
      listCursor = null;
      listLoaded = false;
      drawList();
      loadList();
    },
  });
  const fillFilter = () => {
    const options = [h('option', { value: '' }, 'All channels')];
    for (const c of channelList()) options.push(h('option', { value: String(c.id) }, channelName(c)));
    filterSelect.replaceChildren(...options);
    filterSelect.value = filter;
  };
  fillFilter();
  disposers.push(watchChannels(() => {
    fillFilter();
    drawList();
    drawThreadHead();
    drawComposer();
  }));

  const list = h('ul', { class: 'conv-list', 'aria-label': 'Conversations', dataset: { testid: 'conversation-list' } });
  const listStatus = h('div', { class: 'conv-status' });
  const moreButton = h('button', {
    class: 'btn btn--ghost btn--block', type: 'button', hidden: true,
    onclick: () => loadList({ more: true }),
  }, 'Load more conversations');

  const listPane = h('section', { class: 'conv-pane', 'aria-labelledby': 'inbox-title' },
    h('header', { class: 'pane-head' },
      h('h1', { id: 'inbox-title' }, 'Inbox'),
      h('label', { class: 'sr-only', for: 'channel-filter' }, 'Filter by channel'),
      filterSelect),
    listStatus, list, moreButton);

  list.addEventListener('keydown', (ev) => {
    const items = [...list.querySelectorAll('.conv')];
    const i = items.indexOf(document.activeElement);
    if (i < 0) return;
    let j = null;
    if (ev.key === 'ArrowDown') j = Math.min(items.length - 1, i + 1);
    else if (ev.key === 'ArrowUp') j = Math.max(0, i - 1);
    else if (ev.key === 'Home') j = 0;
    else if (ev.key === 'End') j = items.length - 1;
    if (j === null) return;
    ev.preventDefault();
    items[j].focus();
  });

  function convHref(id) {
    return `/app/inbox/${id}${filter ? `?channel=${encodeURIComponent(filter)}` : ''}`;
  }

  function convItem(conv) {
    const now = serverNow();
    const chip = budgetChip(conv.reply_budget, now);
    const channel = conversationChannel(conv);
    const name = customerName(conv);
    const unread = conv.unread_count || 0;
    const reconnect = channelStatus(conv) === 'reconnect_required';
    return h('li', {},
      h('a', {
        class: `conv${unread ? ' conv--unread' : ''}`, href: convHref(conv.id),
        'aria-current': conv.id === selectedId ? 'true' : null,
        dataset: { id: conv.id, testid: 'conversation' },
      },
      h('span', { class: 'avatar-wrap' }, avatar(name, conv.customer && conv.customer.avatar_url), channelBadge(channel, 'xs')),
      h('span', { class: 'conv-body' },
        h('span', { class: 'conv-top' },
          h('span', { class: 'conv-name' }, name),
          h('time', { class: 'conv-time', datetime: new Date(conv.last_activity_at).toISOString(), title: fullWhen(conv.last_activity_at) },
            shortWhen(conv.last_activity_at, now))),
        h('span', { class: 'conv-mid' },
          h('span', { class: 'conv-preview' }, conv.last_message_preview || ''),
          unread ? h('span', { class: 'unread', dataset: { testid: 'unread' } }, String(unread), srOnly(' unread')) : null),
        h('span', { class: 'conv-meta' },
          reconnect
            ? h('span', { class: 'chip chip--danger' }, 'Reconnect required')
            : h('span', { class: `chip chip--${chip.tone}`, dataset: { testid: 'conv-budget' } }, chip.text),
          h('span', { class: 'conv-channel' }, channelName(channel))))));
  }

  function drawList() {
    const focusedId = document.activeElement && document.activeElement.dataset
      ? document.activeElement.dataset.id : null;
    listStatus.replaceChildren();
    if (listError) listStatus.append(callout('error', null, listError));
    if (!listLoaded) {
      list.replaceChildren(...[0, 1, 2, 3].map(() => h('li', { class: 'conv-skeleton', 'aria-hidden': 'true' })));
      return;
    }
    if (!conversations.length) {
      list.replaceChildren(h('li', { class: 'empty' },
        icon('inbox', 'empty-icon'),
        h('strong', {}, 'No conversations yet'),
        h('span', {}, filter
          ? 'Nobody has written to this TikTok account yet.'
          : 'When a customer writes to one of your TikTok accounts, the conversation appears here.')));
    } else {
      list.replaceChildren(...conversations.map(convItem));
    }
    moreButton.hidden = !listCursor;
    if (focusedId) {
      const again = list.querySelector(`.conv[data-id="${CSS.escape(focusedId)}"]`);
      if (again) again.focus({ preventScroll: true });
    }
  }

  const loadList = coalesced(async (opts = {}) => {
    const q = new URLSearchParams({ limit: String(PAGE) });
    if (filter) q.set('channel_id', filter);
    if (opts.more && listCursor) q.set('cursor', listCursor);
    try {
      const r = await api.get(`/api/v1/conversations?${q}`);
      const rows = r.data || [];
      if (opts.more) {
        const seen = new Set(conversations.map((c) => c.id));
        conversations = conversations.concat(rows.filter((c) => !seen.has(c.id)));
      } else {
        // Keep pages loaded with "Load more" below the first one.
        const first = new Set(rows.map((c) => c.id));
        const tail = conversations.slice(PAGE).filter((c) => !first.has(c.id));
        conversations = rows.concat(tail);
      }
      // The cursor moves on with "Load more"; a refresh of the first page keeps it while
      // later pages are on screen.
      if (opts.more || conversations.length <= PAGE) listCursor = r.next_cursor;
      listError = null;
      for (const c of rows) {
        if (c.reply_budget && c.reply_budget.now) learnServerTime(c.reply_budget.now);
        learnServerTimeAtLeast(c.last_activity_at);
      }
    } catch (e) {
      listError = e.message;
    }
    listLoaded = true;
    const open = conversations.find((c) => c.id === selectedId);
    if (open && thread.conv) thread.conv = { ...thread.conv, ...open };
    drawList();
  });

  // ---- Thread ----------------------------------------------------------------------------

  const thread = {
    conv: null,
    budget: null,
    messages: new Map(),
    nodes: new Map(),
    versions: new Map(),
    seps: new Map(),
    unconfirmed: new Set(), // ids this tab's sends were given, not yet in a page
    cursor: null,
    olderLoaded: false,
    error: null,
    loaded: false,
    knownIds: null,
  };

  const threadHead = h('header', { class: 'thread-head' });
  const log = h('div', { class: 'messages', dataset: { testid: 'messages' } });
  const earlier = h('button', {
    class: 'btn btn--ghost btn--small earlier', type: 'button', hidden: true,
    onclick: () => loadOlder(),
  }, 'Load earlier messages');
  const jump = h('button', {
    class: 'jump', type: 'button', hidden: true,
    onclick: () => {
      scroller.scrollTop = scroller.scrollHeight;
      jump.hidden = true;
    },
  }, 'New messages ', icon('back', 'icon--down'));
  const scroller = h('div', {
    class: 'thread-scroll', tabindex: '0', role: 'region', 'aria-label': 'Messages',
    onscroll: () => {
      stuck = nearBottom();
      if (stuck) jump.hidden = true;
    },
  }, earlier, log);
  const threadError = h('div', { class: 'thread-error' });
  let stuck = true; // the view follows the newest message until the agent scrolls up

  // Composer
  const budgetEl = h('div', { class: 'budget-line', id: 'budget-line', dataset: { testid: 'budget-line' } });
  const blockedEl = h('div', { class: 'composer-blocked', hidden: true, dataset: { testid: 'composer-blocked' } });
  const composerError = h('div', { class: 'composer-error', role: 'alert', dataset: { testid: 'composer-error' } });
  const textarea = h('textarea', {
    id: 'reply', class: 'composer-input', rows: '2',
    placeholder: 'Write a reply…', 'aria-describedby': 'budget-line reply-count',
  });
  const counter = h('span', { class: 'counter', id: 'reply-count', 'aria-live': 'off' }, `0 / ${TEXT_MAX}`);
  const fileInput = h('input', {
    type: 'file', accept: 'image/jpeg,image/png', class: 'sr-only', id: 'reply-image', tabindex: '-1',
    onchange: () => {
      if (fileInput.files && fileInput.files[0]) attach(fileInput.files[0]);
      fileInput.value = '';
    },
  });
  const attachButton = h('button', {
    class: 'icon-btn', type: 'button', title: 'Attach an image (JPEG or PNG, up to 3 MB)',
    onclick: () => fileInput.click(),
  }, icon('clip'), srOnly('Attach an image'));
  const sendButton = h('button', { class: 'btn btn--primary send', type: 'submit' }, icon('send'), h('span', {}, 'Send'));
  const preview = h('div', { class: 'attach-preview', hidden: true });
  const composer = h('form', {
    class: 'composer', 'aria-label': 'Reply',
    onsubmit: (ev) => {
      ev.preventDefault();
      send();
    },
  },
  budgetEl, blockedEl,
  h('div', { class: 'composer-box' },
    preview,
    h('label', { class: 'sr-only', for: 'reply' }, 'Reply to the customer'),
    textarea,
    h('div', { class: 'composer-bar' },
      fileInput, attachButton,
      h('span', { class: 'composer-hint' }, 'Enter to send · Shift+Enter for a new line'),
      counter, sendButton)),
  composerError);

  const threadPane = h('section', { class: 'thread-pane', 'aria-label': 'Conversation' });
  const inbox = h('div', { class: `inbox${selectedId ? ' inbox--open' : ''}` }, listPane, threadPane, announcer);
  root.append(inbox);

  const lightbox = h('dialog', { class: 'lightbox', 'aria-label': 'Image' });
  const lightboxImg = h('img', { alt: '' });
  lightbox.append(
    h('button', { class: 'icon-btn lightbox-close', type: 'button', onclick: () => lightbox.close() }, icon('close'), srOnly('Close')),
    lightboxImg);
  lightbox.addEventListener('click', (ev) => {
    if (ev.target === lightbox) lightbox.close();
  });
  root.append(lightbox);

  function openLightbox(img) {
    if (!img.src) return;
    lightboxImg.src = img.src;
    lightboxImg.alt = img.alt;
    lightbox.showModal();
  }

  let attached = null;
  let attachedUrl = null;
  let sending = false;

  function attach(file) {
    composerError.textContent = '';
    if (!/^image\/(jpeg|png)$/.test(file.type)) {
      composerError.textContent = 'TikTok accepts only JPEG and PNG images. Choose another file.';
      return;
    }
    if (file.size > IMAGE_MAX) {
      composerError.textContent = `The image is ${bytes(file.size)}; TikTok accepts at most 3 MB. Resize or compress it first.`;
      return;
    }
    if (attachedUrl) URL.revokeObjectURL(attachedUrl);
    attached = file;
    attachedUrl = URL.createObjectURL(file);
    preview.replaceChildren(
      h('img', { src: attachedUrl, alt: `Attached image ${file.name || ''}`.trim() }),
      h('span', { class: 'attach-name' }, file.name || 'Pasted image', h('small', {}, bytes(file.size))),
      h('button', {
        class: 'icon-btn', type: 'button', title: 'Remove the image',
        onclick: () => {
          detach();
          textarea.focus();
        },
      }, icon('close'), srOnly('Remove the image')));
    preview.hidden = false;
    drawComposer();
  }

  function detach() {
    if (attachedUrl) URL.revokeObjectURL(attachedUrl);
    attached = null;
    attachedUrl = null;
    preview.hidden = true;
    preview.replaceChildren();
    drawComposer();
  }

  textarea.addEventListener('input', () => drawCounter());
  textarea.addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing) {
      ev.preventDefault();
      send();
    }
  });
  textarea.addEventListener('paste', (ev) => {
    const items = [...((ev.clipboardData && ev.clipboardData.items) || [])];
    const item = items.find((i) => i.kind === 'file' && /^image\/(png|jpeg)$/.test(i.type));
    if (!item) return;
    ev.preventDefault();
    const file = item.getAsFile();
    if (file) attach(file);
  });

  function drawCounter() {
    const n = codePoints(textarea.value);
    counter.textContent = `${n} / ${TEXT_MAX}`;
    counter.classList.toggle('counter--warn', n > TEXT_MAX - 200 && n <= TEXT_MAX);
    counter.classList.toggle('counter--over', n > TEXT_MAX);
    drawSendState();
  }

  function blockReason() {
    const conv = thread.conv;
    if (!conv) return null;
    if (channelStatus(conv) === 'reconnect_required') {
      return {
        code: 'reconnect_required',
        message: 'This TikTok channel must be reconnected because its access expired or its permissions changed. An admin must click Reconnect Account on the channel\'s Overview tab, then send again.',
        link: { href: `/app/integration/tiktok/${conv.channel_id}/overview`, text: 'Open the channel\'s Overview tab' },
      };
    }
    const b = thread.budget;
    if (b && !b.may_send) {
      const r = b.refusal || {};
      return { code: r.code || 'refused', message: r.message || 'TikTok does not allow a reply in this conversation now.' };
    }
    return null;
  }

  function drawSendState() {
    const blocked = !!blockReason();
    const n = codePoints(textarea.value);
    const empty = !textarea.value.trim() && !attached;
    sendButton.disabled = blocked || sending || empty || n > TEXT_MAX;
  }

  function drawComposer() {
    const b = thread.budget;
    const reason = blockReason();
    budgetEl.textContent = budgetLine(b, serverNow());
    // The refusal below says it better when there is no window at all.
    budgetEl.hidden = !!reason && (!b || !b.window_open || !b.has_customer_message);
    budgetEl.classList.toggle('budget-line--low', !!b && b.may_send && b.replies_left <= 3);
    blockedEl.hidden = !reason;
    composer.classList.toggle('composer--blocked', !!reason);
    blockedEl.replaceChildren();
    if (reason) {
      blockedEl.dataset.code = reason.code;
      blockedEl.append(icon('alert'), h('div', {},
        h('strong', {}, refusalTitle(reason.code)), ' ',
        h('span', { class: 'blocked-text' }, reason.message),
        reason.link ? [' ', h('a', { href: reason.link.href }, reason.link.text)] : null));
    }
    textarea.disabled = !!reason;
    attachButton.disabled = !!reason;
    textarea.placeholder = reason ? 'Replying is not possible right now.' : 'Write a reply…';
    drawSendState();
  }

  async function postMessage(body) {
    const key = crypto.randomUUID ? crypto.randomUUID() : `${Date.now()}-${Math.random()}`;
    return api.post(`/api/v1/conversations/${selectedId}/messages`, body, { headers: { 'Idempotency-Key': key } });
  }

  function accept(r) {
    if (r.message) {
      thread.messages.set(r.message.id, r.message);
      thread.unconfirmed.add(r.message.id);
      learnServerTimeAtLeast(r.message.created_at);
    }
    if (r.reply_budget) setBudget(r.reply_budget);
  }

  function setBudget(b) {
    if (b.now) learnServerTime(b.now);
    thread.budget = b;
  }

  async function send() {
    if (sending || blockReason()) return;
    const text = textarea.value;
    const hasText = text.trim().length > 0;
    composerError.textContent = '';
    if (!hasText && !attached) return;
    if (codePoints(text) > TEXT_MAX) {
      composerError.textContent = `The text has ${codePoints(text)} characters; TikTok allows ${TEXT_MAX}. Shorten it or split it.`;
      return;
    }
    const needed = (hasText ? 1 : 0) + (attached ? 1 : 0);
    const b = thread.budget;
    if (b && b.may_send && needed > b.replies_left) {
      composerError.textContent = `Only ${plural(b.replies_left, 'reply is', 'replies are')} left, and the text and the image go out as two messages. Send one of them, or remove the image.`;
      return;
    }
    sending = true;
    drawSendState();
    try {
      // Text and image are two TikTok messages; they go out in the order the agent sees them.
      if (hasText) {
        accept(await postMessage({ text }));
        textarea.value = '';
        drawCounter();
        syncMessages(true);
      }
      if (attached) {
        const base64 = await fileToBase64(attached);
        accept(await postMessage({ image: { base64 } }));
        detach();
        syncMessages(true);
      }
    } catch (e) {
      composerError.textContent = e.message;
      if (e.detail && e.detail.reply_budget) setBudget(e.detail.reply_budget);
    } finally {
      sending = false;
      drawComposer();
      nudge('conversations');
      textarea.focus();
    }
  }

  async function retry(m, button) {
    button.disabled = true;
    composerError.textContent = '';
    try {
      accept(await api.post(`/api/v1/messages/${m.id}/retry`));
      syncMessages(true);
      drawComposer();
    } catch (e) {
      composerError.textContent = e.message;
      button.disabled = false;
    }
  }

  function statusNode(m) {
    const s = STATUS[m.status] || { icon: 'info', label: m.status };
    return h('span', { class: `status status--${m.status}`, title: s.label, dataset: { testid: 'status' } },
      icon(s.icon), h('span', { class: 'status-text' }, s.label));
  }

  function messageNode(m) {
    const out = m.direction === 'business';
    const el = h('div', {
      class: `msg ${out ? 'msg--out' : 'msg--in'} msg--${m.type}${m.status === 'failed' ? ' msg--failed' : ''}`,
      dataset: { id: m.id, status: m.status, testid: 'message', direction: m.direction, type: m.type },
    });
    const bubble = h('div', { class: 'bubble' });
    if (m.type === 'text') {
      bubble.append(h('p', { class: 'msg-text' }, m.text || ''));
    } else if (m.type === 'image') {
      if (m.media_url) {
        const img = h('img', { class: 'msg-img', alt: out ? 'Image sent to the customer' : 'Image from the customer', dataset: { testid: 'message-image' } });
        // An image that arrives after the scroll keeps the newest message in view.
        img.addEventListener('load', () => {
          if (stuck) scroller.scrollTop = scroller.scrollHeight;
        });
        loadImage(img, m.media_url);
        bubble.append(h('button', { class: 'msg-img-btn', type: 'button', onclick: () => openLightbox(img) },
          img, srOnly('Enlarge image')));
      } else {
        bubble.append(h('p', { class: 'msg-note' }, icon('image'), 'Image not available'));
      }
      if (m.text) bubble.append(h('p', { class: 'msg-text' }, m.text));
    } else if (m.type === 'share_post') {
      const inner = [icon('note', 'share-icon'), h('span', { class: 'share-body' },
        h('strong', {}, 'Shared a TikTok post'),
        h('span', { class: 'share-url' }, m.share_url ? shareLabel(m.share_url) : 'Open TikTok to see it'))];
      bubble.append(m.share_url && /^https?:\/\//.test(m.share_url)
        ? h('a', { class: 'share-card', href: m.share_url, target: '_blank', rel: 'noopener noreferrer' }, inner)
        : h('div', { class: 'share-card' }, inner));
    } else {
      bubble.append(h('p', { class: 'msg-note', dataset: { testid: 'unsupported' } }, icon('info'),
        m.unsupported_note || 'unsupported: open TikTok to see it'));
    }
    const when = m.timestamp || m.created_at;
    const meta = h('div', { class: 'msg-meta' },
      out && SOURCE[m.source] ? h('span', { class: 'msg-source' }, SOURCE[m.source]) : null,
      h('time', { datetime: new Date(when).toISOString(), title: fullWhen(when) }, clock(when)),
      out ? statusNode(m) : null);
    el.append(bubble, meta);
    if (m.status === 'failed') {
      const reason = (m.error && m.error.message) || 'TikTok did not accept this message.';
      const retryBtn = h('button', { class: 'btn btn--small btn--ghost', type: 'button', onclick: () => retry(m, retryBtn) },
        icon('retry'), 'Retry');
      el.append(h('div', { class: 'msg-error', dataset: { testid: 'message-error' } },
        h('span', {}, reason), retryBtn));
    }
    return el;
  }

  function version(m) {
    return `${m.status}|${m.updated_at}|${m.error ? m.error.code : ''}|${m.media_url || ''}`;
  }

  function nearBottom() {
    return scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 80;
  }

  // Puts the messages on screen, reusing the nodes of those that did not change so that
  // nothing flickers, focus stays where it was, and only news is announced.
  function syncMessages(stick) {
    const wasNear = stick || nearBottom();
    // A queued reply carries the time it was accepted until TikTok stamps it on sending,
    // later than everything already there: it goes last, replies in the order they were
    // written, so a text and the image sent right after it never swap places on screen.
    const order = (m) => (m.status === 'queued' ? Infinity : m.timestamp || m.created_at);
    const sorted = [...thread.messages.values()].sort((a, b) =>
      (order(a) - order(b)) || a.id - b.id);
    const now = serverNow();
    const wanted = [];
    let lastDay = null;
    let added = 0;
    for (const m of sorted) {
      const when = m.timestamp || m.created_at;
      const day = dayKey(when);
      if (day !== lastDay) {
        lastDay = day;
        let sep = thread.seps.get(day);
        const label = dayLabel(when, now);
        if (!sep) {
          sep = h('div', { class: 'day-sep', role: 'separator' }, h('span', {}, label));
          thread.seps.set(day, sep);
        } else if (sep.textContent !== label) {
          sep.firstChild.textContent = label;
        }
        wanted.push(sep);
      }
      let node = thread.nodes.get(m.id);
      const v = version(m);
      if (!node) {
        node = messageNode(m);
        thread.nodes.set(m.id, node);
        thread.versions.set(m.id, v);
        if (thread.knownIds && !thread.knownIds.has(m.id)) {
          added++;
          if (m.direction === 'customer') {
            announce(`New message from ${customerName(thread.conv)}: ${m.text || m.unsupported_note || m.type}`);
          }
        }
      } else if (thread.versions.get(m.id) !== v) {
        const fresh = messageNode(m);
        node.replaceWith(fresh);
        node = fresh;
        thread.nodes.set(m.id, node);
        thread.versions.set(m.id, v);
        if (m.status === 'failed') announce(`A message failed: ${(m.error && m.error.message) || ''}`);
      }
      wanted.push(node);
    }
    for (let i = 0; i < wanted.length; i++) {
      if (log.children[i] !== wanted[i]) log.insertBefore(wanted[i], log.children[i] || null);
    }
    while (log.children.length > wanted.length) log.lastChild.remove();
    thread.knownIds = new Set(thread.messages.keys());
    if (!sorted.length) {
      log.replaceChildren(h('div', { class: 'empty empty--thread' }, 'No messages in this conversation yet.'));
    }
    if (wasNear) {
      scroller.scrollTop = scroller.scrollHeight;
      stuck = true;
    } else if (added) {
      jump.hidden = false;
    }
    earlier.hidden = !thread.cursor;
  }

  function drawThreadHead() {
    const conv = thread.conv;
    threadHead.replaceChildren();
    if (!conv) return;
    const channel = conversationChannel(conv);
    const name = customerName(conv);
    const cust = conv.customer || {};
    threadHead.append(
      h('a', { class: 'icon-btn back', href: `/app/inbox${filter ? `?channel=${encodeURIComponent(filter)}` : ''}` },
        icon('back'), srOnly('Back to the conversations')),
      h('span', { class: 'avatar-wrap' }, avatar(name, cust.avatar_url, 'lg'), channelBadge(channel, 'sm')),
      h('div', { class: 'thread-title' },
        h('h2', { id: 'thread-title' }, name),
        h('div', { class: 'thread-sub' },
          cust.username ? h('span', {}, `@${cust.username}`) : null,
          cust.region ? h('span', { title: 'Customer region' }, cust.region) : null,
          h('span', { class: 'thread-channel' }, channelBadge(channel, 'xs'), `via ${channelName(channel)}`))));
  }

  function drawThread() {
    threadPane.replaceChildren();
    if (!selectedId) {
      threadPane.append(h('div', { class: 'thread-empty' },
        h('img', { src: '/app/img/empty-inbox.svg', alt: '', width: 160, height: 120 }),
        h('h2', {}, 'Select a conversation'),
        h('p', { class: 'muted' }, 'Replies, images and the reply budget of each TikTok conversation show up here.')));
      return;
    }
    threadPane.setAttribute('aria-labelledby', 'thread-title');
    threadPane.append(threadHead, threadError, h('div', { class: 'thread-body' }, scroller, jump), composer);
  }

  const loadThread = coalesced(async () => {
    if (!selectedId) return;
    try {
      const [conv, msgs] = await Promise.all([
        api.get(`/api/v1/conversations/${selectedId}`),
        api.get(`/api/v1/conversations/${selectedId}/messages?limit=${PAGE}`),
      ]);
      const firstLoad = !thread.loaded;
      thread.conv = conv;
      for (const m of msgs.data || []) {
        thread.messages.set(m.id, m);
        learnServerTimeAtLeast(Math.max(m.created_at || 0, m.updated_at || 0));
      }
      forgetRemoved(msgs);
      if (firstLoad) thread.cursor = msgs.next_cursor;
      setBudget(msgs.reply_budget || conv.reply_budget);
      thread.loaded = true;
      thread.error = null;
      threadError.replaceChildren();
      drawThreadHead();
      syncMessages(firstLoad);
      drawComposer();
      document.title = `${customerName(conv)} · Inbox · ttdm`;
    } catch (e) {
      thread.error = e.message;
      threadError.replaceChildren(callout('error', e.status === 404 ? 'Conversation not found' : null, e.message));
    }
  });

  // A message the server no longer has leaves the screen too: TikTok's echo of a reply,
  // stored a moment before the reply's send was and then merged into the reply. The newest
  // page holds every message from its oldest id on (ids only grow, one writer), so a message
  // from that id on that it lacks is gone, unless this tab's send was given it after the page
  // was read (an id above the page's newest, not yet in any page).
  function forgetRemoved(page) {
    const ids = (page.data || []).map((m) => m.id);
    if (!ids.length) return;
    const present = new Set(ids);
    const lo = page.next_cursor ? Math.min(...ids) : -Infinity;
    const hi = Math.max(...ids);
    for (const id of ids) thread.unconfirmed.delete(id);
    for (const id of [...thread.messages.keys()]) {
      if (id < lo || present.has(id) || (id > hi && thread.unconfirmed.has(id))) continue;
      thread.messages.delete(id);
      thread.nodes.delete(id);
      thread.versions.delete(id);
      thread.unconfirmed.delete(id);
    }
  }

  async function loadOlder() {
    if (!thread.cursor) return;
    earlier.disabled = true;
    const height = scroller.scrollHeight;
    try {
      const r = await api.get(`/api/v1/conversations/${selectedId}/messages?limit=${PAGE}&before=${encodeURIComponent(thread.cursor)}`);
      for (const m of r.data || []) thread.messages.set(m.id, m);
      thread.cursor = r.next_cursor;
      syncMessages(false);
      scroller.scrollTop = scroller.scrollHeight - height;
    } catch (e) {
      threadError.replaceChildren(callout('error', null, e.message));
    } finally {
      earlier.disabled = false;
    }
  }

  drawList();
  drawThread();
  drawCounter();
  drawComposer();
  if (selectedId) log.replaceChildren(h('div', { class: 'thread-loading' }, 'Loading messages…'));

  ensureChannels().catch(() => {}).finally(() => fillFilter());
  loadList();
  loadThread();

  disposers.push(subscribe('conversations', () => loadList()));
  disposers.push(subscribe('conversation', (d) => {
    if (!selectedId) return;
    if (d.type === 'poll' || d.type === 'resync' || Number(d.conversation_id) === selectedId) loadThread();
  }));
  disposers.push(subscribe('tick', () => {
    drawComposer();
    drawList();
    const b = thread.budget;
    if (b && b.window_open && b.window_closes_at && b.window_closes_at <= serverNow()) loadThread();
  }));

  return () => {
    for (const d of disposers) d();
    if (attachedUrl) URL.revokeObjectURL(attachedUrl);
  };
}
