// §4: collect criterion's estimates (target/criterion/<group>/<bench>/new/estimates.json) into
// JSON. `node criterion.mjs <criterion dir> [out.json]`
import { readFileSync, writeFileSync, readdirSync, existsSync } from 'node:fs';
import { join } from 'node:path';

const [dir, out] = process.argv.slice(2);
const result = {};
for (const group of existsSync(dir) ? readdirSync(dir) : []) {
  if (group === 'report') continue;
  for (const bench of readdirSync(join(dir, group))) {
    const f = join(dir, group, bench, 'new', 'estimates.json');
    if (!existsSync(f)) continue;
    const e = JSON.parse(readFileSync(f, 'utf8'));
    result[`${group}/${bench}`] = {
      medianNs: e.median.point_estimate,
      meanNs: e.mean.point_estimate,
      meanCiNs: [e.mean.confidence_interval.lower_bound, e.mean.confidence_interval.upper_bound],
    };
  }
}
const text = JSON.stringify(result, null, 2);
if (out) writeFileSync(out, text); else console.log(text);
