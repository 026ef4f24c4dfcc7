/* version.c — checkpoint versions.
 *
 * In a checkpoint area, a write session on a file starts with its first
 * modification and ends when its last writer closes.  The end commits
 * version N+1: a new immutable inode (META_IF_VERSION) that shares the
 * file's extents (no data is copied), a 'V' ino|N record describing it
 * and a 'B' vino record pointing back, all in one batch made durable.
 *
 * A version whose content is a torn torch.save zip or safetensors file is
 * kept but marked incomplete, and the file goes back to the content of the
 * newest complete version: a killed save never replaces a good one.
 *
 * Invariant: the file's own content is its newest complete version as
 * soon as no session is open.
 */
#include "fs/version_priv.h"
#include "fs/inval.h"
#include "fs/acl.h"
#include "fs/inode.h"
#include "fs/data.h"
#include "fs/extmap.h"
#include "fs/space.h"
#include "fs/content.h"
#include "fs/version.h"
#include "fs/hooks.h"
#include "meta/keys.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define VREC_LEN (1 + 8 + 8 + 8 + 32 + 4 + 4 + 16 + 3)






static void vrec_encode(uint8_t *b, const struct vrec *v)
{
	b[0] = 1;
	key_put_u64(b + 1, v->vino);
	key_put_u64(b + 9, (uint64_t)v->time);
	key_put_u64(b + 17, v->size);
	memcpy(b + 25, v->sha, 32);
	key_put_u32(b + 57, v->uid);
	key_put_u32(b + 61, v->pid);
	memcpy(b + 65, v->comm, 16);
	b[81] = v->tier;
	b[82] = v->complete;
	b[83] = v->held;
}

static int vrec_decode(const uint8_t *b, size_t len, struct vrec *v)
{
	if (len != VREC_LEN || b[0] != 1) {
		log_err("version record of %zu bytes (format %u) is damaged", len,
			len ? b[0] : 0);
		return -EIO;
	}
	v->vino = key_get_u64(b + 1);
	v->time = (int64_t)key_get_u64(b + 9);
	v->size = key_get_u64(b + 17);
	memcpy(v->sha, b + 25, 32);
	v->uid = key_get_u32(b + 57);
	v->pid = key_get_u32(b + 61);
	memcpy(v->comm, b + 65, 16);
	v->comm[15] = 0;
	v->tier = b[81];
	v->complete = b[82];
	v->held = b[83];
	return 0;
}

/* --- version records ------------------------------------------------- */


static size_t vkey(uint8_t *k, uint64_t ino, uint32_t n)
{
	key_put_u64(k, ino);
	key_put_u32(k + 8, n);
	return 12;
}

struct each_ctx {
	int (*fn)(void *ctx, uint32_t n, const struct vrec *v);
	void *ctx;
};

static int each_cb(void *ctx, const void *key, size_t klen, const void *val, size_t vlen)
{
	struct each_ctx *c = ctx;
	struct vrec v;
	int rc;

	if (klen != 12)
		return 0;
	rc = vrec_decode(val, vlen, &v);
	return rc < 0 ? rc : c->fn(c->ctx, key_get_u32((const uint8_t *)key + 8), &v);
}

int version_foreach(struct fs *fs, uint64_t ino,
		    int (*fn)(void *ctx, uint32_t n, const struct vrec *v), void *ctx)
{
	struct each_ctx c = { fn, ctx };
	uint8_t p[8];

	key_put_u64(p, ino);
	return meta_rec_foreach(fs->meta, REC_V, p, 8, each_cb, &c);
}

int version_foreach_rev(struct fs *fs, uint64_t ino,
			int (*fn)(void *ctx, uint32_t n, const struct vrec *v), void *ctx)
{
	struct each_ctx c = { fn, ctx };
	uint8_t p[8];

	key_put_u64(p, ino);
	return meta_rec_foreach_rev(fs->meta, REC_V, p, 8, each_cb, &c);
}

struct find {
	uint32_t n;
	struct vrec v;
	bool found;
};

/* Newest first: the first complete one ends the walk (most often the
 * newest record itself, so that this is one seek). */
static int find_cb(void *ctx, uint32_t n, const struct vrec *v)
{
	struct find *f = ctx;

	if (!v->complete)
		return 0;
	f->v = *v;
	f->n = n;
	f->found = true;
	return 1;
}

