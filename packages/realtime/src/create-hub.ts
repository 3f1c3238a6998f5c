import { describeTopology, topologyOf } from '@bancada/internal';
import { Hub } from './hub.js';
import { type HubOptions, resolveOptions } from './options.js';

/**
 * Creates the hub. With `redis` (or `REDIS_URL`) events reach the clients of every
 * instance; without, this instance's only. Logs the mode once: `realtime: redis`,
 * `realtime: redis cluster` (then `redis cluster, 3 masters` once connected),
 * `realtime: redis sentinel mymaster`.
 *
 * @example
 * const hub = createHub({ authenticate: sessionAuthenticator(session) });
 * hub.attach(server, { path: '/ws' });
 * app.get('/events', hub.sse());
 * hub.toRestaurant(order.restaurantId, { eventType: 'order-created', payload: order });
 */
export function createHub(options: HubOptions): Hub {
  const o = resolveOptions(options);
  if (o.authenticate === false) {
    o.logger.warn(
      'realtime: authenticate is false: anyone who can reach the server may connect and join ' +
        'the rooms that authorize allows',
    );
  }
  if (o.history !== undefined && o.redis === undefined) {
    o.logger.warn(
      'realtime: history needs Redis; without it a client that resumes is told of a gap',
    );
  }
  if (o.redis !== undefined && o.prefix.includes('{') && topologyOf(o.redis).kind === 'cluster') {
    o.logger.warn(
      `realtime: prefix "${o.prefix}" holds a hash tag ({…}): on a Redis Cluster every room's channel and history then land on one master`,
    );
  }
  const hub = new Hub(o);
  o.logger.info(
    o.redis === undefined
      ? 'realtime: local (single instance only)'
      : `realtime: ${describeTopology(topologyOf(o.redis))} (distributed, fan-out ${o.fanout})`,
  );
  return hub;
}
