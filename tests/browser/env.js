// env.js -- runs the real ttdm-sim and ttdm binaries on 127.0.0.1 (port 0, a temporary
// directory) for the browser tests, as tests/integration/harness.c does for the C suites,
// and stops them by PID.

import { spawn, execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, openSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const APP_ID = 'ttdm-sandbox-app';
const APP_SECRET = 'ttdm-sandbox-secret';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Every process started here, so that a failing test still stops them (by PID).
const live = new Set();
function stopAllSync() {
  for (const child of live) {
    try {
      process.kill(child.pid, 'SIGKILL');
    } catch (e) {
      // already gone
    }
  }
  live.clear();
}
process.on('exit', stopAllSync);

function start(argv, logPath) {
  const fd = openSync(logPath, 'a');
  const child = spawn(argv[0], argv.slice(1), { stdio: ['ignore', fd, fd] });
  closeSync(fd);
  live.add(child);
  child.on('exit', () => live.delete(child));
  return child;
}

async function waitListening(child, logPath, timeoutMs = 15000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    let text = '';
    try {
      text = readFileSync(logPath, 'utf8');
    } catch (e) {
      text = '';
    }
    const m = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(text);
    if (m) return Number(m[1]);
    if (child.exitCode !== null) break;
    await sleep(20);
  }
  let log = '';
  try {
    log = readFileSync(logPath, 'utf8').slice(-4000);
  } catch (e) {
    log = '(no log)';
  }
  throw new Error(`${child.spawnargs[0]} did not start:\n${log}`);
}

// SIGTERM, then SIGKILL after 5 s; returns how the process ended ("exit 0" is clean).
async function stop(child) {
  if (!child) return 'not started';
  if (child.exitCode === null && child.signalCode === null) {
    const gone = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    const timer = setTimeout(() => {
      if (child.exitCode === null) child.kill('SIGKILL');
    }, 5000);
    await gone;
    clearTimeout(timer);
  }
  return child.exitCode !== null ? `exit ${child.exitCode}` : `signal ${child.signalCode}`;
}

