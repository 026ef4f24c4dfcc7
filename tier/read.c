/* read.c — batched extent reads of the local tier (local_read_batch): every extent piece of
 * a batch is submitted to the thread's io_uring at once, each stored block
 * is checked against its checksum before any byte is used, and compressed
 * extents are decoded (through the decoded-extent cache, dcache.h).
 */
#include "tier/tier.h"
#include "tier/codec.h"
#include "tier/dcache.h"
#include "tier/log.h"
#include "tier/tier_priv.h"
#include "tier/uring.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <string.h>

#define SCRATCH_CHUNK	(16u << 20)	/* staging bytes per chunk of a read batch */

/* How one io of a batch is carried out.  Raw extents read only the
 * TIER_BLOCK-aligned stored blocks covering the range (straight into dst
 * when the range is exactly those blocks); lz4 extents read all stored
 * bytes.  Every block read is checked before any byte is used; after a
 * failed direct read dst holds whatever was read, and the result says so. */
struct read_plan {
	struct tier_io *io;
	struct local *t;
	uint32_t soff;		/* extent offset of the first stored byte read */
	size_t scratch_off;	/* where in scratch, unless direct */
	bool direct;
};

/* Check IO against the tier it names; returns the tier or NULL with
 * io->result set. */
static struct local *read_check(struct tier *const *tiers, struct tier_io *io)
{
	const struct tier_ref *r = io->ref;
	struct local *t = r && r->tier < TIER_COUNT ? (struct local *)tiers[r->tier] : NULL;

	if (!t) {
		log_err("tier: read of an extent of tier %d, which is not open",
			r ? r->tier : -1);
		io->result = -EINVAL;
	} else if (!io->dst || !io->crcs || r->stored_len == 0 ||
		   r->codec > TIER_CODEC_MAX ||
		   (r->codec == TIER_CODEC_RAW && r->stored_len != r->raw_len) ||
		   (uint64_t)io->inner + io->len > r->raw_len) {
		io->result = local_fail(t, -EINVAL, "invalid read of [%" PRIu32 ", +%" PRIu32 ") from "
				  "the extent at segment %" PRIu32 " offset %" PRIu64 " (codec %u, %"
				  PRIu32 " stored, %" PRIu32 " raw bytes)", io->inner, io->len,
				  r->seg, r->off, r->codec, r->stored_len, r->raw_len);
		t = NULL;
	}
	return t;
}

/* Verify the checksum of every stored block in BUF, which holds the stored
 * bytes [soff, soff + len) of the extent; soff is block-aligned. */
static int read_verify(const struct read_plan *p, const uint8_t *buf, uint32_t len)
{
	const struct tier_ref *r = p->io->ref;

	for (uint32_t pos = p->soff; pos < p->soff + len; pos += TIER_BLOCK) {
		uint32_t blk = pos / TIER_BLOCK;
		uint32_t n = r->stored_len - pos < TIER_BLOCK ? r->stored_len - pos : TIER_BLOCK;
		uint32_t crc = tier_crc32c(0, buf + (pos - p->soff), n);

		if (crc != p->io->crcs[blk])
			return local_fail(p->t, -EIO, "checksum mismatch in segment %" PRIu32 " at offset %"
				    PRIu64 " (block %" PRIu32 " of the extent at offset %" PRIu64
				    "): expected %08" PRIx32 ", found %08" PRIx32, r->seg,
				    r->off + pos, blk, r->off, p->io->crcs[blk], crc);
	}
	return 0;
}

/* Decode the verified compressed extent in SRC into the range asked for.
 * The whole extent is decoded into a cache slot when one is free, so that
 * the reads of its next pieces copy instead of decoding again. */
static int read_decode(struct uring_thread *ts, const struct read_plan *p, const uint8_t *src)
{
	const struct tier_ref *r = p->io->ref;
	struct dslot *slot;
	uint8_t *whole = NULL;
	void *tmp = NULL;
	int rc = 0;

	slot = dcache_begin(local_dcache(p->t), r, &whole);
	if (slot || p->io->inner || r->codec != TIER_CODEC_LZ4)
		rc = uring_decode(ts, r->raw_len, &tmp);
	if (rc == 0 && slot) {
		rc = codec_decode(r->codec, src, r->stored_len, r->raw_len, 0, r->raw_len, whole,
				  tmp);
		if (rc == 0)
			memcpy(p->io->dst, whole + p->io->inner, p->io->len);
	} else if (rc == 0) {
		rc = codec_decode(r->codec, src, r->stored_len, r->raw_len, p->io->inner,
				  p->io->len, p->io->dst, tmp);
	}
	if (slot)
		dcache_end(local_dcache(p->t), slot, rc == 0);
	if (rc == -EIO)
		local_fail(p->t, rc, "extent in segment %" PRIu32 " at offset %" PRIu64 " (codec %u) "
		     "does not decode to %" PRIu32 " bytes", r->seg, r->off, r->codec, r->raw_len);
	return rc;
}

