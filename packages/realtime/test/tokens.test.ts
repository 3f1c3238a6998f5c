import { createSecretKey, generateKeyPairSync } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import {
  type Authenticate,
  RealtimeArgumentError,
  RealtimeOptionError,
  signToken,
  tokenAuthenticator,
} from '../src/index.js';
import {
  afterThisTest,
  connectClient,
  openSse,
  startHub,
  upgradeRefusal,
  waitFor,
} from './helpers/hubs.js';

const secret = 'a test secret of at least 32 characters';
const kitchen = { id: 'kitchen-1', name: 'kitchen', restaurantId: 'a' };

/** A token as another signer (or an attacker) would make it, claim by claim. */
async function handMade(
  claims: Record<string, unknown>,
  { key = secret, alg = 'HS256' }: { key?: string; alg?: string } = {},
): Promise<string> {
  return new SignJWT(claims)
    .setProtectedHeader({ alg, typ: 'JWT' })
    .sign(new TextEncoder().encode(key));
}

const base64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
const now = () => Math.floor(Date.now() / 1000);

/** A WebSocket that offers `protocols`; resolves once open. */
async function openWithProtocols(url: string, protocols: string[]): Promise<WebSocket> {
  const ws = new WebSocket(url, protocols);
  afterThisTest(() => ws.terminate());
  await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
  return ws;
}

