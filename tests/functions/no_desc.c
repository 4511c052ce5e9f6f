// SPDX-License-Identifier: MIT
/* A shared object without FNG_HANDLER: not a function ("dlopen failed"). */
int not_a_handler(void);

int not_a_handler(void)
{
	return 42;
}
