#!/usr/bin/env node
// An OAuth2 authorization server for pacer's integration tests, built on
// @node-oauth/oauth2-server (its model API): refresh tokens rotate (RFC 6749
// §6, RFC 9700 §4.14.2), the authorization-code grant takes PKCE (RFC 7636),
// and a loopback redirect URI may use any port (RFC 8252 §7.3).
//
//   node oauth_server.js --port-file FILE [--secret S] [--access-ttl S]
//                        [--token-closed]
//
// Two listeners on 127.0.0.1, ephemeral ports written to FILE as
// {"port": P, "token_port": T} once both are ready:
//   P  /authorize (GET: a login and consent form; POST: the form's answer,
//      302 to the redirect URI with code and state), /token, /api/* (a
//      resource that needs a live Bearer token), /admin/*
//   T  /token only. --token-closed: T is reserved but not listening until
//      POST /admin/token-listener {"open": true}, so a token request is
//      refused at connect (nothing reaches the server).
//
// Knobs, POST /admin/config with a JSON object (fields optional):
//   delay_ms       delay each refresh-token answer by this long
//   delay_mode     "before": wait, then act; "after": rotate the refresh
//                  token at once, then wait before answering
//   delay_times    delay only this many answers, then none (0: every one)
//   reject_refresh true: every refresh gets invalid_grant
//   secret         the client secret accepted from now on (else --secret)
// Counters, GET /admin/stats: token_posts, refresh_posts, posts_per_rt
// (refresh token -> POSTs; tokens are test values), max_posts_per_rt,
// reuse_of_rotated (a POST of a refresh token that rotation had spent),
// invalid_grant, invalid_client, issued, api_ok, api_401, auth_codes,
// code_exchanges, token_port_posts (POSTs to the token-only listener T).
// POST /admin/expire: every access token issued so far expires now.
// POST /admin/mint: a new refresh token for user alice, {"refresh_token"}.
'use strict';

const http = require('http');
const fs = require('fs');
const crypto = require('crypto');
const OAuth2Server = require('@node-oauth/oauth2-server');
const { Request, Response } = OAuth2Server;

function arg(name, dflt) {
  const i = process.argv.indexOf(name);
  return i > 0 && i + 1 < process.argv.length ? process.argv[i + 1] : dflt;
}

const portFile = arg('--port-file', null);
const clientSecret = arg('--secret', 'client-secret-canary-7f3a9c');
const accessTtl = Number(arg('--access-ttl', '3600'));
const tokenClosed = process.argv.includes('--token-closed');
const USER = { id: 'alice', password: 'wonderland' };

const knobs = { delay_ms: 0, delay_mode: 'before', delay_times: 0,
                reject_refresh: false, secret: clientSecret };
const stats = {
  token_posts: 0, refresh_posts: 0, posts_per_rt: {}, max_posts_per_rt: 0,
  reuse_of_rotated: 0, invalid_grant: 0, invalid_client: 0, issued: 0,
  api_ok: 0, api_401: 0,
  auth_codes: 0, code_exchanges: 0, token_port_posts: 0,
};

const client = {
  id: 'pacer-test',
  grants: ['authorization_code', 'refresh_token'],
  redirectUris: ['http://127.0.0.1/callback'],
};
const accessTokens = new Map();  // token -> saved token
const refreshTokens = new Map(); // token -> saved token
const rotated = new Set();       // refresh tokens spent by rotation
const codes = new Map();         // authorization code -> saved code

