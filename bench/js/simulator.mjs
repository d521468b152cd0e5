// Issue 5 §4: wrap the shift simulator's JSON (`wardgate-sim run --json`) for the report:
// the per-trace and total figures, and a Markdown table for bench/RESULTS.md.
import { readFileSync, writeFileSync } from 'node:fs';

const [input, output] = process.argv.slice(2);
const sim = JSON.parse(readFileSync(input, 'utf8'));
const rows = [...sim.traces, sim.total];
const by = (r, s) => r.results.find((x) => x.strategy === s);
const lines = [
  '| trace | clinician-hours | wardgate prompts (/clin-h) | every-action prompts (/clin-h) | 15-min re-auth prompts (/clin-h) | wardgate unsafe | 15-min unsafe | grants reused | interrupted → resumed | locks | handoffs |',
  '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
];
for (const r of rows) {
  const w = by(r, 'wardgate'); const e = by(r, 'every-action'); const q = by(r, 'reauth-15min');
  lines.push(`| ${r.trace} | ${r.clinicianHours} | ${w.prompts} (${w.promptsPerClinicianHour}) | ${e.prompts} (${e.promptsPerClinicianHour}) | ${q.prompts} (${q.promptsPerClinicianHour}) | ${w.unsafeAllows} | ${q.unsafeAllows} | ${w.grantsReused} | ${w.interrupted} → ${w.resumed} | ${w.locks} | ${w.handoffs} |`);
}
const w = by(sim.total, 'wardgate'); const e = by(sim.total, 'every-action'); const q = by(sim.total, 'reauth-15min');
const ratio = Math.round((e.prompts / w.prompts) * 100) / 100;
lines.push('', `Targets: every-action / wardgate prompts **${ratio}x** (target >= 5x: ${ratio >= 5 ? 'met' : '**missed**'}); wardgate unsafe allows **${w.unsafeAllows}** (target 0: ${w.unsafeAllows === 0 ? 'met' : '**missed**'}); 15-minute baseline unsafe allows **${q.unsafeAllows}** (wardgate fewer: ${w.unsafeAllows < q.unsafeAllows ? 'met' : '**missed**'}). Chart: [bench/shift.svg](shift.svg) (cumulative prompts over shift 1).`);
writeFileSync(output, JSON.stringify({ ...sim, ratioEveryActionToWardgate: ratio, markdown: lines.join('\n') }, null, 2));
