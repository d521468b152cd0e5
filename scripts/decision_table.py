#!/usr/bin/env python3
"""Writes tests/data/decision-table.json: one row per clinical scenario against
pkg-config/policies/clinical-default.json. The expectations below are the specification,
written by hand; the Rust harness (tests/decision_table.rs) and the node test of the built
package (tests/js/api.test.mjs) both check every row."""
import copy, json

NOW = 1764057600000            # 2025-11-25T08:00:00Z
MIN = 60_000
S = NOW // 1000

def ctx(user, roles, action, patient=None, labels=(), device='tablet-4b-1', shared=True,
        managed=True, targets=(), zone=None, offline=False, emergency=None, summary=None):
    c = {'user': {'id': user, 'roles': list(roles)}, 'action': action,
         'device': {'id': device, 'shared': shared, 'managed': managed}}
    if patient: c['patient'] = {'id': patient, 'labels': list(labels)}
    if targets: c['targets'] = list(targets)
    if zone: c['zone'] = zone
    if offline: c['connectivity'] = 'offline'
    if emergency: c['emergency'] = {'reason': emergency}
    if summary: c['summary'] = summary
    return c

def sess(roles, grants=(), auth_ago=10 * MIN, idle_ago=1 * MIN, started_ago=120 * MIN,
         locked=False, spent=(), sid='s-1'):
    s = {'sessionId': sid, 'startedAtMs': NOW - started_ago, 'rolesAtStart': list(roles),
         'grants': list(grants), 'spentGrants': list(spent), 'locked': locked}
    if auth_ago is not None: s['lastStrongAuthMs'] = NOW - auth_ago
    if idle_ago is not None: s['lastActivityMs'] = NOW - idle_ago
    return s

def grant(user, kind, actions=(), patient=None, task=None, auth_ago_s=120, iat_ago_s=120,
          life_s=900, jti='g-1', sid='s-1', dev='tablet-4b-1', att='any', once=False,
          amr=('hwk', 'user', 'mfa')):
    scp = {'kind': kind, 'actions': list(actions)}
    if patient: scp['patient'] = patient
    if task: scp['task'] = task
    return {'iss': 'http://localhost:8080', 'sub': user, 'sid': sid, 'dev': dev,
            'acr': 'phrh' if att == 'cross-platform' else 'phr', 'amr': list(amr),
            'auth_time': S - auth_ago_s, 'iat': S - iat_ago_s, 'exp': S - iat_ago_s + life_s,
            'jti': jti, 'scp': scp, 'att': att, 'once': once}

rows = []
def row(name, c, s, expect, now=NOW):
    rows.append({'name': name, 'context': c, 'session': s, 'nowMs': now, 'expect': expect})

NURSE, DR, RES, PH, ST = ['nurse'], ['physician'], ['resident'], ['pharmacist'], ['student']
ALLOW = lambda *ids: {'effect': 'allow', 'ruleIds': list(ids), 'allowedBy': 'policy'}
DENY = lambda *ids: {'effect': 'deny', 'ruleIds': list(ids)}
STEP = lambda ids, **req: {'effect': 'step-up', 'ruleIds': list(ids), 'requirement': req}
BY_GRANT = lambda ids, jti='g-1': {'effect': 'allow', 'ruleIds': list(ids), 'allowedBy': 'grant', 'grantId': jti}
OFFLINE = lambda *ids: {'effect': 'needs-connection', 'ruleIds': list(ids) + ['$offline']}

