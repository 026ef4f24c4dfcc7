/* tier.c — the tier interface: each function hands the call to the
 * implementation of the tier it is given (struct tier_ops).  A read batch
 * may name tiers of different implementations; each gets its own ios.
 */
#include "tier/tier.h"
#include "tier/failpoint.h"
#include "tier/log.h"
#include "tier/tier_impl.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>

int tier_append(struct tier *t, const void *buf, uint32_t len, int codec,
		struct tier_ref *ref, uint32_t *crcs, uint32_t *ncrc)
{
	int rc = failpoint("tier_append", ENOSPC);

	return rc < 0 ? rc : t->ops->append(t, buf, len, codec, ref, crcs, ncrc);
}

/* The tier IO names, or NULL. */
static struct tier *io_tier(struct tier *const *tiers, const struct tier_io *io)
{
	return io->ref && io->ref->tier < TIER_COUNT ? tiers[io->ref->tier] : NULL;
}

/* Read the ios of implementation OPS only, through a copy of them. */
static int read_part(const struct tier_ops *ops, struct tier *const *tiers,
		     struct tier_io *ios, unsigned n)
{
	struct tier_io *part = malloc(n * sizeof(*part));
	unsigned *at = malloc(n * sizeof(*at)), k = 0;
	int rc = 0;

	if (!part || !at) {
		free(part);
		free(at);
		return -ENOMEM;
	}
	for (unsigned i = 0; i < n; i++) {
		struct tier *t = io_tier(tiers, &ios[i]);

		if (t && t->ops == ops) {
			part[k] = ios[i];
			at[k++] = i;
		}
	}
	if (k)
		rc = ops->read_batch(tiers, part, k);
	for (unsigned i = 0; i < k; i++)
		ios[at[i]].result = part[i].result;
	free(part);
	free(at);
	return rc;
}

/* Every io whose tier is not open fails alone; the others are read by
 * their implementation, all together when there is one.  Returns the
 * first error in io order, as the implementations do. */
int tier_read_batch(struct tier *const *tiers, struct tier_io *ios, unsigned n)
{
	const struct tier_ops *ops = NULL;
	bool mixed = false;
	int rc = 0;

	for (unsigned i = 0; i < n; i++) {
		struct tier *t = io_tier(tiers, &ios[i]);

		if (t && !ops)
			ops = t->ops;
		else if (t && t->ops != ops)
			mixed = true;
	}
	if (ops && !mixed)
		return ops->read_batch(tiers, ios, n);
	for (unsigned i = 0; i < n; i++) {
		if (io_tier(tiers, &ios[i]))
			continue;
		log_err("tier: read of an extent of tier %d, which is not open",
			ios[i].ref ? ios[i].ref->tier : -1);
		ios[i].result = -EINVAL;
	}
	for (int id = 0; id < TIER_COUNT && ops; id++) {
		const struct tier_ops *o = tiers[id] ? tiers[id]->ops : NULL;
		bool seen = false;

		for (int j = 0; j < id; j++)
			seen |= tiers[j] && tiers[j]->ops == o;
		if (o && !seen && read_part(o, tiers, ios, n) == -ENOMEM)
			return -ENOMEM;
	}
	for (unsigned i = 0; i < n && !rc; i++)
		rc = ios[i].result;
	return rc;
}

int tier_sync(struct tier *t)
{
	int rc = failpoint("tier_fsync", EIO);

	return rc < 0 ? rc : t->ops->sync(t);
}

int tier_discard(struct tier *t, const struct tier_ref *ref, uint32_t inner, uint32_t len)
{
	return t->ops->discard(t, ref, inner, len);
}

int tier_seg_remove(struct tier *t, uint32_t seg)
{
	return t->ops->seg_remove(t, seg);
}

int64_t tier_seg_size(struct tier *t, uint32_t seg)
{
	return t->ops->seg_size(t, seg);
}

int64_t tier_seg_allocated(struct tier *t, uint32_t seg)
{
	return t->ops->seg_allocated(t, seg);
}

uint32_t tier_active_seg(struct tier *t)
{
	return t->ops->active_seg(t);
}

int tier_seg_foreach(struct tier *t, int (*fn)(void *ctx, uint32_t seg, uint64_t size),
		     void *ctx)
{
	return t->ops->seg_foreach(t, fn, ctx);
}

int tier_space(struct tier *t, struct tier_space *out)
{
	return t->ops->space(t, out);
}

static __thread bool reserve_usable;

void tier_set_reserve(struct tier *t, uint64_t bytes)
{
	t->reserve = bytes;
}

void tier_reserve_use(bool on)
{
	reserve_usable = on;
}

bool tier_reserve_usable(void)
{
	return reserve_usable;
}

int tier_set_seg_max(struct tier *t, uint64_t bytes)
{
	return t->ops->set_seg_max(t, bytes);
}

int tier_blob_put(struct tier *t, const char *name, const void *buf, size_t len)
{
	return t->ops->blob_put ? t->ops->blob_put(t, name, buf, len) : -EOPNOTSUPP;
}

int tier_blob_get(struct tier *t, const char *name, void **buf, size_t *len)
{
	return t->ops->blob_get ? t->ops->blob_get(t, name, buf, len) : -EOPNOTSUPP;
}

int tier_blob_remove(struct tier *t, const char *name)
{
	return t->ops->blob_remove ? t->ops->blob_remove(t, name) : -EOPNOTSUPP;
}

int tier_blob_list(struct tier *t, const char *prefix, int (*fn)(void *ctx, const char *name),
		   void *ctx)
{
	return t->ops->blob_list ? t->ops->blob_list(t, prefix, fn, ctx) : -EOPNOTSUPP;
}

int tier_wait_writes(struct tier *t)
{
	return t->ops->wait_writes ? t->ops->wait_writes(t) : 0;
}

int tier_cache_stats(struct tier *t, struct tier_cache_stats *out)
{
	return t->ops->cache_stats ? t->ops->cache_stats(t, out) : -EOPNOTSUPP;
}

int tier_cluster_addr(struct tier *t, char *buf, size_t len)
{
	return t->ops->cluster_addr ? t->ops->cluster_addr(t, buf, len) : -EOPNOTSUPP;
}

void tier_close(struct tier *t)
{
	if (t)
		t->ops->close(t);
}
