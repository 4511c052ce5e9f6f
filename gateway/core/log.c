// SPDX-License-Identifier: MIT
/*
 * The daemon log (log.h): one JSON object per line on stderr, queued for a writer thread of
 * its own so that a slow stderr never stalls the loop.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "mem.h"

/*
 * The daemon log is asynchronous. fng__log() formats its line on the calling thread (the
 * loop, a thread-pool thread) and appends it to one queue; a writer thread of its own writes
 * the queue to stderr with plain blocking writes. Whatever reads stderr (a terminal,
 * journald, a pipe into a slow log shipper) can be as slow as it likes: no caller waits for
 * it, and a LOG_QUEUE_BYTES budget bounds what waits in memory.
 *
 * The budget counts the lines queued and the part of the writer's batch not yet written.
 * A line that does not fit is dropped and counted; from then on lines are taken again only
 * once the queue has drained to half the budget (no notice after every line under a
 * sustained overload), and the first line then queued comes after a "log lines dropped"
 * line with the count, where the gap is. When nothing follows, the writer adds that line
 * itself once it has written everything. Lines keep their order.
 *
 * At exit the queue is written out with a bounded wait (atexit), so "stopped" and a fatal
 * start-up error reach the log; a stderr nobody reads does not hang the exit.
 *
 * Fork: the writer thread does not exist in a child, and the lock may be held by another
 * thread at the moment of the fork. pthread_atfork() handlers take the lock around the fork,
 * and the child starts with an empty queue (the parent writes what was queued) and no
 * writer, which its first line starts again; no other lock is taken on the way (the time
 * is not formatted with gmtime_r(), see log_utc()). The children the gateway forks (the
 * supervisor, which writes to fd 2 with dprintf and never calls fng__log(); the sandbox
 * probes; `fngate invoke`'s supervisor) are therefore safe whatever they call.
 */
#define LOG_QUEUE_BYTES (1u << 20)
#define LOG_EXIT_WAIT_MS 2000
#define LOG_NOTICE_BYTES 128    /* room kept for a "log lines dropped" line */

static struct {
	pthread_mutex_t lock;
	pthread_cond_t wake;    /* to the writer: something to write */
	pthread_cond_t idle;    /* from the writer: all written, it sleeps */
	struct fng_buf pending; /* lines queued, not yet taken by the writer */
	struct fng_buf batch;   /* the writer's: lines it took, being written */
	size_t writing;         /* bytes of batch not yet written */
	uint64_t dropped;       /* lines dropped since the last notice */
	bool started;           /* the writer runs (in this process) */
	bool sleeping;          /* the writer waits on wake */
	bool sync;              /* no writer could be started: write on the caller's thread */
} logq = { .lock = PTHREAD_MUTEX_INITIALIZER };

static pthread_once_t logq_once = PTHREAD_ONCE_INIT;

/*
 * The UTC date and time of secs since the epoch (Howard Hinnant's civil_from_days), without
 * gmtime_r(): glibc's takes a lock (tzset) that a child forked while another thread held it
 * would wait for forever, and a child may log.
 */
static void log_utc(int64_t secs, int *y, unsigned *mo, unsigned *d, unsigned *h, unsigned *mi,
	unsigned *s)
{
	int64_t days = secs / 86400, rem = secs % 86400, era;
	unsigned doe, yoe, doy, mp;

	if (rem < 0) {
		rem += 86400;
		days--;
	}
	*h = (unsigned)(rem / 3600);
	*mi = (unsigned)(rem % 3600 / 60);
	*s = (unsigned)(rem % 60);
	days += 719468; /* from 1970-01-01 to 0000-03-01 */
	era = (days >= 0 ? days : days - 146096) / 146097;
	doe = (unsigned)(days - era * 146097);
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = doy - (153 * mp + 2) / 5 + 1;
	*mo = mp < 10 ? mp + 3 : mp - 9;
	*y = (int)((int64_t)yoe + era * 400 + (*mo <= 2));
}

static void log_vformat(struct fng_buf *b, const char *level, const char *msg, size_t len,
	va_list ap)
{
	unsigned mo, d, h, mi, s;
	struct timespec ts;
	const char *k;
	int y;

	clock_gettime(CLOCK_REALTIME, &ts);
	log_utc(ts.tv_sec, &y, &mo, &d, &h, &mi, &s);
	fng__buf_printf(b, "{\"time\":\"%04d-%02u-%02uT%02u:%02u:%02u.%03ldZ\",\"level\":\"%s\","
			   "\"msg\":\"",
		y, mo, d, h, mi, s, ts.tv_nsec / 1000000, level);
	fng__buf_json_escape(b, msg, len);
	fng__buf_str(b, "\"");
	while ((k = va_arg(ap, const char *)) != NULL) {
		const char *v = va_arg(ap, const char *);

		fng__buf_printf(b, ",\"%s\":\"", k);
		fng__buf_json_escape(b, v ? v : "", v ? strlen(v) : 0);
		fng__buf_str(b, "\"");
	}
	fng__buf_str(b, "}\n");
}

static void log_format(struct fng_buf *b, const char *level, const char *msg, ...)
{
	va_list ap;

	va_start(ap, msg);
	log_vformat(b, level, msg, strlen(msg), ap);
	va_end(ap);
}

/* Appends the notice for the lines dropped so far (logq.lock held). */
static void log_notice(struct fng_buf *b)
{
	char n[24];

	snprintf(n, sizeof(n), "%" PRIu64, logq.dropped);
	logq.dropped = 0;
	log_format(b, "warn", "log lines dropped", "dropped", n, NULL);
}

