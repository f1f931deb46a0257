// api.js -- every request to ttdm's JSON API goes through here: the session cookie plus the
// CSRF token on state-changing requests, or a developer's API key kept only in this tab's
// sessionStorage; errors become ApiError carrying the server's own message.

const KEY_STORAGE = 'ttdm.apiKey';
const CSRF_STORAGE = 'ttdm.csrf';

// Who is signed in: mode is 'session' (email and password) or 'apikey'.
export const auth = { mode: null, user: null, role: null, csrf: null };

export class ApiError extends Error {
  constructor(status, code, message, detail) {
    super(message);
    this.status = status;
    this.code = code;
    this.detail = detail || {};
  }
}

let onUnauthorized = () => {};
export function setUnauthorizedHandler(fn) {
  onUnauthorized = fn;
}

// The server's clock may differ from this browser's (a sandbox moves it by days), so every
// countdown uses the server's idea of now: exactly when an answer carries it ("now" in a
// reply budget), otherwise at least the latest time the server wrote on something.
let skew = 0;
let exact = false;
export function learnServerTime(serverMs) {
  if (typeof serverMs !== 'number' || serverMs <= 0) return;
  skew = serverMs - Date.now();
  exact = true;
}
export function learnServerTimeAtLeast(serverMs) {
  if (exact || typeof serverMs !== 'number') return;
  if (serverMs > Date.now() + skew) skew = serverMs - Date.now();
}
export function serverNow() {
  return Date.now() + skew;
}

function isSafe(method) {
  return method === 'GET' || method === 'HEAD';
}

// One request. opts: json (a body to send as JSON), body + contentType (raw bytes),
// headers, signal, raw (return the Response itself when it is OK).
export async function request(method, path, opts = {}) {
  const headers = { Accept: 'application/json', ...(opts.headers || {}) };
  let body;
  if (auth.mode === 'apikey') headers.Authorization = `Bearer ${sessionStorage.getItem(KEY_STORAGE) || ''}`;
  if (!isSafe(method) && auth.mode === 'session' && auth.csrf) headers['X-CSRF-Token'] = auth.csrf;
  if (opts.json !== undefined) {
    headers['Content-Type'] = 'application/json';
    body = JSON.stringify(opts.json);
  } else if (opts.body !== undefined) {
    headers['Content-Type'] = opts.contentType || 'application/octet-stream';
    body = opts.body;
  }

  let resp;
  try {
    resp = await fetch(path, {
      method, headers, body, credentials: 'same-origin', cache: 'no-store', signal: opts.signal,
    });
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    throw new ApiError(0, 'network', 'The ttdm server cannot be reached. Check that it is running and try again.');
  }
  if (opts.raw && resp.ok) return resp;

  const type = resp.headers.get('Content-Type') || '';
  let data = null;
  if (type.includes('application/json')) data = await resp.json().catch(() => null);
  if (!resp.ok) {
    const err = (data && data.error) || {};
    const e = new ApiError(resp.status, err.code || `http_${resp.status}`,
      err.message || `The server answered HTTP ${resp.status} without an explanation.`, err);
    if (resp.status === 401 && !path.startsWith('/api/v1/auth/')) onUnauthorized(e);
    throw e;
  }
  return data;
}

export const api = {
  get: (path, opts) => request('GET', path, opts),
  post: (path, json, opts) => request('POST', path, { ...opts, json }),
  patch: (path, json, opts) => request('PATCH', path, { ...opts, json }),
  put: (path, body, contentType, opts) => request('PUT', path, { ...opts, body, contentType }),
  del: (path, opts) => request('DELETE', path, opts),
};

function adopt(me, mode) {
  auth.mode = mode;
  auth.user = me.user || null;
  auth.role = me.role || (me.user && me.user.role) || 'admin';
  if (mode === 'session' && me.csrf_token) {
    auth.csrf = me.csrf_token;
    sessionStorage.setItem(CSRF_STORAGE, me.csrf_token);
  }
}

// Email and password: the server sets an HttpOnly session cookie and gives a CSRF token.
export async function signInWithPassword(email, password) {
  const answer = await request('POST', '/api/v1/auth/login', { json: { email, password } });
  sessionStorage.removeItem(KEY_STORAGE);
  adopt({ ...answer, role: answer.user && answer.user.role }, 'session');
  return answer;
}

// A developer's fallback: an API key, checked against the server before it is kept.
export async function signInWithApiKey(key) {
  sessionStorage.setItem(KEY_STORAGE, key.trim());
  auth.mode = 'apikey';
  try {
    const me = await whoAmI();
    adopt(me, 'apikey');
    return me;
  } catch (e) {
    sessionStorage.removeItem(KEY_STORAGE);
    auth.mode = null;
    throw e;
  }
}

// GET /api/v1/auth/me, or, on a server without it, proof that the key opens the API.
async function whoAmI() {
  try {
    return await request('GET', '/api/v1/auth/me');
  } catch (e) {
    if (e.status !== 404 || auth.mode !== 'apikey') throw e;
    await request('GET', '/api/v1/channels');
    return { user: null, role: 'admin', auth: 'api_key' };
  }
}

// On page load: the tab's API key, else a live session cookie. False when signed out.
export async function restore() {
  if (sessionStorage.getItem(KEY_STORAGE)) {
    auth.mode = 'apikey';
    try {
      adopt(await whoAmI(), 'apikey');
      return true;
    } catch (e) {
      if (e.status === 401) sessionStorage.removeItem(KEY_STORAGE);
      auth.mode = null;
      if (e.status !== 401) throw e;
      return false;
    }
  }
  auth.mode = 'session';
  auth.csrf = sessionStorage.getItem(CSRF_STORAGE);
  try {
    const me = await request('GET', '/api/v1/auth/me');
    if (me.auth && me.auth !== 'session') throw new ApiError(401, 'unauthorized', '');
    adopt(me, 'session');
    return true;
  } catch (e) {
    auth.mode = null;
    if (e.status === 401 || e.status === 404) return false;
    throw e;
  }
}

export async function signOut() {
  if (auth.mode === 'session') {
    try {
      await request('POST', '/api/v1/auth/logout');
    } catch (e) {
      // Signed out locally all the same; the session expires on the server by itself.
    }
  }
  sessionStorage.removeItem(KEY_STORAGE);
  sessionStorage.removeItem(CSRF_STORAGE);
  auth.mode = auth.user = auth.role = auth.csrf = null;
}

export function isAdmin() {
  return auth.role !== 'agent';
}

// An <img> source for an authenticated URL (media, badges). A session cookie travels with
// the image request itself; an API key cannot, so the bytes are fetched and shown from a
// blob: URL, kept per URL for the life of the tab.
const blobs = new Map();
export async function imageSrc(url) {
  if (!url) return null;
  if (auth.mode !== 'apikey') return url;
  if (!blobs.has(url)) {
    blobs.set(url, request('GET', url, { raw: true })
      .then((r) => r.blob())
      .then((b) => URL.createObjectURL(b))
      .catch((e) => {
        blobs.delete(url);
        throw e;
      }));
  }
  return blobs.get(url);
}

// Fills img.src from an authenticated URL; a failure leaves a labelled placeholder.
export function loadImage(img, url) {
  imageSrc(url).then((src) => {
    if (src) img.src = src;
  }).catch(() => img.classList.add('img-failed'));
  return img;
}
