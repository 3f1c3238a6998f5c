import type { IncomingMessage } from 'node:http';
import { isIPv4, isIPv6 } from 'node:net';
import proxyAddr from 'proxy-addr';

/**
 * Which proxies to believe, with Express's `trust proxy` meanings: `false` (only the socket's
 * peer), `true` (every proxy: only behind a balancer that overwrites X-Forwarded-For), a
 * number of hops, addresses or subnets (`'loopback, 10.0.0.0/8'`, or an array), or a function.
 */
export type TrustProxy =
  | boolean
  | number
  | string
  | string[]
  | ((addr: string, i: number) => boolean);

type TrustFn = (addr: string, i: number) => boolean;

/** Compiles a TrustProxy setting the way Express does. */
export function compileTrust(value: TrustProxy): TrustFn {
  if (typeof value === 'function') return value;
  if (value === true) return () => true;
  if (value === false) return () => false;
  if (typeof value === 'number') return (_addr, i) => i < value;
  const list = typeof value === 'string' ? value.split(',').map((part) => part.trim()) : value;
  return proxyAddr.compile(list);
}

/**
 * The client's address. An Express request already carries it as `req.ip`, computed with the
 * app's `trust proxy` setting; a raw request (a WebSocket upgrade) gets the same rules through
 * proxy-addr. A forged X-Forwarded-For changes nothing unless its sender is trusted.
 */
export function clientIp(req: IncomingMessage & { ip?: string }, trust?: TrustFn): string {
  if (trust === undefined && typeof req.ip === 'string' && req.ip.length > 0) return req.ip;
  return proxyAddr(req, trust ?? (() => false));
}

/**
 * The key a client is counted under: IPv4 as is (also when written as ::ffff:a.b.c.d), IPv6
 * reduced to its first `ipv6Subnet` bits, since one user commonly holds a whole /64.
 */
export function ipKey(ip: string, ipv6Subnet: number | false): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  if (mapped) return mapped[1]!;
  if (isIPv4(ip) || !isIPv6(ip) || ipv6Subnet === false) return ip;
  const groups = expandIPv6(ip);
  let bits = ipv6Subnet;
  const kept = groups.map((group) => {
    const take = Math.max(0, Math.min(16, bits));
    bits -= take;
    return take === 0 ? 0 : group & (0xffff << (16 - take)) & 0xffff;
  });
  return `${kept.map((g) => g.toString(16)).join(':')}/${ipv6Subnet}`;
}

function expandIPv6(ip: string): number[] {
  const withoutZone = ip.split('%')[0]!;
  const [head, tail] = withoutZone.split('::') as [string, string | undefined];
  const parse = (part: string | undefined) =>
    part
      ? part
          .split(':')
          .filter(Boolean)
          .map((h) => Number.parseInt(h, 16))
      : [];
  const front = parse(head);
  const back = parse(tail);
  const zeros = tail === undefined ? 0 : 8 - front.length - back.length;
  return [...front, ...Array(zeros).fill(0), ...back];
}
