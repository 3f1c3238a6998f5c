import { describe, expect, it } from 'vitest';
import type { HttpError } from '../src/http-error.js';
import { PasswordGate } from '../src/password-gate.js';

describe('PasswordGate', () => {
  it('never runs more than its slots at once, queues up to its bound, and refuses the rest at once', async () => {
    const gate = new PasswordGate(2, 3);
    let running = 0;
    let most = 0;
    const releases: Array<() => void> = [];
    const work = () =>
      new Promise<void>((resolve) => {
        running++;
        most = Math.max(most, running);
        releases.push(() => {
          running--;
          resolve();
        });
      });
    const outcomes = Array.from({ length: 8 }, () =>
      gate.run(work).then(
        () => 'done',
        (error: HttpError) => `${error.status} ${error.headers['Retry-After']}`,
      ),
    );
    expect(gate.stats()).toEqual({ running: 2, queued: 3 });
    // The three past the queue are answered before any hash ends.
    const refused = await Promise.race([
      Promise.all(outcomes.slice(5)),
      new Promise((resolve) => setTimeout(resolve, 1000, 'waited')),
    ]);
    expect(refused).toEqual(['503 2', '503 2', '503 2']);
    while (releases.length > 0 || gate.stats().running > 0) {
      releases.shift()?.();
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect(await Promise.all(outcomes.slice(0, 5))).toEqual(Array(5).fill('done'));
    expect(most).toBe(2);
    expect(gate.refused).toBe(3);
    expect(gate.stats()).toEqual({ running: 0, queued: 0 });
  });

  it('frees its slot when the work fails', async () => {
    const gate = new PasswordGate(1, 0);
    await expect(gate.run(() => Promise.reject(new Error('scrypt failed')))).rejects.toThrow();
    await expect(gate.run(async () => 'ok')).resolves.toBe('ok');
  });
});