const model = {
  async getClient(id, secret) {
    if (id !== client.id) return false;
    if (secret !== null && secret !== undefined && secret !== knobs.secret) {
      stats.invalid_client++;
      return false;
    }
    return client;
  },
  async saveToken(token, c, user) {
    const saved = { ...token, client: c, user };
    accessTokens.set(token.accessToken, saved);
    if (token.refreshToken) refreshTokens.set(token.refreshToken, saved);
    stats.issued++;
    return saved;
  },
  async getAccessToken(t) { return accessTokens.get(t) || false; },
  async getRefreshToken(t) {
    if (rotated.has(t)) stats.reuse_of_rotated++;
    if (knobs.reject_refresh) return false;
    return refreshTokens.get(t) || false;
  },
  async revokeToken(token) {
    rotated.add(token.refreshToken);
    return refreshTokens.delete(token.refreshToken);
  },
  async saveAuthorizationCode(code, c, user) {
    const saved = { ...code, client: c, user };
    codes.set(code.authorizationCode, saved);
    stats.auth_codes++;
    return saved;
  },
  async getAuthorizationCode(code) { return codes.get(code) || false; },
  async revokeAuthorizationCode(code) {
    return codes.delete(code.authorizationCode);
  },
  // RFC 8252 §7.3: a loopback redirect URI may use any port.
  async validateRedirectUri(uri, c) {
    try {
      const u = new URL(uri);
      return u.protocol === 'http:' &&
        (u.hostname === '127.0.0.1' || u.hostname === '[::1]') &&
        u.pathname === '/callback';
    } catch (e) {
      return false;
    }
  },
  async validateScope(user, c, scope) { return scope || ['read']; },
  async verifyScope() { return true; },
};

const oauth = new OAuth2Server({
  model,
  accessTokenLifetime: accessTtl,
  refreshTokenLifetime: 30 * 86400,
  allowEmptyState: false,
  requireClientAuthentication: { authorization_code: false },
});

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function readBody(req) {
  return new Promise((resolve) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
  });
}

function send(res, r) {
  res.writeHead(r.status, r.headers);
  res.end(typeof r.body === 'string' ? r.body : JSON.stringify(r.body));
}

function json(res, status, obj, headers) {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(obj));
}

function libRequest(req, url, body) {
  return new Request({
    method: req.method,
    headers: req.headers,
    query: Object.fromEntries(url.searchParams),
    body,
  });
}

function escapeHtml(s) {
  return String(s).replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);
}

async function tokenEndpoint(req, res, url, raw, tokenOnly) {
  const body = Object.fromEntries(new URLSearchParams(raw));
  const refresh = body.grant_type === 'refresh_token';
  let delay = refresh ? knobs.delay_ms : 0;
  if (delay > 0 && knobs.delay_times > 0) {
    if (--knobs.delay_times === 0) knobs.delay_ms = 0; // this one is the last
  }
  stats.token_posts++;
  if (tokenOnly) stats.token_port_posts++;
  if (refresh) {
    const rt = body.refresh_token || '';
    stats.refresh_posts++;
    stats.posts_per_rt[rt] = (stats.posts_per_rt[rt] || 0) + 1;
    stats.max_posts_per_rt =
      Math.max(stats.max_posts_per_rt, stats.posts_per_rt[rt]);
    if (delay > 0 && knobs.delay_mode === 'before') await sleep(delay);
  } else if (body.grant_type === 'authorization_code') {
    stats.code_exchanges++;
  }
  const response = new Response({ headers: {} });
  let out;
  try {
    await oauth.token(libRequest(req, url, body), response);
    out = { status: response.status || 200, headers: response.headers,
            body: response.body };
  } catch (e) {
    if (e.name === 'invalid_grant') stats.invalid_grant++;
    out = { status: e.code || 500,
            headers: { 'content-type': 'application/json' },
            body: { error: e.name, error_description: e.message } };
  }
  if (delay > 0 && knobs.delay_mode === 'after') await sleep(delay);
  out.headers['content-type'] = 'application/json';
  out.headers['cache-control'] = 'no-store';
  send(res, out);
}

function loginForm(res, url) {
  const hidden = [...url.searchParams]
    .map(([k, v]) =>
      `<input type="hidden" name="${escapeHtml(k)}" value="${escapeHtml(v)}">`)
    .join('\n');
  res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
  res.end(`<!doctype html><title>Sign in</title>
<form method="post" action="/authorize">
${hidden}
<label>User <input name="username"></label>
<label>Password <input name="password" type="password"></label>
<p>pacer-test asks for: ${escapeHtml(url.searchParams.get('scope') || '')}</p>
<button name="allowed" value="true">Allow</button>
<button name="allowed" value="false">Deny</button>
</form>
`);
}

