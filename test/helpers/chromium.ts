// Real Chromium (Debian's /usr/bin/chromium) driven by playwright-core. Without the
// browser, browser suites skip loudly; with CI=true a missing browser is a failure.
import { existsSync, mkdirSync } from 'node:fs';
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
          (el.tagName === 'BUTTON' && (el.textContent ?? '').trim() !== '');
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
