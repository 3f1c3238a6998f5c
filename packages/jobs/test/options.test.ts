import { describe, expect, it } from 'vitest';
import { type EveryOnceOptions, everyOnce, JobsOptionError } from '../src/index.js';
import { resolveJobOptions } from '../src/options.js';

const noop = () => {};

function refusal(make: () => unknown): JobsOptionError {
  try {
    make();
  } catch (error) {
    expect(error).toBeInstanceOf(JobsOptionError);
    expect(error).toBeInstanceOf(TypeError);
    expect((error as JobsOptionError).code).toBe('BANCADA_JOBS_INVALID_OPTION');
    return error as JobsOptionError;
  }
  throw new Error('expected everyOnce() to throw');
}

const withOptions = (options: unknown) => () =>
  everyOnce('sweep', 60_000, noop, { logger: false, ...(options as EveryOnceOptions) });

describe('everyOnce options', () => {
  it.each([
    ['an empty name', () => everyOnce('', 60_000, noop), /name must be 1 to 100 letters.*got ""/],
    ['a name with a space', () => everyOnce('close tabs', 60_000, noop), /got "close tabs"/],
    ['a name with a brace', () => everyOnce('a{b}', 60_000, noop), /got "a\{b\}"/],
    ['a name over 100 characters', () => everyOnce('x'.repeat(101), 60_000, noop), /1 to 100/],
    ['a name that is not a string', () => everyOnce(7 as unknown as string, 60_000, noop), /got 7/],
    [
      'a period under a second',
      () => everyOnce('sweep', 999, noop),
      /everyMs must be a whole number of milliseconds from 1000 to 2147483647.*got 999/,
    ],
    ['a fractional period', () => everyOnce('sweep', 1500.5, noop), /got 1500.5/],
    ['a period a timer cannot wait', () => everyOnce('sweep', 2 ** 31, noop), /got 2147483648/],
    [
      'a period given in seconds as a string',
      () => everyOnce('sweep', '60' as unknown as number, noop),
      /got "60"/,
    ],
    [
      'a job that is not a function',
      () => everyOnce('sweep', 60_000, 'run' as never),
      /the job must be a function \(signal\) => \.\.\., got "run"/,
    ],
    [
      'options that are not an object',
      () => everyOnce('sweep', 60_000, noop, 5 as never),
      /options must be an object, got 5/,
    ],
    [
      'a lease longer than the period',
      withOptions({ leaseMs: 60_001 }),
      /leaseMs must be a whole number from 300 to everyMs \(60000\), got 60001/,
    ],
    ['a lease under 300 ms', withOptions({ leaseMs: 299 }), /got 299/],
    [
      'a Redis URL of another scheme',
      withOptions({ redis: 'http://cache:6379' }),
      /redis URL must start with redis:\/\//,
    ],
    ['a Redis given as a number', withOptions({ redis: 6379 }), /redis must be a redis:\/\/ URL/],
    ['a prefix that is not a string', withOptions({ prefix: 1 }), /prefix must be a string/],
    [
      'an empty instanceId',
      withOptions({ instanceId: '' }),
      /instanceId must be a non-empty string/,
    ],
    [
      'a registry that is not one',
      withOptions({ registry: {} }),
      /registry must be a prom-client Registry/,
    ],
    [
      'a logger without warn',
      withOptions({ logger: { info() {}, error() {} } }),
      /logger must have info, warn and error/,
    ],
  ])('refuses %s with a JobsOptionError that says what is wrong', (_, make, message) => {
    expect(refusal(make).message).toMatch(message);
  });

  it('defaults the lease to 10 s, or to the period when that is shorter', () => {
    const leaseOf = (everyMs: number) =>
      resolveJobOptions('sweep', everyMs, noop, { logger: false }, {}).leaseMs;
    expect(leaseOf(60_000)).toBe(10_000);
    expect(leaseOf(2000)).toBe(2000);
  });
});
