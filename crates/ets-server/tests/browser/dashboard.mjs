// Drives the dashboard in headless Chromium: the public market page, login as a company
// representative, its holdings, an order through the form and the book that shows it, the
// language switch, and screenshots. Run by tests/browser.rs:
//   node dashboard.mjs <base-url> <screenshot.png>
// Chromium is Debian's (/usr/bin/chromium, or $CHROMIUM); nothing is downloaded.
import { chromium } from 'playwright-core';

const [base, shot] = process.argv.slice(2);
if (!base || !shot) {
  console.error('usage: node dashboard.mjs <base-url> <screenshot.png>');
  process.exit(2);
}
const variant = (suffix) => shot.replace(/\.png$/, `-${suffix}.png`);

function check(cond, what) {
  if (!cond) throw new Error(`check failed: ${what}`);
  console.log(`ok - ${what}`);
}

async function text(locator) {
  return ((await locator.textContent()) ?? '').replace(/\s+/g, ' ').trim();
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: [
    '--no-sandbox',
    '--disable-gpu',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
  ],
});
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  page.setDefaultTimeout(20000);
  // Nothing may come from anywhere but the server under test.
  const foreign = [];
  page.on('request', (r) => {
    if (!r.url().startsWith(base) && !r.url().startsWith('data:')) foreign.push(r.url());
  });
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  // The Content-Security-Policy refuses inline script and style: Chromium reports each refusal.
  const refused = [];
  page.on('console', (m) => {
    if (/Content Security Policy/i.test(m.text())) refused.push(m.text());
  });

  // The public market page, in Chinese by default.
  await page.goto(`${base}/?class=CEA-2019`);
  check((await page.getAttribute('html', 'lang')) === 'zh-CN', 'the pages are Chinese by default');
  check((await text(page.locator('h1'))) === '市场行情', 'the market page has its title');
  const headerColour = await page.locator('header.top').evaluate((e) => getComputedStyle(e).backgroundColor);
  check(headerColour === 'rgb(15, 61, 46)', `the stylesheet applies under the policy (${headerColour})`);
  check((await page.locator('svg.chart polyline').count()) === 1, 'the price chart draws a line');
  check((await page.locator('#trades tbody tr').count()) > 0, 'recent trades are listed');
  await page.screenshot({ path: variant('market'), fullPage: true });

  // The published compliance table in Chinese: provinces by their Chinese names.
  await page.goto(`${base}/compliance`);
  const totalsZh = await text(page.locator('#totals'));
  check(/山西/.test(totalsZh) && /广东/.test(totalsZh), `the Chinese table names 山西 and 广东 (${totalsZh.slice(0, 80)})`);
  check(!/Shanxi|Guangdong/.test(totalsZh), 'and not their English names');
  await page.screenshot({ path: variant('compliance-zh'), fullPage: true });
  await page.goto(`${base}/?class=CEA-2019`);

  // Log in as a company representative.
  await page.click('header a[href="/login"]');
  await page.fill('input[name=username]', 'rep-a');
  await page.fill('input[name=password]', 'rep-a-long-password');
  await Promise.all([page.waitForURL(/\/company$/), page.click('main button[type=submit]')]);
  check((await text(page.locator('#holdings-title'))) === '持仓', 'the company page shows 持仓');
  const holding = page.locator('#holdings tr[data-class="CEA-2019"]');
  await holding.waitFor();
  check(/CEA-2019/.test(await text(holding)) && /\d–\d/.test(await text(holding)), 'a CEA-2019 holding with its serial blocks');
  check((await page.locator('#approvals form[action$="/approve"]').count()) === 1, 'a transfer awaits this representative');

  // Place a sell order through the form: 55.00 yuan, 1,500 t.
  await page.selectOption('#order-form select[name=class]', 'CEA-2019');
  await page.selectOption('#order-form select[name=side]', 'sell');
  await page.fill('#order-form input[name=price]', '55.00');
  await page.fill('#order-form input[name=qty]', '1500');
  await Promise.all([
    page.waitForURL(/\/company\?class=CEA-2019$/),
    page.click('#order-form button[type=submit]'),
  ]);
  const flash = await text(page.locator('.flash'));
  check(/委托已提交/.test(flash), `the order was accepted (${flash})`);
  const ask = page.locator('#book tr.ask', { hasText: '55.00' });
  check((await ask.count()) === 1 && /1,500/.test(await text(ask)), 'the book shows the order at 55.00 for 1,500 t');
  check(/55\.00/.test(await text(page.locator('#open-orders'))), 'the order is among the open orders');
  check((await text(page.locator('#province'))) === '山西', 'the company page shows its province as 山西');
  await page.screenshot({ path: variant('zh'), fullPage: true });

  // An order outside the price band: the refusal reads in Chinese, by its code and figures.
  const refuse = async () => {
    await page.selectOption('#order-form select[name=class]', 'CEA-2019');
    await page.selectOption('#order-form select[name=side]', 'sell');
    await page.fill('#order-form input[name=price]', '99.00');
    await page.fill('#order-form input[name=qty]', '10');
    await Promise.all([page.waitForNavigation(), page.click('#order-form button[type=submit]')]);
    return text(page.locator('.flash.err'));
  };
  const refusalZh = await refuse();
  check(/超出涨跌幅限制/.test(refusalZh) && /99\.00/.test(refusalZh), `the refusal is in Chinese with its figures (${refusalZh})`);
  check(!/[A-Za-z]{4,}/.test(refusalZh.replace(/CEA-\d+|CN-\d+/g, '')), `and has no English words (${refusalZh})`);
  await page.screenshot({ path: variant('refusal-zh'), fullPage: true });

  // Switch to English: the same page, in English.
  await Promise.all([page.waitForURL(/\/company\?class=CEA-2019$/), page.click('#lang-switch')]);
  check((await page.getAttribute('html', 'lang')) === 'en', 'the page is now English');
  check((await text(page.locator('#holdings-title'))) === 'Holdings', '持仓 became Holdings');
  check((await text(page.locator('#lang-switch'))) === '中文', 'the switch now offers 中文');
  check((await text(page.locator('#province'))) === 'Shanxi', 'the province is Shanxi in English');
  await page.screenshot({ path: shot, fullPage: true });
  const refusalEn = await refuse();
  check(/band/.test(refusalEn), `the refusal is in English in English (${refusalEn})`);
  check(/CNY 99\.00/.test(refusalEn) && !/fen/.test(refusalEn), 'with its amounts in yuan, not fen');
  await page.screenshot({ path: variant('refusal-en'), fullPage: true });

  // The public book shows the order too, still in English.
  await page.goto(`${base}/?class=CEA-2019`);
  check((await page.locator('#book tr.ask', { hasText: '55.00' }).count()) === 1, 'the public book shows it');
  check((await text(page.locator('h1'))) === 'Market overview', 'the language stays English');

  // The published compliance table, and the regulator's page.
  await page.goto(`${base}/compliance`);
  check((await page.locator('svg.chart rect').count()) > 0, 'the compliance chart draws bars');
  const totalsEn = await text(page.locator('#totals'));
  check(/Shanxi/.test(totalsEn) && /Guangdong/.test(totalsEn), 'the English table has the provinces in English');
  await page.screenshot({ path: variant('compliance'), fullPage: true });
  await Promise.all([page.waitForURL(/\/$/), page.click('header button[type=submit]')]);
  await page.goto(`${base}/login`);
  await page.fill('input[name=username]', 'regulator');
  await page.fill('input[name=password]', 'correct horse battery');
  await Promise.all([page.waitForURL(/\/regulator$/), page.click('main button[type=submit]')]);
  check(/HB0001/.test(await text(page.locator('#at-risk'))), 'the regulator sees the company at risk');
  check(/SX0001/.test(await text(page.locator('#queue'))), 'and the report awaiting verification');
  await page.screenshot({ path: variant('regulator'), fullPage: true });

  check(foreign.length === 0, `no request left the server (${foreign.join(', ')})`);
  check(errors.length === 0, `no script errors (${errors.join('; ')})`);
  check(refused.length === 0, `nothing refused by the Content-Security-Policy (${refused.join('; ')})`);
  console.log(`screenshots: ${shot} and beside it -zh, -market, -compliance, -compliance-zh, -refusal-zh, -refusal-en, -regulator`);
} finally {
  await browser.close();
}