int version_get(struct fs *fs, uint64_t ino, uint32_t n, struct vrec *out, uint32_t *nout)
{
	struct find f = { 0 };
	int rc;

	if (n) {	/* one record by its key, not a walk of them all */
		uint8_t k[12];
		void *v;
		size_t len;

		rc = meta_rec_get(fs->meta, REC_V, k, vkey(k, ino, n), &v, &len);
		if (rc < 0)
			return rc;
		rc = vrec_decode(v, len, out);
		free(v);
		if (rc == 0 && nout)
			*nout = n;
		return rc < 0 ? rc : 0;
	}
	rc = version_foreach_rev(fs, ino, find_cb, &f);
	if (rc < 0)
		return rc;
	if (!f.found)
		return -ENOENT;
	*out = f.v;
	if (nout)
		*nout = f.n;
	return 0;
}

static int last_cb(void *ctx, uint32_t n, const struct vrec *v)
{
	(void)v;
	*(uint32_t *)ctx = n;
	return 1;
}

int ver_last(struct fs *fs, uint64_t ino, uint32_t *last)
{
	int rc;

	*last = 0;
	rc = version_foreach_rev(fs, ino, last_cb, last);
	return rc < 0 ? rc : 0;
}

int version_owner(struct fs *fs, uint64_t vino, uint64_t *ino, uint32_t *n)
{
	uint8_t k[8];
	void *v;
	size_t len;
	int rc;

	key_put_u64(k, vino);
	rc = meta_rec_get(fs->meta, REC_B, k, 8, &v, &len);
	if (rc < 0)
		return rc;
	if (len != 12) {
		free(v);
		return -EIO;
	}
	*ino = key_get_u64(v);
	*n = key_get_u32((uint8_t *)v + 8);
	free(v);
	return 0;
}

void ver_rec_put(struct meta_batch *b, uint64_t ino, uint32_t n, const struct vrec *v)
{
	uint8_t k[12], val[VREC_LEN], back[12];

	vrec_encode(val, v);
	meta_rec_put(b, REC_V, k, vkey(k, ino, n), val, sizeof(val));
	vkey(back, ino, n);
	key_put_u64(k, v->vino);
	meta_rec_put(b, REC_B, k, 8, back, 12);
}

void ver_rec_del(struct meta_batch *b, uint64_t ino, uint32_t n, uint64_t vino)
{
	uint8_t k[12];

	meta_rec_del(b, REC_V, k, vkey(k, ino, n));
	key_put_u64(k, vino);
	meta_rec_del(b, REC_B, k, 8);
}

static int list_cb(void *ctx, uint32_t n, const struct vrec *v)
{
	struct vlist *l = ctx;

	if (l->count == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 64;
		uint32_t *nn = realloc(l->n, cap * sizeof(*nn));
		struct vrec *vv = nn ? realloc(l->v, cap * sizeof(*vv)) : NULL;

		if (nn)
			l->n = nn;
		if (!vv)
			return -ENOMEM;
		l->v = vv;
		l->cap = cap;
	}
	l->n[l->count] = n;
	l->v[l->count++] = *v;
	return 0;
}

void ver_list_free(struct vlist *l)
{
	if (l) {
		free(l->n);
		free(l->v);
		free(l);
	}
}

struct vlist *ver_list_load(struct fs *fs, uint64_t ino, int *rc)
{
	struct vlist *l = calloc(1, sizeof(*l));

	*rc = l ? version_foreach(fs, ino, list_cb, l) : -ENOMEM;
	if (*rc < 0) {
		ver_list_free(l);
		return NULL;
	}
	return l;
}

/* Unlink version inodes: each becomes an orphan, freed when unused.  B
 * must be committed before release_versions puts them. */
static int unlink_versions(struct fs *fs, struct meta_batch *b, const uint64_t *vinos,
			   size_t n, struct inode **held)
{
	for (size_t i = 0; i < n; i++) {
		struct inode *vin;
		int rc = inode_get(fs, vinos[i], &vin);

		held[i] = NULL;
		if (rc == -ENOENT)
			continue;
		if (rc < 0)
			return rc;
		pthread_rwlock_wrlock(&vin->lock);
		vin->attr.nlink = 0;
		meta_orphan_put(b, vin->ino);
		inode_save(b, vin);
		pthread_rwlock_unlock(&vin->lock);
		held[i] = vin;
	}
	return 0;
}

static void release_versions(struct fs *fs, struct inode **held, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (held[i])
			inode_put(fs, held[i]);
}

/* Drop the oldest versions of INO beyond the mount's keep_versions; never
 * a held one, nor the newest complete one. */

/* Retention set on directory DIR (user.aifs.retain), if any. */
void ver_retain_of(struct fs *fs, uint64_t dir, unsigned *keep, unsigned *every)
{
	uint8_t k[8];
	void *v;
	size_t len;

	if (!dir)
		return;
	key_put_u64(k, dir);
	if (meta_rec_get(fs->meta, REC_Q, k, 8, &v, &len) == 0) {
		if (len == 8) {
			*keep = key_get_u32(v);
			*every = key_get_u32((uint8_t *)v + 4);
		}
		free(v);
	}
}

