// SPDX-License-Identifier: MIT
// The example pages in a real browser: drives Debian's chromium (headless, through
// playwright-core) against a running fngate that serves examples/fngate.yaml's chat and
// dashboard. tests/integration/test_browser.py starts the gateway and runs one scenario per
// case; this script only judges what the pages show.
//
//   node browser.js chat|dashboard http://127.0.0.1:PORT
//
//   chat       two pages join one room: the second sees the first's join and its messages
//              (escaped as text), errors reach the sender only, a dropped page reconnects
//              with resume and gets what it missed exactly once, a leave is shown
//   dashboard  the chart gets samples from the schedule and draws them, a sample POSTed
//              through the page's form shows up, a dropped page resumes
//
// Prints "# ..." progress lines; exits 0 when every check passed, 1 with "FAIL: why" (and
// the pages' state) otherwise, 2 on bad usage. Every wait is bounded; a watchdog ends the run.
// $FNGATE_CHROMIUM names the browser (default /usr/bin/chromium).
'use strict';
const { check, fail, runScenario } = require('./chromium');

const WAIT_MS = 10000;          // one expectation at most
const WATCHDOG_MS = 90000;      // the whole run at most
const scenario = process.argv[2];
const base = (process.argv[3] || '').replace(/\/$/, '');

function log(msg) {
	console.log('# ' + msg);
}

const t0 = Date.now();
const since = () => ((Date.now() - t0) / 1000).toFixed(2) + ' s';
const pages = [];               // [name, page] for the post-mortem
const pageErrors = [];

async function open(browser, name, path) {
	const context = await browser.newContext();
	const page = await context.newPage();
	page.setDefaultTimeout(WAIT_MS);
	page.on('pageerror', (e) => pageErrors.push(name + ': ' + e.message));
	page.on('console', (m) => {
		if (m.type() === 'error') {
			pageErrors.push(name + ' console: ' + m.text());
		}
	});
	pages.push([name, page]);
	const r = await page.goto(base + path, { timeout: WAIT_MS });
	if (!r || r.status() !== 200) {
		fail(name + ': GET ' + path + ' answered ' + (r ? r.status() : 'nothing'));
	}
	return page;
}

// Waits for fn(arg) to be true in the page; fails with what (and the time waited) otherwise.
async function until(page, what, fn, arg, timeout = WAIT_MS) {
	try {
		await page.waitForFunction(fn, arg, { timeout: timeout, polling: 50 });
	} catch (e) {
		fail('not within ' + timeout + ' ms: ' + what);
	}
	log(what + ' (' + since() + ')');
}

// ---- chat

async function chatJoin(page, nick, room) {
	await page.fill('#nick', nick);
	await page.fill('#room', room);
	await page.click('#join-button');
	await until(page, nick + ' is connected and saw its own join',
		(n) => window.chat.state === 'open' && window.chat.received.some(
			(r) => r.data && r.data.type === 'join' && r.data.nick === n), nick);
}

async function chatSay(page, text) {
	await page.fill('#text', text);
	await page.click('#send');
}

function saw(page, what, type, nick, text) {
	return until(page, what, ([type, nick, text]) => window.chat.received.some(
		(r) => r.data && r.data.type === type && r.data.nick === nick &&
			(text === null || r.data.text === text)), [type, nick, text]);
}

