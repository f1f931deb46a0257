// format.js -- how numbers, times and the reply budget read in the dashboard.

export function plural(n, one, many) {
  return `${n} ${n === 1 ? one : many}`;
}

// "31 h 12 m", "12 m", "less than a minute": the reply window never exceeds 48 h.
export function duration(ms) {
  if (ms < 60000) return 'less than a minute';
  const minutes = Math.floor(ms / 60000);
  const h = Math.floor(minutes / 60);
  const m = minutes % 60;
  if (h >= 72) return `${Math.floor(h / 24)} d ${h % 24} h`;
  return h ? `${h} h ${m} m` : `${m} m`;
}

// Milliseconds as a response time: "45 s", "3 m 20 s", "2 h 5 m".
export function responseTime(ms) {
  if (ms === null || ms === undefined) return '—';
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} m ${s % 60} s`;
  return `${Math.floor(m / 60)} h ${m % 60} m`;
}

const timeFmt = new Intl.DateTimeFormat(undefined, { hour: 'numeric', minute: '2-digit' });
const dayFmt = new Intl.DateTimeFormat(undefined, { day: 'numeric', month: 'short' });
const fullFmt = new Intl.DateTimeFormat(undefined, {
  year: 'numeric', month: 'short', day: 'numeric', hour: 'numeric', minute: '2-digit',
});
const longDayFmt = new Intl.DateTimeFormat(undefined, {
  weekday: 'long', day: 'numeric', month: 'long', year: 'numeric',
});

function sameDay(a, b) {
  return a.getFullYear() === b.getFullYear() && a.getMonth() === b.getMonth() &&
    a.getDate() === b.getDate();
}

// Time of a message: "14:05".
export function clock(ms) {
  return timeFmt.format(new Date(ms));
}

// Where a conversation list shows the last activity: "14:05", "Yesterday", "24 Nov".
export function shortWhen(ms, now) {
  const d = new Date(ms);
  const today = new Date(now);
  if (sameDay(d, today)) return clock(ms);
  const yesterday = new Date(now - 86400000);
  if (sameDay(d, yesterday)) return 'Yesterday';
  return dayFmt.format(d);
}

export function fullWhen(ms) {
  return fullFmt.format(new Date(ms));
}

// Separator above the messages of a day: "Today", "Yesterday", "Monday, 24 November 2026".
export function dayLabel(ms, now) {
  const d = new Date(ms);
  if (sameDay(d, new Date(now))) return 'Today';
  if (sameDay(d, new Date(now - 86400000))) return 'Yesterday';
  return longDayFmt.format(d);
}

export function dayKey(ms) {
  const d = new Date(ms);
  return `${d.getFullYear()}-${d.getMonth() + 1}-${d.getDate()}`;
}

// "in 3 h 10 m" / "3 h 10 m ago".
export function relative(ms, now) {
  const diff = ms - now;
  return diff >= 0 ? `in ${duration(diff)}` : `${duration(-diff)} ago`;
}

export function bytes(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(n < 10240 ? 1 : 0)} KB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}

// TikTok counts text length in Unicode code points, and so does ttdm.
export function codePoints(text) {
  let n = 0;
  for (const _ of text) n++; // eslint-disable-line no-unused-vars
  return n;
}

export function initials(name) {
  const words = String(name || '?').replace(/^@/, '').split(/[\s._-]+/).filter(Boolean);
  const letters = words.length > 1 ? words[0][0] + words[1][0] : (words[0] || '?').slice(0, 2);
  return letters.toUpperCase();
}

// A stable palette slot (0..7) for an avatar, from its name.
export function hue(name) {
  let h = 0;
  for (const ch of String(name || '')) h = (h * 31 + ch.codePointAt(0)) >>> 0;
  return h % 8;
}

// What the composer says about the next reply. `now` is the server's time.
export function budgetLine(b, now) {
  if (!b) return '';
  const parts = [];
  if (!b.has_customer_message) return 'The customer has not written yet: TikTok lets you reply only after they do.';
  if (!b.window_open) return 'Reply window closed · the customer wrote more than 48 h ago';
  parts.push(`${b.replies_left} of ${b.replies_per_window} replies left`);
  if (b.window_closes_at) parts.push(`window closes in ${duration(Math.max(0, b.window_closes_at - now))}`);
  if (!b.counted_today && b.daily_conversation_limit &&
      b.daily_conversations_used >= b.daily_conversation_limit * 0.8)
    parts.push(`${b.daily_conversations_used} of ${b.daily_conversation_limit} conversations today`);
  return parts.join(' · ');
}

// A short name for why sending is not possible, by the API's refusal code.
export function refusalTitle(code) {
  return {
    window_closed: 'Reply window closed',
    reply_quota_used_up: 'No replies left',
    daily_conversation_limit: 'Daily conversation limit reached',
    no_customer_message: 'Waiting for the customer',
    reconnect_required: 'Channel needs reconnect',
    access_token_expired: 'Channel needs reconnect',
  }[code] || 'Sending is not possible';
}

// Compact budget for the conversation list: "9 left · 47 h", "Closed", "0 left".
export function budgetChip(b, now) {
  if (!b || !b.has_customer_message) return { text: 'No message yet', tone: 'muted' };
  if (!b.window_open) return { text: 'Window closed', tone: 'muted' };
  const hours = b.window_closes_at ? Math.floor(Math.max(0, b.window_closes_at - now) / 3600000) : null;
  const text = `${b.replies_left}/${b.replies_per_window} left` + (hours !== null ? ` · ${hours} h` : '');
  if (!b.may_send) return { text, tone: 'danger' };
  return { text, tone: b.replies_left <= 3 || (hours !== null && hours < 6) ? 'warn' : 'ok' };
}

export function statusLabel(status) {
  return {
    connected: 'Connected',
    reconnect_required: 'Reconnect required',
    disconnected: 'Disconnected',
  }[status] || status;
}
