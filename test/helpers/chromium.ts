// Real Chromium (Debian's /usr/bin/chromium) driven by playwright-core. Without the
// browser, browser suites skip loudly; with CI=true a missing browser is a failure.
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type Locator, type Page } from 'playwright-core';
import { expect } from 'vitest';

export const CHROMIUM = process.env.APPLINK_TEST_CHROMIUM ?? '/usr/bin/chromium';
export const SCREENSHOTS = join(__dirname, '..', '..', 'test-output', 'screenshots');

export function chromiumAvailable(): boolean {
  if (existsSync(CHROMIUM)) return true;
  if (process.env.CI === 'true') throw new Error(`CI=true but Chromium is missing at ${CHROMIUM}`);
  process.stderr.write(`\n*** Chromium not found at ${CHROMIUM}: SKIPPING the browser tests ***\n\n`);
  return false;
}

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--no-first-run',
    ],
  });
}

/** A full-page screenshot into test-output/screenshots/NAME.png (git-ignored). */
export async function shot(page: Page, name: string): Promise<void> {
  mkdirSync(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true });
}

/**
 * Checks what every page must have: each visible form control has an accessible label,
 * the stylesheet loaded (from our origin), and nothing scrolls sideways on this viewport.
 */
export async function checkPage(page: Page): Promise<void> {
  const unlabelled = await page.$$eval('input:not([type=hidden]), select, textarea, button', (els) =>
    els
      .filter((e) => {
        const el = e as HTMLInputElement;
        const named =
          (el.labels && el.labels.length > 0) ||
          el.getAttribute('aria-label') ||
          el.getAttribute('aria-labelledby') ||
          (el.tagName === 'BUTTON' && el.textContent.trim() !== '');
        return !named;
      })
      .map((e) => e.outerHTML),
  );
  expect(unlabelled).toEqual([]);
  const styled = await page.evaluate(() => getComputedStyle(document.body).margin);
  expect(styled, 'the stylesheet is applied').toBe('0px');
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  expect(overflow, 'no horizontal scrolling').toBeLessThanOrEqual(0);
}

export const PHONE = { width: 390, height: 844 };

/** The element's text once it is there, whitespace collapsed (playwright-core has no expect). */
export async function textOf(locator: Locator): Promise<string> {
  await locator.first().waitFor({ state: 'attached' });
  return ((await locator.first().textContent()) ?? '').replace(/\s+/g, ' ').trim();
}

// ---- accessibility -------------------------------------------------------------------

const AXE_SOURCE = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

/**
 * Runs axe-core (pinned devDependency) over the page as it is now and fails on any
 * violation, naming the rule and the elements. The pages' CSP forbids every script; the
 * engine is evaluated through the DevTools protocol, which CSP does not govern, so the
 * page is checked with its real headers.
 */
export async function expectNoAxeViolations(page: Page, what: string): Promise<void> {
  const loaded = await page.evaluate(() => 'axe' in window);
  if (!loaded) await page.evaluate(AXE_SOURCE);
  const { violations, passed } = await page.evaluate(async () => {
    const axe = (window as unknown as { axe: { run: (ctx: Document, opts: object) => Promise<AxeResults> } }).axe;
    interface AxeResults {
      passes: unknown[];
      violations: Array<{
        id: string;
        impact: string;
        help: string;
        nodes: Array<{ target: unknown[]; failureSummary?: string }>;
      }>;
    }
    const r = await axe.run(document, { resultTypes: ['violations'] });
    return {
      passed: r.passes.length,
      violations: r.violations.map((v) => ({
        rule: v.id,
        impact: v.impact,
        help: v.help,
        nodes: v.nodes.map((n) => `${JSON.stringify(n.target)}: ${n.failureSummary ?? ''}`),
      })),
    };
  });
  // An engine that checked nothing (not loaded, an empty document) also reports no violation.
  expect(passed, `axe-core checked rules on ${what}`).toBeGreaterThan(5);
  expect(violations, `axe-core on ${what}`).toEqual([]);
}

