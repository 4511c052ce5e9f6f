/* SPDX-License-Identifier: MIT */
#ifndef FNG_TESTS_UNIT_ALLOC_FAULTS_H
#define FNG_TESTS_UNIT_ALLOC_FAULTS_H

/*
 * Allocation failures for a unit test of its own executable: malloc and calloc fail on the
 * Nth call after fail_in is set to N (glibc's own functions underneath, so free and the
 * allocator's statistics see one heap; libraries such as hiredis allocate through them too,
 * so the Nth call may be theirs). Defines FAULTS where this works: glibc, and not under
 * AddressSanitizer, which brings its own allocator (harness.h's UNDER_ASAN).
 */

#include <stdbool.h>
#include <stddef.h>

#include "harness.h"

#if defined(__GLIBC__) && !defined(UNDER_ASAN)
#define FAULTS 1
extern void *__libc_malloc(size_t n);
extern void *__libc_calloc(size_t n, size_t size);
static int fail_in;

static bool fail_now(void)
{
	return fail_in > 0 && --fail_in == 0;
}

void *malloc(size_t n)
{
	return fail_now() ? NULL : __libc_malloc(n);
}

void *calloc(size_t n, size_t size)
{
	return fail_now() ? NULL : __libc_calloc(n, size);
}
#endif

#endif
