/* SPDX-License-Identifier: MIT */
#ifndef FNG_TESTS_FUZZ_H
#define FNG_TESTS_FUZZ_H

#include <stddef.h>
#include <stdint.h>

/* libFuzzer's entry point; replay.c calls it for each corpus file. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
/* Frees what the driver set up once, so leak checkers see a clean exit. */
void fng_fuzz_cleanup(void);

#endif
