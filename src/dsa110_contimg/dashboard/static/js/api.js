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