describe('tokenAuthenticator', () => {
  it('admits a WebSocket and an SSE stream with a valid ?token=, as the principal it carries', async () => {
    const { wsUrl, httpUrl, hub } = await startHub({
      redis: false,
      authenticate: tokenAuthenticator({ secret }),
    });
    const token = await signToken(kitchen, { secret, expiresIn: '5m' });

    const client = await connectClient(`${wsUrl}?token=${token}`);
    client.send({ type: 'auth', restaurantId: 'b' }); // another restaurant
    client.send({ type: 'auth', restaurantId: 'a' });
    await waitFor('both answers', () => client.messages.length === 2);
    expect(client.messages).toEqual([
      expect.objectContaining({ type: 'error', code: 'forbidden', room: 'restaurant:b' }),
      { type: 'joined', room: 'restaurant:a' },
    ]);

    const sse = await openSse(`${httpUrl}/events?restaurantId=a&token=${token}`);
    expect(sse.status).toBe(200);
    await hub.toRestaurant('a', { eventType: 'order-created', payload: 7 });
    await client.next((m) => m.type === 'event' && m.payload === 7, 'the event over WebSocket');
    await waitFor('the event over SSE', () =>
      sse.events().some((e) => e.event === 'order-created'),
    );
    // What the client cannot claim: SSE to another restaurant with the same token.
    expect((await openSse(`${httpUrl}/events?restaurantId=b&token=${token}`)).status).toBe(403);
  });

  it('refuses bad tokens with 401 before the upgrade, over WebSocket and SSE', async () => {
    const { wsUrl, httpUrl, hub } = await startHub({
      redis: false,
      authenticate: tokenAuthenticator({ secret }),
    });
    const good = await signToken(kitchen, { secret });
    const [header, , signature] = good.split('.');
    const claims = { ...kitchen, aud: 'bancada-realtime', exp: now() + 300 };
    const bad: Record<string, string> = {
      'signed with another secret': await signToken(kitchen, {
        secret: 'another secret, also 32 characters or more',
      }),
      expired: await handMade({ ...claims, iat: now() - 120, exp: now() - 60 }),
      'with a tampered payload (another restaurant)': `${header}.${base64url({ ...claims, restaurantId: 'b' })}.${signature}`,
      'unsigned (alg: none)': `${base64url({ alg: 'none', typ: 'JWT' })}.${base64url(claims)}.`,
      'of another algorithm (HS512)': await handMade(claims, { alg: 'HS512' }),
      'for another audience (same secret)': await handMade({ ...claims, aud: 'password-reset' }),
      'without an expiry': await handMade({ ...kitchen, aud: 'bancada-realtime' }),
      garbage: 'not-a-token',
      empty: '',
    };
    for (const [what, token] of Object.entries(bad)) {
      const query = `token=${encodeURIComponent(token)}`;
      const refusal = await upgradeRefusal(`${wsUrl}?${query}`);
      expect({ what, status: refusal.status, body: JSON.parse(refusal.body) }).toEqual({
        what,
        status: 401,
        body: expect.objectContaining({ error: 'unauthenticated' }),
      });
      const sse = await openSse(`${httpUrl}/events?restaurantId=a&${query}`);
      expect({ what, status: sse.status }).toEqual({ what, status: 401 });
    }
    expect((await upgradeRefusal(wsUrl)).status).toBe(401); // no token at all
    expect(hub.stats().connections).toEqual({ websocket: 0, sse: 0 });
  });

  it('reads the token from Authorization: Bearer and from a WebSocket subprotocol, as told', async () => {
    const { wsUrl, httpUrl } = await startHub({
      redis: false,
      authenticate: tokenAuthenticator({ secret, from: ['protocol', 'authorization'] }),
    });
    const token = await signToken(kitchen, { secret });

    // A browser's way: a subprotocol. The hub answers with the plain one offered first.
    const ws = await openWithProtocols(wsUrl, ['bancada', `bancada.token.${token}`]);
    expect(ws.protocol).toBe('bancada');
    const bearer = { authorization: `Bearer ${token}` };
    expect((await openSse(`${httpUrl}/events?restaurantId=a`, undefined, bearer)).status).toBe(200);
    const byHeader = new WebSocket(wsUrl, { headers: bearer });
    afterThisTest(() => byHeader.terminate());
    await new Promise((resolve, reject) => byHeader.once('open', resolve).once('error', reject));

    // Not where it was told to look: the query string is not read.
    expect((await upgradeRefusal(`${wsUrl}?token=${token}`)).status).toBe(401);
    // Found in the first place and bad: refused, the next place is not tried.
    const refusal = await upgradeRefusal(wsUrl, {
      'sec-websocket-protocol': 'bancada, bancada.token.garbage',
      ...bearer,
    });
    expect(refusal.status).toBe(401);
  });

  it('checks tokens of a key pair with the public key (EdDSA), and refuses an algorithm switch', async () => {
    const { publicKey, privateKey } = generateKeyPairSync('ed25519');
    const { wsUrl } = await startHub({
      redis: false,
      authenticate: tokenAuthenticator({ secret: publicKey, algorithm: 'EdDSA' }),
    });
    const token = await signToken(kitchen, { secret: privateKey, algorithm: 'EdDSA' });
    const client = await connectClient(`${wsUrl}?token=${token}`);
    client.send({ type: 'auth', restaurantId: 'a' });
    await client.next((m) => m.type === 'joined', 'joined restaurant:a');
    // The classic attack: HS256 "signed" with the public key, which anyone has.
    const pem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
    const switched = await handMade(
      { ...kitchen, aud: 'bancada-realtime', exp: now() + 60 },
      { key: pem },
    );
    expect((await upgradeRefusal(`${wsUrl}?token=${switched}`)).status).toBe(401);
  });

  it('keeps a connection open after its token expires, and refuses a reconnect with it', async () => {
    const tokens = tokenAuthenticator({ secret });
    const token = await signToken(kitchen, { secret, expiresIn: 1 });
    const expiry = (
      JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as {
        exp: number;
      }
    ).exp;
    let checksAfterExpiry = 0;
    const counting: Authenticate = async (req: IncomingMessage) => {
      const principal = await tokens(req);
      if (Date.now() / 1000 > expiry + 0.5) checksAfterExpiry++;
      return principal;
    };
    const { wsUrl, hub } = await startHub({
      redis: false,
      authenticate: counting,
      reauthenticateMs: 1000,
    });
    const client = await connectClient(`${wsUrl}?token=${token}`);
    client.send({ type: 'auth', restaurantId: 'a' });
    await client.next((m) => m.type === 'joined', 'joined');

    await waitFor(
      'a check of the connection after the token expired',
      () => checksAfterExpiry > 0,
      10_000,
    );
    expect(client.ws.readyState).toBe(WebSocket.OPEN);
    await hub.toRestaurant('a', { eventType: 'order-created', payload: 'still here' });
    await client.next((m) => m.payload === 'still here', 'an event after the token expired');
    expect(hub.stats().sessionEndCloses).toBe(0);
    expect((await upgradeRefusal(`${wsUrl}?token=${token}`)).status).toBe(401);
  });
});

