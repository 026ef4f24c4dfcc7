/* linserve.c — lineage as JSON: the text helpers the capture uses, the
 * 'Z' record encoding, and user.aifs.lineage, which nests the lineage of
 * every checkpoint version a job read as its "upstream" (up to
 * UPSTREAM_MAX deep, never around a cycle), so that one read walks a
 * fine-tuned checkpoint back to the data its ancestors were trained on.
 */
#include "fs/lineage.h"
#include "fs/lineage_priv.h"
#include "fs/version.h"
#include "fs/xattr.h"
#include "meta/keys.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define UPSTREAM_MAX	8
#define XATTR_MAX	65536		/* the kernel's limit on a value */

void lin_sha(struct sb *s, const uint8_t *sha)
{
	if (!sha) {
		sb_add(s, "null");
		return;
	}
	sb_add(s, "\"");
	sb_hex(s, sha, 32);
	sb_add(s, "\"");
}

void lin_iso(int64_t ns, char *buf, size_t len)
{
	time_t t = (time_t)(ns / 1000000000);
	struct tm tm;
	size_t n;

	gmtime_r(&t, &tm);
	n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + n, len - n, ".%03dZ", (int)(ns % 1000000000 / 1000000));
}

int lin_grow(void **v, size_t *cap, size_t size)
{
	size_t n = *cap ? *cap * 2 : 8;
	void *p = realloc(*v, n * size);

	if (!p)
		return -ENOMEM;
	*v = p;
	*cap = n;
	return 0;
}

void lin_sum_add(uint8_t sum[32], const uint8_t sha[32])
{
	unsigned carry = 0;

	for (int i = 31; i >= 0; i--) {
		carry += (unsigned)sum[i] + sha[i];
		sum[i] = (uint8_t)carry;
		carry >>= 8;
	}
}

/* --- records ------------------------------------------------------------- */

void lin_src_encode(uint8_t *v, uint8_t flags, uint64_t files, const uint8_t sum[32])
{
	v[0] = 1;
	v[1] = flags;
	key_put_u64(v + 2, files);
	memcpy(v + 10, sum, 32);
}

void lin_rec_begin(struct sb *val, const struct sb *hdr)
{
	uint8_t h[5] = { 1 };

	key_put_u32(h + 1, (uint32_t)hdr->len);
	sb_addn(val, (const char *)h, sizeof(h));
	sb_addn(val, hdr->p ? hdr->p : "", hdr->len);
}

void lin_rec_source(struct sb *val, const uint8_t *key, uint8_t flags, uint64_t files,
		    const uint8_t sum[32], const char *json)
{
	uint8_t h[LIN_SRC_KEY + 4 + LIN_SRC_HDR];
	size_t jl = strlen(json);

	memcpy(h, key, LIN_SRC_KEY);
	key_put_u32(h + LIN_SRC_KEY, (uint32_t)(LIN_SRC_HDR + jl));
	lin_src_encode(h + LIN_SRC_KEY + 4, flags, files, sum);
	sb_addn(val, (const char *)h, sizeof(h));
	sb_addn(val, json, jl);
}

/* --- user.aifs.lineage --------------------------------------------------- */

static int damaged(uint64_t vino, size_t len)
{
	log_err("lineage: the lineage record of version inode %llu is damaged (%zu bytes)",
		(unsigned long long)vino, len);
	return -EIO;
}

/* "version": {...} of version inode VINO. */
static void version_json(struct fs *fs, struct sb *s, uint64_t vino)
{
	struct meta_inode oa;
	struct vrec v;
	uint64_t owner;
	uint32_t n;
	char when[40];

	if (version_owner(fs, vino, &owner, &n) < 0 || version_get(fs, owner, n, &v, NULL) < 0 ||
	    meta_inode_get(fs->meta, owner, &oa) < 0) {
		sb_add(s, "\"version\": null");
		return;
	}
	lin_iso(v.time, when, sizeof(when));
	sb_printf(s, "\"version\": {\"number\": %u, \"type\": \"%s\", \"sha256\": ", n,
		  S_ISDIR(oa.mode) ? "directory" : "file");
	lin_sha(s, S_ISDIR(oa.mode) ? NULL : v.sha);
	sb_printf(s, ", \"size\": %llu, \"committed\": \"%s\"}", (unsigned long long)v.size, when);
}

