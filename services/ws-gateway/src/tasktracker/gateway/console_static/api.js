// The gateway's REST API: bearer token in the Authorization header (never in a URL), and
// every error as an ApiError carrying the `{"error": {code, message, details}}` body.

export class ApiError extends Error {
  constructor(status, code, message, details) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

// What an error means to the person at the keyboard.
export function explain(error) {
  if (!(error instanceof ApiError)) return `Unexpected error: ${error.message || error}`;
  const said = error.message ? ` (${error.message})` : "";
  switch (error.status) {
    case 0:
      return "Cannot reach the gateway. Check your connection and try again.";
    case 401:
      return "Your sign-in is no longer valid: the token is missing, invalid or expired. Sign in again with a new token.";
    case 403:
      return `Not allowed: your role in this project does not permit this action${said}.`;
    case 404:
      return `Not found: it does not exist, or it is not in a project your token can see${said}.`;
    case 409:
      return `Conflict: ${error.message || "the state changed"} — someone may have decided it already; the view is refreshed.`;
    case 400:
    case 422:
      return `Not accepted: ${error.message || "invalid input"}${detailText(error.details)}.`;
    default:
      return `The server answered ${error.status}: ${error.message || "error"}.`;
  }
}

function detailText(details) {
  if (!details) return "";
  if (Array.isArray(details)) return ` — ${details.map((d) => d.msg || JSON.stringify(d)).join("; ")}`;
  if (typeof details === "object") return ` — ${JSON.stringify(details)}`;
  return ` — ${details}`;
}

export class Api {
  constructor(token, onUnauthorized) {
    this.token = token;
    this.onUnauthorized = onUnauthorized;
  }

  async request(method, path, { body, query } = {}) {
    const url = new URL(path, location.origin);
    for (const [key, value] of Object.entries(query || {})) {
      if (value !== undefined && value !== null && value !== "") url.searchParams.set(key, value);
    }
    const headers = { Authorization: `Bearer ${this.token}`, Accept: "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    let response;
    try {
      response = await fetch(url, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        cache: "no-store",
        credentials: "omit",
      });
    } catch (error) {
      throw new ApiError(0, "network", String(error), null);
    }
    const text = await response.text();
    const payload = text ? safeJson(text) : null;
    if (!response.ok) {
      const err = payload?.error || {};
      const error = new ApiError(response.status, err.code, err.message || payload?.detail, err.details);
      if (response.status === 401) this.onUnauthorized?.(error);
      throw error;
    }
    return payload;
  }

  get(path, query) {
    return this.request("GET", path, { query });
  }
  post(path, body) {
    return this.request("POST", path, { body });
  }
  put(path, body) {
    return this.request("PUT", path, { body });
  }
  patch(path, body) {
    return this.request("PATCH", path, { body });
  }
}

function safeJson(text) {
  try {
    return JSON.parse(text);
  } catch {
    return { error: { message: text.slice(0, 200) } };
  }
}

// The token's claims, read (not verified: the gateway verifies it on every call) to know
// which projects to offer and with which role.
export function readClaims(token) {
  const part = token.split(".")[1];
  if (!part) throw new Error("not a JWT");
  const base64 = part.replace(/-/g, "+").replace(/_/g, "/").padEnd(Math.ceil(part.length / 4) * 4, "=");
  const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
  return JSON.parse(new TextDecoder().decode(bytes));
}
