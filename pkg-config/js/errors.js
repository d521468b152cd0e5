// The one JS error class wardgate throws. `code` is stable API (WARDGATE_...); `message` is
// for people; `path` names the offending JSON path when there is one; `cause` keeps the
// original (e.g. a DOMException) when there is one.
export class WardgateError extends Error {
  constructor(code, message, path, cause) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = 'WardgateError';
    this.code = code;
    if (path !== undefined && path !== null) this.path = path;
  }
}

export function makeWardgateError(code, message, path) {
  return new WardgateError(code, message, path === null ? undefined : path);
}