/* Whether user UID may see the command lines in the lineage of version
 * inode VINO: root, and the owner of the file it is a version of (of the
 * version itself when that file is gone). */
static bool cmdline_shown(struct fs *fs, uint64_t vino, uint32_t uid)
{
	struct meta_inode a;
	uint64_t owner;
	uint32_t n;

	if (uid == 0)
		return true;
	if (version_owner(fs, vino, &owner, &n) < 0 || meta_inode_get(fs->meta, owner, &a) < 0)
		if (meta_inode_get(fs->meta, vino, &a) < 0)
			return false;
	return a.uid == uid;
}

/* Append the JSON text P (N bytes) with the value of every "cmdline"
 * member replaced by null.  Inside a JSON string every quote is escaped,
 * so the member name with its closing quote can only be a member name. */
static void sb_add_no_cmdline(struct sb *s, const char *p, size_t n)
{
	static const char key[] = "\"cmdline\": \"";
	const size_t klen = sizeof(key) - 1;
	size_t i = 0, start = 0;

	while (i + klen <= n) {
		if (memcmp(p + i, key, klen)) {
			i++;
			continue;
		}
		sb_addn(s, p + start, i + klen - 1 - start);
		sb_add(s, "null");
		for (i += klen; i < n && p[i] != '"'; i++)
			if (p[i] == '\\')
				i++;
		start = ++i;
	}
	if (start < n)
		sb_addn(s, p + start, n - start);
}

/* One source of a 'Z' value (U: its 'U' value) as JSON. */
static void source_json(struct fs *fs, struct sb *s, const uint8_t *key, const uint8_t *u,
			size_t ulen, int depth, uint64_t *seen, uint32_t uid);

/* The lineage of version inode VINO as user UID may see it, as a JSON
 * object into S.  SEEN[0..DEPTH] are the versions on the way here. */
static int compose(struct fs *fs, struct sb *s, uint64_t vino, int depth, uint64_t *seen,
		   uint32_t uid)
{
	const uint8_t *p;
	uint8_t k[8];
	void *v;
	size_t vlen, off, hlen;
	bool first = true;
	int rc;

	key_put_u64(k, vino);
	rc = meta_rec_get(fs->meta, LIN_REC_LIN, k, 8, &v, &vlen);
	if (rc < 0)
		return rc == -ENOENT ? -ENODATA : rc;
	p = v;
	hlen = vlen >= 5 ? key_get_u32(p + 1) : 0;
	if (vlen < 5 || p[0] != 1 || hlen < 2 || 5 + hlen > vlen || p[5 + hlen - 1] != '}') {
		free(v);
		return damaged(vino, vlen);
	}
	sb_add(s, "{");
	version_json(fs, s, vino);
	sb_add(s, ", ");
	if (cmdline_shown(fs, vino, uid))
		sb_addn(s, (const char *)p + 6, hlen - 2);
	else
		sb_add_no_cmdline(s, (const char *)p + 6, hlen - 2);
	sb_add(s, ", \"sources\": [");
	for (off = 5 + hlen; off < vlen; first = false) {
		size_t ulen = off + LIN_SRC_KEY + 4 <= vlen ? key_get_u32(p + off + LIN_SRC_KEY) : 0;

		if (ulen < LIN_SRC_HDR + 2 || off + LIN_SRC_KEY + 4 + ulen > vlen ||
		    p[off + LIN_SRC_KEY + 4 + ulen - 1] != '}') {
			free(v);
			return damaged(vino, vlen);
		}
		if (!first)
			sb_add(s, ", ");
		source_json(fs, s, p + off, p + off + LIN_SRC_KEY + 4, ulen, depth, seen, uid);
		off += LIN_SRC_KEY + 4 + ulen;
	}
	sb_add(s, "]}");
	free(v);
	return 0;
}

