/* fsckspace.c — the stored-extent checks of `aifsctl fsck`.
 *
 * Every extent record names a stored extent (tier, segment, offset,
 * stored length).  Records may share an extent (versions, snapshots), but
 * two different extents must never overlap: that would be one stored byte
 * referenced twice.  And every byte a segment holds (holes excepted) must
 * belong to some referenced extent: anything else is leaked.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "meta/spacecp.h"
#include "tools/aifsctl.h"
#include "tools/fsck.h"

struct xt {
	uint8_t tier, codec;
	uint32_t seg;
	uint64_t off;
	uint32_t stored, raw;
};

static struct xt *xv;
static size_t xn, xcap;

int fsck_space_add(const struct tier_ref *r)
{
	if (xn == xcap) {
		size_t n = xcap ? xcap * 2 : 4096;
		struct xt *v = realloc(xv, n * sizeof(*v));

		if (!v)
			return -ENOMEM;
		xv = v;
		xcap = n;
	}
	xv[xn++] = (struct xt){ r->tier, r->codec, r->seg, r->off, r->stored_len, r->raw_len };
	return 0;
}

static int xt_cmp(const void *a, const void *b)
{
	const struct xt *x = a, *y = b;

	if (x->tier != y->tier)
		return x->tier < y->tier ? -1 : 1;
	if (x->seg != y->seg)
		return x->seg < y->seg ? -1 : 1;
	return x->off < y->off ? -1 : x->off > y->off;
}

unsigned long fsck_space_counts(struct store *s, bool repair,
				void (*report)(void *ctx, bool problem, bool repaired,
					       const char *msg),
				void *ctx)
{
	struct space_count *v = NULL, *mine;
	unsigned long found = 0;
	uint64_t end = 0, log_now = 0;
	size_t n = 0, k = 0, i = 0;
	char why[256], msg[400];
	bool remake = false;
	int rc;

	if (s->format < 2)
		return 0;	/* kept from the first read-write mount of this aifs on */
	if (xn)
		qsort(xv, xn, sizeof(*xv), xt_cmp);
	/* what the records say: one count per stored extent */
	mine = malloc((xn ? xn : 1) * sizeof(*mine));
	if (!mine)
		return 0;
	for (size_t j = 0; j < xn; j++) {
		if (k && mine[k - 1].tier == xv[j].tier && mine[k - 1].seg == xv[j].seg &&
		    mine[k - 1].off == xv[j].off) {
			mine[k - 1].refs++;
			continue;
		}
		mine[k++] = (struct space_count){ .tier = xv[j].tier, .seg = xv[j].seg,
						  .off = xv[j].off, .len = xv[j].stored, .refs = 1 };
	}
	/* the log up to now: a repair's own changes come after it */
	meta_space_log_stable(s->meta, &log_now);
	rc = store_space_load(s, &v, &n, &end, why, sizeof(why));
	if (rc == -ENOENT) {
		snprintf(msg, sizeof(msg), "the store keeps no reference counts of its extents "
			 "(%s): the next mount counts them", why);
		report(ctx, false, repair, msg);
		remake = true;
	} else if (rc == -EBADMSG) {
		snprintf(msg, sizeof(msg), "the reference counts the store keeps do not add up: %s",
			 why);
		report(ctx, true, repair, msg);
		found++;
		remake = true;
	} else if (rc < 0) {
		snprintf(msg, sizeof(msg), "the reference counts the store keeps cannot be read: %s",
			 strerror(-rc));
		report(ctx, true, false, msg);
		found++;
	}
	for (size_t j = 0; rc == 0 && (i < n || j < k);) {
		int c = i == n ? 1 : j == k ? -1 : space_count_cmp(&v[i], &mine[j]);
		const struct space_count *x = c <= 0 ? &v[i] : &mine[j];
		uint32_t kept = c <= 0 ? v[i].refs : 0, recs = c >= 0 ? mine[j].refs : 0;

		if (kept != recs) {
			snprintf(msg, sizeof(msg), "tier %s segment %u offset %llu: the store keeps "
				 "%u references of the extent there but %u extent records name it",
				 x->tier ? "cold" : "hot", x->seg, (unsigned long long)x->off, kept,
				 recs);
			report(ctx, true, repair, msg);
			found++;
			remake = true;
		}
		if (c <= 0)
			i++;
		if (c >= 0)
			j++;
	}
	if (repair && remake) {
		rc = store_space_save(s, mine, k, log_now);
		if (rc < 0)
			fprintf(stderr, "aifsctl fsck: the reference counts could not be kept anew: "
				"%s\n", strerror(-rc));
	}
	free(v);
	free(mine);
	return found;
}

/* One line per finding through REPORT; returns the number of damages. */
unsigned long fsck_space_check(struct store *s,
			       void (*report)(void *ctx, bool damage, const char *msg), void *ctx)
{
	unsigned long found = 0;
	char msg[256];
	size_t i = 0;

	if (xn)		/* qsort's buffer may not be NULL, even for none */
		qsort(xv, xn, sizeof(*xv), xt_cmp);
	for (int t = 0; t < TIER_COUNT; t++) {
		uint32_t active = tier_active_seg(s->tiers[t]);

		for (uint32_t seg = 0; seg <= active; seg++) {
			int64_t alloc = tier_seg_allocated(s->tiers[t], seg);
			uint64_t used = 0, end = 0;
			const struct xt *prev = NULL;

			for (; i < xn && xv[i].tier == t && xv[i].seg == seg; i++) {
				const struct xt *x = &xv[i];

				if (prev && x->off == prev->off) {
					if (x->stored != prev->stored || x->codec != prev->codec ||
					    x->raw != prev->raw) {
						snprintf(msg, sizeof(msg), "tier %d segment %u offset %llu: "
							 "two different extents start at the same place", t,
							 seg, (unsigned long long)x->off);
						report(ctx, true, msg);
						found++;
					}
					continue;
				}
				if (x->off < end) {
					snprintf(msg, sizeof(msg), "tier %d segment %u: extent at %llu "
						 "overlaps the extent before it (ends at %llu): stored "
						 "bytes referenced twice", t, seg,
						 (unsigned long long)x->off, (unsigned long long)end);
					report(ctx, true, msg);
					found++;
				}
				used += ((uint64_t)x->stored + TIER_BLOCK - 1) / TIER_BLOCK * TIER_BLOCK;
				end = x->off + x->stored;
				prev = x;
			}
			if (alloc > 0 && (uint64_t)alloc > used) {
				snprintf(msg, sizeof(msg), "tier %s segment %u: %llu stored bytes are "
					 "referenced by nothing (left by a crash or an append that "
					 "failed; the next mount or aifsctl gc gives them back)",
					 t ? "cold" : "hot", seg,
					 (unsigned long long)((uint64_t)alloc - used));
				report(ctx, false, msg);
			}
		}
		while (i < xn && xv[i].tier == t)
			i++;
	}
	free(xv);
	xv = NULL;
	xn = xcap = 0;
	return found;
}
