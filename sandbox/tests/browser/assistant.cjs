// An anonymous visitor asks the offline assistant a question in headless Chromium and watches
// the answer stream in: the cursor shows while it streams, the markdown is rendered, the
// visitor's own text, echoed by the model, stays text, and the conversation's title (made from
// that first message) replaces "New Conversation" without a reload; a second answer whose socket
// drops mid-stream is shown whole, once, after the page reconnects (from the answer so far), and
// so is a third whose answer ends while the page is away (from the saved reply). Run by
// tests/browser.rs.
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
    // The page's sockets and the actions they received, so the script can drop one.
    await page.addInitScript(() => {
      const Native = window.WebSocket;
      window.sockets = [];
      window.actions = [];
      window.WebSocket = class extends Native {
        constructor(url, ...rest) {
          // While the script holds them, sockets go nowhere: the page stays away.
          super(window.holdSockets ? 'ws://127.0.0.1:9/' : url, ...rest);
          window.sockets.push(this);
          this.addEventListener('message', (event) => { try { window.actions.push(JSON.parse(event.data).action); } catch { /* not JSON */ } });
        }
      };
    });

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

    step('the socket drops mid-answer; the answer is shown whole, once');
    // A long message makes a long offline answer (it is quoted), still streaming after the
    // page's 1-second reconnect delay.
    const words = Array.from({ length: 40 }, (_, n) => `w${n}`).join(' ');
    await page.locator('#chatInput').fill(words);
    await page.locator('#chatInput').press('Enter');
    await page.locator('.message.streaming .cursor').waitFor({ timeout: 10000 });
    await page.evaluate(() => { window.actions = []; window.sockets.at(-1).close(); });
    await page.waitForFunction(() => window.sockets.length >= 2 && window.actions.includes('authentication'), null, { timeout: 15000 });
    await page.locator('.message.assistant:not(.streaming):not(.welcome)', { hasText: 'w39' }).waitFor({ timeout: 15000 });
    await page.waitForFunction(() => document.querySelectorAll('.message.streaming').length === 0, null, { timeout: 15000 });
    const resumed = await page.evaluate(() => window.actions.includes('answer_so_far'));
    console.error(`measured: assistant, the dropped answer came back by ${resumed ? 'answer_so_far' : 'the saved reply'}`);
    const replies = await page.locator('.message.assistant:not(.welcome):not(.error)').allInnerTexts();
    if (replies.length !== 2) problems.push(`expected 2 answers, found ${replies.length}: ${JSON.stringify(replies)}`);
    const second = replies.at(-1) || '';
    const count = (text) => second.split(text).length - 1;
    if (count('offline demo model') !== 1 || count('w39') !== 1 || count('to talk to a real model') !== 1) {
      problems.push(`the resumed answer is not whole and once: ${second}`);
    }

    step('the answer ends while the page is away; the saved reply replaces the unfinished one');
    const more = Array.from({ length: 40 }, (_, n) => `v${n}`).join(' ');
    await page.locator('#chatInput').fill(more);
    await page.locator('#chatInput').press('Enter');
    await page.locator('.message.streaming .cursor').waitFor({ timeout: 10000 });
    await page.evaluate(() => { window.holdSockets = true; window.actions = []; window.sockets.at(-1).close(); });
    const saved = `/api/assistants/anonymous/${await page.evaluate(() => document.body.dataset.conversationId)}/messages/?limit=100`;
    const until = Date.now() + 20000;
    while ((await page.evaluate(async (url) => (await (await fetch(url)).json()).count, saved)) < 6) {
      if (Date.now() > until) throw new Error('the third answer was never saved');
      await page.waitForTimeout(200);
    }
    await page.evaluate(() => { window.holdSockets = false; });
    await page.locator('.message.assistant:not(.streaming):not(.welcome)', { hasText: 'v39' }).waitFor({ timeout: 20000 });
    if (await page.evaluate(() => window.actions.includes('answer_so_far'))) problems.push(`an answer that had ended was resumed: ${JSON.stringify(await page.evaluate(() => [window.actions, window.sockets.map((s) => s.url)]))}`);
    if (await page.locator('.message.streaming').count() !== 0) problems.push('the unfinished answer stayed');
    const all = await page.locator('.message.assistant:not(.welcome):not(.error)').allInnerTexts();
    if (all.length !== 3) problems.push(`expected 3 answers, found ${all.length}: ${JSON.stringify(all)}`);
    const third = all.at(-1) || '';
    if (third.split('v39').length !== 2 || third.split('offline demo model').length !== 2) problems.push(`the saved reply is not shown once: ${third}`);
    if (!(await page.locator('#sendButton').isEnabled())) problems.push('send stayed disabled after the saved reply');

    step('the conversation survives a reload');
    await page.reload();
    await page.locator('.message.assistant:not(.welcome) strong', { hasText: 'offline demo model' }).first().waitFor({ timeout: 10000 });
    if (await page.locator('.message.assistant:not(.welcome)').count() !== 3) problems.push('after a reload, not the three answers');
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
