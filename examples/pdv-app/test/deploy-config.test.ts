import { readFileSync } from 'node:fs';
import { recordingLogger } from '@bancada/testkit';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { createPdvApp } from '../src/app.js';
import { ConfigError, ENV_SCHEMA, loadConfig } from '../src/config.js';
import { DEMO_PASSWORD, DEMO_RESTAURANTS } from '../src/seed.js';

type Env = Record<string, string>;

interface RenderEnvVar {
  key: string;
  value?: string | number | boolean;
  fromDatabase?: { name: string; property: string };
  fromService?: { type: string; name: string; property: string };
  generateValue?: boolean;
}

interface RenderService {
  type: string;
  name: string;
  numInstances?: number;
  healthCheckPath?: string;
  envVars?: RenderEnvVar[];
}

interface Blueprint {
  services: RenderService[];
  databases?: Array<{ name: string }>;
}

interface ComposeService {
  build?: unknown;
  environment?: Record<string, string | number>;
}

interface ComposeFile {
  services: Record<string, ComposeService>;
}

const readYaml = <T>(file: string): T =>
  // merge: docker-compose.yml shares the app services' settings through `<<: *app`.
  parse(readFileSync(new URL(`../${file}`, import.meta.url), 'utf8'), { merge: true }) as T;

/** Set by the deploy files but read by something other than ENV_SCHEMA. */
const NOT_IN_SCHEMA = new Set([
  'NODE_VERSION', // Render's build picks the Node version from it
]);

// Stand-ins shaped like what Render fills in: internal URLs, and for generateValue "a
// base64-encoded 256-bit value".
const RENDER_PLACEHOLDERS = {
  database: 'postgresql://pdv:secret@dpg-internal-a/pdv',
  keyvalue: 'redis://red-internal:6379',
  generated: Buffer.alloc(32, 7).toString('base64'),
};

/** What Render sets a variable to; placeholders where Render fills the value in. */
function renderValue(v: RenderEnvVar): string {
  if (v.value !== undefined) return String(v.value);
  if (v.generateValue) return RENDER_PLACEHOLDERS.generated;
  if (v.fromDatabase?.property === 'connectionString') return RENDER_PLACEHOLDERS.database;
  const from = v.fromService;
  if (from?.type === 'keyvalue' && from.property === 'connectionString') {
    return RENDER_PLACEHOLDERS.keyvalue;
  }
  throw new Error(`${v.key}: a source this test has no stand-in for`);
}

/** A Render service's environment, as the app would see it at start. */
const renderEnv = (service: RenderService): Env =>
  Object.fromEntries((service.envVars ?? []).map((v) => [v.key, renderValue(v)]));

/** `${NAME}`, `${NAME:-default}` and `${NAME:?error}`, the way docker compose resolves them. */
function interpolate(text: string, shell: Env): string {
  return text.replace(/\$\{(\w+)(?::([-?])([^}]*))?\}/g, (_, name: string, op, arg: string) => {
    const value = shell[name];
    if (value) return value;
    if (op === '-') return arg;
    throw new Error(`${name} is not set${op === '?' ? `: ${arg}` : ''}`);
  });
}

/** A compose service's environment, with the shell variables the user passes in. */
function composeEnv(service: ComposeService, shell: Env): Env {
  return Object.fromEntries(
    Object.entries(service.environment ?? {}).map(([k, v]) => [k, interpolate(String(v), shell)]),
  );
}

/** Variables production requires that `env` leaves unset. */
const missingRequired = (env: Env): string[] =>
  ENV_SCHEMA.filter((f) => f.requiredInProduction && !env[f.name]).map((f) => f.name);

/** Variables the app does not read: most likely a typo. */
const unknownNames = (env: Env): string[] => {
  const known = new Set<string>(ENV_SCHEMA.map((f) => f.name));
  return Object.keys(env).filter((name) => !known.has(name) && !NOT_IN_SCHEMA.has(name));
};

/** fromDatabase and fromService references to a resource the blueprint does not define. */
function danglingReferences(blueprint: Blueprint): string[] {
  const databases = new Set((blueprint.databases ?? []).map((d) => d.name));
  const services = new Set(blueprint.services.map((s) => `${s.type}/${s.name}`));
  return blueprint.services.flatMap((s) =>
    (s.envVars ?? []).flatMap((v) => {
      if (v.fromDatabase && !databases.has(v.fromDatabase.name)) return [v.key];
      if (v.fromService && !services.has(`${v.fromService.type}/${v.fromService.name}`)) {
        return [v.key];
      }
      return [];
    }),
  );
}

/**
 * Starts the app on a deploy file's environment (Redis and Postgres swapped for embedded
 * ones: those hosts exist only there), logs in as its proxy would forward a browser's request,
 * and returns the session's Set-Cookie line (what the browser would keep) and what the app logged.
 */
