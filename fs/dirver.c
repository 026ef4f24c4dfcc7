/* dirver.c — versions of checkpoint directories (DCP directories, Hugging
 * Face checkpoint-N/): a version is a frozen copy of the directory's tree
 * that shares all data (snapshot_tree_freeze), numbered as a file's versions are, and
 * described like file versions (dirver.h).
 */
#include "fs/dirver.h"
#include "fs/version_priv.h"
#include "fs/access.h"
#include "fs/inode.h"
#include "fs/extmap.h"
#include "fs/content.h"
#include "fs/version.h"
#include "fs/snapshot.h"
#include "fs/space.h"
#include "meta/keys.h"

#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* One regular file of a version's tree. */
struct mfile {
	char *path;
	uint8_t sha[32];
};

/* A walk of a version's tree: the files found and the directories still
 * to read (each with its path below the root). */
struct walk {
	struct fs *fs;
	struct mfile *f;
	size_t nf, capf;
	uint64_t *dirs;
	char **dpath;
	size_t nd, capd;
	const char *cur;	/* path of the directory being read */
	bool whole;		/* every file whole by its format so far */
	int rc;
};

static char *join(const char *dir, const char *name, size_t len)
{
	size_t dl = strlen(dir);
	char *p = malloc(dl + len + 2);

	if (!p)
		return NULL;
	memcpy(p, dir, dl);
	if (dl)
		p[dl++] = '/';
	memcpy(p + dl, name, len);
	p[dl + len] = 0;
	return p;
}

static int push_dir(struct walk *w, uint64_t ino, char *path)
{
	if (w->nd == w->capd) {
		size_t n = w->capd ? w->capd * 2 : 16;
		uint64_t *d = realloc(w->dirs, n * sizeof(*d));
		char **p;

		if (!d)
			return -ENOMEM;
		w->dirs = d;
		p = realloc(w->dpath, n * sizeof(*p));
		if (!p)
			return -ENOMEM;
		w->dpath = p;
		w->capd = n;
	}
	w->dirs[w->nd] = ino;
	w->dpath[w->nd++] = path;
	return 0;
}

/* SHA-256 and wholeness of file INO (hashed now if its hash is not kept). */
static int file_summary(struct fs *fs, uint64_t ino, uint8_t sha[32], bool *whole)
{
	struct inode *in;
	int rc = inode_get(fs, ino, &in);

	if (rc < 0)
		return rc;
	pthread_rwlock_wrlock(&in->lock);
	rc = fs_map_load(fs, in);
	if (rc == 0)
		rc = content_sha(fs, in, sha);
	if (rc == 0)
		*whole = content_whole(fs, in);
	pthread_rwlock_unlock(&in->lock);
	inode_put(fs, in);
	return rc;
}

static int walk_entry(void *ctx, const char *name, size_t len, uint64_t ino, uint32_t type)
{
	struct walk *w = ctx;
	char *path = join(w->cur, name, len);
	bool whole = true;

	if (!path)
		return -ENOMEM;
	if (S_ISDIR(type)) {
		int rc = push_dir(w, ino, path);

		if (rc < 0)
			free(path);
		return rc;
	}
	if (!S_ISREG(type)) {
		free(path);
		return 0;
	}
	if (w->nf == w->capf) {
		size_t n = w->capf ? w->capf * 2 : 64;
		struct mfile *f = realloc(w->f, n * sizeof(*f));

		if (!f) {
			free(path);
			return -ENOMEM;
		}
		w->f = f;
		w->capf = n;
	}
	w->f[w->nf].path = path;
	w->rc = file_summary(w->fs, ino, w->f[w->nf].sha, &whole);
	w->nf++;
	if (!whole)
		w->whole = false;
	return w->rc;
}

static int by_path(const void *a, const void *b)
{
	return strcmp(((const struct mfile *)a)->path, ((const struct mfile *)b)->path);
}

/* The manifest digest of the tree at ROOT into SHA, and whether each of
 * its files is whole. */
