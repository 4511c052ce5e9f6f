// SPDX-License-Identifier: MIT
// The operator dashboard (docs/config.md, "Operator dashboard"). Once a second the live feed
// (/@dashboard/live, a WebSocket the session cookie opens) sends
//   {"seq","time","skipped","metrics": Prometheus text exposition, "recent": {errors, deploys}}
// and this script turns it into rates (counter deltas), latency percentiles (histogram bucket
// deltas over the last PCT_TICKS ticks, interpolated as Prometheus' histogram_quantile does),
// charts on <canvas> drawn by the code below, and tables.
//
// Metric families are found by name pattern, not by exact name, and a panel whose family is
// absent says so instead of failing. Work per tick is bounded: one parse, one model update,
// one redraw (requestAnimationFrame); table rows are kept by key and only changed cells are
// written; only the TOP_N busiest routes are charted, all of them are in the table.
//
// For tests and curious operators: window.fngDash holds the tick count, the charts' draw
// counts and each route's last rate; <body data-ticks> and the rows' data-* mirror them.
'use strict';

const WINDOW_S = 300;       // the charts' time window
const PCT_TICKS = 5;        // percentiles over the bucket deltas of this many ticks
const TOP_N = 8;            // routes charted
const MAX_TOPIC_ROWS = 20;
const MAX_STAGE_ROWS = 30;
const PALETTE = ['#4fb3ff', '#5fd38d', '#ffb44f', '#ff6b6b', '#c792ea', '#7fdbca', '#f78c6c',
	'#ffd866', '#82aaff', '#e06c9f'];

const $ = (id) => document.getElementById(id);

// ---------------------------------------------------------------- the exposition ---

function unescapeLabel(v) {
	return v.replace(/\\(.)/g, (m, c) => (c === 'n' ? '\n' : c));
}

function parseValue(s) {
	if (s === '+Inf' || s === 'Inf') {
		return Infinity;
	}
	if (s === '-Inf') {
		return -Infinity;
	}
	return parseFloat(s);
}

