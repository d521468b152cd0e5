// The portal's own passkey ceremonies: registering a passkey and signing in (and signing in the
// next clinician at a handover). Step-ups and unlocking are the Gate's (task-bound, one at a
// time, offered again after a tab switch). Options and answers use WebAuthn Level 3's JSON
// forms (`parseCreationOptionsFromJSON`, `toJSON()`), native in current browsers; a small
// fallback converts by hand where they are missing.

import { postJson } from './api.js';

const b64urlToBytes = (s) => {
  const b64 = s.replace(/-/g, '+').replace(/_/g, '/') + '==='.slice((s.length + 3) % 4);
  return Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
};
const bytesToB64url = (buf) => {
  const bytes = new Uint8Array(buf);
  let s = '';
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
};

function creationOptions(json) {
  if (typeof PublicKeyCredential?.parseCreationOptionsFromJSON === 'function') {
    return PublicKeyCredential.parseCreationOptionsFromJSON(json);
  }
  return {
    ...json,
    challenge: b64urlToBytes(json.challenge),
    user: { ...json.user, id: b64urlToBytes(json.user.id) },
    excludeCredentials: (json.excludeCredentials || []).map((c) => ({ ...c, id: b64urlToBytes(c.id) })),
  };
}

function requestOptions(json) {
  if (typeof PublicKeyCredential?.parseRequestOptionsFromJSON === 'function') {
    return PublicKeyCredential.parseRequestOptionsFromJSON(json);
  }
  return {
    ...json,
    challenge: b64urlToBytes(json.challenge),
    allowCredentials: (json.allowCredentials || []).map((c) => ({ ...c, id: b64urlToBytes(c.id) })),
  };
}

function credentialJson(cred) {
  if (typeof cred.toJSON === 'function') return cred.toJSON();
  const r = cred.response;
  const response = { clientDataJSON: bytesToB64url(r.clientDataJSON) };
  if (r.attestationObject) {
    response.attestationObject = bytesToB64url(r.attestationObject);
    response.transports = r.getTransports ? r.getTransports() : [];
  } else {
    response.authenticatorData = bytesToB64url(r.authenticatorData);
    response.signature = bytesToB64url(r.signature);
    if (r.userHandle) response.userHandle = bytesToB64url(r.userHandle);
  }
  return {
    id: cred.id, rawId: bytesToB64url(cred.rawId), type: cred.type, response,
    authenticatorAttachment: cred.authenticatorAttachment ?? undefined,
    clientExtensionResults: cred.getClientExtensionResults ? cred.getClientExtensionResults() : {},
  };
}

/** A readable sentence for a failed ceremony (`DOMException` names). */
export function ceremonyMessage(e) {
  switch (e && e.name) {
    case 'NotAllowedError': return 'The passkey prompt was cancelled or timed out.';
    case 'InvalidStateError': return 'This device already holds a passkey for that clinician.';
    case 'SecurityError': return 'Passkeys need http://localhost or https (not an IP address).';
    case 'NotSupportedError': return 'This browser has no passkey support.';
    default: return (e && e.message) || String(e);
  }
}

/** Register a passkey for `userId` on this device. */
export async function registerPasskey(userId) {
  const { publicKey } = await postJson('/api/register/start', { userId });
  const cred = await navigator.credentials.create({ publicKey: creationOptions(publicKey) });
  return postJson('/api/register/finish', { userId, credential: credentialJson(cred) });
}

/** Sign `userId` in on `device`; resolves to the server's `SessionInfo`. */
export async function signIn(userId, device) {
  const { requestId, publicKey } = await postJson('/api/signin/start', { userId });
  const cred = await navigator.credentials.get({ publicKey: requestOptions(publicKey) });
  const { session } = await postJson('/api/signin/finish', { requestId, credential: credentialJson(cred), device });
  return session;
}
