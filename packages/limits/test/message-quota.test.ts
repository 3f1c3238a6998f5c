import { describe, expect, it } from 'vitest';
import { messageQuota } from '../src/index.js';

describe('messageQuota', () => {
  it('allows a burst up to its points, then refills evenly over perMs', () => {
    let now = 0;
    const budget = messageQuota({ points: 5, perMs: 1000, now: () => now }).forConnection();
    for (let i = 0; i < 5; i++) expect(budget.take()).toBe('ok');
    expect(budget.take()).toBe('over');
    now = 200; // one point back
    expect(budget.take()).toBe('ok');
    expect(budget.take()).toBe('over');
    now = 10_000; // never more than the bucket holds
    for (let i = 0; i < 5; i++) expect(budget.take()).toBe('ok');
    expect(budget.take()).toBe('over');
  });

  it('says close once a client keeps going past its strikes', () => {
    const budget = messageQuota({
      points: 1,
      perMs: 60_000,
      strikes: 3,
      now: () => 0,
    }).forConnection();
    expect(budget.take()).toBe('ok');
    expect([budget.take(), budget.take(), budget.take()]).toEqual(['over', 'over', 'over']);
    expect(budget.take()).toBe('close');
  });

  it('keeps connections apart', () => {
    const quota = messageQuota({ points: 1, perMs: 60_000, now: () => 0 });
    const a = quota.forConnection();
    const b = quota.forConnection();
    expect(a.take()).toBe('ok');
    expect(b.take()).toBe('ok');
    expect(a.take()).toBe('over');
  });

  it('rejects options that cannot work', () => {
    expect(() => messageQuota({ points: 0, perMs: 1000 })).toThrow(/points/);
    expect(() => messageQuota({ points: 1, perMs: -1 })).toThrow(/perMs/);
    expect(() => messageQuota({ points: 1, perMs: 1, strikes: 1.5 })).toThrow(/strikes/);
  });
});