/* Turn the outcome of P's read OP into the io's result and bytes. */
static void read_finish(struct uring_thread *ts, const struct read_plan *p,
			const struct uring_op *op)
{
	struct tier_io *io = p->io;
	const struct tier_ref *r = io->ref;
	int rc = op->res;

	if (rc == -ENODATA)
		rc = local_fail(p->t, -EIO, "segment %" PRIu32 " ends at offset %" PRIu64 ", inside the "
			  "extent at offset %" PRIu64 " (%" PRIu32 " bytes): truncated segment",
			  r->seg, op->off + op->done, r->off, r->stored_len);
	else if (rc)
		local_fail(p->t, rc, "read of %" PRIu32 " bytes at offset %" PRIu64 " of segment %"
		     PRIu32 " failed: %s", op->len, op->off, r->seg, strerror(-rc));
	else
		rc = read_verify(p, op->buf, op->len);
	if (rc == 0 && r->codec != TIER_CODEC_RAW)
		rc = read_decode(ts, p, op->buf);
	else if (rc == 0 && !p->direct)
		memcpy(io->dst, op->buf + (io->inner - p->soff), io->len);
	io->result = rc;
}

/* Plan, submit and finish the ios from FIRST on, as many as fit in the
 * ring and in SCRATCH_CHUNK bytes of staging (always at least one).
 * Returns the index of the first io left for the next chunk. */
static unsigned read_chunk(struct uring_thread *ts, struct tier *const *tiers,
			   struct tier_io *ios, unsigned first, unsigned n)
{
	struct read_plan plans[URING_DEPTH];
	struct uring_op ops[URING_DEPTH];
	size_t staged = 0;
	void *scratch = NULL;
	unsigned i, k = 0;
	int rc;

	for (i = first; i < n && k < URING_DEPTH; i++) {
		struct tier_io *io = &ios[i];
		struct local *t = read_check(tiers, io);
		const struct tier_ref *r = io->ref;
		struct read_plan *p = &plans[k];
		uint32_t end;
		size_t need;

		if (!t || io->len == 0)
			continue;
		if (r->codec != TIER_CODEC_RAW &&
		    dcache_read(local_dcache(t), r, io->inner, io->len, io->dst)) {
			io->result = 0;
			continue;
		}
		*p = (struct read_plan){ .io = io, .t = t, .scratch_off = staged };
		end = r->stored_len;
		if (r->codec == TIER_CODEC_RAW) {
			uint64_t e = ((uint64_t)io->inner + io->len + TIER_BLOCK - 1) / TIER_BLOCK *
				     TIER_BLOCK;

			p->soff = io->inner / TIER_BLOCK * TIER_BLOCK;
			end = e < end ? (uint32_t)e : end;
			p->direct = p->soff == io->inner && end == io->inner + io->len;
		}
		need = p->direct ? 0 : ((size_t)(end - p->soff) + 63) & ~(size_t)63;
		if (k > 0 && staged + need > SCRATCH_CHUNK)
			break;
		ops[k] = (struct uring_op){ .off = r->off + p->soff, .len = end - p->soff,
					    .buf = io->dst };
		io->result = seg_get(t, r, &ops[k].fd);
		if (io->result)
			continue;
		staged += need;
		k++;
	}
	rc = uring_scratch(ts, staged, &scratch);
	if (rc == 0) {
		for (unsigned j = 0; j < k; j++)
			if (!plans[j].direct)
				ops[j].buf = (uint8_t *)scratch + plans[j].scratch_off;
		uring_run(ts, ops, k);
	}
	for (unsigned j = 0; j < k; j++) {
		if (rc == 0)
			read_finish(ts, &plans[j], &ops[j]);
		else
			plans[j].io->result = rc;
		seg_put(plans[j].t, plans[j].io->ref->seg, false);
	}
	return i;
}

int local_read_batch(struct tier *const *tiers, struct tier_io *ios, unsigned n)
{
	struct uring_thread *ts;
	int rc = uring_thread_get(&ts);

	for (unsigned i = 0; i < n; i++)
		ios[i].result = rc;
	if (rc)
		return rc;
	for (unsigned i = 0; i < n; )
		i = read_chunk(ts, tiers, ios, i, n);
	for (unsigned i = 0; i < n; i++)
		if (ios[i].result)
			return ios[i].result;
	return 0;
}

