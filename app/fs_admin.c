/*
 * fs_admin.c — STUB of the admin API's state changes (see fs_admin.h): the
 * real handlers come from another branch. Answers 501 for every path.
 */
#include "fs_admin.h"

#include <stdio.h>

size_t fs_admin_handle(struct fs_admin *a, const char *method, const char *path, const char *body,
		       size_t len, char *out, size_t outlen, int *status)
{
	int n;

	(void)a;
	(void)body;
	(void)len;
	*status = 501;
	n = snprintf(out, outlen, "{\"error\":\"not implemented: %s /admin%s\"}\n", method, path);
	return n < 0 ? 0 : (size_t)n < outlen ? (size_t)n : outlen - 1;
}
