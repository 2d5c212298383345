// Errors from the server, with their stable codes (docs/protocol.md).

export class ParleyError extends Error {
  constructor(code, message, extra = {}) {
    super(message || code);
    this.code = code;
    Object.assign(this, extra);
  }
}

// readJSON returns a JSON response's body or throws its error as a ParleyError.
export async function readJSON(res) {
  let body = null;
  if (res.status !== 204) {
    try {
      body = await res.json();
    } catch {
      body = null;
    }
  }
  if (res.ok) return body ?? {};
  const e = body?.error || {};
  throw new ParleyError(e.code || 'internal', e.message || `HTTP ${res.status}`, {
    status: res.status, retryAfter: Number(res.headers.get('Retry-After')) || undefined,
  });
}
