import type { Member } from './member.js';

/** At most this many connections go into the histogram at one scrape: its cost stays bounded. */
export const BUFFER_SAMPLE_MAX = 10_000;

/** Where the connections' unsent bytes stand, read at a scrape. */
export interface BufferReport {
  /** Unsent bytes of every connection, or of every k-th past BUFFER_SAMPLE_MAX. */
  sample: number[];
  /** Connections with more than half of `maxBufferedBytes` unsent: slow, before the bound closes them. */
  aboveHalf: number;
}

/**
 * Reads each connection's unsent bytes once (a property read each: about a millisecond for
 * 50,000 connections), so an operator sees a slow client before `maxBufferedBytes` closes it.
 */
export function reportBuffers(
  members: ReadonlySet<Member>,
  maxBufferedBytes: number,
): BufferReport {
  const every = Math.max(1, Math.ceil(members.size / BUFFER_SAMPLE_MAX));
  const half = maxBufferedBytes / 2;
  const sample: number[] = [];
  let aboveHalf = 0;
  let i = 0;
  for (const member of members) {
    const bytes = member.bufferedBytes;
    if (bytes > half) aboveHalf++;
    if (i++ % every === 0) sample.push(bytes);
  }
  return { sample, aboveHalf };
}
