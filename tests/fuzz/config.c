// SPDX-License-Identifier: MIT
/*
 * Fuzz driver over the configuration loader: YAML parsing into our positioned tree, the key
 * tables, templates, route keys and the router. Any input must give a config or errors,
 * never a crash or a leak.
 */
#include "config.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fng_config *cfg = NULL;
	struct fng_buf errors = { 0 };

	if (fng__config_load_string("fuzz.yaml", (const char *)data, size, &cfg, &errors) == 0) {
		fng__config_unref(cfg);
	}
	fng__buf_finish(&errors);
	return 0;
}

void fng_fuzz_cleanup(void)
{
	fng__arena_cache_drain();
}