// Returns {types: Map(base -> type), samples: Map(metric name -> [{labels, value}])}.
function parseExposition(text) {
	const types = new Map();
	const samples = new Map();
	const lineRe = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/;
	const labelRe = /([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"/g;
	for (const line of text.split('\n')) {
		if (!line) {
			continue;
		}
		if (line[0] === '#') {
			const m = /^#\s+TYPE\s+(\S+)\s+(\S+)/.exec(line);
			if (m) {
				types.set(m[1], m[2]);
			}
			continue;
		}
		const m = lineRe.exec(line);
		if (!m) {
			continue;
		}
		const labels = {};
		if (m[2]) {
			labelRe.lastIndex = 0;
			let l;
			while ((l = labelRe.exec(m[2])) !== null) {
				labels[l[1]] = unescapeLabel(l[2]);
			}
		}
		let arr = samples.get(m[1]);
		if (!arr) {
			arr = [];
			samples.set(m[1], arr);
		}
		arr.push({ labels: labels, value: parseValue(m[3]) });
	}
	return { types: types, samples: samples };
}

// The samples of the first metric name (in sorted order) that matches one of the patterns,
// tried in order, and has the label `need` (if given); [] when none does.
function pick(expo, patterns, need) {
	const names = Array.from(expo.samples.keys()).sort();
	for (const re of patterns) {
		for (const n of names) {
			if (!re.test(n)) {
				continue;
			}
			const s = expo.samples.get(n);
			if (!need || s.some((x) => need in x.labels)) {
				return s;
			}
		}
	}
	return [];
}

// Every metric name matching re (with its samples).
function pickAll(expo, re) {
	const out = [];
	for (const [n, s] of expo.samples) {
		if (re.test(n)) {
			out.push([n, s]);
		}
	}
	return out.sort((a, b) => (a[0] < b[0] ? -1 : 1));
}

// ---------------------------------------------------------------- histograms ---

// {le -> cumulative count} of a histogram's _bucket samples grouped by key(labels).
function bucketsBy(samples, key) {
	const out = new Map();
	for (const s of samples) {
		if (!('le' in s.labels)) {
			continue;
		}
		const k = key(s.labels);
		let b = out.get(k);
		if (!b) {
			b = new Map();
			out.set(k, b);
		}
		const le = parseValue(s.labels.le);
		b.set(le, (b.get(le) || 0) + s.value);
	}
	return out;
}

// The q-quantile of the observations between two cumulative bucket snapshots (Maps le ->
// count), by linear interpolation inside the bucket it falls in; null without observations.
function quantile(q, now, before) {
	const les = Array.from(now.keys()).sort((a, b) => a - b);
	if (!les.length) {
		return null;
	}
	const d = les.map((le) => Math.max(0, now.get(le) - ((before && before.get(le)) || 0)));
	const total = d[d.length - 1];
	if (!(total > 0)) {
		return null;
	}
	const rank = q * total;
	for (let i = 0; i < les.length; i++) {
		if (d[i] >= rank) {
			if (les[i] === Infinity) {
				return i > 0 ? les[i - 1] : null;
			}
			const lo = i > 0 ? les[i - 1] : 0;
			const clo = i > 0 ? d[i - 1] : 0;
			const inb = d[i] - clo;
			return inb > 0 ? lo + (les[i] - lo) * ((rank - clo) / inb) : les[i];
		}
	}
	return les[les.length - 1];
}

function sumBuckets(list) {
	const out = new Map();
	for (const b of list) {
		for (const [le, c] of b) {
			out.set(le, (out.get(le) || 0) + c);
		}
	}
	return out;
}

// ---------------------------------------------------------------- formatting ---

function fmtRate(v) {
	if (v === null || v === undefined || !isFinite(v)) {
		return '–';
	}
	if (v >= 1000) {
		return (v / 1000).toFixed(1) + 'k';
	}
	return v >= 10 ? v.toFixed(0) : v.toFixed(v >= 1 ? 1 : 2);
}

function fmtSec(v) {
	if (v === null || v === undefined || !isFinite(v)) {
		return '–';
	}
	if (v < 0.001) {
		return (v * 1e6).toFixed(0) + ' µs';
	}
	if (v < 1) {
		return (v * 1000).toFixed(v < 0.01 ? 2 : 1) + ' ms';
	}
	return v.toFixed(2) + ' s';
}

function fmtBytes(v) {
	if (v === null || v === undefined || !isFinite(v)) {
		return '–';
	}
	if (v >= 1 << 30) {
		return (v / (1 << 30)).toFixed(1) + ' GiB';
	}
	if (v >= 1 << 20) {
		return (v / (1 << 20)).toFixed(1) + ' MiB';
	}
	return (v / 1024).toFixed(0) + ' KiB';
}

function fmtInt(v) {
	return v === null || v === undefined || !isFinite(v) ? '–' : String(Math.round(v));
}

function fmtTime(iso) {
	const d = new Date(iso);
	return isNaN(d) ? String(iso) : d.toISOString().slice(11, 23);
}

// ---------------------------------------------------------------- charts ---

// A line chart (or stacked bars) over the last WINDOW_S seconds, drawn on a canvas sized to
// its box and the device's pixel ratio. series: [{name, color, values}], values aligned with
// times (ms); null is a gap.
class Chart {
	constructor(canvas, opts) {
		this.c = canvas;
		this.opts = opts;
		this.draws = 0;
	}

	draw(times, series) {
		const c = this.c;
		const dpr = window.devicePixelRatio || 1;
		const w = c.clientWidth;
		const h = c.clientHeight;
		if (!w || !h) {
			return;
		}
		if (c.width !== Math.round(w * dpr) || c.height !== Math.round(h * dpr)) {
			c.width = Math.round(w * dpr);
			c.height = Math.round(h * dpr);
		}
		const g = c.getContext('2d');
		g.setTransform(dpr, 0, 0, dpr, 0, 0);
		g.clearRect(0, 0, w, h);
		const L = 56;
		const R = 8;
		// The legend, in as many rows as it takes; the plot starts below it.
		g.font = '11px system-ui, sans-serif';
		g.textAlign = 'left';
		g.textBaseline = 'middle';
		const legend = [];
		let lx = L;
		let ly = 11;
		for (const se of series.slice(0, 10)) {
			const label = se.name.length > 40 ? se.name.slice(0, 39) + '…' : se.name;
			const tw = g.measureText(label).width;
			if (lx > L && lx + tw + 16 > w) {
				lx = L;
				ly += 15;
			}
			legend.push({ label: label, color: se.color, x: lx, y: ly });
			lx += tw + 26;
		}
		const T = ly + 15;
		const B = 20;
		const pw = w - L - R;
		const ph = h - T - B;
		const tEnd = times.length ? times[times.length - 1] : Date.now();
		const tStart = tEnd - WINDOW_S * 1000;
		const x = (t) => L + ((t - tStart) / (WINDOW_S * 1000)) * pw;
		let ymax = 0;
		let points = 0;
		if (this.opts.stack) {
			for (let i = 0; i < times.length; i++) {
				let s = 0;
				for (const se of series) {
					s += se.values[i] || 0;
				}
				ymax = Math.max(ymax, s);
			}
		} else {
			for (const se of series) {
				for (const v of se.values) {
					if (v !== null && isFinite(v)) {
						ymax = Math.max(ymax, v);
					}
				}
			}
		}
		const step = niceStep(ymax / 4);
		const top = Math.max(step, Math.ceil(ymax / step - 1e-9) * step);
		const y = (v) => T + ph - (v / top) * ph;
		// Grid and axes.
		g.strokeStyle = '#2a333d';
		g.fillStyle = '#8a96a3';
		g.lineWidth = 1;
		g.font = '11px system-ui, sans-serif';
		g.textAlign = 'right';
		g.textBaseline = 'middle';
		for (let i = 0; i * step <= top + 1e-9; i++) {
			const v = i * step;
			const yy = Math.round(y(v)) + 0.5;
			g.beginPath();
			g.moveTo(L, yy);
			g.lineTo(L + pw, yy);
			g.stroke();
			g.fillText(this.opts.fmt(v), L - 6, yy);
		}
		g.textAlign = 'center';
		g.textBaseline = 'top';
		for (let s = 0; s <= WINDOW_S; s += 60) {
			const xx = x(tEnd - s * 1000);
			const lx = Math.min(Math.max(xx, L + 12), L + pw - 12);
			g.fillText(s ? '-' + s / 60 + 'm' : 'now', lx, T + ph + 5);
		}
		// Data.
		g.save();
		g.beginPath();
		g.rect(L, T, pw, ph);
		g.clip();
		if (this.opts.stack) {
			const bw = Math.max(1, pw / WINDOW_S - 1);
			for (let i = 0; i < times.length; i++) {
				let acc = 0;
				for (const se of series) {
					const v = se.values[i] || 0;
					if (v > 0) {
						g.fillStyle = se.color;
						const top = y(acc + v);
						g.fillRect(x(times[i]) - bw, top, bw, y(acc) - top);
						acc += v;
						points++;
					}
				}
			}
		} else {
			g.lineWidth = 1.6;
			g.lineJoin = 'round';
			for (const se of series) {
				g.strokeStyle = se.color;
				g.beginPath();
				let pen = false;
				for (let i = 0; i < times.length; i++) {
					const v = se.values[i];
					if (v === null || v === undefined || !isFinite(v)) {
						pen = false;
						continue;
					}
					if (pen) {
						g.lineTo(x(times[i]), y(v));
					} else {
						g.moveTo(x(times[i]), y(v));
						pen = true;
					}
					points++;
				}
				g.stroke();
			}
		}
		g.restore();
		// Legend: the rows laid out above the plot.
		g.textAlign = 'left';
		g.textBaseline = 'middle';
		for (const it of legend) {
			g.fillStyle = it.color;
			g.fillRect(it.x, it.y - 5, 10, 10);
			g.fillStyle = '#d8dee6';
			g.fillText(it.label, it.x + 14, it.y);
		}
		if (!series.length) {
			g.fillStyle = '#8a96a3';
			g.textAlign = 'center';
			g.fillText(this.opts.empty || 'no data yet', L + pw / 2, T + ph / 2);
		}
		this.draws++;
		c.dataset.draws = String(this.draws);
		c.dataset.points = String(points);
	}
}

// The grid's step: 1, 2, 2.5 or 5 times a power of ten, at least v.
function niceStep(v) {
	if (!(v > 0)) {
		return 0.25;
	}
	const p = Math.pow(10, Math.floor(Math.log10(v)));
	for (const m of [1, 2, 2.5, 5, 10]) {
		if (m * p >= v) {
			return m * p;
		}
	}
	return 10 * p;
}

// ---------------------------------------------------------------- the model ---

// A fixed-length history aligned with model.times.
function ring() {
	return [];
}

function pushRing(r, v, n) {
	r.push(v);
	while (r.length > n) {
		r.shift();
	}
}

const model = {
	ticks: 0,
	times: [],
	lastTime: 0,
	prev: new Map(),          // counter key -> value at the previous tick
	routes: new Map(),        // route key -> route state
	bucketHist: [],           // last PCT_TICKS+1 snapshots of every route's latency buckets
	codes: new Map(),         // status code -> ring of rates
	functions: new Map(),     // function name -> state
	fnCpuHist: [], fnMemHist: [],
	ws: new Map(),            // api -> {open, inR, outR}
	wsRings: { open: ring(), msgs: ring() },
	topics: [],
	stages: [],
	families: [],
	recent: { errors: [], deploys: [] },
	selectedRoute: null,      // route key the latency chart shows; null: all
	selectedFn: null,
	totals: { rps: ring(), p50: ring(), p90: ring(), p99: ring() },
};

function rateOf(key, value, dt) {
	const before = model.prev.get(key);
	model.nextPrev.set(key, value);
	if (before === undefined || !(dt > 0)) {
		return null;
	}
	return (value >= before ? value - before : value) / dt;
}

function routeKey(l) {
	return (l.api || '') + '\u0000' + (l.stage || '') + '\u0000' + (l.route || l.path || '');
}

function fnKey(l) {
	return l.function || l.fn || '';
}

function sumBy(samples, key, filter) {
	const out = new Map();
	for (const s of samples) {
		if (filter && !filter(s.labels)) {
			continue;
		}
		const k = key(s.labels);
		out.set(k, (out.get(k) || 0) + s.value);
	}
	return out;
}

// The api label of the gateway's own listeners' requests (docs/config.md, "metrics").
const OWN_APIS = new Set(['$admin', '$metrics']);

function update(frame) {
	const expo = parseExposition(frame.metrics || '');
	const now = frame.time || Date.now();
	const dt = model.lastTime ? (now - model.lastTime) / 1000 : 0;
	model.lastTime = now;
	model.nextPrev = new Map();
	model.ticks++;
	pushRing(model.times, now, WINDOW_S);
	const n = model.times.length;

	// -- routes: count, 4xx, 5xx, latency
	const req = sumBy(pick(expo, [/^fngate_requests_total$/, /requests_total$/,
		/request_count/], 'route'), routeKey);
	const e4 = sumBy(pick(expo, [/^fngate_4xx_errors_total$/, /4xx/], 'route'), routeKey);
	const e5 = sumBy(pick(expo, [/^fngate_5xx_errors_total$/, /5xx/], 'route'), routeKey);
	const lat = bucketsBy(pick(expo, [/^fngate_latency_seconds_bucket$/,
		/^(?!.*integration).*latency.*_bucket$/], 'route'), routeKey);
	pushRing(model.bucketHist, lat, PCT_TICKS + 1);
	const old = model.bucketHist[0];
	const seen = new Set();
	for (const [k, total] of req) {
		const [api, stage, route] = k.split('\u0000');
		if (OWN_APIS.has(api)) {
			continue; // the admin and metrics listeners' own requests: not the APIs' traffic
		}
		seen.add(k);
		let r = model.routes.get(k);
		if (!r) {
			r = { key: k, api: api, stage: stage, route: route, rate: ring(),
				p50: ring(), p90: ring(), p99: ring(), total: 0 };
			model.routes.set(k, r);
		}
		r.total = total;
		r.r = rateOf('req' + k, total, dt);
		r.r4 = e4.has(k) ? rateOf('4xx' + k, e4.get(k), dt) : null;
		r.r5 = e5.has(k) ? rateOf('5xx' + k, e5.get(k), dt) : null;
		const b = lat.get(k);
		r.q50 = b ? quantile(0.5, b, old.get(k)) : null;
		r.q90 = b ? quantile(0.9, b, old.get(k)) : null;
		r.q99 = b ? quantile(0.99, b, old.get(k)) : null;
	}
	for (const k of model.routes.keys()) {
		if (!seen.has(k)) {
			model.routes.delete(k); // gone from the configuration
		}
	}
	// Every route's rings move on together so that they stay aligned with times.
	for (const r of model.routes.values()) {
		while (r.rate.length < n - 1) {
			r.rate.unshift(null);
			r.p50.unshift(null);
			r.p90.unshift(null);
			r.p99.unshift(null);
		}
		pushRing(r.rate, r.r, WINDOW_S);
		pushRing(r.p50, r.q50, WINDOW_S);
		pushRing(r.p90, r.q90, WINDOW_S);
		pushRing(r.p99, r.q99, WINDOW_S);
	}
	let rps = null;
	let r4 = null;
	let r5 = null;
	for (const r of model.routes.values()) {
		if (r.r !== null) {
			rps = (rps || 0) + r.r;
		}
		if (r.r4 !== null) {
			r4 = (r4 || 0) + r.r4;
		}
		if (r.r5 !== null) {
			r5 = (r5 || 0) + r.r5;
		}
	}
	const all = sumBuckets(lat.values());
	const allOld = sumBuckets(old.values());
	model.all = { rps: rps, r4: r4, r5: r5, q50: quantile(0.5, all, allOld),
		q90: quantile(0.9, all, allOld), q99: quantile(0.99, all, allOld) };
	pushRing(model.totals.rps, rps, WINDOW_S);
	pushRing(model.totals.p50, model.all.q50, WINDOW_S);
	pushRing(model.totals.p90, model.all.q90, WINDOW_S);
	pushRing(model.totals.p99, model.all.q99, WINDOW_S);

	// -- errors by status code (rates of every code >= 400, over all routes)
	const codes = sumBy(pick(expo, [/^fngate_responses_total$/, /responses_total$/], 'code'),
		(l) => l.code);
	for (const [code, v] of codes) {
		const rate = rateOf('code' + code, v, dt);
		if (+code < 400) {
			continue;
		}
		let rr = model.codes.get(code);
		if (!rr) {
			rr = ring();
			model.codes.set(code, rr);
		}
		while (rr.length < n - 1) {
			rr.unshift(null);
		}
		pushRing(rr, rate, WINDOW_S);
	}
	for (const [code, rr] of model.codes) {
		if (!codes.has(code)) {
			pushRing(rr, null, WINDOW_S);
		}
	}

	updateFunctions(expo, dt);
	updateWebSocket(expo, dt);
	updateOthers(expo, dt);
	model.families = Array.from(new Set(Array.from(expo.samples.keys()).map((nm) =>
		nm.replace(/_(bucket|sum|count)$/, (m) => (expo.types.has(nm.slice(0, -m.length)) ?
			'' : m))))).sort().map((f) => [f, expo.types.get(f) || 'untyped',
		(expo.samples.get(f) || expo.samples.get(f + '_count') || []).length]);
	if (frame.recent && typeof frame.recent === 'object') {
		const list = (x) => (Array.isArray(x) ? x : []);
		model.recent = { errors: list(frame.recent.errors),
			deploys: list(frame.recent.deploys) };
	}
	model.prev = model.nextPrev;
}

function updateFunctions(expo, dt) {
	const inv = pick(expo, [/^fngate_function_invocations_total$/, /invocations_total$/,
		/invocations/], 'function');
	const errs = pick(expo, [/^fngate_function_errors_total$/, /function.*errors_total$/,
		/errors_total$/], 'cause').filter((s) => 'function' in s.labels);
	const cold = pick(expo, [/cold_starts?_total$/, /cold_start.*_count$/], 'function');
	const busy = pickAll(expo, /worker/);
	const queue = pick(expo, [/queue_(depth|length|size)/, /queued/], 'function');
	const cpu = bucketsBy(pick(expo, [/cpu.*seconds_bucket$/], 'function'), fnKey);
	const memS = pick(expo, [/(max_rss|rss|memory|mem).*_bucket$/], 'function');
	const memFamilies = pickAll(expo, /(max_rss|rss|memory|mem).*_bucket$/);
	const memName = memFamilies.length ? memFamilies[0][0] : '';
	const memScale = /_kb|kilobytes|kib/.test(memName) ? 1024 : 1;
	const mem = bucketsBy(memS, fnKey);
	pushRing(model.fnCpuHist, cpu, PCT_TICKS + 1);
	pushRing(model.fnMemHist, mem, PCT_TICKS + 1);
	const seen = new Set();
	const get = (name) => {
		let f = model.functions.get(name);
		if (!f) {
			f = { name: name, versions: new Set(), inv: 0, r: null, errors: 0,
				causes: new Map(), busy: null, idle: null, queue: null,
				cold: null };
			model.functions.set(name, f);
		}
		seen.add(name);
		return f;
	};
	for (const f of model.functions.values()) {
		f.versions = new Set();
		f.inv = 0;
		f.errors = 0;
		f.causes = new Map();
		f.busy = f.idle = f.queue = f.cold = null;
	}
	for (const s of inv) {
		const f = get(fnKey(s.labels));
		f.inv += s.value;
		if (s.labels.version) {
			f.versions.add(s.labels.version);
		}
	}
	for (const s of errs) {
		const f = get(fnKey(s.labels));
		f.errors += s.value;
		if (s.value > 0) {
			f.causes.set(s.labels.cause, (f.causes.get(s.labels.cause) || 0) + s.value);
		}
	}
	for (const s of cold) {
		const f = get(fnKey(s.labels));
		f.cold = (f.cold || 0) + s.value;
	}
	for (const [name, samples] of busy) {
		for (const s of samples) {
			if (!('function' in s.labels)) {
				continue;
			}
			const f = get(fnKey(s.labels));
			const st = (s.labels.state || '') + ' ' + name;
			if (/busy/.test(st)) {
				f.busy = (f.busy || 0) + s.value;
			} else if (/idle/.test(st)) {
				f.idle = (f.idle || 0) + s.value;
			}
		}
	}
	for (const s of queue) {
		const f = get(fnKey(s.labels));
		f.queue = (f.queue || 0) + s.value;
	}
	const cpuOld = model.fnCpuHist[0];
	const memOld = model.fnMemHist[0];
	for (const [name, b] of cpu) {
		const f = get(name);
		// The last ticks' invocations, or all of them while there were none lately.
		const o = quantile(0.5, b, cpuOld.get(name)) === null ? undefined
			: cpuOld.get(name);
		f.cpu50 = quantile(0.5, b, o);
		f.cpu99 = quantile(0.99, b, o);
	}
	for (const [name, b] of mem) {
		const f = get(name);
		const o = quantile(0.5, b, memOld.get(name)) === null ? undefined
			: memOld.get(name);
		const q50 = quantile(0.5, b, o);
		const q99 = quantile(0.99, b, o);
		f.mem50 = q50 === null ? null : q50 * memScale;
		f.mem99 = q99 === null ? null : q99 * memScale;
	}
	for (const f of model.functions.values()) {
		f.r = rateOf('inv' + f.name, f.inv, dt);
	}
	for (const k of model.functions.keys()) {
		if (!seen.has(k)) {
			model.functions.delete(k);
		}
	}
}

function updateWebSocket(expo, dt) {
	const open = sumBy(pick(expo, [/^fngate_websocket_connections$/,
		/(websocket|ws)_(open_)?connections(_open)?$/, /connections_open$/]),
	(l) => l.api || '');
	const inS = pick(expo, [/(websocket|ws)_messages_(in|received)/]);
	const outS = pick(expo, [/(websocket|ws)_messages_(out|sent)/]);
	const both = pick(expo, [/(websocket|ws)_messages_total$/], 'direction');
	const dir = (re) => both.filter((s) => re.test(s.labels.direction));
	const msgIn = sumBy(inS.concat(dir(/^(in|rx|received)$/)), (l) => l.api || '');
	const msgOut = sumBy(outS.concat(dir(/^(out|tx|sent)$/)), (l) => l.api || '');
	const apis = new Set([...open.keys(), ...msgIn.keys(), ...msgOut.keys()]);
	model.ws = new Map();
	let totalOpen = null;
	let totalMsgs = null;
	for (const a of apis) {
		const o = open.has(a) ? open.get(a) : null;
		const ri = msgIn.has(a) ? rateOf('wsin' + a, msgIn.get(a), dt) : null;
		const ro = msgOut.has(a) ? rateOf('wsout' + a, msgOut.get(a), dt) : null;
		model.ws.set(a, { open: o, inR: ri, outR: ro });
		if (o !== null) {
			totalOpen = (totalOpen || 0) + o;
		}
		if (ri !== null || ro !== null) {
			totalMsgs = (totalMsgs || 0) + (ri || 0) + (ro || 0);
		}
	}
	model.wsOpen = totalOpen;
	pushRing(model.wsRings.open, totalOpen, WINDOW_S);
	pushRing(model.wsRings.msgs, totalMsgs, WINDOW_S);
}

// Topic counters, and the stages' (cache, throttle, authorizer, quota, API keys): a row per
// metric name (and topic), its total and its rate.
function updateOthers(expo, dt) {
	const rows = (re, max, split) => {
		const out = [];
		for (const [name, samples] of pickAll(expo, re)) {
			const first = samples[0] || { labels: {} };
			if (/_bucket$|_sum$/.test(name) || 'function' in first.labels) {
				continue;
			}
			const by = sumBy(samples, (l) => (split && l[split] ? l[split] : ''));
			for (const [k, v] of by) {
				const label = name.replace(/^fngate_/, '') +
					(k ? ' {' + k + '}' : '');
				out.push([label, v, rateOf('o' + label, v, dt)]);
				if (out.length >= max) {
					return out;
				}
			}
		}
		return out;
	};
	model.topics = rows(/topic|publication|deliver/, MAX_TOPIC_ROWS, 'topic');
	model.stages = rows(/cache_(hit|miss|stale)|throttl|authoriz|quota|api_?key/,
		MAX_STAGE_ROWS, 'stage');
}

// ---------------------------------------------------------------- the view ---

function setText(el, s) {
	if (el.textContent !== s) {
		el.textContent = s;
	}
}

// Keeps a tbody's rows in the order of items, one per key, creating and removing as needed;
// fill(tr, item) writes its cells (it is called for each row, each time).
function syncRows(tbody, items, keyOf, make, fill, empty) {
	if (!items.length && empty) {
		// What the feed does not have is said, not left as a blank table.
		if (tbody.children.length !== 1 || tbody.firstChild.dataset.key !== '\u0000') {
			tbody.textContent = '';
			const tr = document.createElement('tr');
			const td = document.createElement('td');
			td.className = 'empty';
			td.colSpan = tbody.parentNode.tHead.rows[0].cells.length;
			td.textContent = empty;
			tr.dataset.key = '\u0000';
			tr.appendChild(td);
			tbody.appendChild(tr);
		}
		return;
	}
	const have = new Map();
	for (const tr of Array.from(tbody.children)) {
		have.set(tr.dataset.key, tr);
	}
	let at = tbody.firstChild;
	for (const it of items) {
		const k = keyOf(it);
		let tr = have.get(k);
		if (tr) {
			have.delete(k);
		} else {
			tr = make(it);
			tr.dataset.key = k;
		}
		fill(tr, it);
		if (tr !== at) {
			tbody.insertBefore(tr, at);
		} else {
			at = at.nextSibling;
		}
	}
	for (const tr of have.values()) {
		tr.remove();
	}
}

function rowWith(n, cls) {
	const tr = document.createElement('tr');
	for (let i = 0; i < n; i++) {
		const td = document.createElement('td');
		if (cls && cls[i]) {
			td.className = cls[i];
		}
		tr.appendChild(td);
	}
	return tr;
}

function cells(tr, values) {
	for (let i = 0; i < values.length; i++) {
		setText(tr.children[i], values[i]);
	}
}

const charts = {};
const routeColor = new Map();

function colorFor(key) {
	let c = routeColor.get(key);
	if (!c) {
		c = PALETTE[routeColor.size % PALETTE.length];
		routeColor.set(key, c);
	}
	return c;
}

function routeName(r) {
	return r.route + (r.stage ? ' (' + r.api + '/' + r.stage + ')' : '');
}

let renderMax = 0;

function render() {
	const t0 = performance.now();
	scheduled = false;
	const routes = Array.from(model.routes.values()).sort((a, b) =>
		(b.r || 0) - (a.r || 0) || (b.total - a.total) || (a.key < b.key ? -1 : 1));
	// Tiles.
	setText($('t-rps'), fmtRate(model.all.rps));
	setText($('t-lat'), fmtSec(model.all.q50) + ' / ' + fmtSec(model.all.q99));
	setText($('t-4xx'), fmtRate(model.all.r4));
	setText($('t-5xx'), fmtRate(model.all.r5));
	setText($('t-fns'), String(model.functions.size));
	setText($('t-ws'), fmtInt(model.wsOpen));
	$('t-5xx').classList.toggle('bad', model.all.r5 > 0);

	// Charts: the top routes' rates; the selected route's (or all routes') percentiles.
	// Ranked by the last 10 s, so that ties and one busy second do not reshuffle the chart.
	const recentSum = (r) => r.rate.slice(-10).reduce((a, v) => a + (v || 0), 0);
	const top = routes.filter((r) => r.rate.some((v) => v))
		.map((r) => [recentSum(r), r])
		.sort((a, b) => b[0] - a[0] || (a[1].key < b[1].key ? -1 : 1))
		.slice(0, TOP_N).map((x) => x[1]);
	const several = new Set(top.map((r) => r.api + '/' + r.stage)).size > 1;
	charts.rps.draw(model.times, top.map((r) => ({ name: several ? routeName(r) : r.route,
		color: colorFor(r.key), values: r.rate })));
	const sel = model.selectedRoute && model.routes.get(model.selectedRoute);
	const src = sel || model.totals;
	setText($('lat-route'), sel ? routeName(sel) : 'all routes');
	charts.lat.draw(model.times, [
		{ name: 'p50', color: PALETTE[1], values: src.p50 },
		{ name: 'p90', color: PALETTE[2], values: src.p90 },
		{ name: 'p99', color: PALETTE[3], values: src.p99 },
	].filter((s) => s.values.some((v) => v !== null)));
	const codeColors = { 4: ['#ffb44f', '#ffd866', '#f78c6c', '#e5c07b'],
		5: ['#ff6b6b', '#e06c9f', '#c792ea', '#be5046'] };
	const codes = Array.from(model.codes.keys()).sort();
	charts.err.draw(model.times, codes.map((c, i) => ({ name: c, values: model.codes.get(c),
		color: (codeColors[c[0]] || PALETTE)[i % 4] }))
		.filter((s) => s.values.some((v) => v)));
	charts.ws.draw(model.times, [
		{ name: 'open connections', color: PALETTE[0], values: model.wsRings.open },
		{ name: 'messages/s', color: PALETTE[4], values: model.wsRings.msgs },
	].filter((s) => s.values.some((v) => v !== null)));

	// Routes.
	setText($('routes-count'), '(' + routes.length + ')');
	syncRows($('routes').tBodies[0], routes, (r) => r.key, (r) => {
		const tr = rowWith(10, [0, 0, 'mono', 'n', 'n', 'n', 'n', 'n', 'n', 'n']);
		tr.className = 'click';
		tr.addEventListener('click', () => {
			model.selectedRoute = model.selectedRoute === r.key ? null : r.key;
			schedule();
		});
		return tr;
	}, (tr, r) => {
		cells(tr, [r.api, r.stage, r.route, fmtRate(r.r), fmtSec(r.q50), fmtSec(r.q90),
			fmtSec(r.q99), fmtRate(r.r4), fmtRate(r.r5), fmtInt(r.total)]);
		tr.dataset.route = r.route;
		tr.dataset.rate = r.r === null ? '' : String(r.r);
		tr.classList.toggle('sel', model.selectedRoute === r.key);
		tr.children[8].classList.toggle('bad', r.r5 > 0);
	}, 'no route has request metrics yet');

	// Functions.
	const fns = Array.from(model.functions.values()).sort((a, b) => (a.name < b.name ? -1 : 1));
	syncRows($('functions').tBodies[0], fns, (f) => f.name, (f) => {
		const tr = rowWith(12, [0, 'mono', 'n', 'n', 'n', 0, 'n', 'n', 'n', 'n', 'n', 'n']);
		tr.className = 'click';
		tr.addEventListener('click', () => {
			model.selectedFn = model.selectedFn === f.name ? null : f.name;
			schedule();
		});
		return tr;
	}, (tr, f) => {
		const causes = Array.from(f.causes).map(([c, v]) => c + ' ' + fmtInt(v)).join(', ');
		cells(tr, [f.name, Array.from(f.versions).join(', ') || '–', fmtRate(f.r),
			fmtInt(f.inv), fmtInt(f.errors), causes || '–', fmtInt(f.busy),
			fmtInt(f.idle), fmtInt(f.queue), fmtInt(f.cold),
			fmtSec(f.cpu50) + ' / ' + fmtSec(f.cpu99),
			fmtBytes(f.mem50) + ' / ' + fmtBytes(f.mem99)]);
		tr.dataset.function = f.name;
		tr.classList.toggle('sel', model.selectedFn === f.name);
		tr.children[4].classList.toggle('bad', f.errors > 0);
	}, 'no function metrics in the feed');
	renderFailures();

	// WebSocket, topics, stages.
	const ws = Array.from(model.ws).sort((a, b) => (a[0] < b[0] ? -1 : 1));
	syncRows($('ws').tBodies[0], ws, (x) => x[0], () => rowWith(4, [0, 'n', 'n', 'n']),
		(tr, [a, v]) => cells(tr, [a || '(all)', fmtInt(v.open), fmtRate(v.inR),
			fmtRate(v.outR)]),
		'no WebSocket metrics in the feed');
	const counterRows = (id, rows, empty) => syncRows($(id).tBodies[0], rows, (x) => x[0],
		() => rowWith(3, ['mono', 'n', 'n']),
		(tr, x) => cells(tr, [x[0], fmtInt(x[1]), fmtRate(x[2])]), empty);
	counterRows('topics', model.topics, 'no topic metrics in the feed');
	counterRows('stages', model.stages,
		'no cache, throttle or authorizer counters in the feed');

	renderRecent();
	syncRows($('families').tBodies[0], model.families, (x) => x[0],
		() => rowWith(3, ['mono', 0, 'n']),
		(tr, x) => cells(tr, [x[0], x[1], String(x[2])]));

	document.body.dataset.ticks = String(model.ticks);
	const took = performance.now() - t0;
	renderMax = Math.max(renderMax, took);
	window.fngDash = {
		renderMs: took,
		renderMaxMs: renderMax,
		ticks: model.ticks,
		draws: { rps: charts.rps.draws, lat: charts.lat.draws, err: charts.err.draws },
		routes: Object.fromEntries(routes.map((r) => [r.route, r.r])),
		functions: fns.length,
		errors: model.recent.errors.length,
	};
}

let lastErrorsKey = '';
let lastDeploysKey = '';

function recentKey(list) {
	const last = list[list.length - 1];
	return list.length + '|' + (last ? last.time + last.requestId + (last.function || '') : '');
}

function renderRecent() {
	const errs = model.recent.errors;
	const k = recentKey(errs);
	if (k !== lastErrorsKey) {
		lastErrorsKey = k;
		const items = errs.slice().reverse();
		syncRows($('errors').tBodies[0], items, (e) => String(e.requestId) + '|' + e.time,
			() => rowWith(8, [0, 'mono', 0, 'mono', 'n', 0, 0, 'wrap']), (tr, e) => {
				cells(tr, [fmtTime(e.time), String(e.requestId || ''),
					(e.api || '') + ' / ' + (e.stage || ''),
					String(e.route || ''), String(e.status), e.cause || '–',
					e.function || '–', String(e.error || '')]);
				tr.dataset.requestId = String(e.requestId || '');
				tr.children[4].classList.toggle('bad', e.status >= 500);
			}, 'no recent errors');
	}
	const deps = model.recent.deploys;
	const dk = recentKey(deps);
	if (dk !== lastDeploysKey) {
		lastDeploysKey = dk;
		syncRows($('deploys').tBodies[0], deps.slice().reverse(),
			(d) => d.time + '|' + d.function + '|' + d.version + '|' + d.event,
			() => rowWith(5, [0, 0, 'mono', 0, 'wrap']), (tr, d) => {
				cells(tr, [fmtTime(d.time), String(d.function || ''),
					String(d.version || ''), String(d.event || ''),
					String(d.detail || '')]);
				tr.children[3].classList.toggle('bad', d.event === 'failed');
			}, 'no deploys in the feed');
	}
}

// The selected function's failures, from the recent errors, with a count per cause.
function renderFailures() {
	const panel = $('fn-failures');
	const name = model.selectedFn;
	panel.hidden = !name;
	if (!name) {
		return;
	}
	setText($('fn-name'), name);
	const mine = model.recent.errors.filter((e) => e.function === name).reverse();
	const by = new Map();
	for (const e of mine) {
		const c = e.cause || 'other';
		by.set(c, (by.get(c) || 0) + 1);
	}
	const causes = $('fn-causes');
	causes.textContent = '';
	for (const [c, v] of by) {
		const s = document.createElement('span');
		s.textContent = c + ': ' + v;
		s.dataset.cause = c;
		causes.appendChild(s);
	}
	$('fn-empty').hidden = mine.length > 0;
	syncRows(panel.querySelector('tbody'), mine, (e) => String(e.requestId) + '|' + e.time,
		() => rowWith(6, [0, 'mono', 'mono', 'n', 0, 'wrap']), (tr, e) => {
			cells(tr, [fmtTime(e.time), String(e.requestId || ''),
				String(e.route || ''), String(e.status), e.cause || '–',
				String(e.error || '')]);
			tr.dataset.requestId = String(e.requestId || '');
		});
}

let scheduled = false;

function schedule() {
	if (!scheduled && model.all) {
		scheduled = true;
		requestAnimationFrame(render);
	}
}

// ---------------------------------------------------------------- the feed ---

function status(text, cls) {
	const el = $('status');
	setText(el, text);
	el.className = 'status ' + (cls || '');
	document.body.dataset.state = cls || '';
}

let backoff = 1000;

function connect() {
	const url = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host +
		'/@dashboard/live';
	const ws = new WebSocket(url);
	let got = false;
	ws.onmessage = (ev) => {
		let frame;
		try {
			frame = JSON.parse(ev.data);
		} catch (e) {
			return;
		}
		got = true;
		backoff = 1000;
		update(frame);
		const skipped = frame.skipped ? ' · skipped ' + frame.skipped : '';
		status('live · tick ' + model.ticks + skipped, 'live');
		schedule();
	};
	ws.onclose = async () => {
		status('disconnected · retrying', 'down');
		if (!got) {
			// Refused before any frame: a session that ended goes back to login.
			try {
				const r = await fetch('/@dashboard/app.js',
					{ method: 'HEAD', cache: 'no-store' });
				if (r.status === 401 || r.status === 403) {
					location.replace('/@dashboard/login');
					return;
				}
			} catch (e) {
				// the gateway is away: retry below
			}
		}
		setTimeout(connect, backoff);
		backoff = Math.min(backoff * 2, 10000);
	};
}

function start() {
	charts.rps = new Chart($('c-rps'), { fmt: fmtRate, empty: 'no requests yet' });
	charts.lat = new Chart($('c-lat'), { fmt: fmtSec, empty: 'no latency observed yet' });
	charts.err = new Chart($('c-err'), { fmt: fmtRate, stack: true, empty: 'no errors' });
	charts.ws = new Chart($('c-ws'), { fmt: fmtRate, empty: 'no WebSocket metrics' });
	$('logout').addEventListener('click', async () => {
		try {
			await fetch('/@dashboard/session', { method: 'DELETE', cache: 'no-store' });
		} finally {
			location.replace('/@dashboard/login');
		}
	});
	$('fn-close').addEventListener('click', (e) => {
		e.stopPropagation();
		model.selectedFn = null;
		schedule();
	});
	window.addEventListener('resize', schedule);
	connect();
}

start();
