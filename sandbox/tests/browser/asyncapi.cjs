// Opens the offline AsyncAPI page (`/asyncapi/`) as a frontend developer would and checks that
// the descriptions' Markdown is rendered: inline code as <code>, no rustdoc link brackets, no
// raw backticks. Run by tests/browser.rs, which starts the server.
//
// usage: node asyncapi.cjs BASE_URL   (playwright-core from NODE_PATH, Chromium from CHANX_TEST_CHROMIUM)
'use strict';
const { chromium } = require('playwright-core');

const base = process.argv[2];
const shots = process.env.CHANX_TEST_SCREENSHOTS || '.';

(async () => {
  const browser = await chromium.launch({ executablePath: process.env.CHANX_TEST_CHROMIUM || '/usr/bin/chromium', args: ['--no-sandbox'] });
  const problems = [];
  try {
    const page = await (await browser.newContext({ offline: true })).newPage();
    page.on('pageerror', (error) => problems.push(error.message));
    // The page is fetched before going offline: everything else must be inline.
    await page.context().setOffline(false);
    await page.goto(`${base}/asyncapi/`);
    await page.context().setOffline(true);
    await page.locator('section.channel').first().waitFor({ timeout: 10000 });
    // Pong's description is "`{"action": "pong", "payload": null}`, the usual answer to `Ping`."
    const pong = page.locator('summary', { hasText: 'the usual answer to' }).first();
    await pong.waitFor({ state: 'attached', timeout: 10000 });
    const codes = await pong.locator('code').allTextContents();
    if (!codes.includes('Ping')) problems.push(`Pong's description has no <code>Ping</code>: ${codes}`);
    const text = await page.locator('main').innerText();
    if (text.includes('[`')) problems.push('a rustdoc link is shown as text');
    if (/`[A-Za-z]+`/.test(text)) problems.push('raw backticks are shown');
    await page.screenshot({ path: `${shots}/browser-asyncapi.png`, fullPage: true });
  } catch (error) {
    problems.push(String(error && error.stack || error));
  } finally {
    await browser.close();
  }
  if (problems.length) {
    console.error(problems.join('\n'));
    process.exit(1);
  }
  console.log('OK');
})();
