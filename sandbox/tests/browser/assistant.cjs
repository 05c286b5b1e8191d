// An anonymous visitor asks the offline assistant a question in headless Chromium and watches
// the answer stream in: the cursor shows while it streams, the markdown is rendered, the
// visitor's own text, echoed by the model, stays text, and the conversation's title (made from
// that first message) replaces "New Conversation" without a reload. Run by tests/browser.rs.
//
// usage: node assistant.cjs BASE_URL   (same environment as chat.cjs)
'use strict';
const { chromium } = require('playwright-core');

const base = process.argv[2];
const shots = process.env.CHANX_TEST_SCREENSHOTS || '.';
const step = (text) => console.error(`step: ${text}`);

(async () => {
  const browser = await chromium.launch({ executablePath: process.env.CHANX_TEST_CHROMIUM || '/usr/bin/chromium', args: ['--no-sandbox'] });
  const problems = [];
  try {
    const page = await (await browser.newContext()).newPage();
    page.on('pageerror', (error) => problems.push(error.message));

    step('the visitor starts an anonymous chat');
    await page.goto(`${base}/assistants/`);
    await page.locator('#offlineNotice').waitFor();
    await page.locator('#startAnonymous').click();
    await page.waitForURL(/\/assistants\/[0-9a-f-]{36}\/$/);
    await page.locator('#connectionStatus[data-state=connected]').waitFor({ timeout: 15000 });

    step('the answer streams in with a cursor');
    const question = 'Hi <img src=x onerror="window.owned=1"> there';
    if ((await page.locator('#conversationTitle').innerText()) !== 'New Conversation') problems.push('a new conversation has a title');
    await page.evaluate(() => { window.notReloaded = true; });
    await page.locator('#chatInput').fill(question);
    const started = Date.now();
    await page.locator('#chatInput').press('Enter');
    await page.locator('.message.streaming .cursor').waitFor({ timeout: 10000 });
    console.error(`measured: assistant, Enter to first streamed token shown: ${Date.now() - started} ms`);
    await page.locator('#stopButton:not([hidden])').waitFor();
    await page.screenshot({ path: `${shots}/browser-assistant-streaming.png` });
    await page.locator('.message.assistant:not(.streaming):not(.welcome) strong', { hasText: 'offline demo model' }).waitFor({ timeout: 15000 });
    if (await page.locator('.cursor').count() !== 0) problems.push('the cursor stayed after the answer was complete');
    if (await page.locator('#messages img').count() !== 0) problems.push('user text was rendered as HTML');
    if (await page.evaluate(() => window.owned === 1)) problems.push('a script ran');
    const answer = await page.locator('.message.assistant:not(.welcome)').last().innerText();
    if (!answer.includes('<img src=x')) problems.push(`the echoed text is missing: ${answer}`);
    if (!(await page.locator('#sendButton').isEnabled())) problems.push('send stayed disabled');

    step('the title arrives live');
    await page.waitForFunction((title) => document.getElementById('conversationTitle').textContent === title, question, { timeout: 10000 });
    if (!(await page.evaluate(() => window.notReloaded === true))) problems.push('the page reloaded to show the title');
    if (!(await page.title()).startsWith(question)) problems.push(`the window title did not follow: ${await page.title()}`);
    if (await page.locator('#messages img, h1 img').count() !== 0) problems.push('the title was rendered as HTML');
    if (!(await page.locator('#stopButton').isHidden())) problems.push('the stop button stayed visible');

    step('the conversation survives a reload');
    await page.reload();
    await page.locator('.message.assistant:not(.welcome) strong', { hasText: 'offline demo model' }).waitFor({ timeout: 10000 });
    await page.screenshot({ path: `${shots}/browser-assistant.png`, fullPage: true });
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
