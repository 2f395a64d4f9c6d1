// An example consumer: a small Express app that links a visitor's applink account with
// the three-legged OAuth 1.0a dance (signed by the `oauth-1.0a` npm package, HMAC-SHA1),
// then calls /rest/api/1/myself as that user. State lives in memory: it is a demo.
'use strict';

const crypto = require('node:crypto');
const express = require('express');
const OAuth = require('oauth-1.0a');

const COOKIE = 'example_sid';

const esc = (s) =>
  String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);

const page = (title, body) => `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)} · Example consumer</title>
<style>
body{font:16px/1.5 system-ui,sans-serif;margin:0;background:#f4f1ea;color:#222}
header{background:#2d6a4f;color:#fff;padding:.8rem 1rem;font-weight:700}
main{max-width:40rem;margin:1.5rem auto;padding:0 1rem}
.card{background:#fff;border:1px solid #ddd;border-radius:10px;padding:1.25rem}
button{font:inherit;padding:.6rem 1.1rem;border-radius:8px;border:1px solid #2d6a4f;background:#2d6a4f;color:#fff;cursor:pointer}
button.secondary{background:#fff;color:#2d6a4f}
pre{background:#f6f6f6;padding:.75rem;border-radius:8px;overflow:auto}
.problem{background:#fdecea;border-left:4px solid #b42318;padding:.6rem .8rem;border-radius:8px}
</style></head>
<body><header>Example consumer</header><main>${body}</main></body></html>`;

/**
 * @param {{ applinkUrl: string, consumerKey: string, consumerSecret: string, publicUrl: string }} o
 *   applinkUrl: applink's base URL; publicUrl: this app's own URL (for the callback)
 */
function createConsumerApp(o) {
  const applink = o.applinkUrl.replace(/\/+$/, '');
  const self = o.publicUrl.replace(/\/+$/, '');
  const oauth = OAuth({
    consumer: { key: o.consumerKey, secret: o.consumerSecret },
    signature_method: 'HMAC-SHA1',
    hash_function: (base, key) => crypto.createHmac('sha1', key).update(base).digest('base64'),
  });

  /** Signs and sends one request; returns status and text. Query parameters go in `data`. */
  async function signed(method, url, token, data = {}) {
    const headers = oauth.toHeader(oauth.authorize({ url, method, data }, token));
    const res = await fetch(url, { method, headers });
    return { status: res.status, text: await res.text() };
  }
  const form = (text) => Object.fromEntries(new URLSearchParams(text));

  // browser session id -> { pending: Map<requestToken, secret>, access: {key, secret} | null, user }
  const sessions = new Map();
  const sessionOf = (req, res) => {
    const m = /(?:^|;\s*)example_sid=([A-Za-z0-9_-]+)/.exec(req.headers.cookie || '');
    let id = m && sessions.has(m[1]) ? m[1] : null;
    if (!id) {
      id = crypto.randomBytes(18).toString('base64url');
      sessions.set(id, { pending: new Map(), access: null });
      res.append('Set-Cookie', `${COOKIE}=${id}; Path=/; HttpOnly; SameSite=Lax`);
    }
    return sessions.get(id);
  };

  const app = express();
  app.disable('x-powered-by');

  app.get('/', async (req, res) => {
    const sess = sessionOf(req, res);
    if (!sess.access) {
      return res.send(
        page(
          'Home',
          `<div class="card"><h1>Not linked yet</h1>
<p>This app can show your applink profile once you connect your account.</p>
<form method="post" action="/connect"><button type="submit" id="connect">Connect to applink</button></form></div>`,
        ),
      );
    }
    // Every visit calls applink as the linked user: a revoked link shows up at once.
    const r = await signed('GET', `${applink}/rest/api/1/myself`, sess.access);
    if (r.status !== 200) {
      const problem = form(r.text).oauth_problem || `HTTP ${r.status}`;
      return res.status(502).send(
        page(
          'Link broken',
          `<div class="card"><h1>applink refused the call</h1>
<p class="problem">oauth_problem: <code id="problem">${esc(problem)}</code></p>
<p>${esc(form(r.text).oauth_problem_advice || '')}</p>
<form method="post" action="/connect"><button type="submit" id="connect">Connect again</button></form></div>`,
        ),
      );
    }
    const me = JSON.parse(r.text);
    res.send(
      page(
        'Linked',
        `<div class="card"><h1>Linked as <span id="display-name">${esc(me.displayName)}</span></h1>
<p>GET /rest/api/1/myself, signed with your access token, answered:</p>
<pre id="myself">${esc(JSON.stringify(me, null, 2))}</pre>
<form method="post" action="/disconnect"><button type="submit" class="secondary" id="disconnect">Forget this link</button></form></div>`,
      ),
    );
  });

  // Step 1: a request token, then off to applink's consent page. (A real app would also
  // protect this form with a CSRF token; the demo keeps to the OAuth part.)
  app.post('/connect', async (req, res, next) => {
    try {
      const sess = sessionOf(req, res);
      const r = await signed('POST', `${applink}/oauth/request-token`, undefined, {
        oauth_callback: `${self}/callback`,
      });
      if (r.status !== 200) {
        return res
          .status(502)
          .send(
            page('Error', `<p class="problem">Request token refused: <code id="problem">${esc(r.text)}</code></p>`),
          );
      }
      const rt = form(r.text);
      sess.pending.set(rt.oauth_token, rt.oauth_token_secret);
      res.redirect(303, `${applink}/oauth/authorize?oauth_token=${encodeURIComponent(rt.oauth_token)}`);
    } catch (e) {
      next(e);
    }
  });

  // Step 3: back from applink with a verifier (or a refusal); exchange it for an access token.
  app.get('/callback', async (req, res, next) => {
    try {
      const sess = sessionOf(req, res);
      const token = String(req.query.oauth_token || '');
      const secret = sess.pending.get(token);
      sess.pending.delete(token);
      if (req.query.oauth_problem === 'permission_denied' || req.query.oauth_verifier === 'denied') {
        return res.send(
          page(
            'Declined',
            `<div class="card"><h1 id="declined">You declined the link</h1><p><a href="/">Back</a></p></div>`,
          ),
        );
      }
      if (!secret) return res.status(400).send(page('Error', '<p class="problem">Unknown request token.</p>'));
      const r = await signed(
        'POST',
        `${applink}/oauth/access-token`,
        { key: token, secret },
        {
          oauth_verifier: String(req.query.oauth_verifier || ''),
        },
      );
      if (r.status !== 200) {
        return res
          .status(502)
          .send(page('Error', `<p class="problem">Access token refused: <code id="problem">${esc(r.text)}</code></p>`));
      }
      const at = form(r.text);
      sess.access = { key: at.oauth_token, secret: at.oauth_token_secret };
      res.redirect(303, '/');
    } catch (e) {
      next(e);
    }
  });

  app.post('/disconnect', (req, res) => {
    sessionOf(req, res).access = null;
    res.redirect(303, '/');
  });

  return app;
}

module.exports = { createConsumerApp };
