/* radosblob.c — blobs of the RADOS tier (tier_blob_*, tier.h): object
 * "m.NAME" of the store's namespace, written in pieces of at most
 * BLOB_PIECE bytes (RADOS refuses larger single writes), and waiting for
 * the appends in flight and the uploads of the cache (tier_wait_writes).
 */
#include "tier/tier.h"
#include "tier/objcache.h"
#include "tier/rados_priv.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BLOB_PIECE	(16u << 20)
#define BLOB_PREFIX	"m."

static int blob_oid(struct rtier *t, const char *name, char **oid)
{
	if (asprintf(oid, BLOB_PREFIX "%s", name) < 0) {
		*oid = NULL;
		return rtier_fail(t, -ENOMEM, "no memory for a blob name");
	}
	return 0;
}

int rtier_blob_put(struct tier *base, const char *name, const void *buf, size_t len)
{
	struct rtier *t = (struct rtier *)base;
	const char *p = buf;
	char *oid;
	int rc = blob_oid(t, name, &oid);
	size_t first = len < BLOB_PIECE ? len : BLOB_PIECE;

	if (rc)
		return rc;
	rc = rados_write_full(t->io, oid, p, first);
	for (size_t off = first; rc == 0 && off < len; off += BLOB_PIECE) {
		size_t n = len - off < BLOB_PIECE ? len - off : BLOB_PIECE;

		rc = rados_write(t->io, oid, p + off, n, off);
	}
	if (rc < 0)
		rtier_fail(t, rc, "cannot write object %s (%zu bytes): %s", oid, len, strerror(-rc));
	free(oid);
	return rc < 0 ? rc : 0;
}

int rtier_blob_get(struct tier *base, const char *name, void **buf, size_t *len)
{
	struct rtier *t = (struct rtier *)base;
	uint64_t size = 0;
	time_t mtime;
	char *oid, *b = NULL;
	int rc = blob_oid(t, name, &oid);

	*buf = NULL;
	*len = 0;
	if (rc)
		return rc;
	rc = rados_stat(t->io, oid, &size, &mtime);
	if (rc == 0 && !(b = malloc(size ? size : 1)))
		rc = -ENOMEM;
	for (uint64_t off = 0; rc == 0 && off < size; ) {
		size_t n = size - off < BLOB_PIECE ? size - off : BLOB_PIECE;
		int r = rados_read(t->io, oid, b + off, n, off);

		if (r <= 0)
			rc = r < 0 ? r : -EIO;
		off += r > 0 ? (uint64_t)r : 0;
	}
	if (rc < 0 && rc != -ENOENT)
		rtier_fail(t, rc, "cannot read object %s: %s", oid, strerror(-rc));
	free(oid);
	if (rc < 0) {
		free(b);
		return rc;
	}
	*buf = b;
	*len = size;
	return 0;
}

int rtier_blob_remove(struct tier *base, const char *name)
{
	struct rtier *t = (struct rtier *)base;
	char *oid;
	int rc = blob_oid(t, name, &oid);

	if (rc)
		return rc;
	rc = rados_remove(t->io, oid);
	if (rc < 0 && rc != -ENOENT)
		rtier_fail(t, rc, "cannot remove object %s: %s", oid, strerror(-rc));
	free(oid);
	return rc == -ENOENT ? 0 : rc;
}

int rtier_blob_list(struct tier *base, const char *prefix,
		    int (*fn)(void *ctx, const char *name), void *ctx)
{
	struct rtier *t = (struct rtier *)base;
	size_t plen = strlen(BLOB_PREFIX) + strlen(prefix);
	rados_list_ctx_t ls;
	const char *name;
	char *want;
	int rc = blob_oid(t, prefix, &want);

	if (rc)
		return rc;
	rc = rados_nobjects_list_open(t->io, &ls);
	if (rc < 0) {
		free(want);
		return rtier_fail(t, rc, "cannot list the objects: %s", strerror(-rc));
	}
	while ((rc = rados_nobjects_list_next(ls, &name, NULL, NULL)) == 0) {
		if (strncmp(name, want, plen))
			continue;
		rc = fn(ctx, name + strlen(BLOB_PREFIX));
		if (rc)
			break;
	}
	rados_nobjects_list_close(ls);
	free(want);
	if (rc == -ENOENT)
		return 0;
	if (rc < 0)
		rtier_fail(t, rc, "cannot list the objects: %s", strerror(-rc));
	return rc;
}

/* With the cache, also wait for the uploads of what was buffered before;
 * -EIO when one of them fails (it stays buffered and is tried again). */
int rtier_wait_writes(struct tier *base)
{
	struct rtier *t = (struct rtier *)base;
	int rc = t->cache ? objcache_flush(t->cache) : 0;

	pthread_mutex_lock(&t->lock);
	rtier_wait_submitted(t);
	pthread_mutex_unlock(&t->lock);
	return rc;
}
