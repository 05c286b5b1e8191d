// One person manages their account in headless Chromium: sets their names, changes their password
// (a wrong current password is refused on the page), logs in with the new one, forgets it, asks
// for a reset link, opens the mailed link, chooses another password and logs in with it; a used
// link then shows as dead. Run by tests/browser.rs.
//
// usage: node account.cjs BASE_URL   (same environment as chat.cjs)
// stdout protocol: "MAIL" asks the test for the link of the next mail its SMTP sink receives,
// which it answers on stdin.
'use strict';
const { chromium } = require('playwright-core');
const readline = require('node:readline');

const base = process.argv[2];
const shots = process.env.CHANX_TEST_SCREENSHOTS || '.';
const stdin = readline.createInterface({ input: process.stdin });
const nextLine = () => new Promise((resolve) => stdin.once('line', resolve));
const step = (text) => console.error(`step: ${text}`);

async function logIn(page, password) {
  await page.goto(`${base}/login?next=/account/`);
  const form = page.locator('#loginForm');
  await form.locator('[name=email]').fill('ada@example.com');
  await form.locator('[name=password]').fill(password);
  await form.locator('button').click();
  await page.waitForURL(`${base}/account/`);
}

(async () => {
  const browser = await chromium.launch({ executablePath: process.env.CHANX_TEST_CHROMIUM || '/usr/bin/chromium', args: ['--no-sandbox'] });
  const problems = [];
  try {
    const page = await (await browser.newContext()).newPage();
    page.on('pageerror', (error) => problems.push(error.message));

    step('ada registers and opens her account from the navigation bar');
    await page.goto(`${base}/login?next=/chat/`);
    const register = page.locator('#registerForm');
    await register.locator('[name=email]').fill('ada@example.com');
    await register.locator('[name=password1]').fill('a browser password');
    await register.locator('[name=password2]').fill('a browser password');
    await register.locator('button').click();
    await page.waitForURL(`${base}/chat/`);
    await page.locator('nav a.who', { hasText: 'ada@example.com' }).click();
    await page.waitForURL(`${base}/account/`);

    step('she sets her names; they are there after a reload');
    await page.locator('#profileForm [name=firstName]').fill('Ada');
    await page.locator('#profileForm [name=lastName]').fill('Lovelace');
    await page.locator('#profileForm button').click();
    await page.locator('.notice', { hasText: 'Your names were saved.' }).waitFor({ timeout: 10000 });
    await page.reload();
    if (await page.locator('#profileForm [name=lastName]').inputValue() !== 'Lovelace') problems.push('the last name was not saved');

    step('a wrong current password is refused; the right one changes it');
    const change = page.locator('#passwordChangeForm');
    await change.locator('[name=oldPassword]').fill('not my password');
    await change.locator('[name=newPassword1]').fill('a changed password');
    await change.locator('[name=newPassword2]').fill('a changed password');
    await change.locator('button').click();
    await change.locator('[data-error]', { hasText: 'Your old password was entered incorrectly.' }).waitFor({ timeout: 10000 });
    await change.locator('[name=oldPassword]').fill('a browser password');
    await change.locator('button').click();
    await page.locator('.notice', { hasText: 'New password has been saved.' }).waitFor({ timeout: 10000 });
    // This browser got a new session with the answer: still signed in.
    await page.reload();
    await page.locator('nav a.who', { hasText: 'ada@example.com' }).waitFor({ timeout: 10000 });

    step('she logs out and in with the new password');
    await page.locator('#logout').click();
    await page.waitForURL(`${base}/login`);
    await logIn(page, 'a changed password');

    step('she forgets it, and asks for a link');
    await page.locator('#logout').click();
    await page.waitForURL(`${base}/login`);
    await page.locator('a', { hasText: 'Forgot your password?' }).click();
    await page.waitForURL(`${base}/account/password/reset/`);
    await page.locator('#passwordResetForm [name=email]').fill('ada@example.com');
    await page.locator('#passwordResetForm button').click();
    await page.locator('#resetSent:not([hidden])').waitFor({ timeout: 10000 });
    console.log('MAIL');
    const link = new URL(await nextLine());
    const linkPath = link.pathname;

    step('the mailed link sets another password');
    await page.goto(`${base}${linkPath}`);
    const confirm = page.locator('#passwordResetConfirmForm');
    await confirm.locator('[name=newPassword1]').fill('a reset password');
    await confirm.locator('[name=newPassword2]').fill('another one');
    await confirm.locator('button').click();
    await confirm.locator('[data-error]', { hasText: "The two password fields didn't match." }).waitFor({ timeout: 10000 });
    await confirm.locator('[name=newPassword2]').fill('a reset password');
    await confirm.locator('button').click();
    await page.waitForURL(`${base}/login`);
    await page.locator('.notice', { hasText: 'Your password was reset' }).waitFor({ timeout: 10000 });
    await logIn(page, 'a reset password');
    await page.screenshot({ path: `${shots}/browser-account.png`, fullPage: true });

    step('the used link is dead');
    await page.goto(`${base}${linkPath}`);
    await page.locator('#resetLinkInvalid').waitFor({ timeout: 10000 });
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