# --- low-risk work never prompts
row('nurse views an ordinary chart on a shared tablet', ctx('rn-ade', NURSE, 'patient-view', 'p-1'), sess(NURSE), ALLOW('chart-view'))
row('physician views an ordinary chart on a workstation', ctx('dr-okafor', DR, 'patient-view', 'p-1', device='ws-12', shared=False), sess(DR), ALLOW('chart-view'))
row('student views an ordinary chart', ctx('st-kim', ST, 'patient-view', 'p-2'), sess(ST), ALLOW('chart-view'))
row('pharmacist views an ordinary chart', ctx('ph-santos', PH, 'patient-view', 'p-2'), sess(PH), ALLOW('chart-view'))
row('nurse records vitals', ctx('rn-ade', NURSE, 'vitals-record', 'p-1'), sess(NURSE), ALLOW('vitals'))
row('student records vitals', ctx('st-kim', ST, 'vitals-record', 'p-1'), sess(ST), ALLOW('vitals'))
row('nurse administers a scanned medication', ctx('rn-ade', NURSE, 'med-administer', 'p-1', targets=['MedicationAdministration/9']), sess(NURSE), ALLOW('med-administer'))
row('resident drafts a note', ctx('dr-lee', RES, 'note-draft', 'p-3'), sess(RES), ALLOW('note-draft'))
row('nurse signs a note on a personal workstation', ctx('rn-ade', NURSE, 'note-sign', 'p-3', device='ws-3', shared=False), sess(NURSE), ALLOW('note-sign-personal'))
row('physician selects an order', ctx('dr-okafor', DR, 'order-select', 'p-3', targets=['MedicationRequest/42']), sess(DR), ALLOW('order-select'))
row('pharmacist verifies an order', ctx('ph-santos', PH, 'order-verify', 'p-3', targets=['MedicationRequest/42']), sess(PH), ALLOW('order-verify'))

# --- sensitive charts
row('nurse opens a VIP chart: step-up for that patient', ctx('rn-ade', NURSE, 'patient-view', 'p-7', ['vip']), sess(NURSE), STEP(['chart-view-sensitive'], scope='action-patient', maxAuthAgeSeconds=1800, grantLifetimeSeconds=1800))
row('nurse reopens the VIP chart with the grant earned', ctx('rn-ade', NURSE, 'patient-view', 'p-7', ['vip']), sess(NURSE, [grant('rn-ade', 'action-patient', ['patient-view'], 'p-7', life_s=1800)]), BY_GRANT(['chart-view-sensitive']))
row('the VIP grant does not open another VIP chart', ctx('rn-ade', NURSE, 'patient-view', 'p-8', ['vip']), sess(NURSE, [grant('rn-ade', 'action-patient', ['patient-view'], 'p-7', life_s=1800)]), STEP(['chart-view-sensitive']))
row('student is denied a VIP chart', ctx('st-kim', ST, 'patient-view', 'p-7', ['vip']), sess(ST), DENY('chart-view-sensitive-students'))
row('restricted chart on an unmanaged device is denied', ctx('dr-okafor', DR, 'patient-view', 'p-9', ['restricted'], device='byod-1', shared=False, managed=False), sess(DR), DENY('restricted-unmanaged-device'))
row('restricted chart on a managed device steps up', ctx('dr-okafor', DR, 'patient-view', 'p-9', ['restricted'], device='ws-12', shared=False), sess(DR), STEP(['chart-view-sensitive'], scope='action-patient'))

