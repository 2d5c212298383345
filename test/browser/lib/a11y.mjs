// audit runs axe-core (WCAG 2 A and AA rules, which reach into the widget's
// open shadow root) on a page, or on the elements matching include, and
// fails with a readable list of what it found.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const axe = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

export async function audit(page, what, include) {
  await page.evaluate(axe); // through DevTools, so our pages' CSP does not block it
  const found = await page.evaluate(async (sel) => {
    const r = await window.axe.run(sel ? { include: [sel] } : document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } });
    return r.violations.map((v) => `${v.id} (${v.impact}): ${v.help} — ${v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(' | ')}`);
  }, include || null);
  assert.deepEqual(found, [], `${what}: axe found ${found.length} problems:\n${found.join('\n')}`);
}
