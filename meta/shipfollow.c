/* shipfollow.c — a follower's replica kept up to date with what its
 * writer ships, and a replica that becomes the writer catching up first
 * (see ship.h).
 */
#include "meta/ship.h"
#include "meta/ship_priv.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tier/log.h"

/* --- following -------------------------------------------------------------- */

struct ship_follow {
	struct tier *t;
	char writer[40];	/* the writer the replica follows ("" if unknown) */
};

int ship_follow_open(const char *spec, const struct tier_rados_opts *ro, const char *replica,
		     struct ship_follow **out)
{
	struct ship_follow *f = calloc(1, sizeof(*f));
	char path[4096];
	void *buf = NULL;
	size_t len = 0;
	int rc;

	if (!f)
		return -ENOMEM;
	snprintf(path, sizeof path, "%s/writer.id", replica);
	if (ship_file_read(path, &buf, &len) == 0 && len >= 32)
		memcpy(f->writer, buf, 32);
	free(buf);
	rc = tier_open_spec(spec, TIER_HOT, 1, ro, &f->t);
	if (rc < 0) {
		free(f);
		return rc;
	}
	*out = f;
	return 0;
}

int ship_follow_same_writer(struct ship_follow *f)
{
	void *buf = NULL;
	size_t len = 0;
	int rc = tier_blob_get(f->t, "writer", &buf, &len);

	if (rc == -ENOENT)
		return f->writer[0] ? -ECHILD : 0;
	if (rc == 0)
		rc = f->writer[0] && (len < 32 || memcmp(buf, f->writer, 32)) ? -ECHILD : 0;
	free(buf);
	return rc;
}

void ship_follow_addr(struct ship_follow *f, char *buf, size_t len)
{
	if (tier_cluster_addr(f->t, buf, len) < 0 && len)
		buf[0] = 0;
}

void ship_follow_free(struct ship_follow *f)
{
	if (!f)
		return;
	tier_close(f->t);
	free(f);
}

/* Apply log NAME's batches from *NEXT on to M, telling FN each key. */
static int follow_log(struct tier *t, struct meta *m, const char *name, uint64_t *next,
		      void (*fn)(void *ctx, const void *key, size_t klen), void *ctx)
{
	void *blob = NULL;
	size_t len = 0, pos = 0;
	int rc = tier_blob_get(t, name, &blob, &len);
	uint8_t *buf = blob;

	while (rc == 0 && pos + 16 <= len) {
		uint64_t seq = ship_get_be(buf + pos, 8);
		uint32_t count = (uint32_t)ship_get_be(buf + pos + 8, 4);
		uint32_t blen = (uint32_t)ship_get_be(buf + pos + 12, 4);

		if (pos + 16 + blen > len)
			break;		/* being appended to: the rest next time */
		if (seq + count > *next) {
			if (seq != *next) {
				rc = -ESTALE;	/* a gap: shipped past what was kept */
				break;
			}
			rc = meta_apply_keys(m, buf + pos + 16, blen, fn, ctx);
			if (rc == 0)
				*next = seq + count;
		}
		pos += 16 + (size_t)blen;
	}
	free(blob);
	return rc == -ENOENT ? 0 : rc;	/* removed meanwhile: its batches are older */
}

int ship_follow_step(struct ship_follow *f, struct meta *m, uint64_t *next,
		     void (*fn)(void *ctx, const void *key, size_t klen), void *ctx)
{
	struct ship_names logs = { 0 };
	int rc = ship_follow_same_writer(f);

	if (rc == 0)
		rc = tier_blob_list(f->t, "l.", ship_names_add, &logs);

	if (logs.n)
		qsort(logs.v, logs.n, sizeof *logs.v, ship_names_cmp);
	for (size_t i = 0; rc == 0 && i < logs.n; i++) {
		/* a log whose successor starts at or before *NEXT holds nothing new */
		if (i + 1 < logs.n && strtoull(logs.v[i + 1] + 2, NULL, 16) <= *next)
			continue;
		if (strtoull(logs.v[i] + 2, NULL, 16) > *next)
			rc = -ESTALE;	/* what *NEXT needs was compacted into a checkpoint */
		else
			rc = follow_log(f->t, m, logs.v[i], next, fn, ctx);
	}
	for (size_t i = 0; i < logs.n; i++)
		free(logs.v[i]);
	free(logs.v);
	return rc;
}

int ship_catch_up(struct store *s, char *err, size_t errlen)
{
	struct ship_follow f = { .t = s->tiers[TIER_HOT] };
	char path[4096];
	void *buf = NULL;
	size_t len = 0;
	uint64_t next = 0, was;
	int rc;

	snprintf(path, sizeof path, "%s/follow.seq", s->path);
	if (ship_file_read(path, &buf, &len) != 0)
		return 0;		/* not a follower's replica */
	if (len)
		next = strtoull(buf, NULL, 10);
	free(buf);
	snprintf(path, sizeof path, "%s/writer.id", s->path);
	if (ship_file_read(path, &buf, &len) == 0 && len >= 32)
		memcpy(f.writer, buf, 32);
	free(buf);
	if (!next) {
		snprintf(err, errlen, "%s/follow.seq is damaged", s->path);
		return -EINVAL;
	}
	do {
		was = next;
		rc = ship_follow_step(&f, s->meta, &next, NULL, NULL);
	} while (rc == 0 && next != was);
	if (rc == 0)
		rc = meta_sync(s->meta);
	if (rc == -ECHILD || rc == -ESTALE)
		snprintf(err, errlen, "%s is a follower's replica that %s: it cannot become the "
			 "writer; recover the store from the pool instead (aifsctl recover)",
			 s->path, rc == -ECHILD ? "another writer has taken over from" :
			 "missed what its writer compacted");
	else if (rc)
		snprintf(err, errlen, "%s: catching up with what its writer shipped: %s", s->path,
			 strerror(-rc));
	else
		log_notice("ship: replica %s caught up to batch %llu, now the writer", s->path,
			   (unsigned long long)next);
	return rc;
}
