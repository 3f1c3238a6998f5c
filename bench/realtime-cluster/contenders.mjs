// The hubs bench/realtime-cluster/run.mjs sets side by side, each the same five things: start a
// server process on a Redis target, open one subscriber of a room, open the publisher, tell
// whether every room is subscribed on every server (nothing is published before), and name a
// room's Redis channel (to count how the rooms spread over the masters).
//
// A target is { kind: 'single', url } (one Redis) or { kind: 'cluster', seeds, ownerOf }
// (seeds `h:p,h:p,h:p`; ownerOf(channel) the port of its master), with `masters`: the
// redis-servers of the target, each { port, client }.
import { fork } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { WebSocket } from 'ws';
import { freePort } from './redis-servers.mjs';

const here = dirname(fileURLToPath(import.meta.url));

/** Forks a server script and waits for its {ready} message. */
async function forkServer(script, args, { cwd, what }) {
  const child = fork(script, args, { cwd, stdio: 'ignore' });
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what} not ready within 20 s`)), 20_000);
    child.once('message', (m) => {
      clearTimeout(timer);
      m?.ready ? resolve() : reject(new Error(`${what} not ready`));
    });
    child.once('exit', (code) => reject(new Error(`${what} exited (${code})`)));
  });
  return child;
}

function statsOf(child) {
  return new Promise((resolve) => {
    child.once('message', (m) => resolve(m.stats));
    child.send({ cmd: 'stats' });
  });
}

function openWs(url) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false });
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

/** Our hub: bench/realtime/hub-server.mjs, clients and publisher over plain WebSocket. */
export const ours = {
  name: 'ours',
  async start(target, id) {
    const port = await freePort();
    const redis = target.kind === 'cluster' ? `redis-cluster://${target.seeds}` : target.url;
    const child = await forkServer(
      join(here, '..', 'realtime', 'hub-server.mjs'),
      ['--port', String(port), '--redis', redis, '--id', id],
      { what: `hub ${id}` },
    );
    return { port, child };
  },
  async client(port, room, onEvent) {
    const ws = await openWs(`ws://127.0.0.1:${port}/ws`);
    ws.on('message', (data) => {
      if (data.toString().includes('"type":"event"')) onEvent();
    });
    ws.send(JSON.stringify({ type: 'subscribe', room }));
    return () => ws.terminate();
  },
  async publisher(port) {
    const ws = await openWs(`ws://127.0.0.1:${port}/pub`);
    return {
      send: (room, data) => ws.send(JSON.stringify({ type: 'publish', room, data })),
      close: () => ws.terminate(),
    };
  },
  async subscribed(_target, hubs, rooms) {
    const stats = await Promise.all(hubs.map((h) => statsOf(h.child)));
    return stats.every((s) => s.hub.rooms === rooms);
  },
  channelOf: (room) => `ws:room:{${room}}`,
};

/**
 * socket.io from the peers' folder: on one Redis the peers' own servers/sio-hub.mjs (the
 * ordinary adapter, `createAdapter`); on a cluster ./sio-sharded-hub.mjs (`createShardedAdapter`).
 * Clients as the peers' adapters/socketio.mjs opens them (websocket transport, one connection
 * each).
 */
export function socketIo(peersDir) {
  const { io } = createRequire(join(peersDir, 'package.json'))('socket.io-client');
  const connect = async (port) => {
    const socket = io(`http://127.0.0.1:${port}`, {
      transports: ['websocket'],
      forceNew: true,
      reconnection: false,
      timeout: 20_000,
    });
    await new Promise((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('connect_error', reject);
    });
    return socket;
  };
  const channelOf = (room) => `socket.io#/#${room}#`;
  return {
    name: 'socket.io',
    async start(target, id) {
      const port = await freePort();
      const child =
        target.kind === 'cluster'
          ? await forkServer(
              join(here, 'sio-sharded-hub.mjs'),
              ['--port', String(port), '--cluster', target.seeds, '--peers', peersDir],
              { what: `socket.io sharded ${id}` },
            )
          : await forkServer(
              join(peersDir, 'servers', 'sio-hub.mjs'),
              ['--port', String(port), '--redis', target.url],
              { cwd: peersDir, what: `socket.io ${id}` },
            );
      return { port, child };
    },
    async client(port, room, onEvent) {
      const socket = await connect(port);
      socket.on('msg', onEvent);
      await socket.timeout(20_000).emitWithAck('join', room);
      return () => socket.disconnect();
    },
    async publisher(port) {
      const socket = await connect(port);
      return {
        send: (room, data) => socket.emit('publish', room, data),
        close: () => socket.disconnect(),
      };
    },
    // The sharded adapter SSUBSCRIBEs a room's channel when the room is made, without waiting:
    // every room's channel must count both servers on its master. The ordinary adapter
    // PSUBSCRIBEs one pattern per server at start.
    async subscribed(target, hubs, rooms) {
      if (target.kind === 'single') {
        const list = await target.masters[0].client.call('CLIENT', 'LIST');
        return (list.match(/ psub=[1-9]/g) ?? []).length >= hubs.length;
      }
      const byMaster = new Map(target.masters.map((m) => [m.port, []]));
      for (let r = 0; r < rooms; r++) {
        const channel = channelOf(`room-${r}`);
        byMaster.get(target.ownerOf(channel)).push(channel);
      }
      for (const master of target.masters) {
        const channels = byMaster.get(master.port);
        if (channels.length === 0) continue;
        const counts = await master.client.call('PUBSUB', 'SHARDNUMSUB', ...channels);
        for (let i = 1; i < counts.length; i += 2) if (counts[i] < hubs.length) return false;
      }
      return true;
    },
    channelOf,
  };
}
