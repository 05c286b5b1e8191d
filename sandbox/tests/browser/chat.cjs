// Drives two real browser windows through the chat, as a new user would:
// register, create a chat, add a second user, see each other online, talk both ways live, get
// what was posted while the server had dropped one's socket (once each, without a reload),
// survive a server restart, and remove the second user. Run by tests/browser.rs, which starts
// the server.
//
// usage: node chat.cjs BASE_URL   (playwright-core from NODE_PATH, Chromium from CHANX_TEST_CHROMIUM,
// screenshots into CHANX_TEST_SCREENSHOTS)
// stdout protocol: "RESTART" asks the test to restart the server; the test answers "RESTARTED" on stdin.
// "DROP email" asks the server to drop that user's sockets; the test answers "DROPPED".
'use strict';
const { chromium } = require('playwright-core');
const readline = require('node:readline');

const base = process.argv[2];
const shots = process.env.CHANX_TEST_SCREENSHOTS || '.';
const stdin = readline.createInterface({ input: process.stdin });
const restarted = () => new Promise((resolve) => stdin.once('line', resolve));
const answered = restarted;
const step = (text) => console.error(`step: ${text}`);

async function register(page, email) {
  await page.goto(`${base}/login?next=/chat/`);
  const form = page.locator('#registerForm');
  await form.locator('[name=email]').fill(email);
  await form.locator('[name=password1]').fill('a browser password');
  await form.locator('[name=password2]').fill('a browser password');
  await form.locator('button').click();
  await page.waitForURL(`${base}/chat/`);
}

async function connected(page) {
  await page.locator('#connectionStatus[data-state=connected]').waitFor({ timeout: 15000 });
}

