// SPDX-License-Identifier: MIT
/*
 * Unit tests for host/functions_conf.c's default concurrency: the CPUs of the affinity mask
 * bounded by a cgroup CPU quota (fng__fn_cpus_of(), the computation, for every case), and
 * fng__fn_cpus_available() on this machine against what the process can see for itself.
 */
#include <sched.h>
#include <stdio.h>

#include "functions_conf.h"
#include "harness.h"

static void test_cpus_of(void)
{
	static const struct {
		long affinity;
		int64_t quota, period;
		uint32_t want;
		const char *what;
	} cases[] = {
		{ 8, -1, 100000, 8, "no quota (v1 -1): the affinity mask" },
		{ 8, 0, 0, 8, "no quota (v2 max, read as 0)" },
		{ 8, 200000, 100000, 2, "a quota of 2 CPUs bounds 8" },
		{ 8, 150000, 100000, 2, "1.5 CPUs round up to 2" },
		{ 8, 50000, 100000, 1, "half a CPU: 1" },
		{ 8, 1, 100000, 1, "a tiny quota: still 1" },
		{ 2, 800000, 100000, 2, "a quota above the mask: the mask" },
		{ 4, 100000, 0, 4, "a zero period is no quota" },
		{ 4, 100000, -5, 4, "a negative period is no quota" },
		{ 0, -1, 100000, 1, "an unknown mask: 1" },
		{ -1, 300000, 100000, 1, "an unknown mask under a quota: 1" },
		{ 4096, -1, 100000, 1024, "more CPUs than concurrency's range: 1024" },
		{ 4096, INT64_MAX, 1, 1024, "a huge quota: no overflow" },
		{ 3, INT64_MAX, INT64_MAX, 1, "quota = period: one CPU" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		CHECK_INT(fng__fn_cpus_of(cases[i].affinity, cases[i].quota, cases[i].period),
			cases[i].want, "%s", cases[i].what);
	}
}

static void test_cpus_available(void)
{
	cpu_set_t set;
	uint32_t n = fng__fn_cpus_available();

	CHECK(sched_getaffinity(0, sizeof(set), &set) == 0, "sched_getaffinity");
	CHECK(n >= 1 && n <= (uint32_t)CPU_COUNT(&set), "available: %u, within 1..%d (the mask)",
		n, CPU_COUNT(&set));
	CHECK_INT(fng__fn_cpus_available(), n, "available: the same on a second read");
	printf("# %u CPUs available (affinity %d)\n", n, CPU_COUNT(&set));
}

int main(void)
{
	test_cpus_of();
	test_cpus_available();
	return fng_test_done();
}
