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
#include "fs/lineage.h"
#include "meta/keys.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

bool version_wrote(const struct inode *in)
{
	return in->sess && in->sess->wrote;
}

bool content_tracked(const struct inode *in)
{
	return S_ISREG(in->attr.mode) && !(in->attr.flags & META_IF_READONLY) &&
	       (in->attr.policy == META_AREA_CHECKPOINT || in->attr.policy == META_AREA_DATASET);
}

bool version_tracked(const struct inode *in)
{
	return S_ISREG(in->attr.mode) && in->attr.policy == META_AREA_CHECKPOINT &&
	       !(in->attr.flags & META_IF_VERSION);
}

void version_session_free(struct inode *in)
{
	in->name_hidden = false;
	if (in->sess) {
		EVP_MD_CTX_free(in->sess->md);
		free(in->sess);
		in->sess = NULL;
	}
}

void ver_read_comm(uint32_t pid, char *comm)
{
	char path[64];
	int fd;
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%u/comm", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	n = fd >= 0 ? read(fd, comm, 15) : -1;
	if (fd >= 0)
		close(fd);
	comm[n > 0 ? n : 0] = 0;
	comm[strcspn(comm, "\n")] = 0;
}

/* Record (or clear) that INO has an open write session, so that a crash
 * in the middle of a save is undone at the next mount. */
void ver_session_mark(struct fs *fs, uint64_t ino, bool open)
{
	struct meta_batch *b = meta_batch_new();
	uint8_t k[8];

	if (!b)
		return;
	key_put_u64(k, ino);
	if (open)
		meta_rec_put(b, REC_W, k, 8, "", 0);
	else
		meta_rec_del(b, REC_W, k, 8);
	if (fs_commit(fs, b, false) < 0)
		log_warn("inode %llu: cannot record its write session", (unsigned long long)ino);
	meta_batch_free(b);
}

void version_modify(fuse_req_t req, struct inode *in)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	struct session *s = in->sess;

	if (!content_tracked(in))
		return;
	if (!s) {
		s = calloc(1, sizeof(*s));
		if (!s)
			return;		/* the commit then hashes the content itself */
		s->md = EVP_MD_CTX_new();
		s->hash_ok = s->md && EVP_DigestInit_ex(s->md, EVP_sha256(), NULL) == 1 &&
			     in->attr.size == 0;
		s->uid = ctx->uid;
		s->pid = ctx->pid;
		ver_read_comm(s->pid, s->comm);
		in->sess = s;
		if (version_tracked(in))
			ver_session_mark(the_fs, in->ino, true);
	}
}

void version_hash(struct inode *in, const char *buf, size_t size, uint64_t off)
{
	struct session *s = in->sess;

	if (!s)
		return;
	s->wrote = true;
	if (!s->hash_ok)
		return;
	if (off == s->hashed) {
		EVP_DigestUpdate(s->md, buf, size);
		s->hashed += size;
	} else {
		s->hash_ok = false;	/* out of order: hash the content at commit */
	}
}

void version_truncate(struct inode *in, uint64_t size)
{
	struct session *s = in->sess;

	if (!s)
		return;
	if (size == 0 && s->md && EVP_DigestInit_ex(s->md, EVP_sha256(), NULL) == 1) {
		s->hashed = 0;
		s->hash_ok = true;
	} else if (size < s->hashed || size > s->hashed) {
		s->hash_ok = false;
	}
}

/* SHA-256 of IN's whole content, read back through the extent map. */
int content_hash_now(struct fs *fs, struct inode *in, uint8_t sha[32])
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	char *buf = malloc(FS_MAX_WRITE);
	uint64_t off = 0;
	size_t got;
	int rc = md && buf && EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1 ? 0 : -ENOMEM;

	if (rc == 0)
		rc = fs_map_load(fs, in);
	while (rc == 0 && off < in->attr.size) {
		rc = fs_read(fs, in, buf, FS_MAX_WRITE, off, &got);
		if (rc == 0 && got == 0)
			rc = -EIO;
		if (rc == 0)
			EVP_DigestUpdate(md, buf, got);
		off += got;
	}
	if (rc == 0)
		EVP_DigestFinal_ex(md, sha, NULL);
	EVP_MD_CTX_free(md);
	free(buf);
	return rc;
}

static int read_at(struct fs *fs, struct inode *in, void *dst, size_t len, uint64_t off)
{
	size_t got;
	int rc = fs_read(fs, in, dst, len, off, &got);

	return rc < 0 ? rc : got == len ? 0 : -EIO;
}

static uint64_t le(const uint8_t *p, int n)
{
	uint64_t v = 0;

	while (n--)
		v = v << 8 | p[n];
	return v;
}

/* A zip (torch.save) is whole if its end-of-central-directory record ends
 * the file and the central directory it points at ends where it starts. */
static bool zip_whole(struct fs *fs, struct inode *in)
{
	uint64_t size = in->attr.size, tail = size < 65557 ? size : 65557;
	uint8_t *b = malloc(tail);
	bool ok = false;

	if (!b || read_at(fs, in, b, tail, size - tail) < 0)
		goto out;
	for (int64_t i = (int64_t)tail - 22; i >= 0 && !ok; i--) {
		uint64_t eocd = size - tail + (uint64_t)i, cdsize, cdoff;

		if (le(b + i, 4) != 0x06054b50 || eocd + 22 + le(b + i + 20, 2) != size)
			continue;
		cdsize = le(b + i + 12, 4);
		cdoff = le(b + i + 16, 4);
		if (i >= 20 && le(b + i - 20, 4) == 0x07064b50) {
			/* zip64 (PyTorch writes it always): the locator sits
			 * just before the record and points at the zip64 one */
			uint64_t z64;
			uint8_t r[56];

			z64 = le(b + i - 12, 8);
			if (z64 + 56 > size || read_at(fs, in, r, 56, z64) < 0 ||
			    le(r, 4) != 0x06064b50)
				break;
			cdsize = le(r + 40, 8);
			cdoff = le(r + 48, 8);
			ok = cdoff + cdsize == z64;
		} else {
			ok = cdoff + cdsize == eocd;
		}
		break;
	}
out:
	free(b);
	return ok;
}

