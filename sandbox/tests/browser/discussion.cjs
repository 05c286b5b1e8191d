// Two signed-in people use the forum in headless Chromium: a question, an answer, a vote and an
// accepted answer each appear in the other's window without a reload, and the topic list, which
// follows every question it shows over its one socket, counts new answers, also once it has
// reconnected after a server restart. Then edits and deletions: the question's and the answer's
// new text, a deleted answer and a deleted question show in the other windows, none reloading.
// Run by tests/browser.rs.
//
// usage: node discussion.cjs BASE_URL   (same environment and RESTART protocol as chat.cjs)
'use strict';
const { chromium } = require('playwright-core');
const readline = require('node:readline');

const base = process.argv[2];
const shots = process.env.CHANX_TEST_SCREENSHOTS || '.';
const step = (text) => console.error(`step: ${text}`);
const stdin = readline.createInterface({ input: process.stdin });
const restarted = () => new Promise((resolve) => stdin.once('line', resolve));

async function register(page, email) {
  await page.goto(`${base}/login?next=/discussion/`);
  const form = page.locator('#registerForm');
  await form.locator('[name=email]').fill(email);
  await form.locator('[name=password1]').fill('a browser password');
  await form.locator('[name=password2]').fill('a browser password');
  await form.locator('button').click();
  await page.waitForURL(`${base}/discussion/`);
  await page.locator('#connectionStatus[data-state=connected]').waitFor({ timeout: 15000 });
}

