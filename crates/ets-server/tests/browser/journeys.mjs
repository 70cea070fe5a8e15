// The users' journeys of issue 14 in headless Chromium, in Chinese and English, run by
// tests/browser.rs in phases (the test moves the server's clock between them):
//   node journeys.mjs <base-url> <artifacts-dir> <phase>
// afternoon (13:30, the block session):
//   (a) a company's representative buys by take and by block, instructs a surrender that the
//       second representative approves, and the compliance page shows it (Chinese);
//   (b) the Shanxi bureau filters Shanxi's companies at risk and downloads the CSV (English);
//   (c) the regulator creates a bureau user (a misspelt province refused) and closes the day
//       (Chinese).
// morning (the next trading day, 09:20):
//   (c) the regulator opens the trading day (English).
import { chromium } from 'playwright-core';
import { readFileSync } from 'node:fs';

const [base, dir, phase] = process.argv.slice(2);
if (!base || !dir || !phase) {
  console.error('usage: node journeys.mjs <base-url> <artifacts-dir> <afternoon|morning>');
  process.exit(2);
}

function check(cond, what) {
  if (!cond) throw new Error(`check failed: ${what}`);
  console.log(`ok - ${what}`);
}

async function text(locator) {
  return ((await locator.textContent()) ?? '').replace(/\s+/g, ' ').trim();
}

/// A figure as shown (`1,234` or `1,234 t`) as a number.
function tonnes(s) {
  return Number(String(s).replace(/[^0-9]/g, ''));
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync'],
});

/// A fresh browser context in `lang`, logged in as `user`.
async function as(user, password, lang) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, acceptDownloads: true });
  await context.addCookies([{ name: 'lang', value: lang, url: base }]);
  const page = await context.newPage();
  page.setDefaultTimeout(20000);
  const refused = [];
  page.on('console', (m) => {
    if (/Content Security Policy/i.test(m.text())) refused.push(m.text());
  });
  page.on('pageerror', (e) => refused.push(String(e)));
  await page.goto(`${base}/login`);
  await page.fill('input[name=username]', user);
  await page.fill('input[name=password]', password);
  await Promise.all([page.waitForURL((u) => !u.pathname.startsWith('/login')), page.click('main button[type=submit]')]);
  return { page, context, refused };
}

/// Submits a form by its button and waits for the page the redirect leads to.
async function submit(page, button) {
  await Promise.all([page.waitForNavigation(), page.click(button)]);
  return text(page.locator('.flash'));
}

const shot = (page, name) => page.screenshot({ path: `${dir}/journey-${name}.png`, fullPage: true });