async function loginBehindProxy(
  env: Env,
  protocol: 'http' | 'https',
): Promise<{ cookie: string | null; logs: string[] }> {
  const config = { ...loadConfig(env), redisUrl: undefined, databaseUrl: undefined };
  const logger = recordingLogger();
  const pdv = await createPdvApp({ config, logger, dataDir: 'memory://' });
  try {
    const url = (await pdv.listen(0, '127.0.0.1')).replace('localhost', '127.0.0.1');
    const response = await fetch(`${url}/api/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-forwarded-proto': protocol },
      body: JSON.stringify({ email: DEMO_RESTAURANTS[0]!.user.email, password: DEMO_PASSWORD }),
    });
    expect(response.status).toBe(200);
    const session = response.headers.getSetCookie().find((c) => c.startsWith('sid='));
    return { cookie: session ?? null, logs: logger.lines };
  } finally {
    await pdv.close();
  }
}

const configProblems = (env: Env): string[] => {
  try {
    loadConfig(env);
    return [];
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
};

describe('render.yaml', () => {
  const blueprint = readYaml<Blueprint>('render.yaml');
  const webServices = blueprint.services.filter((s) => s.type === 'web');

  it('has a web service', () => {
    expect(webServices.map((s) => s.name)).toEqual(['bancada-pdv']);
  });

  describe.each(webServices.map((s) => [s.name, s] as const))('web service %s', (_, web) => {
    const env = renderEnv(web);

    it('runs more than one instance, health-checked on /health', () => {
      expect(web.numInstances).toBeGreaterThan(1);
      expect(web.healthCheckPath).toBe('/health');
    });

    it('provides every variable production requires', () => {
      expect(missingRequired(env)).toEqual([]);
    });

    it('sets only variables the app reads', () => {
      expect(unknownNames(env)).toEqual([]);
    });

    it('starts: loadConfig accepts its environment in production', () => {
      expect(env.NODE_ENV).toBe('production');
      expect(configProblems(env)).toEqual([]);
      expect(loadConfig(env)).toMatchObject({ production: true, trustProxy: 1 });
    });
  });

  it("sets a Secure session cookie behind Render's HTTPS", async () => {
    const { cookie } = await loginBehindProxy(renderEnv(webServices[0]!), 'https');
    expect(cookie).toMatch(/^sid=.*; Secure/);
  }, 30_000);

  it('refers only to databases and services it defines', () => {
    expect(danglingReferences(blueprint)).toEqual([]);
  });
});

describe('docker-compose.yml', () => {
  const compose = readYaml<ComposeFile>('docker-compose.yml');
  // The services built from the app's Dockerfile; redis, postgres and nginx are images.
  const apps = Object.entries(compose.services).filter(([, s]) => s.build !== undefined);
  const shell = { SESSION_SECRET: 'f'.repeat(64) };

  it('runs the app as more than one instance, each with its own INSTANCE_ID', () => {
    expect(apps.length).toBeGreaterThan(1);
    const ids = apps.map(([, s]) => composeEnv(s, shell).INSTANCE_ID);
    expect(new Set(ids).size).toBe(apps.length);
  });

  describe.each(apps)('app service %s', (_, app) => {
    const env = composeEnv(app, shell);

    it('provides every variable production requires', () => {
      expect(missingRequired(env)).toEqual([]);
    });

    it('sets only variables the app reads', () => {
      expect(unknownNames(env)).toEqual([]);
    });

    it('starts: loadConfig accepts its environment in production', () => {
      expect(env.NODE_ENV).toBe('production');
      expect(configProblems(env)).toEqual([]);
      expect(loadConfig(env)).toMatchObject({ production: true, trustProxy: 1 });
    });

    it('reaches Redis and Postgres through services the file defines', () => {
      for (const url of [env.REDIS_URL, env.DATABASE_URL]) {
        expect(Object.keys(compose.services)).toContain(new URL(url!).hostname);
      }
    });

    it('will not start without SESSION_SECRET, rather than make one up', () => {
      expect(() => composeEnv(app, {})).toThrow(/SESSION_SECRET is not set/);
    });
  });

  // Its nginx serves plain http://localhost:8080: a Secure cookie would never be set there.
  it('keeps a login over the plain HTTP its nginx serves', async () => {
    const { cookie, logs } = await loginBehindProxy(composeEnv(apps[0]![1], shell), 'http');
    expect(cookie).toMatch(/^sid=/);
    expect(cookie).not.toMatch(/Secure/);
    // and says at start that this is not for the internet as it is
    expect(logs).toContainEqual(
      expect.stringMatching(/^warn session: SESSION_COOKIE_SECURE=false/),
    );
  }, 30_000);

  it('puts exactly the app services behind nginx, on the port they listen on', () => {
    const conf = readFileSync(new URL('../deploy/nginx.docker.conf', import.meta.url), 'utf8');
    const upstream = [...conf.matchAll(/^\s*server\s+([\w.-]+):(\d+);/gm)].map((m) => m.slice(1));
    expect(upstream).toEqual(apps.map(([name, s]) => [name, composeEnv(s, shell).PORT]));
  });
});

describe('the checks themselves', () => {
  const blueprint = readYaml<Blueprint>('render.yaml');
  const web = blueprint.services.find((s) => s.type === 'web')!;
  const without = (key: string): RenderService => ({
    ...web,
    envVars: web.envVars?.filter((v) => v.key !== key),
  });

  it('report a required variable the blueprint forgot', () => {
    const env = renderEnv(without('SESSION_SECRET'));
    expect(missingRequired(env)).toEqual(['SESSION_SECRET']);
    expect(configProblems(env)).toEqual([expect.stringMatching(/^SESSION_SECRET is required/)]);
  });

  it('report a misspelt variable', () => {
    const env = renderEnv({
      ...web,
      envVars: [...(web.envVars ?? []), { key: 'TRUST_PROXIES', value: 1 }],
    });
    expect(unknownNames(env)).toEqual(['TRUST_PROXIES']);
  });

  it('report a reference to a database the blueprint does not define', () => {
    const broken = structuredClone(blueprint);
    broken.databases = [];
    expect(danglingReferences(broken)).toEqual(['DATABASE_URL']);
  });
});

/** A location block of an nginx config: its modifier (`=`, `~`, `~*`, `^~` or none), path, body. */
interface NginxLocation {
  modifier: string;
  path: string;
  body: string;
}

const LOCATION = /location\s+(?:(=|~\*|~|\^~)\s+)?(\S+)\s*\{([^}]*)\}/g;

/** The directives of an nginx config, without its comments (which mention locations too). */
const directives = (conf: string): string => conf.replace(/#.*$/gm, '');

const locationsOf = (conf: string): NginxLocation[] =>
  [...directives(conf).matchAll(LOCATION)].map(([, modifier, path, body]) => ({
    modifier: modifier ?? '',
    path: path!,
    body: body!,
  }));

describe('nginx configurations', () => {
  const configs = ['nginx.docker.conf', 'nginx.cluster.conf.template'].map(
    (name) => [name, readFileSync(new URL(`../deploy/${name}`, import.meta.url), 'utf8')] as const,
  );

  it.each(configs)('%s: keeps /metrics from the internet', (_, conf) => {
    // Any case, any slashes: the app answers only /metrics, but the rule must not rely on it.
    const metrics = locationsOf(conf).find((l) => l.path === '^/+metrics(/|$)');
    expect(metrics?.modifier).toBe('~*');
    expect(metrics?.body).toMatch(/allow 127\.0\.0\.0\/8;/);
    expect(metrics?.body).toMatch(/deny all;\s*proxy_pass/);
  });

  // nginx hands a location the server's proxy_set_header lines only if it sets none itself:
  // a /ws block with only Upgrade and Connection would lose the client's address and Host.
  it.each(configs)(
    '%s: every location that sets headers keeps Host and the client address',
    (_, conf) => {
      const setting = locationsOf(conf).filter((l) => /proxy_set_header/.test(l.body));
      expect(setting.map((l) => l.path)).toContain('/ws');
      for (const { path, body } of setting) {
        for (const header of ['Host $http_host', 'X-Forwarded-For $proxy_add_x_forwarded_for']) {
          expect(body, `location ${path}`).toContain(`proxy_set_header ${header};`);
        }
      }
    },
  );

  // A prefix `location /ws` also takes /ws/, /wsx and /ws-anything, and passes them on with
  // Upgrade: requests for paths the hub does not serve, which it leaves unanswered, holding
  // a socket in nginx and in the app for proxy_read_timeout. An exact location matches the
  // path alone; nginx compares it without the query string, so /ws?restaurantId=… matches.
  it.each(configs)('%s: passes Upgrade for exactly /ws, and nowhere else', (_, conf) => {
    const upgrading = locationsOf(conf).filter((l) => /proxy_set_header\s+Upgrade\b/i.test(l.body));
    expect(upgrading.map((l) => `${l.modifier} ${l.path}`)).toEqual(['= /ws']);
    expect(upgrading[0]!.body).toContain('proxy_set_header Connection $connection_upgrade;');
    // Around the locations (inherited by those that set no header), nothing asks for an upgrade.
    const outside = directives(conf).replace(LOCATION, '');
    expect(outside).not.toMatch(/proxy_set_header\s+Upgrade\b/i);
    expect(outside).toMatch(/proxy_set_header Connection "";/);
  });

  it.each(configs)('%s: streams unbuffered, for an hour, exactly /events', (_, conf) => {
    const unbuffered = locationsOf(conf).filter((l) => /proxy_buffering\s+off;/.test(l.body));
    expect(unbuffered.map((l) => `${l.modifier} ${l.path}`)).toEqual(['= /events']);
    expect(unbuffered[0]!.body).toContain('proxy_read_timeout 1h;');
  });
});
