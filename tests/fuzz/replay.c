// SPDX-License-Identifier: MIT
/*
 * Replays fuzz corpora through a driver without libFuzzer, so plain `meson test` (and the
 * sanitizer and valgrind builds) runs every committed input. One TAP line per corpus: a crash
 * or sanitizer report aborts the run, which fails the test.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

static int cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int run_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	unsigned char *buf;
	long len;

	if (!f) {
		printf("# %s: cannot open\n", path);
		return 1;
	}
	fseek(f, 0, SEEK_END);
	len = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc(len > 0 ? (size_t)len : 1);
	if (!buf || fread(buf, 1, (size_t)len, f) != (size_t)len) {
		fclose(f);
		free(buf);
		printf("# %s: cannot read\n", path);
		return 1;
	}
	fclose(f);
	LLVMFuzzerTestOneInput(buf, (size_t)len);
	free(buf);
	return 0;
}

int main(int argc, char **argv)
{
	int n = 0, failed = 0;

	for (int i = 1; i < argc; i++) {
		struct stat st;
		DIR *d;
		struct dirent *e;
		char **names = NULL;
		size_t count = 0;

		if (stat(argv[i], &st) == 0 && !S_ISDIR(st.st_mode)) {
			int bad = run_file(argv[i]);

			printf("%s %d - %s\n", bad ? "not ok" : "ok", ++n, argv[i]);
			failed += bad;
			continue;
		}
		d = opendir(argv[i]);
		if (!d) {
			printf("not ok %d - %s: cannot open directory\n", ++n, argv[i]);
			failed++;
			continue;
		}
		while ((e = readdir(d)) != NULL) {
			if (e->d_name[0] == '.') {
				continue;
			}
			names = realloc(names, (count + 1) * sizeof(*names));
			names[count] = malloc(strlen(argv[i]) + strlen(e->d_name) + 2);
			sprintf(names[count++], "%s/%s", argv[i], e->d_name);
		}
		closedir(d);
		qsort(names, count, sizeof(*names), cmp);
		int bad = 0;

		for (size_t j = 0; j < count; j++) {
			bad += run_file(names[j]);
			free(names[j]);
		}
		free(names);
		printf("%s %d - %s: %zu inputs replayed\n", bad ? "not ok" : "ok", ++n, argv[i], count);
		failed += bad;
	}
	fng_fuzz_cleanup();
	printf("1..%d\n", n);
	return failed ? 1 : 0;
}
