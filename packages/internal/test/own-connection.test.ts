import { startTlsRedis, waitFor } from '@bancada/testkit';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { closeOwnConnection, openOwnConnection } from '../src/index.js';

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

describe('openOwnConnection', () => {
  it('connects from a lazy template client, whose settings it takes', async () => {
    const server = await startTlsRedis();
    cleanups.push(() => server.stop());
    const template = new Redis(server.url, { tls: { ca: server.ca }, lazyConnect: true });
    cleanups.push(() => template.disconnect());
    const own = openOwnConnection(template, { name: 'test-own' });
    cleanups.push(() => closeOwnConnection(own));
    await waitFor('the connection to be ready', () => own.status === 'ready');
    expect(await own.ping()).toBe('PONG');
    expect(template.status).toBe('wait'); // the caller's client is only a template
  });

  it('keeps trying a TLS server it does not trust, reporting why each time', async () => {
    const server = await startTlsRedis();
    cleanups.push(() => server.stop());
    // No `ca`: every handshake fails. (That a failed socket's second error is heard too is
    // shown by the cache's TLS test, where it came up reliably.)
    const own = openOwnConnection(server.url, { name: 'test-untrusted', maxRetryDelayMs: 20 });
    cleanups.push(() => closeOwnConnection(own));
    const errors: string[] = [];
    own.on('error', (error: Error) => errors.push(error.message));
    await waitFor('30 failed handshakes', () => errors.length >= 30, 20_000);
    expect(errors[0]).toMatch(/self[- ]signed certificate/);
    expect(own.status).not.toBe('ready');
  });
});
