// The OAuth 2.0 / OpenID provider the integration tests sign in at (tests/it/support/oauth2.rs):
// the certified `oidc-provider` from npm, configured here and nothing else. Its development
// login pages accept any login name (it becomes the token's `sub`, the mail address) and any
// password; the tests play the user on those pages.
//
// Environment (no secret on the command line):
//   OAUTH2_HOST, OAUTH2_PORT         where to listen (loopback); the issuer is https://HOST:PORT
//   OAUTH2_CERT, OAUTH2_KEY          PEM files of the server certificate (signed by the test CA)
//   OAUTH2_INTROSPECTION_SECRET      secret of the `dovecot` client, which introspects tokens
// Prints "ready <issuer>" on stdout once it listens; exits when its stdin closes.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import https from 'node:https';
import Provider from 'oidc-provider';

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};
const host = env('OAUTH2_HOST');
const port = Number(env('OAUTH2_PORT'));
const issuer = `https://${host}:${port}`;
const deviceGrant = 'urn:ietf:params:oauth:grant-type:device_code';

const provider = new Provider(issuer, {
  clients: [
    // Dovecot's oauth2 passdb: a confidential client that may introspect every token.
    {
      client_id: 'dovecot',
      client_secret: env('OAUTH2_INTROSPECTION_SECRET'),
      grant_types: [],
      response_types: [],
      redirect_uris: [],
    },
    // mailcheck: a public native client (no secret), device flow and code + PKCE.
    {
      client_id: 'mailcheck',
      token_endpoint_auth_method: 'none',
      application_type: 'native',
      grant_types: [deviceGrant, 'authorization_code', 'refresh_token'],
      response_types: ['code'],
      redirect_uris: ['http://127.0.0.1/'],
    },
    // The same, held to slower polling (see slow_down below).
    {
      client_id: 'mailcheck-slow',
      token_endpoint_auth_method: 'none',
      application_type: 'native',
      grant_types: [deviceGrant],
      response_types: [],
      redirect_uris: [],
    },
    // The same with device codes that expire after 2 s, for the expired_token case.
    {
      client_id: 'mailcheck-short',
      token_endpoint_auth_method: 'none',
      application_type: 'native',
      grant_types: [deviceGrant],
      response_types: [],
      redirect_uris: [],
    },
  ],
  scopes: ['openid', 'offline_access', 'email', 'mail'],
  // Signed cookies (the login pages' state), with a key of this run.
  cookies: { keys: [randomBytes(32).toString('hex')] },
  ttl: {
    AccessToken: 3600,
    DeviceCode: (ctx, token, client) => (client.clientId === 'mailcheck-short' ? 2 : 600),
  },
  features: {
    deviceFlow: { enabled: true },
    introspection: { enabled: true },
    registration: { enabled: true },
    revocation: { enabled: true },
    devInteractions: { enabled: true },
  },
});

// RFC 8628 §3.5: a server may tell a client that polls too often to slow down. This one asks
// client `mailcheck-slow` for 8 s between polls, counted from the code's issue: more than the
// 5 s a client starts with, so a client meets slow_down once and must then poll less often
// (5 s more, RFC 8628 §3.5) to get its token.
const slowClient = 'mailcheck-slow';
const minPollMs = 8000;
const lastPoll = new Map();
provider.use(async (ctx, next) => {
  if (ctx.method === 'POST' && ctx.path === '/token') {
    const raw = await new Promise((resolve, reject) => {
      let data = '';
      ctx.req.setEncoding('utf8');
      ctx.req.on('data', (chunk) => { data += chunk; });
      ctx.req.on('end', () => resolve(data));
      ctx.req.on('error', reject);
    });
    const body = Object.fromEntries(new URLSearchParams(raw));
    // Read here, so handed to the provider parsed.
    ctx.request.body = body;
    if (body.grant_type === deviceGrant && body.client_id === slowClient) {
      const code = await provider.DeviceCode.find(body.device_code);
      if (code) {
        const now = Date.now();
        const last = lastPoll.get(body.device_code) ?? code.iat * 1000;
        lastPoll.set(body.device_code, now);
        if (now - last < minPollMs) {
          ctx.status = 400;
          ctx.body = { error: 'slow_down', error_description: `poll at most every ${minPollMs / 1000} s` };
          return;
        }
      }
    }
  }
  await next();
});

const server = https.createServer(
  { cert: readFileSync(env('OAUTH2_CERT')), key: readFileSync(env('OAUTH2_KEY')) },
  provider.callback(),
);
server.listen(port, host, () => {
  process.stdout.write(`ready ${issuer}\n`);
});
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
