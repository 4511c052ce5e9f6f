// SPDX-License-Identifier: MIT
// The dashboard's login: POST /@dashboard/session with the admin token as a Bearer header;
// the answer sets the session cookie (HttpOnly: this script never sees it) and the page goes
// to /@dashboard. A #token=... fragment logs in at once and is wiped from the address bar and
// the history first.
'use strict';

async function login(token) {
	const err = document.getElementById('err');
	err.textContent = '';
	let r;
	try {
		r = await fetch('/@dashboard/session', {
			method: 'POST',
			headers: { Authorization: 'Bearer ' + token },
			credentials: 'same-origin',
			cache: 'no-store',
		});
	} catch (e) {
		err.textContent = 'the gateway did not answer: ' + e.message;
		return;
	}
	if (r.status === 204) {
		location.replace('/@dashboard');
		return;
	}
	let msg = 'refused (' + r.status + ')';
	try {
		msg = (await r.json()).message || msg;
	} catch (e) {
		// not JSON: keep the status
	}
	err.textContent = msg;
}

function fromFragment() {
	const h = location.hash.replace(/^#/, '');
	const m = /(?:^|&)token=([^&]*)/.exec(h);
	if (!m) {
		return null;
	}
	history.replaceState(null, '', location.pathname);
	return decodeURIComponent(m[1]);
}

document.getElementById('login').addEventListener('submit', (e) => {
	e.preventDefault();
	const t = document.getElementById('token');
	const token = t.value.trim();
	t.value = '';
	if (token) {
		login(token);
	}
});

const fragmentToken = fromFragment();
if (fragmentToken) {
	login(fragmentToken);
}