/* Writes p fully to stderr unless it fails; each write's progress is reported to logq. */
static void log_write(const char *p, size_t len, bool account)
{
	size_t off = 0;

	while (off < len) {
		ssize_t n = write(STDERR_FILENO, p + off, len - off);

		if (n < 0 && errno == EINTR) {
			continue;
		}
		if (n < 0 && errno == EAGAIN) { /* someone made stderr non-blocking */
			struct pollfd pfd = { .fd = STDERR_FILENO, .events = POLLOUT };

			poll(&pfd, 1, 100);
			continue;
		}
		if (n <= 0) {
			return; /* EPIPE, EBADF...: the batch is lost, the log goes on */
		}
		off += (size_t)n;
		if (account) {
			pthread_mutex_lock(&logq.lock);
			logq.writing -= (size_t)n;
			pthread_mutex_unlock(&logq.lock);
		}
	}
}

/*
 * The writer swaps pending and batch, so both keep their storage. batch lives in logq, not
 * on this thread's stack: a child forked meanwhile has no such thread, but still reaches it.
 */
static void *log_writer(void *arg)
{
	struct fng_buf t;

	(void)arg;
	pthread_mutex_lock(&logq.lock);
	for (;;) {
		while (!logq.pending.len && !logq.dropped) {
			logq.sleeping = true;
			pthread_cond_broadcast(&logq.idle);
			pthread_cond_wait(&logq.wake, &logq.lock);
			logq.sleeping = false;
		}
		if (!logq.pending.len) {
			log_notice(&logq.pending); /* caught up and nothing else came */
		}
		t = logq.batch;
		logq.batch = logq.pending;
		logq.pending = t;
		logq.writing = logq.batch.len;
		pthread_mutex_unlock(&logq.lock);
		log_write(logq.batch.p, logq.batch.len, true);
		pthread_mutex_lock(&logq.lock);
		logq.batch.len = 0;
		logq.writing = 0;
	}
	return NULL;
}

static void log_conds_init(void)
{
	pthread_condattr_t a;

	pthread_condattr_init(&a);
	pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
	pthread_cond_init(&logq.wake, &a);
	pthread_cond_init(&logq.idle, &a);
	pthread_condattr_destroy(&a);
}

static void log_atfork_prepare(void)
{
	pthread_mutex_lock(&logq.lock);
}

static void log_atfork_parent(void)
{
	pthread_mutex_unlock(&logq.lock);
}

static void log_atfork_child(void)
{
	pthread_mutex_init(&logq.lock, NULL);
	log_conds_init();
	logq.pending.len = 0;
	logq.batch.len = 0;
	logq.writing = 0;
	logq.dropped = 0;
	logq.started = logq.sleeping = logq.sync = false;
}

static void log_exit(void)
{
	fng__log_flush(LOG_EXIT_WAIT_MS);
}

static void log_once(void)
{
	log_conds_init();
	pthread_atfork(log_atfork_prepare, log_atfork_parent, log_atfork_child);
	atexit(log_exit);
}

/* Starts the writer (logq.lock held); it takes no signal, they belong to the loop. */
static void log_start(void)
{
	sigset_t all, old;
	pthread_attr_t a;
	pthread_t t;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pthread_attr_init(&a);
	pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
	logq.started = pthread_create(&t, &a, log_writer, NULL) == 0;
	logq.sync = !logq.started;
	pthread_attr_destroy(&a);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
}

static void log_enqueue(const char *line, size_t len)
{
	size_t limit;

	pthread_once(&logq_once, log_once);
	pthread_mutex_lock(&logq.lock);
	if (!logq.started && !logq.sync) {
		log_start();
	}
	if (logq.sync) {
		pthread_mutex_unlock(&logq.lock);
		log_write(line, len, false);
		return;
	}
	/* Dropping goes on until half the budget is free: then the notice, then the line. */
	limit = logq.dropped ? LOG_QUEUE_BYTES / 2 : LOG_QUEUE_BYTES;
	if (logq.dropped && logq.pending.len + logq.writing + LOG_NOTICE_BYTES + len <= limit) {
		log_notice(&logq.pending);
	}
	if (!logq.dropped && logq.pending.len + logq.writing + len <= limit &&
		fng__buf_append(&logq.pending, line, len) == 0) {
		if (logq.sleeping) {
			pthread_cond_signal(&logq.wake);
		}
	} else {
		logq.dropped++;
	}
	pthread_mutex_unlock(&logq.lock);
}

bool fng__log_flush(unsigned timeout_ms)
{
	struct timespec until;
	bool done;

	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += timeout_ms / 1000;
	until.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
	if (until.tv_nsec >= 1000000000) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&logq.lock);
	while (logq.started &&
		(logq.pending.len || logq.writing || logq.dropped || !logq.sleeping)) {
		if (pthread_cond_timedwait(&logq.idle, &logq.lock, &until) == ETIMEDOUT) {
			break;
		}
	}
	done = !logq.started || (!logq.pending.len && !logq.writing && !logq.dropped);
	pthread_mutex_unlock(&logq.lock);
	return done;
}

static void log_emit(const char *level, const char *msg, size_t len, va_list ap)
{
	struct fng_buf b = { 0 };

	log_vformat(&b, level, msg, len, ap);
	if (b.p) {
		log_enqueue(b.p, b.len);
	}
	fng__buf_finish(&b);
}

void fng__log_text(const char *level, const char *msg, size_t len, ...)
{
	va_list ap;

	va_start(ap, len);
	log_emit(level, msg, len, ap);
	va_end(ap);
}

void fng__log(const char *level, const char *msg, ...)
{
	va_list ap;

	va_start(ap, msg);
	log_emit(level, msg, strlen(msg), ap);
	va_end(ap);
}

