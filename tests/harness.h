/* SPDX-License-Identifier: MIT */
#ifndef FNG_TESTS_HARNESS_H
#define FNG_TESTS_HARNESS_H

/*
 * A tiny TAP harness: each CHECK is one TAP line, so a failing case names itself and the
 * suite goes on. main() ends with `return fng_test_done();`.
 */
#include <stdio.h>
#include <string.h>

/* UNDER_ASAN: built with AddressSanitizer (GCC says so one way, clang another). */
#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif

static int fng_test_n, fng_test_failed;

#define CHECK(cond, ...)                                                                   \
	do {                                                                               \
		int fng_check_ok_ = !!(cond);                                              \
		fng_test_n++;                                                              \
		if (fng_check_ok_) {                                                       \
			printf("ok %d - ", fng_test_n);                                    \
		} else {                                                                   \
			fng_test_failed++;                                                 \
			printf("not ok %d - ", fng_test_n);                                \
		}                                                                          \
		printf(__VA_ARGS__);                                                       \
		printf("\n");                                                              \
		if (!fng_check_ok_) {                                                      \
			printf("# %s:%d: %s\n", __FILE__, __LINE__, #cond);                \
		}                                                                          \
	} while (0)

#define CHECK_INT(got, want, ...)                                                          \
	do {                                                                               \
		long long g_ = (long long)(got), w_ = (long long)(want);                   \
		CHECK(g_ == w_, __VA_ARGS__);                                              \
		if (g_ != w_) {                                                            \
			printf("# got %lld, want %lld\n", g_, w_);                         \
		}                                                                          \
	} while (0)

#define CHECK_STR(got, want, ...)                                                          \
	do {                                                                               \
		const char *g_ = (got), *w_ = (want);                                      \
		int eq_ = g_ && w_ ? strcmp(g_, w_) == 0 : g_ == w_;                       \
		CHECK(eq_, __VA_ARGS__);                                                   \
		if (!eq_) {                                                                \
			printf("# got \"%s\", want \"%s\"\n", g_ ? g_ : "(null)",          \
				w_ ? w_ : "(null)");                                       \
		}                                                                          \
	} while (0)

static inline int fng_test_done(void)
{
	printf("1..%d\n", fng_test_n);
	return fng_test_failed ? 1 : 0;
}

#endif
