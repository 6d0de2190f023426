// A real OpenID Connect provider (the npm package oidc-provider) standing in for Pro Santé
// Connect in the tests: authorization code + PKCE (S256), client_secret_basic, userinfo as a
// signed JWT, and accounts whose claims have the shape PSC documents (SubjectNameID = "8" +
// RPPS, SubjectRefPro.exercices[].codeProfession, given_name, family_name).
//
// Usage: node provider.mjs CONFIG_JSON. It listens on 127.0.0.1 only, on a free port, and
// prints one line: {"issuer": "http://127.0.0.1:PORT"}. It stops when its standard input closes
// (the test process ended) or on SIGTERM.
//
// Test-only controls (POST /__test__/mode, JSON body), to play a provider gone wrong:
//   {"jwks": "other"}      the JWKS document serves another key under the signing key's kid
//                          (a key swap: tokens no longer verify against the published keys)
//   {"nonce": "drop"}      the authorization request's nonce is removed before the provider
//                          sees it (the ID token then carries none)
//   {"nonce": "replace"}   the nonce is replaced by another value
//   {}                     back to normal
import { generateKeyPairSync } from 'node:crypto';
import http from 'node:http';
import process from 'node:process';

import Provider from 'oidc-provider';

const config = JSON.parse(process.argv[2]);

function signingKey(kid) {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { ...privateKey.export({ format: 'jwk' }), kid, alg: 'RS256', use: 'sig' };
}

function publicPart(jwk) {
  const { kty, n, e, kid, alg, use } = jwk;
  return { kty, n, e, kid, alg, use };
}

const key = signingKey('psc-test-1');
const otherKey = { ...signingKey('psc-test-1') }; // same kid, another key
let mode = {};

function claimsOf(account) {
  return {
    SubjectNameID: account.SubjectNameID,
    preferred_username: account.SubjectNameID,
    given_name: account.given_name,
    family_name: account.family_name,
    SubjectRefPro: {
      codeCivilite: 'M',
      exercices: [
        {
          codeProfession: account.codeProfession || '21',
          codeCategorieProfessionnelle: 'C',
          nomDexercice: account.family_name,
          prenomDexercice: account.given_name,
          activities: [],
        },
      ],
    },
  };
}

const server = http.createServer();
server.listen(0, '127.0.0.1', () => {
  const { port } = server.address();
  const issuer = `http://127.0.0.1:${port}`;
  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: config.client_id,
        client_secret: config.client_secret,
        redirect_uris: config.redirect_uris,
        grant_types: ['authorization_code'],
        response_types: ['code'],
        token_endpoint_auth_method: 'client_secret_basic',
        userinfo_signed_response_alg: 'RS256',
      },
    ],
    jwks: { keys: [key] },
    pkce: { required: () => true },
    scopes: ['openid', 'scope_all'],
    claims: {
      openid: ['sub'],
      scope_all: ['SubjectNameID', 'SubjectRefPro', 'given_name', 'family_name', 'preferred_username'],
    },
    acrValues: ['eidas1'],
    features: {
      devInteractions: { enabled: true },
      jwtUserinfo: { enabled: true },
    },
    cookies: { keys: ['psc-test-cookie-key'] },
    async findAccount(ctx, id) {
      const account = config.accounts[id];
      if (!account) return undefined;
      return { accountId: id, claims: async () => ({ sub: id, ...claimsOf(account) }) };
    },
    // First-party client: no consent screen (the grant covers what was asked).
    async loadExistingGrant(ctx) {
      const grant = new ctx.oidc.provider.Grant({
        clientId: ctx.oidc.client.clientId,
        accountId: ctx.oidc.session.accountId,
      });
      grant.addOIDCScope('openid scope_all');
      await grant.save();
      return grant;
    },
  });

  provider.use(async (ctx, next) => {
    if (ctx.path === '/__test__/mode' && ctx.method === 'POST') {
      const chunks = [];
      for await (const chunk of ctx.req) chunks.push(chunk);
      mode = JSON.parse(Buffer.concat(chunks).toString() || '{}');
      ctx.body = { mode };
      return;
    }
    if (ctx.path === '/jwks' && mode.jwks === 'other') {
      ctx.type = 'application/jwk-set+json';
      ctx.body = { keys: [publicPart(otherKey)] };
      return;
    }
    if (ctx.path === '/auth' && mode.nonce) {
      const params = new URLSearchParams(ctx.querystring);
      if (mode.nonce === 'drop') params.delete('nonce');
      else params.set('nonce', 'not-the-nonce-relais-sent');
      ctx.querystring = params.toString();
    }
    await next();
  });

  server.on('request', provider.callback());
  process.stdout.write(`${JSON.stringify({ issuer })}\n`);
});

function stop() {
  server.close();
  process.exit(0);
}
process.stdin.on('end', stop);
process.stdin.on('close', stop);
process.stdin.resume();
process.on('SIGTERM', stop);
