// SPDX-License-Identifier: MIT
// The operator dashboard (/@dashboard on the admin listener) in a real browser: Debian's
// chromium, headless, through playwright-core. tests/integration/test_dashboard.py starts the
// gateway, runs load against it and calls one scenario per case; this script only judges what
// the page shows.
//
//   node operator.js main  LOGIN-URL SHOT-DIR CRASH-FUNCTION REQUEST-ID[,REQUEST-ID...]
//   node operator.js scale LOGIN-URL SHOT-DIR ROUTES FUNCTIONS
//
// LOGIN-URL is http://HOST:PORT/@dashboard/login#token=TOKEN, as `make demo` prints it.
//   main   the fragment logs in and leaves the address bar; the page loads with no error (a
//          CSP violation is one); its tick counter, the charts' draw counts and a route's
//          request rate move while the test's load runs; the crashing function's errors show
//          with their request ids; a click on that function shows its failures by cause;
//          logging out ends the session
//   scale  ROUTES routes and FUNCTIONS functions: every one gets a row, ticks keep coming,
//          and a render stays under a generous bound
// A screenshot goes to SHOT-DIR (dashboard-SCENARIO.png) in either case, passed or failed.
// Prints "# ..." progress lines; exits 0 when every check passed, 1 with "FAIL: why"
// otherwise, 2 on bad usage. Every wait is bounded; a watchdog ends the run.
'use strict';
const path = require('path');
const { check, fail, runScenario } = require('./chromium');

const WAIT_MS = 15000;
const WATCHDOG_MS = 100000;
const RENDER_BOUND_MS = 1000;   // generous: machines are shared and noisy
const [scenario, loginUrl, shotDir, arg4, arg5] = process.argv.slice(2);

function log(msg) {
	console.log('# ' + msg);
}

const t0 = Date.now();
const since = () => ((Date.now() - t0) / 1000).toFixed(2) + ' s';
const pageErrors = [];
let page = null;

async function until(what, fn, arg, timeout = WAIT_MS) {
	try {
		await page.waitForFunction(fn, arg, { timeout: timeout, polling: 100 });
	} catch (e) {
		fail('not within ' + timeout + ' ms: ' + what);
	}
	log(what + ' (' + since() + ')');
}

async function openDashboard(browser) {
	const context = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
	page = await context.newPage();
	page.setDefaultTimeout(WAIT_MS);
	page.on('pageerror', (e) => pageErrors.push(e.message));
	page.on('console', (m) => {
		if (m.type() === 'error') {
			pageErrors.push('console: ' + m.text());
		}
	});
	const token = /#token=(.*)$/.exec(loginUrl)[1];
	await page.goto(loginUrl);
	await page.waitForURL(/\/@dashboard$/, { timeout: WAIT_MS });
	check(!page.url().includes(token), 'the token is still in the address bar: ' + page.url());
	log('logged in through the fragment, now at ' + page.url() + ' (' + since() + ')');
	const cookies = await context.cookies();
	const c = cookies.find((x) => x.name === 'fngate_dashboard');
	check(c && c.httpOnly && c.sameSite === 'Strict' && c.path === '/@dashboard',
		'session cookie: ' + JSON.stringify(c));
	check(!c.value.includes(token), 'the cookie holds the token');
	await until('the live feed delivers ticks', () => +document.body.dataset.ticks >= 2);
	return context;
}

async function main_(browser) {
	const crashFn = arg4;
	const rids = (arg5 || '').split(',').filter(Boolean);
	check(rids.length > 0, 'no request ids given');
	await openDashboard(browser);
	await until('a route\'s request rate is above zero',
		() => window.fngDash && Object.values(window.fngDash.routes).some((v) => v > 0));
	const d0 = await page.evaluate(() => ({ ticks: window.fngDash.ticks,
		draws: window.fngDash.draws.rps,
		points: +document.getElementById('c-rps').dataset.points }));
	await until('the charts redraw with new points while the load runs', (d) =>
		window.fngDash.ticks >= d.ticks + 3 && window.fngDash.draws.rps >= d.draws + 3 &&
		+document.getElementById('c-rps').dataset.points > d.points &&
		+document.getElementById('c-lat').dataset.points > 0, d0);
	const rate = await page.evaluate(() =>
		document.querySelector('#routes tr[data-route="GET /ok"]').dataset.rate);
	log('GET /ok at ' + (+rate).toFixed(1) + ' req/s in the table');
	check(+rate > 0, 'the table shows no rate for GET /ok');
	for (const rid of rids) {
		await until('the recent errors show request ' + rid, (r) =>
			!!document.querySelector('#errors tr[data-request-id="' + r + '"]'), rid);
	}
	const row = await page.evaluate((r) => document.querySelector(
		'#errors tr[data-request-id="' + r + '"]').textContent, rids[0]);
	check(row.includes(crashFn) && row.includes('502'), 'the error row: ' + row);
	await page.click('#functions tr[data-function="' + crashFn + '"]');
	await until('a click on ' + crashFn + ' shows its failures and their cause', (a) =>
		!document.getElementById('fn-failures').hidden &&
		!!document.querySelector('#fn-causes span[data-cause="crash"]') &&
		!!document.querySelector('#fn-failures tr[data-request-id="' + a + '"]'), rids[0]);
	await shot();
	check(pageErrors.length === 0, 'the page had errors: ' + pageErrors.join('; '));
	await page.click('#logout');
	await page.waitForURL(/\/@dashboard\/login$/, { timeout: WAIT_MS });
	const r = await page.goto(loginUrl.replace(/\/login#.*$/, ''));
	check(r.status() === 401, 'after logging out the page answered ' + r.status());
	log('logged out: the page answers 401 (' + since() + ')');
}

async function scale(browser) {
	const routes = +arg4;
	const fns = +arg5;
	await openDashboard(browser);
	await until(routes + ' routes and ' + fns + ' functions have their rows', (n) =>
		document.querySelectorAll('#routes tbody tr').length === n.routes &&
		document.querySelectorAll('#functions tbody tr').length === n.fns, { routes, fns });
	const t = await page.evaluate(() => window.fngDash.ticks);
	await until('ticks keep coming', (x) => window.fngDash.ticks >= x + 3, t);
	const ms = await page.evaluate(() => window.fngDash.renderMaxMs);
	log('the slowest render took ' + ms.toFixed(1) + ' ms');
	check(ms < RENDER_BOUND_MS, 'a render took ' + ms + ' ms');
	await shot();
	check(pageErrors.length === 0, 'the page had errors: ' + pageErrors.join('; '));
}

async function shot() {
	if (!page) {
		return;
	}
	const p = path.join(shotDir, 'dashboard-' + scenario + '.png');
	await page.screenshot({ path: p, fullPage: true }).catch((e) => log('no screenshot: ' + e));
	log('screenshot ' + p);
}

async function main() {
	const run = { main: main_, scale: scale }[scenario];
	if (!run || !/^https?:\/\/.*\/@dashboard\/login#token=./.test(loginUrl || '') || !shotDir) {
		console.error('usage: node operator.js main|scale LOGIN-URL SHOT-DIR ...');
		process.exit(2);
	}
	await runScenario(scenario, WATCHDOG_MS, run, async () => {
		if (pageErrors.length) {
			console.log('# page errors: ' + pageErrors.join('; '));
		}
		await shot();
		if (page) {
			const st = await page.evaluate(() => JSON.stringify(window.fngDash || null))
				.catch(() => '?');
			console.log('# page state: ' + st);
		}
	});
}

main();
