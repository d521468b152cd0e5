// The one JS error class wardgate throws. `code` is stable API (WARDGATE_...); `message` is
// for people; `path` names the offending JSON path when there is one; `cause` keeps the
// original (e.g. a DOMException) when there is one; `status` and `serverCode` say what the
// relying party answered (WARDGATE_SERVER).
export class WardgateError extends Error {
  constructor(code, message, path, cause) {
    super(message, cause === undefined || cause === null ? undefined : { cause });
    this.name = 'WardgateError';
    this.code = code;
    if (path !== undefined && path !== null) this.path = path;
  }
}

export function makeWardgateError(code, message, path, cause, status, serverCode) {
  const e = new WardgateError(code, message, path === null ? undefined : path, cause);
  if (status !== undefined && status !== null) e.status = status;
  if (serverCode !== undefined && serverCode !== null) e.serverCode = serverCode;
  return e;
}