try {
  if (phase === 'afternoon') {
    // (a) The company's representative, in Chinese.
    const a = await as('rep-a', 'rep-a-long-password', 'zh');
    let page = a.page;
    await page.goto(`${base}/company?class=CEA-2019`);
    const sx = async () => {
      const row = page.locator('#position div.plan').first();
      return { surrendered: tonnes(await text(row.locator('b.surrendered'))), shortfall: tonnes(await text(row.locator('b.shortfall'))) };
    };
    const before = await sx();
    check(before.shortfall > 0, `SX0001 still owes ${before.shortfall} t`);
    check((await text(page.locator('#position'))).includes('尚需购买') || (await text(page.locator('#position'))).includes('可出售'), 'the position says what is still to buy or may be sold');
    // Take HB0001's ask by its order id.
    const take = page.locator('#take tbody tr').first();
    const orderId = await take.getAttribute('data-order');
    check(/^\d+$/.test(orderId), `the book's order #${orderId} has a take button`);
    await take.locator('input[name=qty]').fill('1000');
    let flash = await submit(page, `#take tr[data-order="${orderId}"] button[type=submit]`);
    check(flash.includes('已点选成交') && flash.includes(`#${orderId}`), `taken (${flash})`);
    // Accept HB0001's block proposal addressed to SX0001.
    const proposal = page.locator('#proposals form[action$="/accept"]').first();
    check((await proposal.count()) === 1, 'a block proposal awaits acceptance');
    flash = await submit(page, '#proposals form[action$="/accept"] button');
    check(flash.includes('大宗协议已成交'), `the block trade is done (${flash})`);
    // A listed order for the whole shortfall: the refusal points to block trades.
    await page.fill('#order-form input[name=price]', '54.00');
    await page.fill('#order-form input[name=qty]', '150000');
    await page.selectOption('#order-form select[name=side]', 'buy');
    flash = await submit(page, '#order-form button[type=submit]');
    check(flash.includes('大宗协议交易') && flash.includes('100,000'), `too large a listed order is explained (${flash})`);
    await shot(page, 'company-zh');
    // A surrender instruction of 1,000 t.
    await page.fill('#position form.surrender input[name=quantity]', '1000');
    flash = await submit(page, '#position form.surrender button[type=submit]');
    check(flash.includes('清缴指令已提交'), `the surrender is instructed (${flash})`);
    check((await page.locator('#approvals tr', { hasText: '清缴' }).locator('form[action$="/approve"]').count()) === 0, 'its initiator cannot approve it');
    check(a.refused.length === 0, `nothing refused by the policy (${a.refused.join('; ')})`);
    await a.context.close();
    // The second representative approves; the position and the compliance page show it.
    const b = await as('rep-b', 'rep-b-long-password', 'zh');
    page = b.page;
    await page.goto(`${base}/company`);
    const approve = page.locator('#approvals tr', { hasText: '清缴' }).locator('form[action$="/approve"] button');
    await Promise.all([page.waitForNavigation(), approve.click()]);
    check(/已批准|批准/.test(await text(page.locator('.flash'))), `approved (${await text(page.locator('.flash'))})`);
    const after = await sx();
    check(after.surrendered === before.surrendered + 1000, `surrendered ${before.surrendered} → ${after.surrendered}`);
    await page.goto(`${base}/compliance?province=山西`);
    const row = page.locator('#company-table tr[data-company="SX0001"]');
    check(tonnes((await row.locator('td').nth(4).textContent())) === after.surrendered, 'the compliance page shows the surrender');
    await shot(page, 'compliance-zh');
    await b.context.close();

    // (b) The Shanxi bureau, in English: Shanxi's companies at risk, as CSV.
    const c = await as('bureau-sx', 'a-long-password-1', 'en');
    page = c.page;
    await page.goto(`${base}/compliance`);
    check((await page.locator('#filters select[name=province]').inputValue()) === 'Shanxi', 'the bureau sees Shanxi by default');
    await page.selectOption('#filters select[name=status]', 'at_risk');
    await Promise.all([page.waitForNavigation(), page.click('#filters button[type=submit]')]);
    const rows = await page.locator('#company-table tbody tr').count();
    check(rows >= 1, `${rows} Shanxi companies at risk`);
    const shown = await page.locator('#company-table tbody tr').evaluateAll((trs) => trs.map((tr) => tr.getAttribute('data-company')));
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#download-companies')]);
    check(/compliance-.*-Shanxi-at_risk\.csv$/.test(download.suggestedFilename()), `the file is named ${download.suggestedFilename()}`);
    const csv = readFileSync(await download.path(), 'utf8').trim().split(/\r\n/);
    const columns = csv[0].split(',');
    check(columns.slice(0, 4).join(',') === 'company,name,province,province_zh', `the CSV has its columns (${csv[0]})`);
    const body = csv.slice(1).map((l) => l.split(','));
    check(body.length === rows, `one line per company shown (${body.length})`);
    const at = (name) => columns.indexOf(name);
    check(body.every((r) => r[at('province')] === 'Shanxi' && r[at('province_zh')] === '山西'), 'every line is Shanxi');
    check(body.every((r) => Number(r[at('shortfall_t')]) > 0), 'every line has a shortfall');
    check(JSON.stringify(body.map((r) => r[0])) === JSON.stringify(shown), `the same companies as the page (${shown.join(', ')})`);
    await shot(page, 'bureau-en');
    await c.context.close();

    // (c) The regulator, in Chinese: a bureau user (a misspelt province refused), the day closed.
    const r = await as('regulator', 'correct horse battery', 'zh');
    page = r.page;
    await page.goto(`${base}/regulator`);
    const user = async (province) => {
      await page.fill('#user-form input[name=name]', 'bureau-gd');
      await page.fill('#user-form input[name=display]', '广东省生态环境厅');
      await page.fill('#user-form input[name=password]', 'a-long-password-gd');
      await page.selectOption('#user-form select[name=role]', 'bureau');
      await page.fill('#user-form input[name=province]', province);
      return submit(page, '#user-form button[type=submit]');
    };
    flash = await user('Guangdongg');
    check(flash.includes('无法识别的省份') && flash.includes('Guangdong (广东)'), `a misspelt province is refused with the spellings (${flash.slice(0, 60)}…)`);
    check((await page.locator('#user-list tr[data-user="bureau-gd"]').count()) === 0, 'and nobody was created');
    flash = await user('广东');
    check(flash.includes('已创建用户'), `created (${flash})`);
    check((await text(page.locator('#user-list tr[data-user="bureau-gd"]'))).includes('广东'), 'the new user is the Guangdong bureau');
    flash = await submit(page, '#close-day button');
    check(flash.includes('交易日已收市'), `the day is closed (${flash})`);
    check((await page.locator('#open-day-form').count()) === 1, 'and may be opened again');
    await shot(page, 'regulator-zh');
    check(r.refused.length === 0, `nothing refused by the policy (${r.refused.join('; ')})`);
    await r.context.close();
  } else if (phase === 'morning') {
    const r = await as('regulator', 'correct horse battery', 'en');
    const page = r.page;
    await page.goto(`${base}/regulator`);
    const flash = await submit(page, '#open-day-form button');
    check(flash.includes('Trading day opened'), `the day is opened (${flash})`);
    check((await text(page.locator('#open-day'))) === '2021-07-26', 'Monday 26 July is open');
    await shot(page, 'regulator-en');
    await r.context.close();
  } else {
    throw new Error(`unknown phase ${phase}`);
  }
} finally {
  await browser.close();
}