# --- order signing
O42 = ['MedicationRequest/42']
row('physician signs an order on a workstation: step-up for that patient', ctx('dr-okafor', DR, 'order-sign', 'p-3', device='ws-12', shared=False, targets=O42), sess(DR), STEP(['order-sign'], scope='action-patient', maxAuthAgeSeconds=900, grantLifetimeSeconds=900, singleUse=False))
row('on a shared tablet the stricter requirement wins', ctx('dr-okafor', DR, 'order-sign', 'p-3', targets=O42), sess(DR), STEP(['order-sign', 'order-sign-shared'], scope='action-patient', maxAuthAgeSeconds=300, grantLifetimeSeconds=300))
row('second order for the same patient is covered', ctx('dr-okafor', DR, 'order-sign', 'p-3', device='ws-12', shared=False, targets=['MedicationRequest/43']), sess(DR, [grant('dr-okafor', 'action-patient', ['order-sign'], 'p-3', dev='ws-12')]), BY_GRANT(['order-sign']))
row('an order for another patient is not covered', ctx('dr-okafor', DR, 'order-sign', 'p-4', device='ws-12', shared=False, targets=O42), sess(DR, [grant('dr-okafor', 'action-patient', ['order-sign'], 'p-3', dev='ws-12')]), STEP(['order-sign']))
row('an expired grant does not cover', ctx('dr-okafor', DR, 'order-sign', 'p-3', device='ws-12', shared=False, targets=O42), sess(DR, [grant('dr-okafor', 'action-patient', ['order-sign'], 'p-3', dev='ws-12', iat_ago_s=1000, auth_ago_s=1000, life_s=900)]), STEP(['order-sign']))
row('a grant of another session does not cover', ctx('dr-okafor', DR, 'order-sign', 'p-3', device='ws-12', shared=False, targets=O42), sess(DR, [grant('dr-okafor', 'action-patient', ['order-sign'], 'p-3', dev='ws-12', sid='s-other')]), STEP(['order-sign']))
row('a grant of another device does not cover', ctx('dr-okafor', DR, 'order-sign', 'p-3', device='ws-12', shared=False, targets=O42), sess(DR, [grant('dr-okafor', 'action-patient', ['order-sign'], 'p-3', dev='ws-99')]), STEP(['order-sign']))
row("another clinician's grant does not cover", ctx('dr-okafor', DR, 'order-sign', 'p-3', device='ws-12', shared=False, targets=O42), sess(DR, [grant('dr-lee', 'action-patient', ['order-sign'], 'p-3', dev='ws-12')]), STEP(['order-sign']))
row('a grant without user verification does not cover', ctx('dr-okafor', DR, 'order-sign', 'p-3', device='ws-12', shared=False, targets=O42), sess(DR, [grant('dr-okafor', 'action-patient', ['order-sign'], 'p-3', dev='ws-12', amr=('hwk', 'user'))]), STEP(['order-sign']))
row('a session-wide grant is wider than action-patient and does not cover', ctx('dr-okafor', DR, 'order-sign', 'p-3', device='ws-12', shared=False, targets=O42), sess(DR, [grant('dr-okafor', 'session', dev='ws-12')]), STEP(['order-sign']))
row('a task grant for this very order covers it', ctx('dr-okafor', DR, 'order-sign', 'p-3', device='ws-12', shared=False, targets=O42), sess(DR, [grant('dr-okafor', 'task', ['order-sign'], 'p-3', task='$TASK_HASH', dev='ws-12')]), BY_GRANT(['order-sign']))
row('a task grant for another order does not', ctx('dr-okafor', DR, 'order-sign', 'p-3', device='ws-12', shared=False, targets=O42), sess(DR, [grant('dr-okafor', 'task', ['order-sign'], 'p-3', task='00' * 32, dev='ws-12')]), STEP(['order-sign']))
row('a grant whose authentication is too old for a shared tablet does not cover', ctx('dr-okafor', DR, 'order-sign', 'p-3', targets=O42), sess(DR, [grant('dr-okafor', 'action-patient', ['order-sign'], 'p-3', auth_ago_s=400, iat_ago_s=100)]), STEP(['order-sign', 'order-sign-shared']))
row('nurse may not sign orders', ctx('rn-ade', NURSE, 'order-sign', 'p-3', targets=O42), sess(NURSE), DENY('orders-prescribers-only'))
row('student may not sign orders', ctx('st-kim', ST, 'order-sign', 'p-3', targets=O42), sess(ST), DENY('orders-prescribers-only'))

