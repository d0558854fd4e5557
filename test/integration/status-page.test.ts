/**
 * The status page in a real browser (issue 25): Debian's chromium, driven by playwright-core,
 * opens a follower's page on a three-node cluster, sees the three members and the leader,
 * and, once the leader is killed, sees the new leader within a few seconds.
 *
 * Skipped, with the reason printed, when QUORUMLOG_BROWSER_TESTS=0, or when chromium is not
 * installed outside CI. In CI (CI set) a missing chromium fails the test: .ci/run installs it.
 */
import * as fs from 'node:fs';

import { chromium } from 'playwright-core';
import { describe, expect, it, onTestFinished } from 'vitest';

import { startClusterForTest } from '../harness/index.js';

const CHROMIUM_PATH = process.env['QUORUMLOG_CHROMIUM'] ?? '/usr/bin/chromium';
/** The machine's notes: no GPU, no sandbox as root, and nothing that reaches outside on its own. */
const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
/** How soon after the leader's kill the page must name the new one ("within a few seconds"). */
const NEW_LEADER_SHOWN_MS_MAX = 8_000;

function skipReason(): string | null {
  if (process.env['QUORUMLOG_BROWSER_TESTS'] === '0') return 'QUORUMLOG_BROWSER_TESTS=0';
  if (fs.existsSync(CHROMIUM_PATH) || process.env['CI'] !== undefined) return null;
  return `${CHROMIUM_PATH} is not installed (apt-get install --no-install-recommends chromium; CI installs it)`;
}

const skipped = skipReason();
if (skipped !== null) console.log(`[status-page] browser test skipped: ${skipped}`);

describe.skipIf(skipped !== null)('the status page in a browser', () => {
  it('shows three members and the leader, then the new leader within a few seconds of killing the old one', async () => {
    if (!fs.existsSync(CHROMIUM_PATH)) throw new Error(`${CHROMIUM_PATH} is missing: .ci/run installs Debian's chromium; set QUORUMLOG_BROWSER_TESTS=0 to skip on purpose`);
    const cluster = await startClusterForTest({ label: 'status-page', http: true });
    const leader = await cluster.leader();
    const watched = cluster.ids.find((id) => id !== leader) ?? '';
    const origin = `http://${cluster.httpAddress(watched)}`;

    // playwright starts chromium on a fresh profile directory of its own and removes it on close.
    const browser = await chromium.launch({ executablePath: CHROMIUM_PATH, headless: true, args: CHROMIUM_ARGS });
    onTestFinished(() => browser.close());
    const page = await browser.newPage();
    const problems: string[] = [];
    const requested: string[] = [];
    page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
    // A request the content-security-policy blocks is a console error too.
    page.on('console', (message) => (message.type() === 'error' ? problems.push(`console: ${message.text()}`) : undefined));
    page.on('request', (request) => requested.push(request.url()));

    await page.goto(`${origin}/`);
    await page.waitForSelector(`tr.leader[data-member="${leader}"][data-role="leader"]`, { timeout: 10_000 });
    expect(await page.locator('#members tbody tr[data-member]').count()).toBe(3);
    expect(await page.locator('#leader-id').textContent()).toBe(leader);
    expect(await page.locator('#members tbody tr[data-health="ready"]').count()).toBe(3);

    await cluster.kill(leader);
    const killedAtMs = Date.now();
    const row = await page.waitForSelector(`tr.leader[data-role="leader"]:not([data-member="${leader}"])`, { timeout: NEW_LEADER_SHOWN_MS_MAX });
    const shownAfterMs = Date.now() - killedAtMs;
    const shown = await row.getAttribute('data-member');
    console.log(`[status-page] ${watched}'s page showed ${shown} as the new leader ${shownAfterMs} ms after ${leader} was killed`);
    expect(shown).toBe(await cluster.leader({ exclude: [leader] }));
    expect(await page.locator('#leader-id').textContent()).toBe(shown);
    await page.waitForSelector(`tr[data-member="${leader}"][data-health="unreachable"]`, { timeout: 5_000 });

    expect(problems).toEqual([]);
    expect(requested.filter((url) => !url.startsWith(`${origin}/`))).toEqual([]);
  });
});