/* A safetensors file is whole if its tensors' data ends at its end. */
static bool safetensors_whole(struct fs *fs, struct inode *in, uint64_t hlen)
{
	char *h = malloc(hlen + 1), *p;
	uint64_t max = 0;
	bool ok = false;

	if (!h || read_at(fs, in, h, hlen, 8) < 0)
		goto out;
	h[hlen] = 0;
	for (p = strstr(h, "\"data_offsets\""); p; p = strstr(p + 1, "\"data_offsets\"")) {
		unsigned long long a, e;

		if (sscanf(strchr(p, '[') ? strchr(p, '[') : p, "[%llu , %llu]", &a, &e) != 2 ||
		    a > e)
			goto out;
		if (e > max)
			max = e;
	}
	ok = 8 + hlen + max == in->attr.size;
out:
	free(h);
	return ok;
}

/* Is IN's content a whole file of the formats we know torn saves of? */
bool ver_content_whole(struct fs *fs, struct inode *in)
{
	uint8_t head[9];
	uint64_t hlen;

	if (in->attr.size < 9 || read_at(fs, in, head, 9, 0) < 0)
		return true;
	if (le(head, 4) == 0x04034b50)
		return zip_whole(fs, in);
	hlen = le(head, 8);
	if (head[8] == '{' && hlen >= 2 && hlen < (100u << 20))
		return hlen + 8 <= in->attr.size && safetensors_whole(fs, in, hlen);
	return true;
}

/* Is version inode VINO a zip or safetensors file (formats whose saves
 * are never empty)?  False when it cannot be read. */
static bool version_known_format(struct fs *fs, uint64_t vino)
{
	struct inode *vin;
	uint8_t head[9];
	bool known = false;

	if (inode_get(fs, vino, &vin) < 0)
		return false;
	pthread_rwlock_wrlock(&vin->lock);
	if (vin->attr.size >= 9 && fs_map_load(fs, vin) == 0 && read_at(fs, vin, head, 9, 0) == 0)
		known = le(head, 4) == 0x04034b50 ||
			(head[8] == '{' && le(head, 8) >= 2 && le(head, 8) < (100u << 20));
	pthread_rwlock_unlock(&vin->lock);
	inode_put(fs, vin);
	return known;
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

struct find {
	uint32_t want, n, last;
	struct vrec v;
	bool found;
};

static int find_cb(void *ctx, uint32_t n, const struct vrec *v)
{
	struct find *f = ctx;

	f->last = n;
	if ((f->want && n == f->want) || (!f->want && v->complete)) {
		f->v = *v;
		f->n = n;
		f->found = true;
	}
	return 0;
}

int version_get(struct fs *fs, uint64_t ino, uint32_t n, struct vrec *out, uint32_t *nout)
{
	struct find f = { .want = n };
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
	rc = version_foreach(fs, ino, find_cb, &f);

	if (rc < 0)
		return rc;
	if (!f.found)
		return -ENOENT;
	*out = f.v;
	if (nout)
		*nout = f.n;
	return 0;
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
static void forget_names(struct inode *in, uint32_t n, uint64_t vino)
{
	char name[META_NAME_MAX + 16];
	int len;

	len = snprintf(name, sizeof(name), "%u", n);
	inval_delete(virt_versions_of(in->ino), vino, name, (size_t)len);
	if (in->lname) {
		len = snprintf(name, sizeof(name), "%s@v%u", in->lname, n);
		if (len < (int)sizeof(name))
			inval_entry(in->lparent, name, (size_t)len);
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

	ver_retain_of(fs, in->lparent, &keep, &every);
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
			forget_names(in, nums[i], vinos[i]);
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
	migrate_pin_rename(fs, b, src, dst);	/* so does a tier pin */
	return 0;
}

/* --- commit ------------------------------------------------------------ */

int ver_last_cb(void *ctx, uint32_t n, const struct vrec *v)
{
	(void)v;
	*(uint32_t *)ctx = n;
	return 0;
}

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
	struct session *s = in->sess;
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
		rc = version_foreach(fs, in->ino, ver_last_cb, &last);
	if (rc < 0)
		goto out;
	v.size = in->attr.size;
	v.complete = ver_content_whole(fs, in);
	/* A session that only truncated (a save killed between its opening
	 * O_TRUNC and its first write) is no save of a zip or safetensors. */
	if (v.complete && have_good && in->attr.size == 0 && version_known_format(fs, good.vino))
		v.complete = false;
	if (s && s->sha_known)
		memcpy(v.sha, s->sha, 32);
	else if (s && s->hash_ok && s->hashed == in->attr.size)
		EVP_DigestFinal_ex(s->md, v.sha, NULL);
	else if ((rc = content_hash_now(fs, in, v.sha)) < 0)
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
	if (s && s->restored)
		lineage_copy(fs, b, s->restored, v.vino);
	else
		lineage_attach(fs, b, v.pid, v.uid, v.vino);
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
	version_session_free(in);
	if (rc >= 0)
		prune(fs, in);
	return rc;
}
