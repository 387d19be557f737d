/*
 * fs_admin.h — the admin API's state changes (/admin/... handlers that create
 * activities and items, change stock, open and close sales).
 *
 * STUB in this branch (ops): the real module is built in parallel on another
 * branch with this interface; until it is merged every path answers 501.
 * The operations listener (fs_ops.c) authenticates the request and runs
 * this on the control-plane thread; flashsaled.c handles POST
 * /admin/snapshot itself before delegating here.
 */
#ifndef FS_ADMIN_H
#define FS_ADMIN_H

#include <stddef.h>

struct fs_admin;

/* Handle one authenticated /admin/ request. method "GET"/"POST"; path
 * after "/admin" (e.g. "/items"); body/len the JSON body (may be empty).
 * Writes a JSON answer into out (at most outlen bytes) and returns its
 * length; *status gets the HTTP status. Runs on the control-plane thread. */
size_t fs_admin_handle(struct fs_admin *a, const char *method, const char *path, const char *body,
		       size_t len, char *out, size_t outlen, int *status);

#endif