static int tree_digest(struct fs *fs, uint64_t root, uint8_t sha[32], bool *whole)
{
	struct walk w = { .fs = fs, .whole = true };
	EVP_MD_CTX *md = NULL;
	char *rootpath = strdup("");
	int rc = rootpath ? push_dir(&w, root, rootpath) : -ENOMEM;

	if (rc < 0)
		free(rootpath);
	while (rc == 0 && w.nd) {
		uint64_t dir = w.dirs[--w.nd];
		char *path = w.dpath[w.nd];

		w.cur = path;
		rc = meta_dentry_foreach(fs->meta, dir, NULL, 0, walk_entry, &w);
		free(path);
	}
	if (rc == 0) {
		qsort(w.f, w.nf, sizeof(*w.f), by_path);
		md = EVP_MD_CTX_new();
		rc = md && EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1 ? 0 : -ENOMEM;
	}
	for (size_t i = 0; rc == 0 && i < w.nf; i++) {
		char hex[65];

		for (int j = 0; j < 32; j++)
			snprintf(hex + 2 * j, 3, "%02x", w.f[i].sha[j]);
		if (EVP_DigestUpdate(md, hex, 64) != 1 || EVP_DigestUpdate(md, "  ", 2) != 1 ||
		    EVP_DigestUpdate(md, w.f[i].path, strlen(w.f[i].path)) != 1 ||
		    EVP_DigestUpdate(md, "\n", 1) != 1)
			rc = -ENOMEM;
	}
	if (rc == 0 && EVP_DigestFinal_ex(md, sha, NULL) != 1)
		rc = -ENOMEM;
	EVP_MD_CTX_free(md);
	*whole = w.whole;
	for (size_t i = 0; i < w.nf; i++)
		free(w.f[i].path);
	while (w.nd)
		free(w.dpath[--w.nd]);
	free(w.f);
	free(w.dirs);
	free(w.dpath);
	return rc;
}

static bool sha_unknown(const uint8_t sha[32])
{
	for (int i = 0; i < 32; i++)
		if (sha[i])
			return false;
	return true;
}

/* Work out version N of DIR's digest and completeness once, and keep them
 * in its record.  A store that fails leaves them to be worked out again. */
int dirver_summarize(struct fs *fs, uint64_t dir, uint32_t n, struct vrec *v)
{
	struct meta_batch *b;
	bool whole;
	int rc;

	if (!sha_unknown(v->sha))
		return 0;
	rc = tree_digest(fs, v->vino, v->sha, &whole);
	if (rc < 0)
		return rc;
	v->complete = v->complete && whole;
	b = meta_batch_new();
	if (!b)
		return 0;	/* answered all the same; kept next time */
	ver_rec_put(b, dir, n, v);
	if (fs_commit(fs, b, false) < 0)
		log_warn("directory %llu: digest of version %u not kept", (unsigned long long)dir, n);
	meta_batch_free(b);
	return 0;
}

struct cur {
	struct fs *fs;
	uint64_t dir;
	struct vrec v;
	uint32_t n;
	bool found;
};

static int current_cb(void *ctx, uint32_t n, const struct vrec *vp)
{
	struct cur *c = ctx;
	struct vrec v = *vp;
	int rc = dirver_summarize(c->fs, c->dir, n, &v);

	if (rc < 0)
		return rc;
	if (!v.complete)
		return 0;
	c->v = v;
	c->n = n;
	c->found = true;
	return 1;
}

/* The newest complete version of DIR (its completeness worked out now
 * where it was not yet), walking back from the newest: -ENOENT if none. */
static int current(struct fs *fs, uint64_t dir, struct vrec *v, uint32_t *n)
{
	struct cur c = { .fs = fs, .dir = dir };
	int rc = version_foreach_rev(fs, dir, current_cb, &c);

	if (rc < 0)
		return rc;
	if (!c.found)
		return -ENOENT;
	*v = c.v;
	*n = c.n;
	return 0;
}

