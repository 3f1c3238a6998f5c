import type { RealtimeClientError } from './errors.js';
import type { ClientEventMap, ClientLogger } from './types.js';

type Listener<K extends keyof ClientEventMap> = (value: ClientEventMap[K]) => void;

/** The functions `client.on()` registered, per event name, and how each one is called. */
export class Listeners {
  private readonly byName: { [K in keyof ClientEventMap]: Set<Listener<K>> } = {
    event: new Set(),
    gap: new Set(),
    state: new Set(),
    error: new Set(),
    joined: new Set(),
  };

  constructor(private readonly logger: Partial<ClientLogger>) {}

  /** Adds `listener`; returns the function that removes it. */
  on<K extends keyof ClientEventMap>(name: K, listener: Listener<K>): () => void {
    // Callers in plain JavaScript can pass any name: refuse one that would never be called.
    const set = this.byName[name] as Set<Listener<K>> | undefined;
    if (set === undefined) throw new TypeError(`no such event: ${String(name)}`);
    set.add(listener);
    return () => void set.delete(listener);
  }

  /** Calls every listener of `name`; an error nobody listens to goes to the logger instead. */
  emit<K extends keyof ClientEventMap>(name: K, value: ClientEventMap[K]): void {
    const listeners = this.byName[name] as Set<Listener<K>>;
    if (name === 'error' && listeners.size === 0) {
      this.logger.warn?.(`realtime client: ${(value as RealtimeClientError).message}`);
    }
    // A copy: a listener may add or remove listeners while they are being called.
    for (const listener of [...listeners]) {
      try {
        listener(value);
      } catch (error) {
        // As EventTarget does: the error surfaces (window.onerror, uncaughtException), and
        // the other listeners and the client go on.
        queueMicrotask(() => {
          throw error;
        });
      }
    }
  }
}
