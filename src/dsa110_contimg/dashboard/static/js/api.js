// The API client of the pages: every request goes through `api()`, which turns
// the API's error body {error: {code, message, details}} into an ApiError.

export class ApiError extends Error {
  constructor(status, code, message, details = null) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details;
  }

  get notFound() {
    return this.status === 404;
  }
}

/** The URL of an API path with query parameters (null, undefined and "" are left out). */
export function apiUrl(path, params = {}) {
  const query = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value === null || value === undefined || value === "") continue;
    for (const item of Array.isArray(value) ? value : [value]) query.append(key, item);
  }
  const text = query.toString();
  return text ? `${path}?${text}` : path;
}

/** GET an API path and return its JSON, or throw an ApiError with the API's message. */
export async function api(path, params = {}) {
  const url = apiUrl(path, params);
  let response;
  try {
    response = await fetch(url, { headers: { Accept: "application/json" } });
  } catch (err) {
    throw new ApiError(0, "network", `the API could not be reached (${err.message})`);
  }
  if (response.ok) return response.json();
  let error = { code: "http_" + response.status, message: response.statusText || "request failed" };
  try {
    const body = await response.json();
    if (body && body.error) error = body.error;
  } catch {
    // not JSON (a proxy's error page): keep the status text
  }
  throw new ApiError(response.status, error.code, error.message, error.details);
}

/** A path segment for a registered file path (MS, calibration table). */
export const encodePath = (path) => encodeURIComponent(path);

/** The value of a cookie readable by scripts (the CSRF token), or "" when absent. */
export function cookie(name) {
  for (const part of document.cookie.split(";")) {
    const [key, ...rest] = part.trim().split("=");
    if (key === name) return decodeURIComponent(rest.join("="));
  }
  return "";
}

/** Why a non-2xx response failed: an ApiError carrying the standard error body's message. */
async function errorOf(response) {
  let error = { code: "http_" + response.status, message: response.statusText || "request failed" };
  try {
    const body = await response.json();
    if (body && body.error) error = body.error;
  } catch {
    // not JSON (a proxy's error page): keep the status text
  }
  return new ApiError(response.status, error.code, error.message, error.details);
}

/**
 * Send a write (POST, PUT, PATCH, DELETE) as the signed-in user and return its JSON (null when
 * the response has no body). The session cookie goes with it (same origin) and the CSRF token
 * from the `dsa110_csrf` cookie goes in `X-CSRF-Token` (double submit). A non-2xx throws an
 * ApiError (an Error) whose message is the API's.
 */
export async function write(method, path, body = undefined) {
  const headers = { Accept: "application/json", "X-CSRF-Token": cookie("dsa110_csrf") };
  const init = { method, headers, credentials: "same-origin" };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (err) {
    throw new ApiError(0, "network", `the API could not be reached (${err.message})`);
  }
  if (!response.ok) {
    const error = await errorOf(response);
    if (response.status === 401) {
      // Not signed in, or the session ended: the sign-in module sends the user to sign in.
      forgetUser();
      window.dispatchEvent(new CustomEvent("dsa110:unauthorized", { detail: error }));
    }
    throw error;
  }
  if (response.status === 204) return null;
  const text = await response.text();
  return text ? JSON.parse(text) : null;
}

let userPromise = null;

/**
 * The signed-in user {name, role, expires_at}, or null when signed out (cached). Without the
 * CSRF cookie (set with the session, for as long) nobody is signed in: the API is not asked.
 */
export function currentUser() {
  if (!cookie("dsa110_csrf")) return Promise.resolve(null);
  if (userPromise === null) {
    userPromise = fetch("/api/auth/me", {
      headers: { Accept: "application/json" },
      credentials: "same-origin",
    })
      .then((response) => (response.ok ? response.json() : null))
      .catch(() => null);
  }
  return userPromise;
}

/** Drop the cached user (after sign-in, sign-out or a 401) so the next currentUser() asks again. */
export function forgetUser() {
  userPromise = null;
}