/* Make the kernel let go of pruned version N (vino VINO) of IN: drop the
 * names it may cache for it, so that its last user frees it (queued: IN
 * is locked; the names are not cached anyway, see fs_entry). */
static void forget_names(struct fs *fs, struct inode *in, uint32_t n, uint64_t vino)
{
	struct vfile *vf = ver_file(fs, in, false);
	char name[META_NAME_MAX + 16];
	int len;

	len = snprintf(name, sizeof(name), "%u", n);
	VER_PUBLISH(fs, pruned, in->ino, n, vino);
	if (vf && vf->lname) {
		len = snprintf(name, sizeof(name), "%s@v%u", vf->lname, n);
		if (len < (int)sizeof(name))
			inval_entry(vf->lparent, name, (size_t)len);
	}
}

static void prune(struct fs *fs, struct inode *in)
{
	uint64_t ino = in->ino;
	uint32_t nums[64];
	struct vlist *l;
	struct meta_batch *b;
	uint64_t vinos[64];
	struct inode *held[64];
	size_t nd = 0, excess, newest = SIZE_MAX;
	int rc;

	unsigned keep = fs->opt.keep_versions, every = fs->opt.keep_every;
	struct vfile *vf = ver_file(fs, in, false);

	ver_retain_of(fs, vf ? vf->lparent : 0, &keep, &every);
	if (!keep)
		return;
	l = ver_list_load(fs, ino, &rc);
	if (!l)
		return;
	b = meta_batch_new();
	/* The last KEEP versions stay; of the older ones, those held, every
	 * K-th and the newest complete one stay too. */
	excess = l->count > keep ? l->count - keep : 0;
	for (size_t i = 0; i < l->count; i++)
		if (l->v[i].complete)
			newest = i;
	for (size_t i = 0; b && i < excess && nd < 64; i++) {
		if (i == newest || (every && l->n[i] % every == 0) || ver_held(fs, l->v[i].vino))
			continue;
		ver_rec_del(b, ino, l->n[i], l->v[i].vino);
		nums[nd] = l->n[i];
		vinos[nd++] = l->v[i].vino;
	}
	if (b && nd && unlink_versions(fs, b, vinos, nd, held) == 0) {
		rc = fs_commit(fs, b, false);
		if (rc < 0)
			log_err("pruning versions of inode %llu failed: %s",
				(unsigned long long)ino, strerror(-rc));
		release_versions(fs, held, nd);
		for (size_t i = 0; rc == 0 && i < nd; i++)
			forget_names(fs, in, nums[i], vinos[i]);
	}
	meta_batch_free(b);
	ver_list_free(l);
}

void version_drop_all(struct fs *fs, uint64_t ino)
{
	struct vlist *l;
	struct meta_batch *b;
	uint64_t *vinos;
	struct inode **held;
	int rc;

	l = ver_list_load(fs, ino, &rc);
	if (!l || !l->count) {
		ver_list_free(l);
		return;
	}
	b = meta_batch_new();
	vinos = calloc(l->count, sizeof(*vinos));
	held = calloc(l->count, sizeof(*held));
	if (b && vinos && held) {
		for (size_t i = 0; i < l->count; i++) {
			ver_rec_del(b, ino, l->n[i], l->v[i].vino);
			vinos[i] = l->v[i].vino;
		}
		if (unlink_versions(fs, b, vinos, l->count, held) == 0) {
			rc = fs_commit(fs, b, false);
			if (rc < 0)
				log_err("dropping versions of inode %llu failed: %s",
					(unsigned long long)ino, strerror(-rc));
			release_versions(fs, held, l->count);
		}
	}
	meta_batch_free(b);
	free(vinos);
	free(held);
	ver_list_free(l);
}

int version_rename(struct fs *fs, struct meta_batch *b, uint64_t src, uint64_t dst)
{
	struct vlist *d, *s;
	int rc;

	d = ver_list_load(fs, dst, &rc);
	if (!d)
		return rc;
	s = ver_list_load(fs, src, &rc);
	if (!s) {
		ver_list_free(d);
		return rc;
	}
	for (size_t i = 0; i < s->count; i++)
		ver_rec_del(b, src, s->n[i], s->v[i].vino);
	for (size_t i = 0; i < d->count; i++) {
		ver_rec_del(b, dst, d->n[i], d->v[i].vino);
		ver_rec_put(b, src, d->n[i], &d->v[i]);
	}
	for (size_t i = 0; i < s->count; i++)
		ver_rec_put(b, src, (d->count ? d->n[d->count - 1] : 0) + (uint32_t)i + 1, &s->v[i]);
	ver_list_free(d);
	ver_list_free(s);
	VER_PUBLISH(fs, renamed, fs, b, src, dst);	/* so does a tier pin */
	return 0;
}