int dirver_xattr(struct fs *fs, struct inode *in, const char *name, char *buf, size_t len)
{
	static const char *const names[] = {
		"user.aifs.version", "user.aifs.sha256", "user.aifs.complete",
		"user.aifs.writer", "user.aifs.tier", "user.aifs.size", NULL
	};
	uint64_t dir;
	uint32_t n = 0;
	struct vrec v;
	int rc, i;

	if (!S_ISDIR(in->attr.mode))
		return DIRVER_NOT_MINE;
	for (i = 0; names[i] && strcmp(names[i], name); i++)
		;
	if (!names[i])
		return DIRVER_NOT_MINE;
	if ((in->attr.flags & META_IF_SNAPSHOT) && version_owner(fs, in->ino, &dir, &n) == 0) {
		rc = version_get(fs, dir, n, &v, NULL);
	} else if (in->attr.policy == META_AREA_CHECKPOINT &&
		   !(in->attr.flags & META_IF_READONLY)) {
		dir = in->ino;
		rc = current(fs, dir, &v, &n);		/* what the name serves */
	} else {
		return DIRVER_NOT_MINE;
	}
	if (rc < 0)
		return rc == -ENOENT ? -ENODATA : rc;
	if (!strcmp(name, "user.aifs.sha256") || !strcmp(name, "user.aifs.complete")) {
		rc = dirver_summarize(fs, dir, n, &v);
		if (rc < 0)
			return rc;
	}
	if (!strcmp(name, "user.aifs.version"))
		return snprintf(buf, len, "%u", n);
	if (!strcmp(name, "user.aifs.complete"))
		return snprintf(buf, len, "%s", v.complete ? "true" : "false");
	if (!strcmp(name, "user.aifs.writer"))
		return snprintf(buf, len, "uid=%u pid=%u comm=%s", v.uid, v.pid, v.comm);
	if (!strcmp(name, "user.aifs.tier"))
		return snprintf(buf, len, "%s", v.tier == TIER_COLD ? "cold" : "hot");
	if (!strcmp(name, "user.aifs.size"))
		return snprintf(buf, len, "%llu", (unsigned long long)v.size);
	for (i = 0; i < 32; i++)
		snprintf(buf + 2 * i, len - 2 * i, "%02x", v.sha[i]);
	return 64;
}

/* --- directory versions --------------------------------------------------- */

int version_dir_commit(struct fs *fs, uint64_t dir, uint32_t uid, uint32_t pid)
{
	struct meta_batch *b = meta_batch_new();
	struct inode *din = NULL;
	struct vrec v = { .time = fs_now(), .complete = 1, .uid = uid, .pid = pid };
	uint64_t files;
	uint32_t last = 0;
	int rc = b ? 0 : -ENOMEM;

	fs_proc_comm(pid, v.comm);
	pthread_rwlock_wrlock(&fs->ns);
	space_defer_begin();	/* the frozen tree's references count once committed */
	if (rc == 0)
		rc = inode_get(fs, dir, &din);
	if (rc == 0 && (!S_ISDIR(din->attr.mode) || din->attr.policy != META_AREA_CHECKPOINT ||
			(din->attr.flags & META_IF_READONLY)))
		rc = -EINVAL;
	if (rc == 0)
		rc = ver_last(fs, dir, &last);
	if (rc == 0)
		rc = snapshot_tree_freeze(fs, dir, b, &v.vino, &files, &v.size);
	if (rc == 0) {
		ver_rec_put(b, dir, last + 1, &v);
		VER_PUBLISH(fs, committed, fs, b, v.vino, pid, uid, 0);
		rc = tier_sync(fs->tiers[TIER_HOT]);
	}
	if (rc == 0)
		rc = fs_commit(fs, b, true);
	space_defer_end(fs, rc == 0);
	if (rc == 0)
		dirver_prune(fs, dir, din->parent);
	pthread_rwlock_unlock(&fs->ns);
	if (rc == 0)
		log_info("directory %llu: version %u committed (%llu files, %llu bytes)",
			 (unsigned long long)dir, last + 1, (unsigned long long)files,
			 (unsigned long long)v.size);
	else if (access_refusal(rc))
		log_debug("directory %llu: commit of a directory version refused: %s",
			  (unsigned long long)dir, strerror(-rc));
	else
		log_err("directory %llu: commit of a directory version failed: %s",
			(unsigned long long)dir, strerror(-rc));
	if (din)
		inode_put(fs, din);
	meta_batch_free(b);
	return rc;
}

