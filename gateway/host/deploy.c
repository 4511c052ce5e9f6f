// SPDX-License-Identifier: MIT
/*
 * Hot deploy: the functions directory is watched with inotify; a changed NAME.so (or its
 * NAME.yaml manifest) is checked under the file rules, hashed and copied into the private store
 * off the loop thread (uv_queue_work), and becomes a pending generation whose one pre-flight
 * worker must say READY before it takes traffic (host/pool.c); the old one retires. A failing
 * deploy keeps the running version and is remembered so that an unchanged file is neither
 * copied nor logged again.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "host.h"
#include "safefile.h"
#include "server.h"

/* A manifest is a few lines of YAML. */
#define MANIFEST_MAX_BYTES (64 * 1024)
#define DEBOUNCE_MS 30

static struct src_id src_of(const struct stat *st)
{
	return (struct src_id){ st->st_dev, st->st_ino, st->st_size,
		(int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec,
		(int64_t)st->st_ctim.tv_sec * 1000000000 + st->st_ctim.tv_nsec };
}

struct scan_item {
	char name[64];
	char version[17];
	char hash[FNG_FNSTORE_HASH];
	char so_path[PATH_MAX];
	struct fng_fn_limits limits;
	struct src_id src, manifest;
	bool unstable, failed;
	bool preflight;            /* failed: the pre-flight of these very files failed before */
	bool refused;              /* failed: the manifest asks for more than the policy allows */
	bool holds_copy;           /* the scan holds a reference to the copy of hash */
	char error[256];
};

/* A deployed version the scan may reuse when its source file has not changed. */
struct scan_known {
	char name[64];
	char version[17];
	char hash[FNG_FNSTORE_HASH];
	char so_path[PATH_MAX];
	struct src_id src, manifest;
	struct fng_fn_limits limits; /* computed from that manifest and today's defaults */
};

/* A function's last failed deploy (struct fn_failure), for the scan to recognise it. */
struct scan_failed {
	char name[64];
	struct fn_failure f;
};

struct scan_work {
	uv_work_t req;
	struct fng_functions *fns;
	struct fng_fnstore *store;
	char dir[PATH_MAX];
	uint64_t max_so_bytes;
	struct fng_fn_limits defaults;
	struct fng_config *cfg;    /* a reference: each function's policy */
	struct scan_item *items;   /* grown on the thread pool: it is large (manifests) */
	unsigned nitems, cap;
	bool complete_read;        /* every entry of the directory was seen */
	struct scan_known *known;
	unsigned nknown;
	struct scan_failed *failed;
	unsigned nfailed;
	char (*complete)[64];
	unsigned ncomplete;
	bool retry;
};

static bool limits_equal(const struct fng_fn_limits *a, const struct fng_fn_limits *b)
{
	return a->timeout_ms == b->timeout_ms && a->memory_mb == b->memory_mb &&
	       a->cpu_ms == b->cpu_ms && a->concurrency == b->concurrency &&
	       a->min_warm == b->min_warm && a->max_invocations == b->max_invocations &&
	       a->queue == b->queue && a->pipeline == b->pipeline && a->groups == b->groups &&
	       a->learn == b->learn &&
	       memcmp(a->env, b->env, sizeof(a->env)) == 0 &&
	       memcmp(&a->grants, &b->grants, sizeof(a->grants)) == 0;
}

static bool scan_complete(const struct scan_work *sw, const char *name)
{
	for (unsigned i = 0; i < sw->ncomplete; i++) {
		if (strcmp(sw->complete[i], name) == 0) {
			return true;
		}
	}
	return false;
}

static const struct fn_failure *scan_failure(const struct scan_work *sw, const char *name)
{
	for (unsigned i = 0; i < sw->nfailed; i++) {
		if (strcmp(sw->failed[i].name, name) == 0) {
			return &sw->failed[i].f;
		}
	}
	return NULL;
}

/* it failed: why, formatted. */
static bool scan_fail(struct scan_item *it, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static bool scan_fail(struct scan_item *it, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(it->error, sizeof(it->error), fmt, ap);
	va_end(ap);
	it->failed = true;
	return false;
}

/*
 * The limits for it: those of a deployed version whose manifest (or its absence) has not
 * changed since, or its manifest read now through the file rules (safefile.h) and parsed over
 * the defaults. Sets it->manifest (the manifest's own metadata: a link is not followed). False
 * with it->error when the manifest is refused or invalid.
 */
static bool scan_limits(const struct scan_work *sw, int dirfd, struct scan_item *it)
{
	static const struct fng_safe_rules rules = { MANIFEST_MAX_BYTES, FNG_SAFE_OWNER };
	const struct fng_fn_policy *policy = fng__config_fn_policy(sw->cfg, it->name);
	struct fng_buf text = { 0 }, errors = { 0 };
	char file[80], label[PATH_MAX + 80];
	const char *why;
	struct stat st;
	int rc;

	snprintf(file, sizeof(file), "%s.yaml", it->name);
	memset(&it->manifest, 0, sizeof(it->manifest));
	if (fstatat(dirfd, file, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		it->manifest = src_of(&st);
	}
	for (unsigned i = 0; i < sw->nknown; i++) {
		const struct scan_known *k = &sw->known[i];

		if (strcmp(k->name, it->name) == 0 &&
			memcmp(&k->manifest, &it->manifest, sizeof(k->manifest)) == 0) {
			it->limits = k->limits;
			return true;
		}
	}
	snprintf(label, sizeof(label), "%s/%s", sw->dir, file);
	rc = fng__safe_read(dirfd, file, &rules, &text, &st, &why);
	if (rc == -ENOENT) {
		/* No manifest: the defaults. */
		rc = fng__manifest_load_string(label, "", 0, &sw->defaults, policy, &it->limits,
			&errors);
	} else if (rc < 0) {
		fng__buf_finish(&text);
		return scan_fail(it, "manifest %s refused: %s", file, why);
	} else {
		rc = fng__manifest_load_string(label, text.p ? text.p : "", text.len,
			&sw->defaults, policy, &it->limits, &errors);
	}
	if (rc) {
		it->refused = rc == UV_EPERM;
		scan_fail(it, "%.*s", (int)(errors.len ? errors.len - 1 : 0),
			errors.p ? errors.p : "");
	}
	fng__buf_finish(&text);
	fng__buf_finish(&errors);
	return rc == 0;
}

/*
 * Takes the copy of a deployed version whose file has not changed since, if the store still
 * has it (the scan then holds a reference of its own).
 */
static bool scan_reuse(const struct scan_work *sw, struct scan_item *it)
{
	for (unsigned i = 0; i < sw->nknown; i++) {
		const struct scan_known *k = &sw->known[i];

		if (strcmp(k->name, it->name) == 0 &&
			memcmp(&k->src, &it->src, sizeof(k->src)) == 0 &&
			fng__fnstore_hold(sw->store, k->hash)) {
			memcpy(it->version, k->version, sizeof(it->version));
			memcpy(it->hash, k->hash, sizeof(it->hash));
			memcpy(it->so_path, k->so_path, sizeof(it->so_path));
			it->holds_copy = true;
			return true;
		}
	}
	return false;
}

/* Opens NAME.so under the file rules and copies it into the store. */
static void scan_copy(const struct scan_work *sw, int dirfd, const char *file,
	struct scan_item *it)
{
	const struct fng_safe_rules rules = { sw->max_so_bytes, FNG_SAFE_OWNER };
	const char *why;
	struct stat st;
	int fd = fng__safe_open(dirfd, file, &rules, &st, &why), err;

	if (fd < 0) {
		scan_fail(it, "%s refused: %s", file, why);
		return;
	}
	err = fng__fnstore_put(sw->store, fd, sw->max_so_bytes, it->hash, it->so_path,
		sizeof(it->so_path));
	close(fd);
	if (err) {
		scan_fail(it, "%s: cannot copy: %s", file, err == -EFBIG ?
			"it grew larger than the configured maximum" : strerror(-err));
		return;
	}
	memcpy(it->version, it->hash, 16);
	it->version[16] = '\0';
	it->holds_copy = true;
}

/* One NAME.so of the directory: what to deploy, or why not. False: it is gone. */
static bool scan_one(struct scan_work *sw, int dirfd, const char *file, struct scan_item *it,
	int64_t now_ns)
{
	const struct fn_failure *last = scan_failure(sw, it->name);
	struct stat st;

	/* The entry itself: a link, a FIFO or a device is refused without being opened. */
	if (fstatat(dirfd, file, &st, AT_SYMLINK_NOFOLLOW) != 0) {
		if (errno == ENOENT) {
			return false; /* deleted since readdir: gone, like a file never listed */
		}
		scan_fail(it, "%s: %s", file, strerror(errno));
		return true;
	}
	it->src = src_of(&st);
	if (!S_ISREG(st.st_mode)) {
		scan_fail(it, "%s refused: %s", file, fng__safe_kind(&st));
		return true;
	}
	/*
	 * Perhaps being written right now (a cp in progress): look again shortly — unless the
	 * watch saw its writer close it or it was renamed into place.
	 */
	if (st.st_size == 0 ||
		(now_ns - it->src.mtime_ns < 50 * 1000000LL && !scan_complete(sw, it->name))) {
		it->unstable = true;
		sw->retry = true;
		return true;
	}
	if (!scan_limits(sw, dirfd, it)) {
		return true;
	}
	/* The same files (and limits) failed their pre-flight: not copied or tried again. */
	if (last && last->preflight && !memcmp(&last->src, &it->src, sizeof(it->src)) &&
		!memcmp(&last->manifest, &it->manifest, sizeof(it->manifest)) &&
		limits_equal(&last->limits, &it->limits)) {
		it->preflight = true;
		scan_fail(it, "%s", last->error);
		return true;
	}
	if (!scan_reuse(sw, it)) {
		scan_copy(sw, dirfd, file, it);
	}
	return true;
}

static void scan_work_cb(uv_work_t *req)
{
	struct scan_work *sw = (struct scan_work *)req;
	int dirfd = open(sw->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int listfd = dirfd >= 0 ? dup(dirfd) : -1;
	DIR *d = listfd >= 0 ? fdopendir(listfd) : NULL;
	struct dirent *e;
	struct timespec now;
	int64_t now_ns;

	if (!d) {
		if (listfd >= 0) {
			close(listfd);
		}
		if (dirfd >= 0) {
			close(dirfd);
		}
		return;
	}
	clock_gettime(CLOCK_REALTIME, &now);
	now_ns = (int64_t)now.tv_sec * 1000000000 + now.tv_nsec;
	sw->complete_read = true;
	while ((e = readdir(d)) != NULL && sw->nitems < MAX_FUNCTIONS) {
		size_t len = strlen(e->d_name);
		struct scan_item *it;

		if (len < 4 || strcmp(e->d_name + len - 3, ".so") != 0 || e->d_name[0] == '.' ||
			len - 3 >= sizeof(it->name)) {
			continue;
		}
		if (sw->nitems == sw->cap) {
			unsigned cap = sw->cap ? sw->cap * 2 : 16;
			struct scan_item *items = realloc(sw->items, cap * sizeof(*items));

			if (!items) {
				sw->complete_read = false;
				break;
			}
			sw->items = items;
			sw->cap = cap;
		}
		it = &sw->items[sw->nitems];
		memset(it, 0, sizeof(*it));
		memcpy(it->name, e->d_name, len - 3);
		if (!fng__config_name_ok(it->name)) {
			continue;
		}
		if (scan_one(sw, dirfd, e->d_name, it, now_ns)) {
			sw->nitems++;
		}
	}
	closedir(d);
	close(dirfd);
}

static void debounce_cb(uv_timer_t *t)
{
	fng__host_deploy_scan(t->data);
}

/* Drops the scan's own references to copies (new generations have taken theirs). */
static void scan_work_free(struct scan_work *sw)
{
	for (unsigned i = 0; i < sw->nitems; i++) {
		if (sw->items[i].holds_copy) {
			fng__fnstore_unref(sw->store, sw->items[i].hash);
		}
	}
	fng__config_unref(sw->cfg);
	free(sw->items);
	free(sw->known);
	free(sw->failed);
	free(sw->complete);
	free(sw);
}

/*
 * Whether generation g (may be NULL) runs with more than its function's policy allows now:
 * a reload lowered a maximum or took a grant back since it was deployed. why says how.
 */
static bool gen_over_policy(const struct fng_gen *g, char *why, size_t len)
{
	return g && fng__policy_check(g->fn->policy, g->fn->name, &g->limits, why, len);
}

/*
 * A scanned version that cannot deploy: logged — unless it is the failure already logged for
 * the same, unchanged files (a rescan says nothing new) — and remembered; the running version
 * keeps serving. Unless the manifest was refused by the operator's policy and the running
 * version is over that policy too (a reload lowered a maximum or took a grant back since it
 * was deployed): then it stops, as would a version whose grant of network access was revoked.
 */
static void deploy_failed(struct fng_functions *fns, struct fng_fn *fn,
	const struct scan_item *it)
{
	struct fn_failure *f = &fn->failure;
	char why[256];
	bool stop;

	if (it->refused && gen_over_policy(fn->pending, why, sizeof(why))) {
		fng__host_gen_drop_pending(fns, fn);
	}
	stop = it->refused && gen_over_policy(fn->current, why, sizeof(why));
	if (!stop && (it->preflight || (f->set && !f->preflight &&
		!strcmp(f->error, it->error) && !memcmp(&f->src, &it->src, sizeof(f->src)) &&
		!memcmp(&f->manifest, &it->manifest, sizeof(f->manifest))))) {
		return;
	}
	*f = (struct fn_failure){ .set = true, .src = it->src, .manifest = it->manifest };
	snprintf(f->error, sizeof(f->error), "%s", it->error);
	if (!stop) {
		fng__log("error", "deploy failed", "function", it->name, "cause", it->error,
			"action", fn->current ? "keeping the running version" : "not deployed",
			NULL);
		fng__host_metric_deploy(fns, it->name, "", "failed", it->error);
		return;
	}
	fng__log("error", "deploy failed", "function", it->name, "cause", it->error, "action",
		"stopping the running version: it is over the operator's limits since the reload",
		"version", fn->current->version, "detail", why, NULL);
	fng__host_metric_deploy(fns, it->name, fn->current->version, "failed", it->error);
	fng__host_fn_withdraw(fns, fn, "function was stopped: over the operator's limits");
}

static void scan_after_cb(uv_work_t *req, int status)
{
	struct scan_work *sw = (struct scan_work *)req;
	struct fng_functions *fns = sw->fns;

	fns->scanning = false;
	if (fns->closing) {
		scan_work_free(sw);
		return;
	}
	/* Functions whose .so disappeared retire (if the scan saw the whole directory). */
	for (unsigned i = 0; i < fns->nfns && sw->complete_read; i++) {
		struct fng_fn *fn = fns->fns[i];
		bool found = false;

		for (unsigned j = 0; j < sw->nitems; j++) {
			found |= strcmp(sw->items[j].name, fn->name) == 0;
		}
		if (!found && fn->current) {
			struct fng_gen *g = fn->current;

			fng__log("info", "function removed", "function", fn->name, "version",
				g->version, NULL);
			fng__host_metric_deploy(fns, fn->name, g->version, "removed",
				"its file left the functions directory");
			fng__host_fn_withdraw(fns, fn, "function was removed");
		}
	}
	for (unsigned j = 0; j < sw->nitems; j++) {
		struct scan_item *it = &sw->items[j];
		struct fng_fn *fn;
		struct fng_gen *g;

		if (it->unstable) {
			continue;
		}
		fn = fng__host_fn_get(fns, it->name);
		if (!fn) {
			continue;
		}
		if (it->failed) {
			deploy_failed(fns, fn, it);
			continue;
		}
		/*
		 * Same .so and same manifest: nothing to do. A manifest change alone redeploys.
		 * The same content with the same limits as a failed pre-flight is not tried again.
		 */
		if ((fn->current && strcmp(fn->current->hash, it->hash) == 0 &&
			    limits_equal(&fn->current->limits, &it->limits)) ||
			(fn->pending && strcmp(fn->pending->hash, it->hash) == 0 &&
				limits_equal(&fn->pending->limits, &it->limits)) ||
			(fn->failure.set && fn->failure.preflight &&
				strcmp(fn->failure.hash, it->hash) == 0 &&
				limits_equal(&fn->failure.limits, &it->limits))) {
			continue;
		}
		g = calloc(1, sizeof(*g));
		if (!g) {
			continue;
		}
		g->fn = fn;
		snprintf(g->version, sizeof(g->version), "%s", it->version);
		snprintf(g->hash, sizeof(g->hash), "%s", it->hash);
		snprintf(g->so_path, sizeof(g->so_path), "%s", it->so_path);
		fng__fnstore_ref(fns->store, g->hash);
		g->src = it->src;
		g->manifest = it->manifest;
		g->defaults_gen = fns->defaults_gen;
		g->limits = it->limits;
		fng__list_init(&g->workers);
		fng__list_init(&g->link);
		if (fn->pending) {
			fng__host_gen_drop_pending(fns, fn);
		}
		fn->pending = g;
		fn->failure.set = false;
		/* Pre-flight: one worker must load it and say READY before it takes traffic. */
		if (fng__host_worker_spawn(fns, g)) {
			fn->pending = NULL;
			fng__fnstore_unref(fns->store, g->hash);
			free(g);
		}
	}
	if (fns->rescan) {
		/* Something changed while we scanned: look again now. */
		fns->rescan = false;
		fng__host_deploy_scan(fns);
	} else if (sw->retry) {
		uv_timer_start(&fns->debounce, debounce_cb, 60, 0);
	} else if (!sw->complete_read) {
		/* The directory could not be read (gone, out of descriptors): try again later. */
		uv_timer_start(&fns->debounce, debounce_cb, 1000, 0);
	}
	scan_work_free(sw);
}

/* The deployed versions the scan may reuse: current and pending generations. */
static int scan_snapshot(struct fng_functions *fns, struct scan_work *sw)
{
	sw->known = calloc(2 * (size_t)fns->nfns + 1, sizeof(*sw->known));
	sw->failed = calloc((size_t)fns->nfns + 1, sizeof(*sw->failed));
	sw->complete = calloc(fns->ncomplete + 1, sizeof(*sw->complete));
	if (!sw->known || !sw->failed || !sw->complete) {
		return -ENOMEM;
	}
	for (unsigned i = 0; i < fns->nfns; i++) {
		struct fng_gen *gens[2] = { fns->fns[i]->current, fns->fns[i]->pending };

		for (unsigned j = 0; j < 2; j++) {
			struct scan_known *k = &sw->known[sw->nknown];

			if (!gens[j]) {
				continue;
			}
			memcpy(k->name, fns->fns[i]->name, sizeof(k->name));
			memcpy(k->version, gens[j]->version, sizeof(k->version));
			memcpy(k->hash, gens[j]->hash, sizeof(k->hash));
			memcpy(k->so_path, gens[j]->so_path, sizeof(k->so_path));
			k->src = gens[j]->src;
			k->manifest = gens[j]->manifest;
			k->limits = gens[j]->limits;
			/* Limits from older defaults must be computed again. */
			if (gens[j]->defaults_gen != fns->defaults_gen) {
				memset(&k->manifest, 0xff, sizeof(k->manifest));
			}
			sw->nknown++;
		}
		if (fns->fns[i]->failure.set) {
			struct scan_failed *f = &sw->failed[sw->nfailed++];

			memcpy(f->name, fns->fns[i]->name, sizeof(f->name));
			f->f = fns->fns[i]->failure;
		}
	}
	memcpy(sw->complete, fns->complete, fns->ncomplete * sizeof(*sw->complete));
	sw->ncomplete = fns->ncomplete;
	fns->ncomplete = 0;
	return 0;
}

void fng__host_deploy_scan(struct fng_functions *fns)
{
	struct scan_work *sw;

	if (fns->closing) {
		return;
	}
	if (fns->scanning) {
		fns->rescan = true;
		return;
	}
	sw = calloc(1, sizeof(*sw));
	if (!sw) {
		return;
	}
	if (scan_snapshot(fns, sw) < 0) {
		scan_work_free(sw);
		return;
	}
	sw->fns = fns;
	sw->store = fns->store;
	sw->max_so_bytes = fns->max_so_bytes;
	snprintf(sw->dir, sizeof(sw->dir), "%s", fns->dir);
	sw->defaults = fns->defaults;
	sw->cfg = fng__config_ref(fns->cfg);
	fns->scanning = true;
	if (uv_queue_work(fns->loop, &sw->req, scan_work_cb, scan_after_cb) != 0) {
		fns->scanning = false;
		scan_work_free(sw);
	}
}

/* NAME of "NAME.so" (3) or "NAME.yaml" (5), not hidden; 0 for another file. */
static size_t deploy_name(const char *file, char name[64])
{
	size_t len = strlen(file), ext;

	if (file[0] == '.') {
		return 0;
	}
	if (len > 3 && strcmp(file + len - 3, ".so") == 0) {
		ext = 3;
	} else if (len > 5 && strcmp(file + len - 5, ".yaml") == 0) {
		ext = 5;
	} else {
		return 0;
	}
	if (len - ext >= 64) {
		return 0;
	}
	memcpy(name, file, len - ext);
	name[len - ext] = '\0';
	return ext;
}

static void note_complete(struct fng_functions *fns, const char *name)
{
	for (unsigned i = 0; i < fns->ncomplete; i++) {
		if (strcmp(fns->complete[i], name) == 0) {
			return;
		}
	}
	if (fns->ncomplete < MAX_COMPLETE) {
		memcpy(fns->complete[fns->ncomplete++], name, 64);
	}
}

static void forget_complete(struct fng_functions *fns, const char *name)
{
	for (unsigned i = 0; i < fns->ncomplete; i++) {
		if (strcmp(fns->complete[i], name) == 0) {
			memcpy(fns->complete[i], fns->complete[--fns->ncomplete], 64);
			return;
		}
	}
}

/*
 * inotify on the functions directory (not uv_fs_event: it does not report IN_CLOSE_WRITE,
 * which is what says a cp has finished). A file renamed in, a writer closing it, or a
 * deletion is a deploy to make now; a file being created or written is not finished yet —
 * its close will come, and a debounced scan (which leaves files modified in the last 50 ms
 * for later) catches writers that never close.
 */
static void watch_cb(uv_poll_t *h, int status, int events)
{
	struct fng_functions *fns = h->data;
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	bool now = false, later = false;
	ssize_t n;

	while ((n = read(fns->inotify, buf, sizeof(buf))) > 0) {
		for (char *p = buf; p < buf + n;) {
			const struct inotify_event *ev = (const struct inotify_event *)p;
			char name[64];
			size_t kind;

			p += sizeof(*ev) + ev->len;
			if (ev->mask & IN_Q_OVERFLOW) {
				later = true;
				continue;
			}
			if (ev->mask & (IN_DELETE_SELF | IN_MOVE_SELF)) {
				fng__log("warn", "the functions directory was removed or moved: "
					"no hot deploy until restart", "dir", fns->dir, NULL);
				continue;
			}
			kind = ev->len ? deploy_name(ev->name, name) : 0;
			if (!kind) {
				continue;
			}
			if (ev->mask & (IN_CLOSE_WRITE | IN_MOVED_TO)) {
				if (kind == 3) {
					note_complete(fns, name);
				}
				now = true;
			} else if (ev->mask & (IN_DELETE | IN_MOVED_FROM)) {
				now = true;
			} else {
				/* IN_CREATE, IN_MODIFY, IN_ATTRIB: a writer may still be at it. */
				if (kind == 3) {
					forget_complete(fns, name);
				}
				later = true;
			}
		}
	}
	if (now) {
		uv_timer_stop(&fns->debounce);
		fng__host_deploy_scan(fns);
	} else if (later) {
		uv_timer_start(&fns->debounce, debounce_cb, DEBOUNCE_MS, 0);
	}
}

int fng__host_deploy_watch(struct fng_functions *fns)
{
	int err;

	fns->inotify = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (fns->inotify < 0) {
		return -errno;
	}
	if (inotify_add_watch(fns->inotify, fns->dir, IN_CLOSE_WRITE | IN_MOVED_TO |
		IN_MOVED_FROM | IN_DELETE | IN_CREATE | IN_MODIFY | IN_ATTRIB | IN_DELETE_SELF |
		IN_MOVE_SELF | IN_ONLYDIR) < 0) {
		err = -errno;
		goto fail;
	}
	err = uv_poll_init(fns->loop, &fns->watch, fns->inotify);
	if (err) {
		goto fail;
	}
	fns->watch.data = fns;
	fns->watching = true;
	return uv_poll_start(&fns->watch, UV_READABLE, watch_cb);
fail:
	close(fns->inotify);
	fns->inotify = -1;
	return err;
}
