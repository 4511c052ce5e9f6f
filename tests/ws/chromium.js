// SPDX-License-Identifier: MIT
// What the browser scripts (browser.js, operator.js) share: a failed check, and one run of a
// scenario in Debian's chromium (headless, through playwright-core) under a watchdog, ending
// the process with 0 (PASS), 1 (FAIL: why) or whatever the watchdog says.
// $FNGATE_CHROMIUM names the browser (default /usr/bin/chromium).
'use strict';
const { chromium } = require('playwright-core');

class Failure extends Error {}

function fail(why) {
	throw new Failure(why);
}

function check(cond, what) {
	if (!cond) {
		fail(what);
	}
}

// run(browser) performs the scenario; afterFail(error) prints what helps (the pages' state)
// before the browser goes. Never returns.
async function runScenario(name, watchdogMs, run, afterFail) {
	const t0 = Date.now();
	let browser = null;
	const watchdog = setTimeout(() => {
		console.log('FAIL: the run took longer than ' + watchdogMs + ' ms');
		process.exit(1);
	}, watchdogMs);
	let rc = 0;
	try {
		browser = await chromium.launch({
			executablePath: process.env.FNGATE_CHROMIUM || '/usr/bin/chromium',
			args: ['--no-sandbox'],
			timeout: 30000,
		});
		console.log('# chromium ' + browser.version());
		await run(browser);
		console.log('PASS: ' + name + ' (' + ((Date.now() - t0) / 1000).toFixed(2) + ' s)');
	} catch (e) {
		rc = 1;
		console.log('FAIL: ' + (e instanceof Failure ? e.message : e.stack));
		await afterFail(e).catch((e2) => console.log('# post-mortem failed: ' + e2));
	}
	if (browser) {
		await browser.close().catch(() => {});
	}
	clearTimeout(watchdog);
	process.exit(rc);
}

module.exports = { Failure, fail, check, runScenario };
