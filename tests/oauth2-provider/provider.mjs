// The OAuth 2.0 / OpenID provider the integration tests sign in at (tests/it/support/oauth2.rs):
// the certified `oidc-provider` from npm, configured here and nothing else. Its development
// login pages accept any login name (it becomes the token's `sub`, the mail address) and any
// password; the tests play the user on those pages.
//
// Environment (no secret on the command line):
//   OAUTH2_HOST, OAUTH2_PORT         where to listen (loopback); the issuer is https://HOST:PORT
//   OAUTH2_CERT, OAUTH2_KEY          PEM files of the server certificate (signed by the test CA)
//   OAUTH2_INTROSPECTION_SECRET      secret of the `dovecot` client, which introspects tokens
//   OAUTH2_APP_SECRET                secret of the `mailcheck-app` client (client credentials)
//   OAUTH2_APP_MAILBOX               the mailbox `mailcheck-app`'s tokens are good for
// Prints "ready <issuer>" on stdout once it listens; exits when its stdin closes. Logs each
// token request (grant, client, account: never a token) as a JSON line on stderr:
//   {"token_issued":"refresh_token","client":"mailcheck","account":"alice@lab.test"}
//   {"token_refused":"refresh_token","client":"mailcheck-revoked"}
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
const appClient = 'mailcheck-app';
const appMailbox = env('OAUTH2_APP_MAILBOX');

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
    // An application without a user (RFC 6749 §4.4), as Microsoft's app-only access to
    // Exchange Online: a confidential client whose tokens the admin has granted one mailbox
    // (see extraTokenClaims below).
    {
      client_id: appClient,
      client_secret: env('OAUTH2_APP_SECRET'),
      token_endpoint_auth_method: 'client_secret_basic',
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
    },
    // A native client registered with a secret, as Google's desktop clients are: it sends the
    // secret in the body of its requests (client_secret_post). The app's secret, reused.
    {
      client_id: 'mailcheck-desktop',
      client_secret: env('OAUTH2_APP_SECRET'),
      token_endpoint_auth_method: 'client_secret_post',
      application_type: 'native',
      grant_types: [deviceGrant],
      response_types: [],
      redirect_uris: [],
    },
    // A client allowed the `openid` scope only: asking for `mail` is refused (invalid_scope).
    {
      client_id: 'mailcheck-narrow',
      token_endpoint_auth_method: 'none',
      application_type: 'native',
      grant_types: [deviceGrant],
      response_types: [],
      redirect_uris: [],
      scope: 'openid',
    },
    // The same, for refresh tokens the tests revoke (its refusals are counted on their own).
    {
      client_id: 'mailcheck-revoked',
      token_endpoint_auth_method: 'none',
      application_type: 'native',
      grant_types: [deviceGrant, 'refresh_token'],
      response_types: [],
      redirect_uris: [],
    },
    // The same with access tokens of 4 s: a refresh soon after another, with the rotated token.
    {
      client_id: 'mailcheck-brief',
      token_endpoint_auth_method: 'none',
      application_type: 'native',
      grant_types: [deviceGrant, 'refresh_token'],
      response_types: [],
      redirect_uris: [],
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
    AccessToken: (ctx, token, client) => (client?.clientId === 'mailcheck-brief' ? 4 : 3600),
    DeviceCode: (ctx, token, client) => (client.clientId === 'mailcheck-short' ? 2 : 600),
  },
  // Microsoft's app-only tokens name the application, not a user; Exchange lets the app into the
  // mailboxes an admin granted its service principal (Add-MailboxPermission), the mailbox being
  // the login name the client gives in XOAUTH2. Dovecot's introspection maps a token to the login
  // by `sub`: so the app's tokens carry the mailbox it was granted as `sub`, in the
  // introspection answer (the token itself stays opaque).
  async extraTokenClaims(ctx, token) {
    if (token.kind === 'ClientCredentials' && token.clientId === appClient) {
      return { sub: appMailbox };
    }
    return undefined;
  },
  features: {
    clientCredentials: { enabled: true },
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
    await next();
    // What was issued or refused, for the tests that count token requests (never a token).
    const { Client: client, Account: account } = ctx.oidc?.entities ?? {};
    process.stderr.write(`${JSON.stringify({
      [ctx.status === 200 ? 'token_issued' : 'token_refused']: body.grant_type,
      client: client?.clientId ?? body.client_id,
      account: account?.accountId,
    })}\n`);
    return;
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
