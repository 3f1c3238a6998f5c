import { describe, expect, it } from 'vitest';
import {
  decodeEnvelope,
  encodeEnvelope,
  formatTraceparent,
  parseTraceparent,
} from '../src/wire/index.js';

const valid = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

describe('traceparent', () => {
  it('reads a W3C traceparent, and writes it back the same', () => {
    const context = parseTraceparent(valid);
    expect(context).toEqual({
      traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
      spanId: '00f067aa0ba902b7',
      traceFlags: 1,
    });
    expect(formatTraceparent(context!)).toBe(valid);
    // A later version may add fields after the flags; its first four are read as version 00's.
    expect(parseTraceparent(`01-${valid.slice(3)}-extra`)?.spanId).toBe('00f067aa0ba902b7');
  });

  it('refuses what the specification refuses, without throwing', () => {
    for (const bad of [
      undefined,
      42,
      '',
      'garbage',
      `${valid}-extra`, // version 00 has nothing after the flags
      valid.replace('00-', 'ff-'),
      valid.toUpperCase(),
      `00-${'0'.repeat(32)}-00f067aa0ba902b7-01`,
      `00-4bf92f3577b34da6a3ce929d0e0e4736-${'0'.repeat(16)}-01`,
      `00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01`,
      `${valid}${'x'.repeat(300)}`,
    ]) {
      expect(parseTraceparent(bad), String(bad)).toBeUndefined();
    }
  });

  it('travels in the envelope: kept when valid, dropped when malformed, absent when none', () => {
    const base = { eventType: 'x', id: '1', traceId: '1', payload: null, ts: 1, room: 'r' };
    expect(decodeEnvelope(encodeEnvelope({ ...base, traceparent: valid }), 'r')).toMatchObject({
      traceparent: valid,
    });
    const malformed = decodeEnvelope(JSON.stringify({ ...base, traceparent: 'nope' }), 'r');
    expect(malformed).toMatchObject({ eventType: 'x', traceparent: undefined });
    expect(encodeEnvelope(base)).not.toContain('traceparent');
  });
});
