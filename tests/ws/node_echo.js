// SPDX-License-Identifier: MIT
// An echo server on node's `ws`, to calibrate tests/ws/conformance.py: every message goes
// back with its type. Prints its port on stdout; stops on SIGTERM.
//
//   node node_echo.js [PORT]
'use strict';
const { WebSocketServer } = require('ws');

const wss = new WebSocketServer({
	host: '127.0.0.1',
	port: parseInt(process.argv[2] || '0', 10),
	maxPayload: 16 * 1024 * 1024,
});
wss.on('listening', () => console.log(wss.address().port));
wss.on('connection', (ws) => {
	ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
	// A protocol error closes the connection (with its code); nothing else to do.
	ws.on('error', () => {});
});
process.on('SIGTERM', () => wss.close(() => process.exit(0)));