async function chat(browser) {
	const room = 'it' + Math.floor(Math.random() * 1e9);
	const b = await open(browser, 'bob', '/chat/');
	check(await b.title() === 'fngate chat', 'the chat page has another title: ' +
		await b.title());
	await chatJoin(b, 'bob', room);
	const a = await open(browser, 'alice', '/chat/');
	await chatJoin(a, 'alice', room);
	await saw(b, 'bob saw alice join', 'join', 'alice', null);
	await until(b, 'bob\'s page shows "alice joined"', () => [...document.querySelectorAll(
		'#log li[data-kind="join"]')].some(
		(li) => li.textContent.endsWith('alice joined')));

	// A message with markup, quotes, a backslash and non-ASCII text arrives as text.
	const hello = 'hello from alice <b>bold?</b> "quoted" \\ ünïcødé ✓';
	await chatSay(a, hello);
	await saw(b, 'bob got alice\'s message', 'say', 'alice', hello);
	await saw(a, 'alice got her own message back', 'say', 'alice', hello);
	const shown = await b.evaluate((t) => [...document.querySelectorAll(
		'#log li[data-kind="say"]')].some((li) => li.textContent.endsWith('alice' + t) &&
		!li.querySelector('b')), hello);
	check(shown, 'bob\'s page does not show alice\'s message as plain text');

	// Errors go to the sender only.
	await chatSay(a, 'x'.repeat(1001));
	await until(a, 'alice was told her 1001-byte text is too long', () => [...document
		.querySelectorAll('#log li[data-kind="error"]')].some(
		(li) => /longer than 1000/.test(li.textContent)));
	await a.evaluate(() => window.chat.ws.send(JSON.stringify({ action: 'dance' })));
	await until(a, 'alice was told "unknown action"', () => [...document
		.querySelectorAll('#log li[data-kind="error"]')].some(
		(li) => /unknown action/.test(li.textContent)));
	const limit = 'x'.repeat(1000);
	await chatSay(a, limit);
	await saw(b, 'bob got alice\'s 1000-byte message', 'say', 'alice', limit);

	// bob drops; what alice says meanwhile is replayed when he is back, once, in order.
	await b.evaluate(() => window.chat.drop(2500));
	await until(b, 'bob\'s page lost its connection', () => window.chat.state !== 'open');
	await chatSay(a, 'while you were away 1');
	await saw(a, 'alice said "while you were away 1"', 'say', 'alice', 'while you were away 1');
	await chatSay(a, 'while you were away 2');
	await saw(a, 'alice said "while you were away 2"', 'say', 'alice', 'while you were away 2');
	check(await b.evaluate(() => window.chat.state !== 'open'),
		'bob reconnected before alice had spoken (raise the hold time)');
	await saw(b, 'bob got "while you were away 1" after reconnecting', 'say', 'alice',
		'while you were away 1');
	await saw(b, 'bob got "while you were away 2"', 'say', 'alice', 'while you were away 2');
	await until(b, 'bob is connected again and saw his new join', () =>
		window.chat.state === 'open' && window.chat.opens === 2 &&
		window.chat.received.filter((r) => r.data && r.data.type === 'join' &&
			r.data.nick === 'bob').length === 2);
	const st = await b.evaluate(() => ({
		urls: window.chat.urls,
		received: window.chat.received,
	}));
	const resumed = st.urls[st.urls.length - 1];
	check(new RegExp('[?&]resume=room\\.' + room + ':\\d+$').test(resumed),
		'bob reconnected without resume=room.' + room + ':SEQ: ' + resumed);
	check(!st.received.some((r) => r.gap), 'bob got a gap: ' + JSON.stringify(st.received));
	const seqs = st.received.map((r) => r.seq);
	for (let i = 1; i < seqs.length; i++) {
		check(seqs[i] === seqs[i - 1] + 1, 'bob\'s seqs are not consecutive (lost or ' +
			'repeated messages): ' + seqs.join(','));
	}
	check(!st.received.some((r) => r.data && typeof r.data.text === 'string' &&
		r.data.text.length > 1000), 'bob got the over-long message');
	log('bob\'s ' + seqs.length + ' deliveries have consecutive seqs ' + seqs[0] + '..' +
		seqs[seqs.length - 1] + ', resumed with ' +
		resumed.replace(/.*[?&](resume=)/, '$1'));

	await a.click('#leave');
	await saw(b, 'bob saw alice leave', 'leave', 'alice', null);
	await until(b, 'bob\'s page shows "alice left"', () => [...document.querySelectorAll(
		'#log li[data-kind="leave"]')].some((li) => li.textContent.endsWith('alice left')));
}

// ---- dashboard