/* --- commit ------------------------------------------------------------ */

/* Make IN's content that of complete version P again (into B). */
int ver_revert(struct fs *fs, struct inode *in, struct meta_batch *b, const struct vrec *p)
{
	int rc = fs_punch(fs, in, b, 0, UINT64_MAX);

	if (rc == 0)
		rc = fs_map_copy_from(fs, in, b, p->vino);
	if (rc == 0) {
		in->attr.size = p->size;
		in->attr.mtime = p->time;
		in->attr.ctime = fs_now();
		in->attr.generation++;
		inode_save(b, in);
	}
	return rc;
}

/* The commit of a new version of IN (locked) failed: serve its last
 * complete version GOOD at once, as the next mount would (the session's
 * record goes with it).  If that cannot be committed either, IN stays as
 * on disk and the record stays for the next mount to undo. */
static void ver_fall_back(struct fs *fs, struct inode *in, const struct vrec *good)
{
	struct meta_inode saved = in->attr;
	struct meta_batch *b = meta_batch_new();
	uint8_t wk[8];
	int rc;

	/* the save is given up: bytes it could not store go with it */
	fs_flight_drop(fs, in);
	in->wb_dirty = false;
	in->wb_len = 0;
	if (!b) {
		rc = -ENOMEM;
		goto out;
	}
	space_defer_begin();
	rc = ver_revert(fs, in, b, good);
	key_put_u64(wk, in->ino);
	meta_rec_del(b, REC_W, wk, 8);
	if (rc == 0)
		rc = fs_commit(fs, b, true);
	space_defer_end(fs, rc == 0);
	if (rc < 0) {
		fs_content_reload(in);
		in->attr = saved;
	}
	meta_batch_free(b);
out:
	if (rc < 0)
		log_err("inode %llu: serving its last complete version failed too (%s): "
			"the next mount does it", (unsigned long long)in->ino, strerror(-rc));
	else
		log_notice("inode %llu: back to its last complete version after the failed commit",
			   (unsigned long long)in->ino);
}

int version_commit(struct fs *fs, struct inode *in)
{
	struct session *s = ver_session(fs, in);
	struct meta_batch *b = NULL;
	struct meta_inode va, saved = in->attr;
	struct vrec v = { .time = fs_now() }, good;
	uint32_t last = 0;
	bool have_good = false, deferred = false;
	int rc;

	rc = version_get(fs, in->ino, 0, &good, NULL);
	have_good = rc == 0;
	if (rc == -ENOENT)
		rc = 0;			/* no complete version yet (EIO is not that) */
	if (rc == 0)
		rc = fs_flush(fs, in);
	if (rc == 0)
		rc = fs_map_load(fs, in);
	if (rc == 0)
		rc = ver_last(fs, in->ino, &last);
	if (rc < 0)
		goto out;
	v.size = in->attr.size;
	v.complete = content_whole(fs, in);
	/* A session that only truncated (a save killed between its opening
	 * O_TRUNC and its first write) is no save of a zip or safetensors. */
	if (v.complete && have_good && in->attr.size == 0 && content_known_format(fs, good.vino))
		v.complete = false;
	if (!ver_session_sha(s, in->attr.size, v.sha) &&
	    (rc = content_hash_now(fs, in, v.sha)) < 0)
		goto out;
	if (s) {
		v.uid = s->uid;
		v.pid = s->pid;
		memcpy(v.comm, s->comm, sizeof(v.comm));
	}
	v.tier = TIER_HOT;
	v.vino = fs_ino_alloc(fs);
	va = in->attr;
	va.ino = v.vino;
	va.mode &= ~(0222u | S_ISUID | S_ISGID);	/* chmod of the file cannot reach it */
	va.nlink = 1;
	va.flags = META_IF_VERSION | (in->attr.flags & META_IF_INLINE);
	va.mtime = va.ctime = v.time;
	b = meta_batch_new();
	if (!b) {
		rc = -ENOMEM;
		goto out;
	}
	rc = acl_version_copy(fs, in, &va, b);
	if (rc < 0)
		goto out;
	meta_inode_put(b, &va);
	space_defer_begin();	/* the refs and a revert count once committed */
	deferred = true;
	rc = fs_map_clone_to(fs, in, b, v.vino);
	if (rc < 0)
		goto out;
	ver_rec_put(b, in->ino, last + 1, &v);
	VER_PUBLISH(fs, committed, fs, b, v.vino, v.pid, v.uid, s ? s->restored : 0);
	{
		uint8_t wk[8];

		key_put_u64(wk, in->ino);
		meta_rec_del(b, REC_W, wk, 8);	/* the session is over */
	}
	if (!v.complete && have_good) {
		rc = ver_revert(fs, in, b, &good);
		if (rc < 0)
			goto out;
		rc = 1;
	}
	{
		int r = tier_sync(fs->tiers[TIER_HOT]);

		if (r == 0)
			r = fs_commit(fs, b, true);
		if (r < 0)
			rc = r;
	}
	if (rc >= 0) {
		log_info("inode %llu: version %u committed (%llu bytes, %s)",
			 (unsigned long long)in->ino, last + 1, (unsigned long long)v.size,
			 v.complete ? "complete" : "incomplete: previous version kept");
		in->dirty = false;
	}
out:
	if (deferred)
		space_defer_end(fs, rc >= 0);
	if (rc < 0 && deferred) {	/* a revert that did not commit: as on disk */
		fs_content_reload(in);
		in->attr = saved;
	}
	if (rc < 0)
		log_err("inode %llu: commit of a new version failed: %s",
			(unsigned long long)in->ino, strerror(-rc));
	if (rc < 0 && have_good)
		ver_fall_back(fs, in, &good);
	meta_batch_free(b);
	ver_session_free(fs, in);
	if (rc >= 0)
		prune(fs, in);
	return rc;
}

