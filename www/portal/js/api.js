// Plain JSON calls to the relying party (docs/PROTOCOL.md) that are not protected tasks:
// registration, sign-in, the session, the patient list, the audit trail. Protected requests go
// through `gate.fetch` (see app.js).

/** An error answer of the server: `{ code, message }` plus the HTTP status. */
export class ApiError extends Error {
  constructor(status, code, message, body) {
    super(message || code || `HTTP ${status}`);
    this.name = 'ApiError';
    this.status = status;
    this.code = code || 'HTTP_' + status;
    this.body = body;
  }
}

/** Read a response as JSON; a non-2xx answer throws an `ApiError`. */
export async function readJson(response) {
  const text = await response.text();
  let body = null;
  if (text) {
    try { body = JSON.parse(text); } catch { body = { message: text.slice(0, 200) }; }
  }
  if (!response.ok) {
    throw new ApiError(response.status, body && body.code, body && body.message, body);
  }
  return body ?? {};
}

export async function getJson(url) {
  const response = await fetch(url, { credentials: 'same-origin', headers: { Accept: 'application/json' } });
  return readJson(response);
}

export async function postJson(url, body) {
  const response = await fetch(url, {
    method: 'POST',
    credentials: 'same-origin',
    headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
    body: JSON.stringify(body ?? {}),
  });
  return readJson(response);
}

/** The live session, or `null` when signed out (401). */
export async function currentSession() {
  try {
    const { session } = await getJson('/api/session');
    return session ?? null;
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) return null;
    throw e;
  }
}

/** The audit events the server recorded for a session (`GET /api/audit?sessionId=`). */
export async function serverAudit(sessionId) {
  const { events } = await getJson('/api/audit?sessionId=' + encodeURIComponent(sessionId));
  return Array.isArray(events) ? events : [];
}
