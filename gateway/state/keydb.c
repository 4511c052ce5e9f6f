// SPDX-License-Identifier: MIT
/* Placeholder until the key database lands (keydb.h). */
#include "keydb.h"