describe('signToken and tokenAuthenticator, given what cannot work', () => {
  it('refuse a short or missing secret, a wrong key, an unknown source or algorithm', () => {
    const { publicKey, privateKey } = generateKeyPairSync('ed25519');
    const cases: Array<[() => unknown, RegExp]> = [
      [() => tokenAuthenticator({ secret: 'short' }), /at least 32 bytes/],
      [
        () => tokenAuthenticator({ secret: createSecretKey(Buffer.alloc(16)) }),
        /at least 32 bytes, got 16/,
      ],
      [() => tokenAuthenticator(undefined as never), /needs an options object/],
      [() => tokenAuthenticator({} as never), /secret must be a string .* got undefined/],
      [
        () => tokenAuthenticator({ secret: privateKey, algorithm: 'EdDSA' }),
        /check with the public key/,
      ],
      [() => tokenAuthenticator({ secret: publicKey }), /a key pair needs `algorithm`/],
      [() => tokenAuthenticator({ secret, algorithm: 'none' }), /algorithm must be one of HS256/],
      [() => tokenAuthenticator({ secret, algorithm: 'EdDSA' }), /algorithm must be one of HS256/],
      [() => tokenAuthenticator({ secret, from: 'cookie' as never }), /from must be 'query'/],
      [() => tokenAuthenticator({ secret, from: [] }), /at least one source/],
      [() => tokenAuthenticator({ secret, audience: '' }), /audience/],
      [
        () => signToken(kitchen, { secret: publicKey, algorithm: 'EdDSA' }),
        /sign with the private key/,
      ],
      [() => signToken(kitchen, { secret, expiresIn: '15 minutes' }), /expiresIn must be/],
      [() => signToken(kitchen, { secret, expiresIn: 0 }), /expiresIn must be/],
      [() => signToken(kitchen, { secret, expiresIn: 1.5 }), /expiresIn must be/],
    ];
    for (const [make, message] of cases) {
      expect(make).toThrow(RealtimeOptionError);
      expect(make).toThrow(message);
    }
    try {
      tokenAuthenticator({ secret: 'short' });
    } catch (error) {
      expect(error).toBeInstanceOf(TypeError);
      expect((error as RealtimeOptionError).code).toBe('BANCADA_REALTIME_INVALID_OPTION');
    }
  });

  it('refuse a principal that is not a JSON object, or that sets the token claims', () => {
    const cases: Array<[unknown, RegExp]> = [
      [null, /must be an object .* got null/],
      ['alice', /must be an object/],
      [[kitchen], /must be an object/],
      [{ ...kitchen, exp: 1 }, /may not have exp/],
      [{ ...kitchen, aud: 'x', iat: 1 }, /may not have iat, aud/],
      [{ id: 1n }, /must be JSON/],
    ];
    for (const [principal, message] of cases) {
      const sign = () => signToken(principal as object, { secret });
      expect(sign).toThrow(RealtimeArgumentError);
      expect(sign).toThrow(message);
    }
  });

  it('gives back the principal as signed, field for field', async () => {
    const principal = { id: 7, name: 'ana', restaurantIds: ['a', 'b'], role: 'manager' };
    const token = await signToken(principal, { secret, audience: 'screens' });
    const read = tokenAuthenticator({ secret, audience: 'screens', from: 'authorization' });
    const req = { url: '/ws', headers: { authorization: `bearer ${token}` } } as IncomingMessage;
    expect(await read(req)).toEqual(principal);
    // The same secret as a KeyObject is the same secret.
    const asKey = createSecretKey(Buffer.from(secret));
    expect(
      await tokenAuthenticator({ secret: asKey, audience: 'screens', from: 'authorization' })(req),
    ).toEqual(principal);
    // Another audience is another kind of token.
    expect(await tokenAuthenticator({ secret, from: 'authorization' })(req)).toBeNull();
  });
});