# --- EPCS
RX = ['MedicationRequest/900']
EPCS = dict(scope='task', maxAuthAgeSeconds=0, authenticator='cross-platform', singleUse=True, grantLifetimeSeconds=120)
row('EPCS: controlled substance needs a fresh per-task cross-platform approval', ctx('dr-okafor', DR, 'medication-prescribe', 'p-13', ['controlled-substance'], targets=RX, summary='Oxycodone 5 mg #20'), sess(DR), {**STEP(['prescribe', 'epcs-controlled-substance'], **EPCS), 'reason': 'controlled substance (EPCS): approve this prescription with your security key or phone'})
row('EPCS: a fresh sign-in is not enough', ctx('dr-okafor', DR, 'medication-prescribe', 'p-13', ['controlled-substance'], targets=RX), sess(DR, auth_ago=1000), STEP(['prescribe', 'epcs-controlled-substance'], **EPCS))
row('EPCS: a platform-passkey grant for this task is not enough', ctx('dr-okafor', DR, 'medication-prescribe', 'p-13', ['controlled-substance'], targets=RX), sess(DR, [grant('dr-okafor', 'task', ['medication-prescribe'], 'p-13', task='$TASK_HASH', att='any', once=True, life_s=120, iat_ago_s=10, auth_ago_s=10)]), STEP(['prescribe', 'epcs-controlled-substance']))
row('EPCS: the cross-platform grant for this very prescription covers it once', ctx('dr-okafor', DR, 'medication-prescribe', 'p-13', ['controlled-substance'], targets=RX), sess(DR, [grant('dr-okafor', 'task', ['medication-prescribe'], 'p-13', task='$TASK_HASH', att='cross-platform', once=True, life_s=120, iat_ago_s=10, auth_ago_s=10)]), BY_GRANT(['prescribe', 'epcs-controlled-substance']))
row('EPCS: a spent single-use grant does not cover again', ctx('dr-okafor', DR, 'medication-prescribe', 'p-13', ['controlled-substance'], targets=RX), sess(DR, [grant('dr-okafor', 'task', ['medication-prescribe'], 'p-13', task='$TASK_HASH', att='cross-platform', once=True, life_s=120, iat_ago_s=10, auth_ago_s=10)], spent=['g-1']), STEP(['prescribe', 'epcs-controlled-substance']))
row('EPCS: the previous prescription\'s grant does not cover the next one', ctx('dr-okafor', DR, 'medication-prescribe', 'p-13', ['controlled-substance'], targets=['MedicationRequest/901']), sess(DR, [grant('dr-okafor', 'task', ['medication-prescribe'], 'p-13', task='11' * 32, att='cross-platform', once=True, life_s=120, iat_ago_s=10, auth_ago_s=10)]), STEP(['prescribe', 'epcs-controlled-substance']))
row('ordinary prescribing steps up per patient', ctx('dr-lee', RES, 'medication-prescribe', 'p-3', device='ws-5', shared=False, targets=['MedicationRequest/77']), sess(RES), STEP(['prescribe'], scope='action-patient', singleUse=False))
row('pharmacist may not prescribe', ctx('ph-santos', PH, 'medication-prescribe', 'p-3'), sess(PH), DENY('orders-prescribers-only'))

# --- shared tablet note signing
row('signing a note on a shared tablet steps up for note signing', ctx('rn-ade', NURSE, 'note-sign', 'p-3'), sess(NURSE), STEP(['note-sign-shared'], scope='action', maxAuthAgeSeconds=900))
row('a note-signing grant covers the next note for another patient', ctx('rn-ade', NURSE, 'note-sign', 'p-4'), sess(NURSE, [grant('rn-ade', 'action', ['note-sign'])]), BY_GRANT(['note-sign-shared']))

# --- exports
row('physician exports a record: per-task single-use step-up', ctx('dr-okafor', DR, 'record-export', 'p-3', device='ws-12', shared=False), sess(DR), STEP(['record-export'], scope='task', singleUse=True))
row('nurse may not export', ctx('rn-ade', NURSE, 'record-export', 'p-3'), sess(NURSE), DENY('record-export-others'))
row('records are never exported offline', ctx('dr-okafor', DR, 'record-export', 'p-3', device='ws-12', shared=False, offline=True), sess(DR), DENY('record-export-offline'))

# --- offline
row('offline: nurse views an ordinary chart within the window', ctx('rn-ade', NURSE, 'patient-view', 'p-1', offline=True), sess(NURSE), ALLOW('chart-view'))
row('offline: vitals within the window', ctx('rn-ade', NURSE, 'vitals-record', 'p-1', offline=True), sess(NURSE, idle_ago=0), ALLOW('vitals'))
row('offline: outside the window since the last strong authentication', ctx('rn-ade', NURSE, 'vitals-record', 'p-1', offline=True), sess(NURSE, auth_ago=5 * 60 * MIN, started_ago=6 * 60 * MIN), OFFLINE('vitals'))
row('offline: order signing cannot step up', ctx('dr-okafor', DR, 'order-sign', 'p-3', device='ws-12', shared=False, offline=True, targets=O42), sess(DR), OFFLINE('order-sign'))
row('offline: a held order grant still needs the connection (not an offline action)', ctx('dr-okafor', DR, 'order-sign', 'p-3', device='ws-12', shared=False, offline=True, targets=O42), sess(DR, [grant('dr-okafor', 'action-patient', ['order-sign'], 'p-3', dev='ws-12')]), OFFLINE('order-sign'))
row('offline: note signing is not an offline action', ctx('rn-ade', NURSE, 'note-sign', 'p-3', device='ws-3', shared=False, offline=True), sess(NURSE), OFFLINE('note-sign-personal'))
row('offline: VIP chart cannot step up offline', ctx('rn-ade', NURSE, 'patient-view', 'p-7', ['vip'], offline=True), sess(NURSE), OFFLINE('chart-view-sensitive'))

