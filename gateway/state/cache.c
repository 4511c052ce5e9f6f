// SPDX-License-Identifier: MIT
/* The local response cache store (cache.h): being written. */
#include "cache.h"
