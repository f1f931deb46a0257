// live.js -- the one place that knows how updates reach the dashboard. Pages subscribe to
// topics and re-read what they show when told; they never care whether the news came from
// Server-Sent Events (GET /api/v1/events) or from the 2-second poll used without them.
//
// Topics: 'conversations' (the list changed), 'conversation' (detail.conversation_id
// changed: messages, statuses, budget), 'channels' (status, settings), 'tick' (time passed:
// countdowns and budgets that move with the clock).

import { auth } from './api.js';

const POLL_MS = 2000;
const TICK_MS = 30000;
const SSE_RETRY_MS = 30000;

const subscribers = new Map();
let mode = 'off';
let pollTimer = null;
let tickTimer = null;
let retryTimer = null;
let source = null;
const listeners = new Set();

export function subscribe(topic, fn) {
  if (!subscribers.has(topic)) subscribers.set(topic, new Set());
  subscribers.get(topic).add(fn);
  return () => subscribers.get(topic).delete(fn);
}

function emit(topic, detail) {
  for (const fn of subscribers.get(topic) || []) {
    try {
      fn(detail);
    } catch (e) {
      console.error(e);
    }
  }
}

// Everything that shows data reads it again ('tick' keeps its own slower pace).
function emitAll(detail) {
  for (const topic of subscribers.keys()) if (topic !== 'tick') emit(topic, detail);
}

export function liveMode() {
  return mode;
}

// Tells `fn(mode)` when the transport changes ('sse', 'poll', 'off').
export function onModeChange(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

function setMode(m) {
  mode = m;
  document.documentElement.dataset.live = m;
  for (const fn of listeners) fn(m);
}

function startPolling() {
  stopPolling();
  setMode('poll');
  pollTimer = setInterval(() => emitAll({ type: 'poll' }), POLL_MS);
}

function stopPolling() {
  clearInterval(pollTimer);
  pollTimer = null;
}

// Events name what changed and carry the ids it concerns ("message" and "conversation"
// with conversation_id, "channel" with channel_id); the details are read from the API.
// "resync" means events were lost: everything on screen is read again.
const EVENT_TOPICS = {
  message: ['conversation', 'conversations'],
  conversation: ['conversation', 'conversations'],
  channel: ['channels', 'conversations'],
  'message.created': ['conversation', 'conversations'],
  'message.updated': ['conversation', 'conversations'],
  'conversation.updated': ['conversation', 'conversations'],
  'channel.updated': ['channels', 'conversations'],
};

function trySse() {
  if (!('EventSource' in window)) {
    startPolling();
    return;
  }
  let opened = false;
  source = new EventSource('/api/v1/events');
  source.onopen = () => {
    opened = true;
    stopPolling();
    setMode('sse');
    // Whatever happened while disconnected is read again.
    emitAll({ type: 'resync' });
  };
  source.onerror = () => {
    // Before the first open this means the server has no event stream (or refused it): poll,
    // and look again later. After it, EventSource reconnects by itself; poll meanwhile.
    if (!opened || source.readyState === EventSource.CLOSED) {
      source.close();
      source = null;
      startPolling();
      clearTimeout(retryTimer);
      retryTimer = setTimeout(() => {
        if (mode === 'poll' && auth.mode === 'session') trySse();
      }, SSE_RETRY_MS);
    } else if (mode === 'sse') {
      startPolling();
    }
  };
  for (const [name, topics] of Object.entries(EVENT_TOPICS)) {
    source.addEventListener(name, (ev) => {
      let detail = {};
      try {
        detail = JSON.parse(ev.data);
      } catch (e) {
        detail = {};
      }
      detail.type = name;
      if (mode !== 'sse') {
        stopPolling();
        setMode('sse');
      }
      for (const t of topics) emit(t, detail);
    });
  }
  source.addEventListener('resync', () => emitAll({ type: 'resync' }));
}

// Starts the updates for the signed-in user. An API key cannot ride along with
// EventSource (it sends no custom headers), so API-key sign-ins always poll.
export function startLive() {
  stopLive();
  if (auth.mode === 'session') trySse();
  else startPolling();
  tickTimer = setInterval(() => emit('tick', { type: 'tick' }), TICK_MS);
}

export function stopLive() {
  stopPolling();
  clearInterval(tickTimer);
  clearTimeout(retryTimer);
  if (source) source.close();
  source = null;
  setMode('off');
}

// A page calls this after its own change (a send, a save) so that other parts of the
// screen catch up at once rather than at the next event or poll.
export function nudge(topic, detail) {
  emit(topic, { type: 'local', ...(detail || {}) });
}

// Wraps an async loader so that calls made while it runs lead to exactly one more run
// after it (with the arguments of the latest call), never to overlapping requests (a slow
// answer and a 2-second poll).
export function coalesced(fn) {
  let running = null;
  let again = false;
  let args = [];
  return function run(...callArgs) {
    args = callArgs;
    if (running) {
      again = true;
      return running;
    }
    running = (async () => {
      try {
        do {
          again = false;
          await fn(...args);
        } while (again);
      } finally {
        running = null;
      }
    })();
    return running;
  };
}