/* --- what versions publish (their hooks are vhooks.c's) ---------------- */

int version_subscribe(struct fs *fs, const struct version_events *ev)
{
	if (fs->nversion_subs == sizeof(fs->version_subs) / sizeof(fs->version_subs[0]))
		return -ENOSPC;
	fs->version_subs[fs->nversion_subs++] = ev;
	return 0;
}

/* --- what versions keep of a file (its slot) ---------------------------- */

struct vfile *ver_file(struct fs *fs, struct inode *in, bool make)
{
	void **slot = fs_slot(fs, in, "versions");

	if (slot && !*slot && make)
		*slot = calloc(1, sizeof(struct vfile));
	return slot ? *slot : NULL;
}

static void session_free(struct session *s)
{
	if (s) {
		vhash_free(s->hash);
		free(s);
	}
}

void ver_file_free(struct inode *in, void *slot)
{
	struct vfile *vf = slot;

	(void)in;
	if (vf) {
		session_free(vf->sess);
		free(vf->lname);
		free(vf);
	}
}

struct session *ver_session(struct fs *fs, struct inode *in)
{
	struct vfile *vf = ver_file(fs, in, false);

	return vf ? vf->sess : NULL;
}

void ver_session_free(struct fs *fs, struct inode *in)
{
	struct vfile *vf = ver_file(fs, in, false);

	if (vf) {
		vf->name_hidden = false;
		session_free(vf->sess);
		vf->sess = NULL;
	}
}

bool version_in_session(struct fs *fs, struct inode *in)
{
	return ver_session(fs, in) != NULL;
}

bool version_name_hidden(struct fs *fs, struct inode *in)
{
	struct vfile *vf = ver_file(fs, in, false);

	return vf && vf->sess && vf->name_hidden;
}

bool version_last_name(struct fs *fs, struct inode *in, uint64_t *parent, char *name,
		       size_t size)
{
	struct vfile *vf = ver_file(fs, in, false);

	*parent = vf && vf->lname ? vf->lparent : 0;
	snprintf(name, size, "%s", vf && vf->lname ? vf->lname : "");
	return vf && vf->lname;
}

/* --- which files have versions; holds ----------------------------------- */

bool version_tracked(const struct inode *in)
{
	return S_ISREG(in->attr.mode) && in->attr.policy == META_AREA_CHECKPOINT &&
	       !(in->attr.flags & META_IF_VERSION);
}

bool ver_held(struct fs *fs, uint64_t vino)
{
	uint8_t k[8];

	key_put_u64(k, vino);
	return meta_rec_any(fs->meta, REC_HOLD, k, 8);
}

bool version_file_held(struct fs *fs, uint64_t ino)
{
	struct vlist *l;
	bool held = false;
	int rc;

	l = ver_list_load(fs, ino, &rc);
	for (size_t i = 0; l && i < l->count && !held; i++)
		held = ver_held(fs, l->v[i].vino);
	ver_list_free(l);
	return held;
}