static void source_json(struct fs *fs, struct sb *s, const uint8_t *key, const uint8_t *u,
			size_t ulen, int depth, uint64_t *seen, uint32_t uid)
{
	uint64_t up = key_get_u64(key + 1);
	bool cycle = false;

	sb_addn(s, (const char *)u + LIN_SRC_HDR, ulen - LIN_SRC_HDR - 1);
	if (key[0] == 'd') {
		sb_printf(s, ", \"state\": {\"files\": %llu, \"sha256_sum\": \"",
			  (unsigned long long)key_get_u64(u + 2));
		sb_hex(s, u + 10, 32);
		sb_printf(s, "\", \"complete\": %s}", u[1] & LIN_PARTIAL ? "false" : "true");
	}
	for (int i = 0; i <= depth; i++)
		cycle |= seen[i] == up;
	if (key[0] == 'v' && depth + 1 < UPSTREAM_MAX && !cycle) {
		struct sb sub = { 0 };

		seen[depth + 1] = up;
		if (compose(fs, &sub, up, depth + 1, seen, uid) == 0 && !sub.err) {
			/* keep the whole under the attribute limit: the
			 * version's own user.aifs.lineage has the rest */
			if (s->len + sub.len + 64 <= XATTR_MAX) {
				sb_add(s, ", \"upstream\": ");
				sb_addn(s, sub.p, sub.len);
			} else {
				sb_add(s, ", \"upstream_omitted\": true");
			}
		}
		free(sub.p);
	}
	sb_add(s, "}");
}

static int lineage_xattr(struct fs *fs, struct inode *in, uint32_t uid, char **out, size_t *len)
{
	uint64_t seen[UPSTREAM_MAX + 1], vino;
	struct meta_inode a;
	struct vrec v;
	struct sb s = { 0 };
	int rc;

	pthread_rwlock_rdlock(&in->lock);
	a = in->attr;
	pthread_rwlock_unlock(&in->lock);
	if ((a.flags & META_IF_VERSION) ||
	    ((a.flags & META_IF_SNAPROOT) && a.policy == META_AREA_CHECKPOINT) ||
	    (S_ISREG(a.mode) && a.policy == META_AREA_JOURNAL)) {
		vino = in->ino;		/* a journal file: its writer's (journal.c) */
	} else if (version_tracked(in) || (S_ISDIR(a.mode) && a.policy == META_AREA_CHECKPOINT &&
					   !(a.flags & META_IF_READONLY))) {
		rc = version_get(fs, in->ino, 0, &v, NULL);
		if (rc < 0)
			return rc == -ENOENT ? -ENODATA : rc;
		vino = v.vino;
	} else {
		return -ENODATA;
	}
	seen[0] = vino;
	rc = compose(fs, &s, vino, 0, seen, uid);
	if (rc == 0 && s.err)
		rc = -ENOMEM;
	if (rc == 0 && s.len > XATTR_MAX) {
		/* any reader may ask again: not above debug level */
		log_debug("lineage: version inode %llu: its lineage (%zu bytes) is larger than an "
			  "attribute value may be", (unsigned long long)vino, s.len);
		rc = -E2BIG;
	}
	if (rc < 0) {
		free(s.p);
		return rc;
	}
	*out = s.p;
	*len = s.len;
	return 0;
}

static int lineage_get(struct fs *fs, fuse_req_t req, struct inode *in, const char *name,
		       char **val, size_t *len)
{
	(void)name;
	return lineage_xattr(fs, in, fuse_req_ctx(req)->uid, val, len);
}

const struct fs_xattr lineage_xattrs[] = {
	{ "user.aifs.lineage", "lineage", 0, lineage_get, NULL, NULL },
	{ NULL, NULL, 0, NULL, NULL, NULL },
};
