// Task contexts (wardgate's `TaskContext`) for the portal's clinical actions, and the request
// each one makes to the server's protected API.
//
// The server builds its own task from the request (docs/PROTOCOL.md, www/server
// routes/demo.rs) and the passkey approval is bound to the task's hash, which covers the action,
// the clinician, the patient, the targets and the on-screen summary. So each builder here puts
// exactly what the request carries into the task: the approval the clinician gives is for what
// the server will do.

export const ACTION_LABEL = {
  'patient-view': 'Open chart',
  'vitals-record': 'Record vitals',
  'note-sign': 'Sign note',
  'order-sign': 'Sign order',
  'medication-prescribe': 'Prescribe',
};

function base(session, device, action, patient) {
  return {
    user: { id: session.user.id, roles: session.user.roles || [] },
    action,
    patient: patient ? { id: patient.id, labels: patient.labels || [] } : null,
    device: { id: device.id, shared: !!device.shared, managed: device.managed !== false },
    zone: 'ward-4b',
    connectivity: navigator.onLine ? 'online' : 'offline',
  };
}

/** Open a chart: `GET /api/patients/{id}` (VIP and restricted charts step up). */
export function viewChart(session, device, patient) {
  return {
    task: base(session, device, 'patient-view', patient),
    request: { url: `/api/patients/${encodeURIComponent(patient.id)}`, method: 'GET' },
  };
}

/** Record vitals (low risk, allowed offline): `POST /api/patients/{id}/vitals`. */
export function recordVitals(session, device, patient, vitals) {
  const summary = `Vitals: ${vitalsText(vitals)}`;
  return {
    task: { ...base(session, device, 'vitals-record', patient), summary },
    request: { url: `/api/patients/${encodeURIComponent(patient.id)}/vitals`, method: 'POST', body: vitals },
  };
}

export function vitalsText(v) {
  const parts = [];
  if (v.heartRate) parts.push(`HR ${v.heartRate}`);
  if (v.bloodPressure) parts.push(`BP ${v.bloodPressure}`);
  if (v.spo2) parts.push(`SpO₂ ${v.spo2}%`);
  if (v.temperature) parts.push(`T ${v.temperature} °C`);
  return parts.join(' · ') || 'no values';
}

/** Sign a note: `POST /api/patients/{id}/notes`; the note's text is the task's summary. */
export function signNote(session, device, patient, text) {
  return {
    task: { ...base(session, device, 'note-sign', patient), summary: text },
    request: { url: `/api/patients/${encodeURIComponent(patient.id)}/notes`, method: 'POST', body: { text } },
  };
}

/** Sign a draft order: `POST /api/orders/{id}/sign`; targets the order's FHIR reference. */
export function signOrder(session, device, patient, order) {
  const summary = `Sign order for ${patient.name}: ${order.summary}`;
  return {
    task: { ...base(session, device, 'order-sign', patient), targets: [order.resource], summary },
    request: {
      url: `/api/orders/${encodeURIComponent(order.id)}/sign`, method: 'POST',
      body: { patientId: patient.id, summary },
    },
  };
}

/** The EPCS attestation shown on screen while the passkey prompt runs (21 CFR 1311.140). */
export function epcsAttestation(session, patient, rx) {
  return `I, ${session.user.name || session.user.id}, attest that I am prescribing ${rx.drug} — ` +
    `${rx.sig}, quantity ${rx.quantity} — for ${patient.name} (born ${patient.born}, ${patient.id}), ` +
    `that I have reviewed this prescription, and that I sign it electronically with two factors ` +
    `under 21 CFR 1311.`;
}

/** Prescribe: `POST /api/prescriptions`; the drug is the target `Medication/<drug>`; a
 * controlled substance adds the `controlled-substance` label (EPCS). */
export function prescribe(session, device, patient, rx) {
  const summary = rx.controlled ? epcsAttestation(session, patient, rx) : `Prescribe ${rx.drug} — ${rx.sig}, quantity ${rx.quantity}, for ${patient.name}`;
  const t = base(session, device, 'medication-prescribe', patient);
  if (rx.controlled) t.patient.labels = [...t.patient.labels, 'controlled-substance'];
  return {
    task: { ...t, targets: [`Medication/${rx.drug}`], summary },
    request: {
      url: '/api/prescriptions', method: 'POST',
      body: { patientId: patient.id, drug: rx.drug, controlled: !!rx.controlled, summary },
    },
  };
}

/** Break-glass: open a chart in an emergency, with a mandatory reason: `POST /api/break-glass`. */
export function breakGlass(session, device, patient, reason) {
  return {
    task: { ...base(session, device, 'patient-view', patient), emergency: { reason } },
    request: { url: '/api/break-glass', method: 'POST', body: { patientId: patient.id, reason } },
  };
}

/** The request a (pending) task makes, rebuilt from the task itself (after a reload or an
 * unlock, the Gate offers a task again and the portal carries it out). */
export function requestForTask(task) {
  const pid = task.patient && task.patient.id;
  switch (task.action) {
    case 'patient-view':
      if (task.emergency) return { url: '/api/break-glass', method: 'POST', body: { patientId: pid, reason: task.emergency.reason } };
      return { url: `/api/patients/${encodeURIComponent(pid)}`, method: 'GET' };
    case 'note-sign':
      return { url: `/api/patients/${encodeURIComponent(pid)}/notes`, method: 'POST', body: { text: task.summary } };
    case 'order-sign': {
      const ref = (task.targets || [])[0] || '';
      const id = ref.split('/').pop();
      return { url: `/api/orders/${encodeURIComponent(id)}/sign`, method: 'POST', body: { patientId: pid, summary: task.summary } };
    }
    case 'medication-prescribe': {
      const drug = ((task.targets || [])[0] || '').replace(/^Medication\//, '');
      const controlled = (task.patient.labels || []).includes('controlled-substance');
      return { url: '/api/prescriptions', method: 'POST', body: { patientId: pid, drug, controlled, summary: task.summary } };
    }
    default:
      return null;
  }
}

/** A one-line description of a task, for prompts, banners and the audit trail. */
export function describeTask(task, patientName) {
  const who = patientName || (task.patient && task.patient.id) || '';
  switch (task.action) {
    case 'patient-view': return task.emergency ? `Emergency access to the chart of ${who}` : `Open the chart of ${who}`;
    default: return task.summary || `${ACTION_LABEL[task.action] || task.action} ${who}`.trim();
  }
}
