/**
 * System Manager on a phone-sized screen (390 px wide, as an iPhone 12-15): no page may scroll
 * sideways (wide tables scroll inside their own box), and a checkbox sits on the line of its label.
 */
import { test } from 'vitest';
import assert from 'node:assert/strict';
import { servedAppliance, browserPage, signInWithPassword } from '../helpers/web.ts';

process.env.KEEL_LOG ??= 'silent';

test('every page fits 390 px without horizontal scrolling; checkboxes sit beside their labels', async (t) => {
  const { base } = await servedAppliance(t, { prefix: 'keel-web-layout-' });
  const { page, problems } = await browserPage(t);
  await page.setViewportSize({ width: 390, height: 844 });
  await signInWithPassword(page, base);
  const links = await page.$$eval('nav a[href^="/mics/"]', (as) => [...new Set(as.map((a) => a.getAttribute('href')!))]);
  assert.ok(links.length >= 15, `the navigation lists the pages (${links.length})`);
  const wide: string[] = [];
  for (const href of ['/mics/', ...links]) {
    await page.goto(`${base}${href}`);
    const { scroll, inner, culprit } = await page.evaluate(() => {
      const w = document.documentElement.clientWidth;
      const over = Array.from(document.querySelectorAll('body *')).find((e) => {
        const r = e.getBoundingClientRect();
        return r.right > w + 1 && getComputedStyle(e).position !== 'fixed' && !e.closest('.scroll-x, dialog');
      });
      return { scroll: document.documentElement.scrollWidth, inner: w, culprit: over ? `${over.tagName.toLowerCase()}${over.id ? `#${over.id}` : ''}${over.className ? `.${String(over.className).split(' ').join('.')}` : ''}` : '' };
    });
    if (scroll > inner) wide.push(`${href}: ${scroll} px wide (${culprit})`);
  }
  assert.deepEqual(wide, [], `pages wider than the screen:\n${wide.join('\n')}`);
  // A checkbox and its label share a line (LDAP's options among them).
  await page.goto(`${base}/mics/security/ldap`);
  const boxes = await page.$$eval('input[type=checkbox]', (els) =>
    els
      .filter((e) => (e as HTMLElement).offsetParent !== null)
      .map((e) => {
        const label = (e.closest('label') ?? document.querySelector(`label[for="${e.id}"]`)) as HTMLElement | null;
        const a = e.getBoundingClientRect();
        const b = label?.getBoundingClientRect();
        return { name: (e as HTMLInputElement).name, sameLine: !!b && Math.abs(a.top + a.height / 2 - (b.top + Math.min(b.height, 24) / 2)) < 14 };
      }),
  );
  assert.ok(boxes.length > 0, 'the LDAP page has checkboxes');
  assert.deepEqual(boxes.filter((b) => !b.sameLine).map((b) => b.name), []);
  assert.deepEqual(problems, []);
});
