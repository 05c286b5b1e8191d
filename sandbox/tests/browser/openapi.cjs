// Opens Swagger UI (/api/schema/swg/) and ReDoc (/api/schema/redoc/) with every request to
// another origin refused, and checks that each renders the REST API's operations from the
// app's own files. Run by tests/browser.rs, which starts the server.
//
// usage: node openapi.cjs BASE_URL   (playwright-core from NODE_PATH, Chromium from CHANX_TEST_CHROMIUM)
'use strict';
const { chromium } = require('playwright-core');

const base = process.argv[2];
const shots = process.env.CHANX_TEST_SCREENSHOTS || '.';

(async () => {
  const browser = await chromium.launch({ executablePath: process.env.CHANX_TEST_CHROMIUM || '/usr/bin/chromium', args: ['--no-sandbox'] });
  const problems = [];
  try {
    const context = await browser.newContext();
    // No network but the app: a page that needs a CDN fails here.
    await context.route('**/*', (route) => {
      const url = route.request().url();
      if (url.startsWith(base) || url.startsWith('blob:') || url.startsWith('data:')) return route.continue();
      problems.push(`a request left the app: ${url}`);
      return route.abort();
    });
    const page = await context.newPage();
    page.on('pageerror', (error) => problems.push(error.message));

    await page.goto(`${base}/api/schema/swg/`);
    await page.locator('.opblock-summary-path', { hasText: '/api/chat/' }).first().waitFor({ timeout: 15000 });
    const operations = await page.locator('.opblock').count();
    if (operations < 50) problems.push(`Swagger UI shows ${operations} operations`);
    if (!(await page.locator('.btn.authorize').count())) problems.push('Swagger UI has no Authorize button');
    await page.screenshot({ path: `${shots}/browser-swagger.png` });

    await page.goto(`${base}/api/schema/redoc/`);
    await page.locator('h2', { hasText: 'Create a chat; the user becomes its owner' }).first().waitFor({ timeout: 15000 });
    const title = await page.locator('h1').first().innerText();
    if (!title.includes('Chanx Example API Documentation')) problems.push(`ReDoc's title is ${title}`);
    await page.screenshot({ path: `${shots}/browser-redoc.png` });
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