async function dashboard(browser) {
	const p = await open(browser, 'dashboard', '/dashboard/');
	const start = Date.now();
	await until(p, 'the chart got 3 samples', () => window.dashboard.updates >= 3, undefined,
		8000);
	log('3 samples ' + (Date.now() - start) + ' ms after the page loaded');
	check(await p.evaluate(() => window.points.length >= 3 &&
		window.points.every((q) => typeof q.value === 'number' && typeof q.t === 'number')),
		'window.points does not hold the samples');
	check(await p.evaluate(() => window.dashboard.last.name === 'synthetic'),
		'the scheduled samples are not named "synthetic"');
	check(/^-?[0-9.]+(e[-+]?\d+)?$/.test(await p.textContent('#last-value')),
		'the last value shown is not a number: ' + await p.textContent('#last-value'));

	// The line is drawn: pixels of the first series' colour (#2f6fde) on the canvas.
	const blue = await p.evaluate(() => {
		const c = document.getElementById('chart');
		const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
		let n = 0;
		for (let i = 0; i < d.length; i += 4) {
			if (Math.abs(d[i] - 47) < 24 && Math.abs(d[i + 1] - 111) < 24 &&
					Math.abs(d[i + 2] - 222) < 24) {
				n++;
			}
		}
		return n;
	});
	check(blue > 30, 'the chart drew no line (' + blue + ' pixels of its colour)');
	log('the chart drew ' + blue + ' pixels of its line');

	// A sample POSTed through the page's form reaches the page through the topic.
	await p.fill('#metric-name', 'browser-test');
	await p.fill('#metric-value', '42.5');
	await p.click('#post button');
	await until(p, 'the POST was answered 202 {"published":true}', () =>
		/^202 .*"published"\s*:\s*true/.test(
			document.getElementById('post-result').textContent));
	await until(p, 'the legend shows browser-test = 42.5', () => {
		const li = document.querySelector('#legend li[data-name="browser-test"]');
		return li && li.querySelector('.value').textContent === '42.5';
	});

	// A drop: the page comes back with resume=metrics:SEQ and the samples keep coming.
	const before = await p.evaluate(() => window.dashboard.updates);
	await p.evaluate(() => window.dashboard.drop(300));
	await until(p, 'the dashboard reconnected with resume', () =>
		window.dashboard.urls.length === 2 &&
		/\?resume=metrics:\d+$/.test(window.dashboard.urls[1]) &&
		document.getElementById('status').dataset.state === 'open');
	await until(p, 'samples keep coming after the reconnect',
		(n) => window.dashboard.updates >= n + 3, before);
	check(!/missed/.test(await p.textContent('#notices')),
		'the dashboard reported a gap: ' + await p.textContent('#notices'));
}

// ---- main

async function postMortem() {
	for (const [name, page] of pages) {
		try {
			const state = await page.evaluate(() => JSON.stringify({
				chat: window.chat && {
					state: window.chat.state,
					urls: window.chat.urls,
					received: window.chat.received.slice(-20),
				},
				dashboard: window.dashboard && { updates: window.dashboard.updates,
					urls: window.dashboard.urls, last: window.dashboard.last },
				status: (document.getElementById('status') || {}).textContent,
				log: [...document.querySelectorAll('#log li, #notices')].slice(-20)
					.map((e) => e.textContent),
			}), undefined, { timeout: 2000 });
			console.log('# ' + name + ' page: ' + state);
		} catch (e) {
			console.log('# ' + name + ' page: (unreadable: ' + e.message + ')');
		}
	}
}

async function main() {
	const run = { chat: chat, dashboard: dashboard }[scenario];
	if (!run || !/^https?:\/\//.test(base)) {
		console.error('usage: node browser.js chat|dashboard http://127.0.0.1:PORT');
		process.exit(2);
	}
	await runScenario(scenario, WATCHDOG_MS, async (browser) => {
		await run(browser);
		check(pageErrors.length === 0, 'the pages had errors: ' + pageErrors.join('; '));
	}, async () => {
		if (pageErrors.length) {
			console.log('# page errors: ' + pageErrors.join('; '));
		}
		await postMortem();
	});
}

main();
