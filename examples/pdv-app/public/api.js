/** A failed API call: the server's `{ error, message }` and the HTTP status (0: no answer). */
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
  }
}

/**
 * Calls the app's JSON API on this origin, with the session cookie. Resolves with the parsed
 * body (undefined for 204); rejects with an ApiError. A 401 sends the browser to the login
 * page, except for the login call itself, whose 401 means a wrong password.
 */
export async function api(method, path, body, headers = {}) {
  const init = {
    method,
    credentials: 'same-origin',
    headers: { accept: 'application/json', ...headers },
  };
  if (body !== undefined) {
    init.headers['content-type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch {
    throw new ApiError(
      0,
      'network',
      'The server cannot be reached. Check the network and try again.',
    );
  }
  if (response.status === 204) return undefined;
  const data = await response.json().catch(() => undefined);
  if (response.ok) return data;
  if (response.status === 401 && path !== '/api/login') goToLogin();
  throw new ApiError(
    response.status,
    data?.error ?? `http_${response.status}`,
    data?.message ?? `The server answered ${response.status} ${response.statusText}.`,
  );
}

/**
 * The logged-in user and their restaurant (`GET /api/me`), or undefined when nobody is
 * logged in: api() is then already sending the browser to the login page.
 */
export async function whoAmI() {
  try {
    return await api('GET', '/api/me');
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) return undefined;
    throw error;
  }
}

/** To the login page, which brings the user back here afterwards. */
export function goToLogin() {
  const here = `${location.pathname}${location.search}`;
  location.assign(`/login?next=${encodeURIComponent(here)}`);
}

/**
 * Where to go after login: `raw` as an absolute URL of this site if it is a path here
 * ("/kitchen?transport=sse"), else undefined. "//evil.example" and "/\evil.example" are other
 * sites to a browser; tabs and newlines are dropped from URLs, and "/./" or "/../" are resolved,
 * so "/.//evil.example" comes out as "//evil.example". Hence the resolved URL is what is
 * checked, and what is returned: never a path that a browser could read as another host.
 */
export function localUrl(raw) {
  if (typeof raw !== 'string' || !raw.startsWith('/') || raw.startsWith('//')) return undefined;
  let url;
  try {
    url = new URL(raw, location.origin);
  } catch {
    return undefined;
  }
  if (url.origin !== location.origin || url.pathname.startsWith('//')) return undefined;
  return url.href;
}
