#!/usr/bin/env python3
"""Independent implementation of the WGT1 canonical task encoding (src/task/mod.rs docs),
used to generate tests/data/task-vectors.json. The Rust tests check the crate against these
vectors, so the encoding is fixed by two implementations that must agree."""
import hashlib, json, struct, sys

def field(tag, value):
    b = value.encode('utf-8')
    return bytes([tag]) + struct.pack('>I', len(b)) + b

def wgt1(ctx):
    out = b'WGT1'
    out += field(1, ctx['action'])
    out += field(2, ctx['user']['id'])
    if ctx.get('patient'):
        out += field(3, ctx['patient']['id'])
    if ctx.get('encounterId') is not None:
        out += field(4, ctx['encounterId'])
    for t in sorted(set(t.encode('utf-8') for t in ctx.get('targets', []))):
        out += field(5, t.decode('utf-8'))
    if ctx.get('summary') is not None:
        out += field(6, ctx['summary'])
    return out

dev = {'id': 'tablet-4b-1', 'shared': True, 'managed': True}
cases = [
    ('minimal', {'user': {'id': 'u1'}, 'action': 'patient-view', 'device': {'id': 'd1'}}),
    ('order-sign with targets in reverse order and a duplicate',
     {'user': {'id': 'dr-okafor', 'roles': ['physician']}, 'action': 'order-sign',
      'patient': {'id': 'p-7', 'labels': ['vip']}, 'encounterId': 'enc-2026-11-25-7',
      'targets': ['MedicationRequest/42', 'MedicationRequest/41', 'MedicationRequest/42'],
      'device': dev}),
    ('same order-sign, targets sorted, other circumstances',
     {'user': {'id': 'dr-okafor', 'roles': ['resident']}, 'action': 'order-sign',
      'patient': {'id': 'p-7'}, 'encounterId': 'enc-2026-11-25-7',
      'targets': ['MedicationRequest/41', 'MedicationRequest/42'],
      'device': {'id': 'ws-12'}, 'zone': 'icu', 'connectivity': 'offline'}),
    ('EPCS with attestation summary (non-ASCII)',
     {'user': {'id': 'dr-müller'}, 'action': 'medication-prescribe',
      'patient': {'id': 'p-13', 'labels': ['controlled-substance']},
      'targets': ['MedicationRequest/900'],
      'summary': 'Oxycodone 5 mg, 1 tab q6h PRN, #20 — I attest this prescription is accurate.',
      'device': dev}),
    ('break-glass: emergency reason is not part of the identity',
     {'user': {'id': 'rn-ade'}, 'action': 'break-glass', 'patient': {'id': 'p-99'},
      'device': dev, 'emergency': {'reason': 'code blue, bed 4'}}),
    ('empty summary differs from no summary',
     {'user': {'id': 'u1'}, 'action': 'note-sign', 'patient': {'id': 'p1'}, 'summary': '',
      'device': {'id': 'd1'}}),
]
vectors = []
for name, ctx in cases:
    b = wgt1(ctx)
    vectors.append({'name': name, 'context': ctx, 'canonicalHex': b.hex(),
                    'sha256Hex': hashlib.sha256(b).hexdigest()})
json.dump({'format': 'WGT1', 'vectors': vectors}, sys.stdout, indent=2, ensure_ascii=False)
print()