(async () => {
  const browser = await chromium.launch({ executablePath: process.env.CHANX_TEST_CHROMIUM || '/usr/bin/chromium', args: ['--no-sandbox'] });
  const problems = [];
  try {
    const [ada, bob] = [await (await browser.newContext()).newPage(), await (await browser.newContext()).newPage()];
    for (const [name, page] of [['ada', ada], ['bob', bob]]) {
      page.on('pageerror', (error) => problems.push(`${name}: ${error.message}`));
      page.on('dialog', (dialog) => dialog.accept());
    }

    step('ada registers and creates a chat');
    await register(ada, 'ada@example.com');
    await ada.locator('#newChatForm [name=title]').fill('Browser <i>chat</i>');
    await ada.locator('#newChatForm button').click();
    await ada.waitForURL(/\/chat\/\d+\/$/);
    const chatUrl = ada.url();

    step('bob registers and watches his (empty) chat list');
    await register(bob, 'bob@example.com');
    await connected(bob);

    step('ada adds bob; his list updates live');
    await ada.goto(`${chatUrl}members/`);
    await ada.locator('#addMemberForm [name=email]').fill('bob@example.com');
    await ada.locator('#addMemberForm button').click();
    await ada.locator('table.members td', { hasText: 'bob@example.com' }).waitFor();
    await bob.locator('#groupChatList .title', { hasText: 'Browser <i>chat</i>' }).waitFor({ timeout: 10000 });
    if (await bob.locator('#groupChatList i').count() !== 0) problems.push('a chat title was rendered as HTML');

    step('both open the chat; messages flow both ways');
    await ada.goto(chatUrl);
    await bob.goto(chatUrl);
    await connected(ada);
    await connected(bob);
    await ada.locator('#messageInput').fill('<b>hello bob</b>');
    let started = Date.now();
    await ada.locator('#messageForm button').click();
    await bob.locator('.message .content', { hasText: '<b>hello bob</b>' }).waitFor({ timeout: 10000 });
    console.error(`measured: chat message, click in one window to shown in the other: ${Date.now() - started} ms`);
    if (await bob.locator('.message .content b').count() !== 0) problems.push('a message was rendered as HTML');
    await bob.locator('#messageInput').fill('hi ada');
    await bob.locator('#messageForm button').click();
    await ada.locator('.message:not(.mine) .content', { hasText: 'hi ada' }).waitFor({ timeout: 10000 });
    await ada.locator('.message.mine .content', { hasText: '<b>hello bob</b>' }).waitFor();

    step('each sees who is online');
    await ada.locator('#onlineMembers li', { hasText: 'bob@example.com' }).waitFor({ timeout: 10000 });
    await ada.locator('#onlineMembers li', { hasText: 'ada@example.com (you)' }).waitFor();
    await bob.locator('#onlineMembers li', { hasText: 'ada@example.com' }).waitFor({ timeout: 10000 });

    await bob.screenshot({ path: `${shots}/browser-chat-room.png`, fullPage: true });

    step('the server drops ada\'s socket; bob posts while she is away');
    await ada.evaluate(() => { window.sameDocument = true; });
    const listLoads = [];
    ada.on('request', (request) => {
      if (request.method() === 'GET' && /\/api\/chat\/\d+\/messages\//.test(request.url())) listLoads.push(request.url());
    });
    console.log('DROP ada@example.com');
    await answered();
    await ada.locator('#connectionStatus[data-state=disconnected]').waitFor({ timeout: 10000 });
    // Offline until bob has posted: her page cannot come back before (it retries after 1 s).
    await ada.context().setOffline(true);
    await bob.locator('#onlineMembers li', { hasText: 'ada@example.com' }).waitFor({ state: 'detached', timeout: 10000 });
    const missed = ['missed one', 'missed two', 'missed three'];
    for (const text of missed) {
      await bob.locator('#messageInput').fill(text);
      await bob.locator('#messageForm button').click();
      await bob.locator('.message .content', { hasText: text }).waitFor({ timeout: 10000 });
    }
    if (await ada.locator('.message .content', { hasText: 'missed one' }).count() !== 0) problems.push('a message reached the page while it was offline');
    if (await ada.locator('#connectionStatus').getAttribute('data-state') === 'connected') problems.push('the offline page was connected');

    step('she comes back and sees each missed message once, without a reload');
    started = Date.now();
    await ada.context().setOffline(false);
    await connected(ada);
    await ada.locator('#notices .notice', { hasText: 'Reconnected: 3 missed messages shown' }).waitFor({ timeout: 10000 });
    console.error(`measured: missed messages shown ${Date.now() - started} ms after the network came back (incl. the page's retry backoff)`);
    // A live message after the recovered ones: anything the recovery sent twice would be before it.
    await bob.locator('#messageInput').fill('welcome back');
    await bob.locator('#messageForm button').click();
    await ada.locator('.message .content', { hasText: 'welcome back' }).waitFor({ timeout: 10000 });
    for (const text of [...missed, 'welcome back', '<b>hello bob</b>', 'hi ada']) {
      const shown = await ada.locator('.message .content', { hasText: text }).count();
      if (shown !== 1) problems.push(`"${text}" is shown ${shown} times after the recovery`);
    }
    const order = await ada.locator('.message .content').allTextContents();
    if (order.slice(-4).join('|') !== [...missed, 'welcome back'].join('|')) problems.push(`messages out of order: ${order.join('|')}`);
    if (!await ada.evaluate(() => window.sameDocument === true)) problems.push('the page was reloaded');
    if (listLoads.length !== 0) problems.push(`the message list was fetched again: ${listLoads.join(', ')}`);
    await bob.locator('#onlineMembers li', { hasText: 'ada@example.com' }).waitFor({ timeout: 10000 });
    await ada.screenshot({ path: `${shots}/browser-chat-recovered.png`, fullPage: true });

    step('the server restarts; both pages reconnect by themselves');
    console.log('RESTART');
    await restarted();
    started = Date.now();
    await ada.locator('#connectionStatus[data-state=disconnected], #connectionStatus[data-state=connecting]').first().waitFor({ timeout: 10000 }).catch(() => {});
    await connected(ada);
    await connected(bob);
    console.error(`measured: both pages reconnected ${Date.now() - started} ms after the server came back`);
    await bob.locator('#messageInput').fill('still here');
    await bob.locator('#messageForm button').click();
    await ada.locator('.message .content', { hasText: 'still here' }).waitFor({ timeout: 10000 });
    // The restarted server kept no history (memory layer): the pages reloaded their lists.
    for (const text of ['hi ada', 'missed two', 'still here']) {
      const shown = await ada.locator('.message .content', { hasText: text }).count();
      if (shown !== 1) problems.push(`"${text}" is shown ${shown} times after the restart`);
    }
    if (listLoads.length === 0) problems.push('the list was not reloaded after the server lost its history');

    step('ada removes bob; his page takes him back to his chats');
    await ada.goto(`${chatUrl}members/`);
    await ada.locator('form.remove-member button').click();
    await ada.waitForURL(`${chatUrl}members/`);
    await bob.waitForURL(`${base}/chat/`, { timeout: 10000 });
    await bob.locator('#notices .notice', { hasText: 'You have been removed from this group chat' }).waitFor();

    await ada.screenshot({ path: `${shots}/browser-chat-members.png`, fullPage: true });
  } catch (error) {
    problems.push(String(error && error.stack || error));
  } finally {
    await browser.close();
    stdin.close();
  }
  if (problems.length) {
    console.error(problems.join('\n'));
    process.exit(1);
  }
  console.log('OK');
})();