(async () => {
  const browser = await chromium.launch({ executablePath: process.env.CHANX_TEST_CHROMIUM || '/usr/bin/chromium', args: ['--no-sandbox'] });
  const problems = [];
  try {
    const [ada, bob] = [await (await browser.newContext()).newPage(), await (await browser.newContext()).newPage()];
    for (const [name, page] of [['ada', ada], ['bob', bob]]) page.on('pageerror', (error) => problems.push(`${name}: ${error.message}`));
    await register(ada, 'ada@example.com');
    await register(bob, 'bob@example.com');

    step('ada asks; the question appears in bob\'s list');
    await ada.locator('a', { hasText: 'Ask Question' }).click();
    await ada.locator('#id_title').fill('How do <b>sockets</b> reconnect?');
    await ada.locator('#id_content').fill('Asking for a friend.');
    await ada.locator('#newTopicForm button').click();
    await ada.waitForURL(/\/discussion\/\d+\/$/);
    const topicUrl = ada.url();
    await ada.locator('#connectionStatus[data-state=connected]').waitFor({ timeout: 15000 });
    const item = bob.locator('#topicList .title', { hasText: 'How do <b>sockets</b> reconnect?' });
    await item.waitFor({ timeout: 10000 });
    if (await bob.locator('#topicList b').count() !== 0) problems.push('a title was rendered as HTML');

    step('ada\'s second tab lists the questions and follows each over the list\'s socket');
    const adaList = await ada.context().newPage();
    adaList.on('pageerror', (error) => problems.push(`ada's list: ${error.message}`));
    await adaList.goto(`${base}/discussion/`);
    const topicId = new URL(topicUrl).pathname.split('/')[2];
    const listed = adaList.locator(`#topicList [data-topic-id="${topicId}"]`);
    await adaList.locator(`#topicList [data-topic-id="${topicId}"][data-following="true"]`).waitFor({ timeout: 15000 });
    if (await listed.locator('.new-answers').isVisible()) problems.push('"New answers" shown before any answer');

    step('bob answers; the answer appears on ada\'s page');
    await item.click();
    await bob.waitForURL(topicUrl);
    await bob.locator('#connectionStatus[data-state=connected]').waitFor({ timeout: 15000 });
    await bob.locator('#newAnswerContent').fill('With backoff.');
    const started = Date.now();
    await bob.locator('#answerForm button').click();
    await ada.locator('.reply .text', { hasText: 'With backoff.' }).waitFor({ timeout: 10000 });
    console.error(`measured: forum answer, click in one window to shown in the other: ${Date.now() - started} ms`);

    step('ada\'s list counts the answer and marks the question');
    await listed.locator('.reply-count', { hasText: '1' }).waitFor({ timeout: 10000 });
    await listed.locator('.new-answers:not([hidden])').waitFor({ timeout: 10000 });
    await adaList.screenshot({ path: `${shots}/browser-discussion-list.png`, fullPage: true });

    step('bob votes the question up; ada sees the count');
    await bob.locator('.vote-buttons[data-target-type=topic] .vote-btn[data-vote="1"]').click();
    await ada.locator('.vote-buttons[data-target-type=topic] .vote-score-display', { hasText: '1' }).waitFor({ timeout: 10000 });

    step('ada accepts the answer; bob sees it accepted');
    await ada.locator('.reply .accept-btn').click();
    await bob.locator('.reply.accepted .accepted-badge:not([hidden])').waitFor({ timeout: 10000 });
    await ada.locator('.reply .accept-btn', { hasText: 'Unaccept' }).waitFor({ timeout: 10000 });
    await bob.screenshot({ path: `${shots}/browser-discussion.png`, fullPage: true });

    step('the server restarts; ada\'s list follows its questions again and counts the next answer');
    console.log('RESTART');
    await restarted();
    const following = adaList.locator(`#topicList [data-topic-id="${topicId}"][data-following="true"]`);
    await adaList.locator('#connectionStatus[data-state=connected]').waitFor({ timeout: 20000 });
    await following.waitFor({ timeout: 15000 });
    await bob.locator('#connectionStatus[data-state=connected]').waitFor({ timeout: 20000 });
    await bob.locator('#newAnswerContent').fill('Or with a fresh socket.');
    await bob.locator('#answerForm button').click();
    await listed.locator('.reply-count', { hasText: '2' }).waitFor({ timeout: 10000 });

    // No page below reloads: each keeps a mark that a reload would lose.
    for (const page of [ada, bob, adaList]) await page.evaluate(() => { window.notReloaded = true; });
    await ada.locator('#connectionStatus[data-state=connected]').waitFor({ timeout: 20000 });

    step('ada edits her question; bob\'s page and ada\'s list show it at once');
    await ada.locator('#topicContent ~ .owner-actions .edit-btn').click();
    await ada.locator('.edit-form [name=title]').fill('How do sockets reconnect, <i>really</i>?');
    await ada.locator('.edit-form [name=content]').fill('Asking for a friend, with details.');
    // From the moment the request leaves (the click itself may wait for the button to settle).
    const requested = ada.waitForRequest((r) => r.method() === 'PATCH').then(() => Date.now());
    await ada.locator('.edit-form button[type=submit]').click();
    await bob.locator('#topicTitle', { hasText: 'How do sockets reconnect, <i>really</i>?' }).waitFor({ timeout: 10000 });
    console.error(`measured: forum edit, request sent in one window to shown in the other: ${Date.now() - await requested} ms`);
    await bob.locator('#topicContent', { hasText: 'Asking for a friend, with details.' }).waitFor({ timeout: 10000 });
    await listed.locator('.title', { hasText: 'How do sockets reconnect, <i>really</i>?' }).waitFor({ timeout: 10000 });
    if (await bob.locator('#topicTitle i').count() !== 0) problems.push('an edited title was rendered as HTML');
    if (await ada.locator('.edit-form').count() !== 0) problems.push('the edit form stayed open after saving');

    step('bob edits his answer; ada sees the new text');
    const bobsAnswer = bob.locator('.reply', { hasText: 'With backoff.' });
    await bobsAnswer.locator('.edit-btn').click();
    await bobsAnswer.locator('.edit-form textarea').fill('With exponential backoff.');
    await bobsAnswer.locator('.edit-form button[type=submit]').click();
    await ada.locator('.reply .text', { hasText: 'With exponential backoff.' }).waitFor({ timeout: 10000 });

    step('bob deletes his accepted answer; ada\'s page drops it, her list counts one and shows it unanswered');
    bob.on('dialog', (dialog) => dialog.accept());
    ada.on('dialog', (dialog) => dialog.accept());
    await listed.locator('.answered:not([hidden])').waitFor({ timeout: 10000 });
    await bob.locator('.reply', { hasText: 'With exponential backoff.' }).locator('.delete-btn').click();
    await ada.locator('.reply', { hasText: 'With exponential backoff.' }).waitFor({ state: 'detached', timeout: 10000 });
    await ada.locator('#answerCount', { hasText: '1' }).waitFor({ timeout: 10000 });
    await listed.locator('.reply-count', { hasText: '1' }).waitFor({ timeout: 10000 });
    await listed.locator('.answered').waitFor({ state: 'hidden', timeout: 10000 });

    step('ada deletes the question; bob\'s page says so and ada\'s list drops it');
    await ada.locator('#topicContent ~ .owner-actions .delete-btn').click();
    await bob.locator('#topicDeleted', { hasText: 'This question was deleted' }).waitFor({ timeout: 10000 });
    await listed.waitFor({ state: 'detached', timeout: 10000 });
    await ada.locator('#topicDeleted').waitFor({ timeout: 10000 });
    await bob.locator('#connectionStatus[data-state=disconnected]').waitFor({ state: 'attached', timeout: 10000 });
    await bob.screenshot({ path: `${shots}/browser-discussion-deleted.png`, fullPage: true });
    for (const [name, page] of [['ada', ada], ['bob', bob], ['ada\'s list', adaList]]) {
      if (!await page.evaluate(() => window.notReloaded === true)) problems.push(`${name}'s page reloaded`);
    }
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
