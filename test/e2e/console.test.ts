// The web console end to end, in real headless Chromium (Debian's `chromium`, driven by
// playwright-core), against a real 3-host cluster with a DR site and TCG guests. Everything is
// done the way an operator would: log in with the admin token, create and start a VM from the
// form, watch its heartbeat in the console tail, migrate it with the planner's prediction shown
// first and follow the progress bar to the result in the history, then protect it and run a DR
// test failover and read its report. Live updates must arrive without reloading the page.
// FERRY_SCREENSHOTS=1 also writes a screenshot of each view to docs/console/ (the docs' pictures).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import type { Vm } from '../../src/contracts/controller-api.js';
import type { Protection } from '../../src/contracts/dr.js';
import { TestCluster } from './harness.js';
import { waitFor } from '../../src/testing/wait-for.js';

const CHROMIUM = process.env.FERRY_CHROMIUM ?? '/usr/bin/chromium';
const SHOTS = fileURLToPath(new URL('../../../docs/console/', import.meta.url));
const shoot = async (page: Page, name: string): Promise<void> => {
  if (process.env.FERRY_SCREENSHOTS !== '1') return;
  mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: false });
};

describe('web console, end to end', { timeout: 20 * 60_000 }, () => {
  const c = new TestCluster();
  let browser: Browser;
  let page: Page;
  const pageErrors: string[] = [];

  before(async () => {
    assert.ok(existsSync(CHROMIUM), `Debian's chromium at ${CHROMIUM} (scripts/setup.sh installs it)`);
    await c.ok(['up', '--sites', 'main:2,dr:1', '--port', '0', '--accel', 'tcg']);
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true });
    // The controller's certificate is from the cluster CA, which this throw-away browser profile does not hold.
    page = await browser.newPage({ viewport: { width: 1366, height: 768 }, ignoreHTTPSErrors: true });
    page.on('pageerror', (e) => pageErrors.push(e.message));
    page.on('console', (m) => m.type() === 'error' && pageErrors.push(m.text()));
    // Chrome's "Failed to load resource" names no URL: these do.
    page.on('response', (r) => r.status() >= 400 && pageErrors.push(`${r.status()} ${r.request().method()} ${r.url()}`));
  });
  after(async () => {
    await browser?.close();
    await c.cleanup();
  });

  it('refuses a wrong token, logs in with the admin token', async () => {
    const { url, token } = c.clusterFile();
    await page.goto(`${url}/`);
    await page.getByLabel('Admin token').fill('not-the-token');
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByRole('alert').waitFor();
    await page.getByLabel('Admin token').fill(token);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByRole('navigation', { name: 'Main' }).waitFor();
    await page.getByRole('status').filter({ hasText: 'live' }).waitFor({ timeout: 30_000 });
    for (const h of ['host1', 'host2', 'host3']) await page.getByText(h, { exact: true }).first().waitFor();
  });

  it('creates and starts a VM from the form; its heartbeat shows in the console tail', async () => {
    await page.getByTestId('create-name').fill('web');
    await page.getByTestId('create-memory').fill('128');
    await page.getByTestId('create-workload').fill('http');
    await page.getByTestId('create-host').selectOption('host1');
    await page.getByTestId('create-submit').click();
    const row = page.getByTestId('vm-row-web');
    await row.waitFor({ timeout: 60_000 });
    await row.getByText('running').waitFor({ timeout: 120_000 });
    await shoot(page, 'cluster');
    await row.getByRole('link', { name: 'web' }).click();
    const tail = page.getByTestId('console-tail');
    /** The newest heartbeat's seq in the tail as the page shows it (-1: none yet). */
    const seqOf = async (): Promise<number> => {
      const lines = ((await tail.textContent()) ?? '').split('\n').filter((l) => l.includes('ferry-heartbeat seq='));
      return Number(/seq=(\d+)/.exec(lines.at(-1) ?? '')?.[1] ?? -1);
    };
    await waitFor('a heartbeat in the console tail', async () => (await seqOf()) >= 0, { timeoutMs: 120_000, everyMs: 500 });
    const first = await seqOf();
    // The tail keeps updating by itself: no reload.
    await waitFor('the heartbeat to advance in the page', async () => (await seqOf()) > first, { timeoutMs: 60_000, everyMs: 500 });
    await shoot(page, 'vm');
  });

  it('migrates it: prediction first, then a progress bar, then the result in the history', async () => {
    const vm = await c.json<Vm>(['vm', 'show', 'web']);
    assert.equal(vm.host, 'host1');
    await page.getByTestId('migrate-target').selectOption('host2');
    await page.getByTestId('migrate-button').click();
    // The planner's prediction, then the confirmation.
    await page.getByText(/predicted/i).first().waitFor({ timeout: 60_000 });
    // Record every value the progress bar shows from now on, as the page renders it.
    await page.evaluate(() => {
      const seen: number[] = [];
      (window as unknown as { __progress: number[] }).__progress = seen;
      const note = (): void => {
        const bar = document.querySelector('[data-testid="migration-progress"]');
        const v = bar?.getAttribute('aria-valuenow');
        if (v !== null && v !== undefined && seen.at(-1) !== Number(v)) seen.push(Number(v));
      };
      new MutationObserver(note).observe(document.body, { subtree: true, childList: true, attributes: true, attributeFilter: ['aria-valuenow'] });
    });
    await page.getByTestId('migrate-confirm').click();
    await waitFor('the VM to run on host2', async () => (await c.json<Vm>(['vm', 'show', 'web'])).host === 'host2', { timeoutMs: 180_000, everyMs: 1000 });
    await page.locator('.migration-result').getByText('succeeded').waitFor({ timeout: 30_000 });
    // The location registry's `location` event moved the VM's Location panel, no reload.
    const location = page.locator('section[aria-labelledby="location-title"]');
    await location.getByText('host2 at site main').waitFor({ timeout: 30_000 });
    await location.getByText(/\(migrated\)/).waitFor({ timeout: 30_000 });
    const progress = await page.evaluate(() => (window as unknown as { __progress: number[] }).__progress);
    assert.ok(progress.length >= 2, `the progress bar showed the migration moving: ${JSON.stringify(progress)}`);
    for (let i = 1; i < progress.length; i++) assert.ok(progress[i]! >= progress[i - 1]!, `the bar never runs backwards: ${JSON.stringify(progress)}`);
    await page.getByRole('link', { name: 'Migrations' }).click();
    const rows = page.locator('[data-testid^="migration-row-"]');
    await rows.first().waitFor({ timeout: 30_000 });
    const text = (await rows.first().textContent()) ?? '';
    assert.match(text, /web/);
    assert.match(text, /host1/);
    assert.match(text, /host2/);
    assert.match(text, /succeeded/);
    await shoot(page, 'migrations');
  });

  it('a DR test failover from the DR view leaves a report with its checks', async () => {
    await c.ok(['dr', 'protect', 'web', '--to', 'dr', '--rpo', '30s']);
    await page.getByRole('link', { name: 'Disaster recovery' }).click();
    const row = page.getByTestId('dr-row-web');
    await row.waitFor({ timeout: 30_000 });
    const checkpointed = async (): Promise<boolean> => ((await c.json<Protection[]>(['dr', 'status'])).find((p) => p.vm === 'web')?.checkpoints ?? 0) > 0;
    await waitFor('a first checkpoint of web', checkpointed, { timeoutMs: 240_000, everyMs: 2000 });
    await page.getByTestId('dr-test-web').click();
    await page.getByRole('dialog').getByRole('button', { name: /test/i }).click();
    const reports = page.getByTestId('dr-reports');
    await reports.getByText(/passed|succeeded/i).first().waitFor({ timeout: 240_000 });
    assert.match((await reports.textContent()) ?? '', /heartbeat/i);
    await shoot(page, 'dr');
  });

  it('the balancer view shows hosts and turns auto mode on and off', async () => {
    await page.getByRole('link', { name: 'Balancer' }).click();
    const toggle = page.getByTestId('balance-auto');
    await toggle.waitFor();
    await toggle.click();
    await waitFor('auto mode on', async () => (await c.json<{ auto: boolean }>(['balance', 'config'])).auto, { timeoutMs: 10_000, everyMs: 500 });
    await shoot(page, 'balance');
    await toggle.click();
    await waitFor('auto mode off', async () => !(await c.json<{ auto: boolean }>(['balance', 'config'])).auto, { timeoutMs: 10_000, everyMs: 500 });
    await page.getByTestId('balance-decisions').waitFor();
  });

  it('works from the keyboard: navigation, and a confirmation that Escape cancels', async () => {
    await page.goto(`${c.clusterFile().url}/#/`);
    await page.getByRole('navigation', { name: 'Main' }).waitFor();
    const focused = (): Promise<string> => page.evaluate(() => (document.activeElement?.textContent ?? '').trim());
    /** Tab until the focused element's text matches (at most 60 presses). */
    const tabTo = async (re: RegExp): Promise<void> => {
      for (let i = 0; i < 60; i++) {
        await page.keyboard.press('Tab');
        if (re.test(await focused())) return;
      }
      assert.fail(`Tab never reached ${re}`);
    };
    await tabTo(/^Balancer$/);
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: 'Balancer', level: 1 }).waitFor();
    await tabTo(/^Apply/);
    await page.keyboard.press('Enter');
    const dialog = page.getByRole('dialog');
    await dialog.waitFor();
    assert.ok(await dialog.evaluate((d) => d.contains(document.activeElement)), 'focus moves into the dialog');
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'hidden' });
    const runs = await c.json<{ kind: string }[]>(['task', 'list']);
    assert.equal(runs.filter((t) => t.kind === 'balance.run').length, 0, 'Escape cancelled: no balance run started');
  });

  it('the page logged no errors (CSP violations and exceptions show here)', () => {
    assert.deepEqual(pageErrors.filter((e) => !/401/.test(e)), []);
  });
});
