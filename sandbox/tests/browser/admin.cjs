// A superuser runs the admin in headless Chromium while Bob has his chat list open: she finds
// Bob by searching the users, unticks "Active" in his change form, and Bob's open page loses its
// socket at once (and cannot renew it); the "inactive" filter then lists him, and a wrong new
// password is refused on the form. Run by tests/browser.rs.
//
// usage: node admin.cjs BASE_URL   (same environment as chat.cjs)
// stdout protocol: "SUPERUSER" asks the test to create root@example.com with the password
// "a root password"; it answers "READY" on stdin.
'use strict';
const { chromium } = require('playwright-core');
const readline = require('node:readline');

const base = process.argv[2];
const shots = process.env.CHANX_TEST_SCREENSHOTS || '.';
const stdin = readline.createInterface({ input: process.stdin });
const nextLine = () => new Promise((resolve) => stdin.once('line', resolve));
const step = (text) => console.error(`step: ${text}`);

(async () => {
  const browser = await chromium.launch({ executablePath: process.env.CHANX_TEST_CHROMIUM || '/usr/bin/chromium', args: ['--no-sandbox'] });
  const problems = [];
  try {
    const bob = await (await browser.newContext()).newPage();
    const root = await (await browser.newContext()).newPage();
    for (const page of [bob, root]) page.on('pageerror', (error) => problems.push(error.message));

    step('bob registers; his chat list is live');
    await bob.goto(`${base}/login?next=/chat/`);
    const register = bob.locator('#registerForm');
    await register.locator('[name=email]').fill('bob@example.com');
    await register.locator('[name=password1]').fill('a browser password');
    await register.locator('[name=password2]').fill('a browser password');
    await register.locator('button').click();
    await bob.waitForURL(`${base}/chat/`);
    await bob.locator('#connectionStatus[data-state=connected]').waitFor({ timeout: 10000 });

    step('the superuser logs in and opens the users from the admin');
    console.log('SUPERUSER');
    if (await nextLine() !== 'READY') throw new Error('no superuser');
    await root.goto(`${base}/login?next=/admin/`);
    const login = root.locator('#loginForm');
    await login.locator('[name=email]').fill('root@example.com');
    await login.locator('[name=password]').fill('a root password');
    await login.locator('button').click();
    await root.waitForURL(`${base}/admin/`);
    await root.locator('.admin-models a', { hasText: 'Users' }).click();
    await root.waitForURL(`${base}/admin/users/`);

    step('she searches for bob and opens his change form');
    await root.locator('.admin-search [name=q]').fill('BOB@');
    await root.locator('.admin-search button').click();
    await root.locator('[data-total="1"]').waitFor({ timeout: 10000 });
    await root.locator('a[data-row]').click();
    await root.locator('h1', { hasText: 'Change user bob@example.com' }).waitFor({ timeout: 10000 });

    step('a mismatched password is refused on the form');
    const form = root.locator('form.admin-form');
    await form.locator('[name=password1]').fill('a new long password');
    await form.locator('[name=password2]').fill('something else');
    await form.locator('button').click();
    await root.locator('.error', { hasText: "The two password fields didn't match." }).waitFor({ timeout: 10000 });

    step('she unticks Active and saves: bob\'s open page loses its socket');
    await form.locator('[name=is_active]').uncheck();
    await form.locator('button').click();
    await root.waitForURL(`${base}/admin/users/`);
    await root.locator('.notice', { hasText: 'bob@example.com was changed.' }).waitFor({ timeout: 10000 });
    await bob.locator('#connectionStatus[data-state=disconnected]').waitFor({ timeout: 10000 });

    step('the inactive filter lists him');
    await root.locator('.admin-search select[name=active]').selectOption('no');
    await root.locator('.admin-search button').click();
    await root.locator('[data-total="1"]').waitFor({ timeout: 10000 });
    await root.locator('td', { hasText: 'bob@example.com' }).waitFor({ timeout: 10000 });
    await root.screenshot({ path: `${shots}/browser-admin.png`, fullPage: true });

    step('bob, reloading, is signed out');
    await bob.reload();
    await bob.locator('nav a', { hasText: 'Log in' }).waitFor({ timeout: 10000 });
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
