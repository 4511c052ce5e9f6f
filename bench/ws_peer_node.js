// SPDX-License-Identifier: MIT
//
// ws_peer_node: the node `ws` peer of bench/ws.sh, a topic server speaking the benchmark's
// protocol (bench/ws_load.c): {"action":"subscribe","topic":T} subscribes the connection and is
// answered {"subscribed":T}; {"action":"publish","topic":T,"data":D} sends
// {"topic":T,"seq":N,"data":D} (the envelope fngate sends) to every subscriber of T; any other
// message is echoed back with its type.
//
// Broadcast the idiomatic fast way: the envelope is serialized once into one Buffer and that
// same Buffer is sent to every subscriber (ws frames it per client, no per-client JSON).
// perMessageDeflate is off (ws' server default), as on fngate, which negotiates no extension.
//
//   node bench/ws_peer_node.js PORT     (127.0.0.1; prints {"listening":PORT}; stops on SIGTERM)
//
// ws comes from tests/ws/node_modules (installed by .ci/deps.sh), or from NODE_PATH.
'use strict';

const path = require('path');

let WebSocket;
try {
	WebSocket = require(path.join(__dirname, '..', 'tests', 'ws', 'node_modules', 'ws'));
} catch (e) {
	WebSocket = require('ws');
}

const port = Number(process.argv[2] || 0);
const topics = new Map(); // topic → { seq, subs: Set of sockets }

const wss = new WebSocket.WebSocketServer({
	host: '127.0.0.1',
	port,
	perMessageDeflate: false,
	clientTracking: false,
	maxPayload: 1 << 20,
});

function topic(name) {
	let t = topics.get(name);
	if (!t) {
		t = { seq: 0, subs: new Set() };
		topics.set(name, t);
	}
	return t;
}

wss.on('connection', (ws) => {
	const mine = new Set(); // topics this connection is subscribed to
	ws.on('message', (data, isBinary) => {
		let m = null;
		if (!isBinary) {
			try {
				m = JSON.parse(data);
			} catch (e) {
				m = null;
			}
		}
		if (m && typeof m === 'object' && typeof m.topic === 'string') {
			if (m.action === 'subscribe') {
				topic(m.topic).subs.add(ws);
				mine.add(m.topic);
				ws.send(JSON.stringify({ subscribed: m.topic }));
				return;
			}
			if (m.action === 'publish') {
				const t = topic(m.topic);
				t.seq++;
				if (!t.subs.size) {
					return;
				}
				const env = { topic: m.topic, seq: t.seq, data: m.data };
				const buf = Buffer.from(JSON.stringify(env));
				for (const s of t.subs) {
					if (s.readyState === WebSocket.OPEN) {
						s.send(buf, { binary: false });
					}
				}
				return;
			}
		}
		ws.send(data, { binary: isBinary });
	});
	ws.on('close', () => {
		for (const name of mine) {
			const t = topics.get(name);
			if (t) {
				t.subs.delete(ws);
			}
		}
	});
	ws.on('error', () => {});
});

wss.on('listening', () => {
	process.stdout.write(JSON.stringify({ listening: wss.address().port }) + '\n');
});

for (const sig of ['SIGTERM', 'SIGINT']) {
	process.on(sig, () => process.exit(0));
}