int version_dir_drop_all(struct fs *fs, struct meta_batch *b, uint64_t dir,
			 struct inode ***held, size_t *nheld)
{
	struct vlist *l;
	int rc;

	*held = NULL;
	*nheld = 0;
	l = ver_list_load(fs, dir, &rc);
	for (size_t i = 0; l && rc == 0 && i < l->count; i++) {
		struct inode **h;
		size_t nh;

		ver_rec_del(b, dir, l->n[i], l->v[i].vino);
		VER_PUBLISH(fs, dir_dropped, fs, b, l->v[i].vino);
		rc = snapshot_tree_drop(fs, l->v[i].vino, b, &h, &nh);
		if (nh) {
			struct inode **all = realloc(*held, (*nheld + nh) * sizeof(*all));

			if (all) {
				memcpy(all + *nheld, h, nh * sizeof(*h));
				*held = all;
				*nheld += nh;
			}
		}
		free(h);
	}
	ver_list_free(l);
	return rc;
}

bool dirver_is_version(struct fs *fs, const struct inode *in, uint64_t *dir, uint32_t *n)
{
	uint64_t d;
	uint32_t k;

	if (!S_ISDIR(in->attr.mode) || !(in->attr.flags & META_IF_SNAPSHOT) ||
	    version_owner(fs, in->ino, &d, &k) < 0)
		return false;
	if (dir)
		*dir = d;
	if (n)
		*n = k;
	return true;
}

bool dirver_held(struct fs *fs, uint64_t dir)
{
	return version_file_held(fs, dir);	/* the same records, by version inode */
}

void dirver_prune(struct fs *fs, uint64_t dir, uint64_t parent)
{
	unsigned keep = fs->opt.keep_versions, every = fs->opt.keep_every;
	struct inode **held = NULL;
	size_t nheld = 0, excess, newest = SIZE_MAX, dropped = 0;
	struct meta_batch *b;
	struct vlist *l;
	int rc = 0;

	ver_retain_of(fs, parent, &keep, &every);
	if (!keep)
		return;
	l = ver_list_load(fs, dir, &rc);
	if (!l)
		return;
	b = meta_batch_new();
	space_defer_begin();	/* the dropped trees' data is counted until committed */
	/* as for files: the last KEEP stay; of the older ones, those held,
	 * every K-th and the newest complete one stay too */
	excess = l->count > keep ? l->count - keep : 0;
	for (size_t i = 0; i < l->count; i++)
		if (l->v[i].complete)
			newest = i;
	for (size_t i = 0; b && rc == 0 && i < excess; i++) {
		struct inode **h = NULL;
		size_t nh = 0;

		if (i == newest || (every && l->n[i] % every == 0) || ver_held(fs, l->v[i].vino))
			continue;
		ver_rec_del(b, dir, l->n[i], l->v[i].vino);
		VER_PUBLISH(fs, dir_dropped, fs, b, l->v[i].vino);
		rc = snapshot_tree_drop(fs, l->v[i].vino, b, &h, &nh);
		if (nh) {
			struct inode **all = realloc(held, (nheld + nh) * sizeof(*all));

			if (all) {
				memcpy(all + nheld, h, nh * sizeof(*h));
				held = all;
				nheld += nh;
			} else {
				for (size_t j = 0; j < nh; j++)
					inode_put(fs, h[j]);
			}
		}
		free(h);
		dropped++;
	}
	if (b && rc == 0 && dropped)
		rc = fs_commit(fs, b, false);
	space_defer_end(fs, b && rc == 0);
	if (rc < 0)
		log_err("directory %llu: pruning its versions failed: %s",
			(unsigned long long)dir, strerror(-rc));
	for (size_t i = 0; i < nheld; i++)
		inode_put(fs, held[i]);
	for (size_t i = 0; rc == 0 && i < excess; i++) {
		if (i == newest || (every && l->n[i] % every == 0) || ver_held(fs, l->v[i].vino))
			continue;
		VER_PUBLISH(fs, pruned, dir, l->n[i], l->v[i].vino);
	}
	free(held);
	meta_batch_free(b);
	ver_list_free(l);
}