async function authorizeAnswer(req, res, url, raw) {
  const body = Object.fromEntries(new URLSearchParams(raw));
  if (body.username !== USER.id || body.password !== USER.password) {
    res.writeHead(401, { 'content-type': 'text/plain' });
    res.end('wrong user name or password\n');
    return;
  }
  const response = new Response({ headers: {} });
  try {
    await oauth.authorize(libRequest(req, url, body), response, {
      authenticateHandler: { handle: () => ({ id: USER.id }) },
    });
  } catch (e) {
    if (!response.headers || !response.headers.location) {
      json(res, e.code || 400, { error: e.name, error_description: e.message });
      return;
    }
  }
  send(res, { status: 302, headers: response.headers, body: '' });
}

async function api(req, res, url) {
  const response = new Response({ headers: {} });
  try {
    const t = await oauth.authenticate(libRequest(req, url, {}), response);
    stats.api_ok++;
    json(res, 200, { ok: true, user: t.user.id, path: url.pathname });
  } catch (e) {
    stats.api_401++;
    json(res, 401, { error: e.name },
         { 'www-authenticate': 'Bearer error="invalid_token"' });
  }
}

let tokenServer = null;
let tokenPort = 0;

async function admin(req, res, url, raw) {
  if (url.pathname === '/admin/stats') return json(res, 200, stats);
  if (url.pathname === '/admin/config' && req.method === 'POST') {
    Object.assign(knobs, JSON.parse(raw || '{}'));
    return json(res, 200, knobs);
  }
  if (url.pathname === '/admin/mint' && req.method === 'POST') {
    const t = await model.saveToken({
      accessToken: crypto.randomBytes(16).toString('hex'),
      accessTokenExpiresAt: new Date(Date.now() + accessTtl * 1000),
      refreshToken: 'rt-' + crypto.randomBytes(16).toString('hex'),
      refreshTokenExpiresAt: new Date(Date.now() + 86400000),
      scope: ['read'],
    }, client, { id: USER.id });
    return json(res, 200, { refresh_token: t.refreshToken });
  }
  if (url.pathname === '/admin/expire' && req.method === 'POST') {
    for (const t of accessTokens.values())
      t.accessTokenExpiresAt = new Date(Date.now() - 1000);
    return json(res, 200, { expired: accessTokens.size });
  }
  if (url.pathname === '/admin/token-listener' && req.method === 'POST') {
    if (JSON.parse(raw || '{}').open && !tokenServer.listening)
      await new Promise((r) => tokenServer.listen(tokenPort, '127.0.0.1', r));
    return json(res, 200, { open: tokenServer.listening });
  }
  return json(res, 404, { error: 'not_found' });
}

function handler(tokenOnly) {
  return async (req, res) => {
    const url = new URL(req.url, 'http://127.0.0.1');
    const raw = await readBody(req);
    try {
      if (url.pathname === '/token' && req.method === 'POST')
        return await tokenEndpoint(req, res, url, raw, tokenOnly);
      if (tokenOnly) return json(res, 404, { error: 'not_found' });
      if (url.pathname === '/authorize' && req.method === 'GET')
        return loginForm(res, url);
      if (url.pathname === '/authorize' && req.method === 'POST')
        return await authorizeAnswer(req, res, url, raw);
      if (url.pathname.startsWith('/api/')) return await api(req, res, url);
      if (url.pathname.startsWith('/admin/'))
        return await admin(req, res, url, raw);
      return json(res, 404, { error: 'not_found' });
    } catch (e) {
      if (!res.headersSent) json(res, 500, { error: 'server_error' });
    }
  };
}

async function main() {
  const main = http.createServer(handler(false));
  tokenServer = http.createServer(handler(true));
  await new Promise((r) => main.listen(0, '127.0.0.1', r));
  // Reserve the token port: listen once to get a free one; close it again
  // when it must start closed (a connect is then refused).
  await new Promise((r) => tokenServer.listen(0, '127.0.0.1', r));
  tokenPort = tokenServer.address().port;
  if (tokenClosed) await new Promise((r) => tokenServer.close(r));
  const info = JSON.stringify({ port: main.address().port,
                                token_port: tokenPort });
  if (portFile) {
    fs.writeFileSync(portFile + '.tmp', info + '\n');
    fs.renameSync(portFile + '.tmp', portFile);
  } else {
    process.stdout.write(info + '\n');
  }
  const stop = () => process.exit(0);
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main();