/** WCAG relative luminance and contrast ratio of two `rgb()`/`rgba()` colours (alpha ignored). */
export function contrastRatio(a: string, b: string): number {
  const lum = (css: string) => {
    const m = /rgba?\(\s*([\d.]+)[ ,]+([\d.]+)[ ,]+([\d.]+)/.exec(css);
    if (!m) throw new Error(`not an rgb() colour: ${css}`);
    const [r, g, bl] = [m[1], m[2], m[3]].map((v) => {
      const c = Number(v) / 255;
      return c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
    }) as [number, number, number];
    return 0.2126 * r + 0.7152 * g + 0.0722 * bl;
  };
  const [hi, lo] = [lum(a), lum(b)].sort((x, y) => y - x) as [number, number];
  return (hi + 0.05) / (lo + 0.05);
}

export interface FocusRing {
  element: string;
  outlineStyle: string;
  outlineWidth: number;
  outlineColor: string;
  /** the first opaque background behind the element (what the ring is drawn on) */
  behind: string;
  /** the page's background */
  page: string;
}

/**
 * Tabs through the page with the keyboard (so :focus-visible applies, as for a keyboard
 * user) and reports, for every element that receives focus, the computed outline and the
 * colours around it.
 */
export async function focusRings(page: Page, maxStops = 40): Promise<FocusRing[]> {
  // Start from the top of the document (not from an autofocus field).
  await page.evaluate(() => {
    document.body.tabIndex = -1;
    document.body.focus();
    document.body.removeAttribute('tabindex');
  });
  const rings: FocusRing[] = [];
  const seen = new Set<string>();
  for (let i = 0; i < maxStops; i++) {
    await page.keyboard.press('Tab');
    const ring = await page.evaluate(() => {
      const el = document.activeElement as HTMLElement | null;
      if (!el || el === document.body) return null;
      const opaque = (start: Element | null): string => {
        for (let e = start; e; e = e.parentElement) {
          const bg = getComputedStyle(e).backgroundColor;
          if (!/rgba\(.*,\s*0\)$/.test(bg) && bg !== 'transparent') return bg;
        }
        return getComputedStyle(document.documentElement).backgroundColor;
      };
      const cs = getComputedStyle(el);
      const path: string[] = [];
      for (let e: Element | null = el; e && e !== document.body; e = e.parentElement) {
        const i = e.parentElement ? Array.prototype.indexOf.call(e.parentElement.children, e) : 0;
        path.unshift(`${e.tagName.toLowerCase()}${e.id ? `#${e.id}` : ''}:${i}`);
      }
      return {
        element: `${path.join('>')} "${el.textContent.trim().slice(0, 40)}"`,
        outlineStyle: cs.outlineStyle,
        outlineWidth: parseFloat(cs.outlineWidth),
        outlineColor: cs.outlineColor,
        behind: opaque(el.parentElement),
        page: opaque(document.body),
      };
    });
    if (!ring || seen.has(ring.element)) break; // wrapped around
    seen.add(ring.element);
    rings.push(ring);
  }
  return rings;
}

/**
 * Text in the matching elements that a line break splits inside a word ("admi|n",
 * "127.0.0.|1"): for every place where a line ends, the characters on both sides must
 * not both be word characters. Returns the broken words.
 */
export async function brokenWords(page: Page, selector: string): Promise<string[]> {
  return page.$$eval(selector, (els) => {
    const broken: string[] = [];
    for (const el of els) {
      const walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
      for (let n = walker.nextNode(); n; n = walker.nextNode()) {
        const text = n.textContent ?? '';
        let lastTop: number | null = null;
        for (let i = 0; i < text.length; i++) {
          const range = document.createRange();
          range.setStart(n, i);
          range.setEnd(n, i + 1);
          const rect = range.getClientRects()[0];
          if (!rect) continue;
          if (
            lastTop !== null &&
            rect.top > lastTop + 2 &&
            /[^\s-]/.test(text.charAt(i - 1)) &&
            /\S/.test(text.charAt(i))
          ) {
            const from = text.lastIndexOf(' ', i) + 1;
            const to = text.indexOf(' ', i);
            broken.push(`${text.slice(from, i)}|${text.slice(i, to === -1 ? undefined : to)}`);
          }
          lastTop = rect.top;
        }
      }
    }
    return broken;
  });
}