# --- break-glass
row('break-glass: nurse opens a VIP chart in a code blue', ctx('rn-ade', NURSE, 'patient-view', 'p-7', ['vip'], emergency='code blue, bed 4'), sess(NURSE), {'effect': 'break-glass', 'ruleIds': ['break-glass-clinicians'], 'reviewRequired': True})
row('break-glass works offline', ctx('dr-okafor', DR, 'order-sign', 'p-3', offline=True, emergency='cardiac arrest, network down'), sess(DR), {'effect': 'break-glass', 'ruleIds': ['break-glass-clinicians'], 'reviewRequired': True})
row('break-glass never overrides EPCS', ctx('dr-okafor', DR, 'medication-prescribe', 'p-13', ['controlled-substance'], targets=RX, emergency='code blue'), sess(DR), DENY('epcs-no-break-glass'))
row('role change alone permits nothing under default deny', ctx('x-1', ['porter', 'nurse'], 'bed-transfer', 'p-1'), sess(['porter']), DENY('$default'))
row('role change strengthens an allowed task', ctx('rn-ade', ['nurse', 'charge-nurse'], 'vitals-record', 'p-1'), sess(NURSE), STEP(['vitals', 'role-changed'], scope='session', maxAuthAgeSeconds=3600))
row('break-glass does not override a deny', ctx('rn-ade', NURSE, 'medication-prescribe', 'p-3', emergency='code blue'), sess(NURSE), DENY('orders-prescribers-only'))
row('break-glass is for patient care, not exports', ctx('dr-okafor', DR, 'record-export', 'p-3', emergency='code blue'), sess(DR), STEP(['record-export'], scope='task', maxAuthAgeSeconds=300, singleUse=True))
row('students have no break-glass', ctx('st-kim', ST, 'patient-view', 'p-7', ['vip'], emergency='code blue'), sess(ST), DENY('chart-view-sensitive-students'))

# --- session state, roles, unknown actions
row('locked session: everything is denied', ctx('rn-ade', NURSE, 'patient-view', 'p-1'), sess(NURSE, locked=True), DENY('$session-locked'))
row('idle past the shared-tablet limit (5 min)', ctx('rn-ade', NURSE, 'patient-view', 'p-1'), sess(NURSE, idle_ago=6 * MIN), DENY('$session-idle'))
row('idle 6 min is fine on a personal workstation (1 h)', ctx('rn-ade', NURSE, 'patient-view', 'p-1', device='ws-3', shared=False), sess(NURSE, idle_ago=6 * MIN), ALLOW('chart-view'))
row('past the shared-tablet absolute limit (8 h since strong auth)', ctx('rn-ade', NURSE, 'patient-view', 'p-1'), sess(NURSE, auth_ago=9 * 60 * MIN, started_ago=9 * 60 * MIN), DENY('$session-expired'))
row('role gained since sign-in: re-confirm for the session', ctx('dr-lee', ['resident', 'physician'], 'patient-view', 'p-1'), sess(RES), STEP(['chart-view', 'role-changed'], scope='session'))
row('unknown custom action under default deny', ctx('rn-ade', NURSE, 'bed-transfer', 'p-1'), sess(NURSE), DENY('$default'))
row('unknown role under default deny', ctx('x-1', ['porter'], 'patient-view', 'p-1'), sess(['porter']), DENY('$default'))

json.dump({'policy': 'pkg-config/policies/clinical-default.json', 'scenarios': rows},
          open('tests/data/decision-table.json', 'w'), indent=1, ensure_ascii=False)
print(len(rows), 'scenarios')