function run(argv) {
  return new Promise((resolve, reject) => {
    execFile(argv[0], argv.slice(1), { timeout: 30000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${argv.join(' ')} failed: ${stderr || err.message}`));
      else resolve(stdout);
    });
  });
}

async function http(method, url, body, headers = {}) {
  const init = { method, headers: { ...headers } };
  if (body !== undefined) {
    init.body = typeof body === 'string' ? body : JSON.stringify(body);
    init.headers['Content-Type'] = 'application/json';
  }
  const resp = await fetch(url, init);
  const text = await resp.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch (e) {
    json = null;
  }
  return { status: resp.status, json, text, headers: resp.headers };
}

// Starts the simulator and ttdm. opts.username names the first TikTok account; with
// opts.withChannel (default true) it is connected with the command line, as the
// integration harness does, so the inbox works without going through TikTok's login.
export async function startEnv(opts = {}) {
  const ttdmBin = opts.ttdmBin || process.env.TTDM_BIN;
  const simBin = opts.simBin || process.env.TTDM_SIM_BIN;
  if (!ttdmBin || !simBin) throw new Error('TTDM_BIN and TTDM_SIM_BIN must name the built binaries');
  const dir = mkdtempSync(join(tmpdir(), 'ttdm-browser-'));
  const env = { dir, procs: {} };

  const simLog = join(dir, 'sim.log');
  env.procs.sim = start([simBin, '--port=0', '--webhook_retry_base_ms=100',
    `--access_token_ttl_s=${opts.accessTokenTtl || 31536000}`], simLog);
  const simPort = await waitListening(env.procs.sim, simLog);
  env.simUrl = `http://127.0.0.1:${simPort}`;
  env.sim = (method, path, body) => http(method, env.simUrl + path, body);

  const username = opts.username || 'demo_shop';
  const account = await env.sim('POST', '/sim/accounts', {
    username, display_name: opts.displayName || 'Demo Shop', region: 'SG', origin: 'app',
  });
  if (account.status !== 200 && account.status !== 201) throw new Error(`sim account: ${account.text}`);
  env.businessId = account.json.business_id;

  // More TikTok accounts on the login page (another shop, to try a wrong reconnect).
  for (const extra of opts.moreAccounts || []) {
    const r = await env.sim('POST', '/sim/accounts', { region: 'SG', origin: 'app', ...extra });
    if (r.status !== 200 && r.status !== 201) throw new Error(`sim account: ${r.text}`);
  }

  const common = [`--data_dir=${join(dir, 'data')}`, `--tiktok_api_base=${env.simUrl}/open_api/v1.3`];
  env.apiKey = (await run([ttdmBin, 'apikey', 'create', '--name', 'browser-tests', ...common])).trim().split('\n')[0];
  if (!env.apiKey.startsWith('ttdm_')) throw new Error(`unexpected API key output: ${env.apiKey}`);
  if (opts.withChannel !== false) {
    const out = await run([ttdmBin, 'channel', 'create', `--business-id=${env.businessId}`,
      `--access-token=${account.json.access_token}`, ...common]);
    const m = /channel (\d+)/.exec(out);
    if (!m) throw new Error(`unexpected output of channel create: ${out}`);
    env.channelId = Number(m[1]);
  }

  // The first admin of the workspace, created by ttdm on its first start.
  env.admin = { email: 'admin@example.com', password: 'browser-tests-password' };
  const ttdmLog = join(dir, 'ttdm.log');
  env.procs.ttdm = start([ttdmBin, 'serve', '--port=0', ...common,
    `--admin_email=${env.admin.email}`, `--admin_password=${env.admin.password}`,
    `--tiktok_auth_base=${env.simUrl}/v2/auth/authorize/`, '--sandbox=true',
    '--outbox_poll_ms=20', '--outbox_retry_base_ms=50', '--tiktok_timeout_ms=2000',
    '--log_level=info', ...(opts.extraArgs || [])], ttdmLog);
  const port = await waitListening(env.procs.ttdm, ttdmLog);
  env.url = `http://127.0.0.1:${port}`;
  env.logs = { sim: simLog, ttdm: ttdmLog };
  env.api = (method, path, body) => http(method, env.url + path, body, { Authorization: `Bearer ${env.apiKey}` });

  // TikTok's webhook subscription is per app: point it at this ttdm.
  const hook = await env.sim('POST', '/open_api/v1.3/business/webhook/update/', {
    app_id: APP_ID, secret: APP_SECRET, event_type: 'DIRECT_MESSAGE', callback_url: `${env.url}/webhooks/tiktok`,
  });
  if (hook.status !== 200 || hook.json.code !== 0) throw new Error(`webhook registration: ${hook.text}`);

  // A simulated customer of the account (or of another business id).
  env.customer = async (name, region = 'SG', businessId = env.businessId) => {
    const r = await env.sim('POST', '/sim/customers', { business_id: businessId, username: name, region });
    if (r.status !== 200 && r.status !== 201) throw new Error(`sim customer: ${r.text}`);
    return r.json;
  };
  env.says = async (customer, text) => {
    const r = await env.sim('POST', `/sim/customers/${customer.customer_id}/messages`, { type: 'text', text });
    if (r.status !== 200) throw new Error(`customer message: ${r.text}`);
    return r.json;
  };
  env.sends = async (customer, body) => {
    const r = await env.sim('POST', `/sim/customers/${customer.customer_id}/messages`, body);
    if (r.status !== 200) throw new Error(`customer message: ${r.text}`);
    return r.json;
  };
  // Moves both clocks, as tests/integration's h_set_clock does.
  env.setClock = async (offsetMs) => {
    const a = await env.api('POST', '/api/v1/sandbox/clock', { offset_ms: offsetMs });
    const b = await env.sim('POST', '/sim/clock', { offset_ms: offsetMs });
    if (a.status !== 200 || b.status !== 200) throw new Error(`clock: ${a.text} ${b.text}`);
  };
  env.conversationFor = async (customer) => {
    for (let i = 0; i < 250; i++) {
      const r = await env.api('GET', '/api/v1/conversations?limit=200');
      const row = ((r.json && r.json.data) || []).find((c) => c.tiktok_conversation_id === customer.conversation_id);
      if (row) return row;
      await sleep(20);
    }
    throw new Error(`ttdm never showed conversation ${customer.conversation_id}`);
  };
  env.run = (args) => run([ttdmBin, ...args, ...common]);
  // Stops both; a process that did not end cleanly (a crash, or a leak report in a
  // sanitizer build) fails the suite, with the end of its log.
  env.stop = async () => {
    const ends = { ttdm: await stop(env.procs.ttdm), sim: await stop(env.procs.sim) };
    const bad = Object.entries(ends).filter(([, how]) => how !== 'exit 0');
    const report = bad.map(([name, how]) => `${name} ended with ${how}:\n${readFileSync(env.logs[name], 'utf8').slice(-6000)}`);
    if (!process.env.TTDM_KEEP_TEST_DIR && !bad.length) rmSync(dir, { recursive: true, force: true });
    if (bad.length) throw new Error(`${report.join('\n')}\n(kept ${dir})`);
  };
  return env;
}

export { sleep };
