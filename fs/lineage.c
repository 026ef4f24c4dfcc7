/* lineage.c — automatic lineage: what a job read (its attachment to what
 * the job commits: linattach.c).
 *
 * Capture.  At each open for reading of a file in a dataset area (live
 * tree or snapshot) or of a checkpoint version, the file's source is found
 * from the parent links the kernel's lookups left in memory: a snapshot
 * (its root), a live dataset tree (the directory just below the top of the
 * dataset area) or a checkpoint version (its inode; reading a checkpoint
 * file by its name reads its newest complete version).  Then the opening
 * process's job (linjob.c).  A (job, source) pair
 * new to this mount is described once (paths, tag, SHA-256) and kept as
 * one 'U' record, not synced: it only matters when the job commits, and
 * that commit's batch carries it.
 *
 * Live trees change while they are read, so a live source also has a
 * content state: how many distinct (file, content) pairs the job opened
 * there and the sum modulo 2^256 of their SHA-256 at open (a job that read
 * every file once can be checked against a manifest of the tree).
 *
 * Records (keys big-endian; values start with record version 1):
 *   'U' job-id(16) | source(17) -> 1 | flags u8 | files u64 | sum[32] | JSON
 *   'Z' vino                    -> 1 | header-len u32 | header JSON |
 *                                  { source(17) | len u32 | 'U' value }...
 * A source key is kind u8 ('s' snapshot root, 'd' live dataset directory,
 * 'v' version inode) | ino u64 | 0 u64.
 *
 * Lock order: lin_lock is a leaf, never held across meta/ calls or inode
 * locks.  Jobs (linjob.c) live until unmount.
 */
#include "fs/lineage.h"
#include "fs/path.h"
#include "fs/lineage_priv.h"
#include "fs/inode.h"
#include "fs/content.h"
#include "fs/version.h"
#include "fs/snapshot.h"
#include "meta/keys.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define FILES_MAX	(1u << 20)	/* live (file, content) pairs remembered */
#define NOTES		1024

struct fentry {
	const struct ljob *job;		/* NULL: free slot */
	uint64_t ino, gen;
};

struct note {
	uint64_t ino, dir;
	char *name;
};

/* Under lin_lock. */
static struct {
	struct fentry *files;
	size_t nfiles, fcap;
	struct note notes[NOTES];
} L;

pthread_once_t lin_boot_once = PTHREAD_ONCE_INIT;

/* --- sources ------------------------------------------------------------- */

static struct lsrc *src_find(struct ljob *j, const uint8_t *key)
{
	for (size_t i = 0; i < j->nsrc; i++)
		if (!memcmp(j->src[i].key, key, LIN_SRC_KEY))
			return &j->src[i];
	return NULL;
}

/* Source key of IN (referenced) into KEY; -ENOENT if IN is no source. */
static int source_key(struct fs *fs, struct inode *in, uint8_t key[LIN_SRC_KEY])
{
	struct meta_inode a, pa;
	uint64_t cur = in->ino, p, below = 0;
	struct vrec v;
	bool sess;
	int depth = 0;

	pthread_rwlock_rdlock(&in->lock);
	a = in->attr;
	p = in->parent;
	sess = version_in_session(fs, in);
	pthread_rwlock_unlock(&in->lock);
	memset(key, 0, LIN_SRC_KEY);
	if (a.flags & META_IF_VERSION) {
		key[0] = 'v';
	} else if ((a.flags & META_IF_SNAPSHOT) && meta_ino_is_snap(cur)) {
		/* a file of an epoch snapshot names its root */
		if (snapshot_root_of(fs, cur, &cur) < 0)
			return -ENOENT;
		key[0] = 's';
	} else if (a.flags & META_IF_SNAPSHOT) {
		/* up to the root of the frozen tree: a snapshot or a
		 * directory version */
		while (!(a.flags & META_IF_SNAPROOT)) {
			if (!p || (p & FS_VIRT_BIT) || ++depth > 4096)
				return -ENOENT;
			cur = p;
			if (fs_ino_parent(fs, cur, &p, &a) < 0)
				return -ENOENT;
		}
		key[0] = a.policy == META_AREA_CHECKPOINT ? 'v' : 's';
	} else if (version_tracked(in)) {
		if (sess || version_get(fs, in->ino, 0, &v, NULL) < 0)
			return -ENOENT;
		key[0] = 'v';
		cur = v.vino;
	} else if (a.policy == META_AREA_DATASET && content_tracked(in)) {
		/* the directory just below the top of the dataset area */
		cur = p;
		if (!cur || (cur & FS_VIRT_BIT) || fs_ino_parent(fs, cur, &p, &pa) < 0)
			return -ENOENT;
		while (p && !(p & FS_VIRT_BIT) && ++depth < 4096) {
			struct meta_inode ga;
			uint64_t gp;

			if (fs_ino_parent(fs, p, &gp, &ga) < 0 || ga.policy != META_AREA_DATASET)
				break;
			below = cur;
			cur = p;
			p = gp;
		}
		key[0] = 'd';
		cur = below ? below : cur;
	} else {
		return -ENOENT;
	}
	key_put_u64(key + 1, cur);
	return 0;
}

/* Mount-relative path of checkpoint file OWNER into BUF; VPARENT is the
 * last known parent of the version read (its FILE@vN directory). */
static int file_path(struct fs *fs, uint64_t owner, uint64_t vparent, char *buf, size_t len)
{
	char name[META_NAME_MAX + 1] = "", dir[4096];
	struct inode *o = inode_peek(fs, owner);
	uint64_t d = 0;
	int rc;

	if (o) {
		pthread_rwlock_rdlock(&o->lock);
		if (!version_last_name(fs, o, &d, name, sizeof(name)) || !d) {
			d = o->parent;
			name[0] = 0;
		}
		pthread_rwlock_unlock(&o->lock);
		inode_put(fs, o);
	}
	if (!d && vparent && !(vparent & FS_VIRT_BIT))
		d = vparent;
	pthread_mutex_lock(&lin_lock);
	if (!d && L.notes[owner % NOTES].ino == owner && L.notes[owner % NOTES].name) {
		d = L.notes[owner % NOTES].dir;
		snprintf(name, sizeof(name), "%s", L.notes[owner % NOTES].name);
	}
	pthread_mutex_unlock(&lin_lock);
	if (!d || (d & FS_VIRT_BIT))
		return -ENOENT;
	if (!name[0] && (rc = fs_name_in(fs, d, owner, name)) < 0)
		return rc;
	rc = fs_dir_path(fs, d, dir, sizeof(dir));
	if (rc == 0 && snprintf(buf, len, "%s%s%s", dir, dir[0] ? "/" : "", name) >= (int)len)
		rc = -ENAMETOOLONG;
	return rc;
}

/* JSON description of source KEY, first read through IN (referenced). */
static char *src_describe(struct fs *fs, const uint8_t *key, struct inode *in)
{
	uint64_t ino = key_get_u64(key + 1), owner, ds;
	char path[4096], when[40], now[40], tag[META_NAME_MAX + 1];
	struct snapinfo si;
	struct meta_inode oa;
	struct vrec v;
	struct sb s = { 0 };
	uint32_t n;
	int rc;

	lin_iso(fs_now(), now, sizeof(now));
	if (key[0] == 's') {
		rc = snapshot_find_root(fs, ino, &ds, tag, sizeof(tag), &si);
		if (rc == 0)
			rc = fs_dir_path(fs, ds, path, sizeof(path));
		if (rc < 0)
			goto fail;
		lin_iso(si.time, when, sizeof(when));
		sb_add(&s, "{\"kind\": \"snapshot\", \"dataset\": ");
		sb_str(&s, path);
		sb_add(&s, ", \"snapshot\": ");
		sb_str(&s, tag);
		sb_printf(&s, ", \"taken\": \"%s\", \"files\": %llu, \"bytes\": %llu", when,
			  (unsigned long long)si.files, (unsigned long long)si.bytes);
	} else if (key[0] == 'd') {
		rc = fs_dir_path(fs, ino, path, sizeof(path));
		if (rc < 0)
			goto fail;
		sb_add(&s, "{\"kind\": \"live\", \"dataset\": ");
		sb_str(&s, path);
		sb_add(&s, ", \"snapshot\": \"live\"");
	} else {
		rc = version_owner(fs, ino, &owner, &n);
		if (rc == 0)
			rc = version_get(fs, owner, n, &v, NULL);
		if (rc == 0)
			rc = meta_inode_get(fs->meta, owner, &oa);
		if (rc < 0)
			goto fail;
		rc = S_ISDIR(oa.mode) ? fs_dir_path(fs, owner, path, sizeof(path)) :
			file_path(fs, owner, in->ino == ino ? in->parent : 0, path, sizeof(path));
		lin_iso(v.time, when, sizeof(when));
		sb_add(&s, "{\"kind\": \"version\", \"path\": ");
		if (rc == 0)
			sb_str(&s, path);
		else
			sb_add(&s, "null");
		sb_printf(&s, ", \"version\": %u, \"type\": \"%s\", \"sha256\": ", n,
			  S_ISDIR(oa.mode) ? "directory" : "file");
		lin_sha(&s, S_ISDIR(oa.mode) ? NULL : v.sha);
		sb_printf(&s, ", \"size\": %llu, \"committed\": \"%s\"",
			  (unsigned long long)v.size, when);
	}
	sb_printf(&s, ", \"first_read\": \"%s\"}", now);
	return sb_take(&s);
fail:
	log_notice("lineage: source %c%llu cannot be described: %s", key[0],
		   (unsigned long long)ino, strerror(-rc));
	return NULL;
}

/* Store (job J, source S) as its 'U' record into B. */
void lin_src_put(struct meta_batch *b, const struct ljob *j, const struct lsrc *s)
{
	size_t jl = strlen(s->json);
	uint8_t k[LIN_JOB_ID + LIN_SRC_KEY], *v = malloc(LIN_SRC_HDR + jl);

	if (!v)
		return;
	memcpy(k, j->id, LIN_JOB_ID);
	memcpy(k + LIN_JOB_ID, s->key, LIN_SRC_KEY);
	lin_src_encode(v, s->flags, s->files, s->sum);
	memcpy(v + LIN_SRC_HDR, s->json, jl);
	meta_rec_put(b, LIN_REC_SRC, k, sizeof(k), v, LIN_SRC_HDR + jl);
	meta_rec_put(b, LIN_REC_JOB, j->id, LIN_JOB_ID, j->rec, LIN_JOB_REC);
	free(v);
}

/* --- pruning ------------------------------------------------------------- */

static atomic_ulong pruned_jobs, pruned_sources;

struct prune {
	struct meta *m;
	struct meta_batch *b;
	unsigned long jobs, sources;
};

static int prune_src(void *ctx, const void *key, size_t klen, const void *val, size_t vlen)
{
	struct prune *p = ctx;

	(void)val;
	(void)vlen;
	meta_rec_del(p->b, LIN_REC_SRC, key, klen);
	p->sources++;
	return 0;
}

static int prune_job(void *ctx, const void *key, size_t klen, const void *val, size_t vlen)
{
	struct prune *p = ctx;

	if (klen != LIN_JOB_ID || !lin_job_ended(val, vlen))
		return 0;
	meta_rec_del(p->b, LIN_REC_JOB, key, klen);
	p->jobs++;
	return meta_rec_foreach(p->m, LIN_REC_SRC, key, klen, prune_src, p);
}

void lineage_prune(struct fs *fs)
{
	struct prune p = { .m = fs->meta, .b = meta_batch_new() };
	int rc = p.b ? 0 : -ENOMEM;

	pthread_once(&lin_boot_once, lin_boot_init);
	if (rc == 0)
		rc = meta_rec_foreach(fs->meta, LIN_REC_JOB, NULL, 0, prune_job, &p);
	if (rc == 0 && p.jobs)
		rc = meta_batch_commit(fs->meta, p.b, false);
	meta_batch_free(p.b);
	if (rc < 0) {
		log_err("lineage: the records of ended jobs could not be pruned: %s", strerror(-rc));
		return;
	}
	atomic_store(&pruned_jobs, p.jobs);
	atomic_store(&pruned_sources, p.sources);
	if (p.jobs)
		log_info("lineage: pruned the sources of %lu ended jobs (%lu records)", p.jobs,
			 p.sources);
}

void lineage_pruned(unsigned long *jobs, unsigned long *sources)
{
	*jobs = atomic_load(&pruned_jobs);
	*sources = atomic_load(&pruned_sources);
}

/* A source new to job J, described by JSON (taken): remember it, store it. */
static void src_add_json(struct fs *fs, struct ljob *j, const uint8_t *key, char *json)
{
	struct meta_batch *b;
	struct lsrc copy;
	bool added = false;

	if (!json)
		return;
	pthread_mutex_lock(&lin_lock);
	if (!src_find(j, key) && (j->nsrc < j->cap || lin_grow((void **)&j->src, &j->cap,
							      sizeof(*j->src)) == 0)) {
		struct lsrc *s = &j->src[j->nsrc++];

		memset(s, 0, sizeof(*s));
		memcpy(s->key, key, LIN_SRC_KEY);
		s->json = json;
		copy = *s;
		added = true;
	}
	pthread_mutex_unlock(&lin_lock);
	if (!added) {
		free(json);
		return;
	}
	b = meta_batch_new();
	if (b) {
		lin_src_put(b, j, &copy);
		if (fs_commit(fs, b, false) < 0)
			log_warn("lineage: a source of job %02x%02x%02x%02x could not be stored",
				 j->id[0], j->id[1], j->id[2], j->id[3]);
		meta_batch_free(b);
	}
}

/* A source new to job J, first read through IN: describe it, remember it,
 * store it. */
static void src_add(struct fs *fs, struct ljob *j, const uint8_t *key, struct inode *in)
{
	src_add_json(fs, j, key, src_describe(fs, key, in));
}

/* --- live (file, content) pairs ------------------------------------------ */

static size_t fhash(const struct ljob *j, uint64_t ino, uint64_t gen, size_t cap)
{
	uint64_t h = (uint64_t)(uintptr_t)j * 0x9e3779b97f4a7c15ull ^ ino * 0xc2b2ae3d27d4eb4full ^
		     gen * 0x165667b19e3779f9ull;

	h ^= h >> 29;
	return (size_t)(h & (cap - 1));
}

/* Add (J, INO, GEN) to the set: 1 if added, 0 if present, -ENOSPC / -ENOMEM. */
static int fset_add(const struct ljob *j, uint64_t ino, uint64_t gen, bool probe_only)
{
	size_t i;

	if (L.fcap) {
		for (i = fhash(j, ino, gen, L.fcap); L.files[i].job; i = (i + 1) & (L.fcap - 1))
			if (L.files[i].job == j && L.files[i].ino == ino && L.files[i].gen == gen)
				return 0;
	}
	if (probe_only)
		return 1;
	if ((L.nfiles + 1) * 2 > L.fcap) {
		size_t cap = L.fcap ? L.fcap * 2 : 4096;
		struct fentry *f;

		if (L.nfiles + 1 > FILES_MAX)
			return -ENOSPC;
		f = calloc(cap, sizeof(*f));
		if (!f)
			return -ENOMEM;
		for (size_t k = 0; k < L.fcap; k++) {
			if (!L.files[k].job)
				continue;
			for (i = fhash(L.files[k].job, L.files[k].ino, L.files[k].gen, cap); f[i].job;
			     i = (i + 1) & (cap - 1))
				;
			f[i] = L.files[k];
		}
		free(L.files);
		L.files = f;
		L.fcap = cap;
	}
	for (i = fhash(j, ino, gen, L.fcap); L.files[i].job; i = (i + 1) & (L.fcap - 1))
		;
	L.files[i] = (struct fentry){ j, ino, gen };
	L.nfiles++;
	return 1;
}

/* Live file IN read by job J: fold its content into source KEY's state
 * the first time J opens it with this content. */
static void live_file(struct fs *fs, struct ljob *j, const uint8_t *key, struct inode *in)
{
	uint8_t sha[32];
	uint64_t gen;
	struct lsrc *s;
	int rc;

	pthread_rwlock_rdlock(&in->lock);
	gen = in->attr.generation;
	pthread_rwlock_unlock(&in->lock);
	pthread_mutex_lock(&lin_lock);
	rc = fset_add(j, in->ino, gen, true);
	pthread_mutex_unlock(&lin_lock);
	if (rc == 0)
		return;
	pthread_rwlock_wrlock(&in->lock);	/* may load the map and hash */
	rc = content_sha(fs, in, sha);
	gen = in->attr.generation;
	pthread_rwlock_unlock(&in->lock);
	if (rc < 0) {
		log_warn("lineage: inode %llu: no content hash for the live state: %s",
			 (unsigned long long)in->ino, strerror(-rc));
		return;
	}
	pthread_mutex_lock(&lin_lock);
	s = src_find(j, key);
	rc = s ? fset_add(j, in->ino, gen, false) : 0;
	if (rc == 1) {
		s->files++;
		lin_sum_add(s->sum, sha);
	} else if (rc < 0 && s) {
		s->flags |= LIN_PARTIAL;
	}
	pthread_mutex_unlock(&lin_lock);
}

/* --- the interface ------------------------------------------------------- */

void lineage_open(struct fs *fs, fuse_req_t req, struct inode *in, int flags)
{
	const struct fuse_ctx *ctx = req ? fuse_req_ctx(req) : NULL;

	lineage_read(fs, ctx ? ctx->pid : 0, ctx ? ctx->uid : 0, in, flags);
}

void lineage_read(struct fs *fs, uint32_t pid, uint32_t uid, struct inode *in, int flags)
{
	uint8_t key[LIN_SRC_KEY];
	struct ljob *j;
	bool have;

	if ((fs->opt.lineage_off && !(fs->opt.cold_after_days > 0)) ||
	    (flags & O_ACCMODE) == O_WRONLY || !S_ISREG(in->attr.mode) ||
	    source_key(fs, in, key) < 0)
		return;
	if (key[0] == 's')
		snapshot_used(fs, key_get_u64(key + 1));	/* for cold_after_days */
	if (fs->opt.lineage_off || !pid)
		return;
	pthread_once(&lin_boot_once, lin_boot_init);
	j = lin_job_of(pid, uid, false);
	if (!j)
		return;
	pthread_mutex_lock(&lin_lock);
	have = src_find(j, key) != NULL;
	pthread_mutex_unlock(&lin_lock);
	if (!have)
		src_add(fs, j, key, in);
	if (key[0] == 'd')
		live_file(fs, j, key, in);
}

int lineage_source_of(struct fs *fs, struct inode *in, uint8_t key[LINEAGE_SRC_KEY], char **json)
{
	if (!S_ISREG(in->attr.mode) || source_key(fs, in, key) < 0)
		return -ENOENT;
	if (!json)
		return 0;
	*json = src_describe(fs, key, in);
	return *json ? 0 : -ENOENT;
}

void lineage_remote_read(struct fs *fs, uint32_t uid, const char *name, const char *cmdline,
			 const uint8_t key[LINEAGE_SRC_KEY], const char *json, uint64_t file)
{
	struct inode *in;
	struct ljob *j;
	bool have;

	if (fs->opt.lineage_off || !name[0])
		return;
	pthread_once(&lin_boot_once, lin_boot_init);
	j = lin_named_job(uid, name, cmdline);
	if (!j)
		return;
	pthread_mutex_lock(&lin_lock);
	have = src_find(j, key) != NULL;
	pthread_mutex_unlock(&lin_lock);
	if (!have && json)
		src_add_json(fs, j, key, strdup(json));
	if (key[0] == 'd' && file && inode_get(fs, file, &in) == 0) {
		live_file(fs, j, key, in);
		inode_put(fs, in);
	}
}

void lineage_note_name(uint64_t ino, uint64_t dir, const char *name)
{
	struct note *n = &L.notes[ino % NOTES];
	char *copy;

	pthread_mutex_lock(&lin_lock);
	if (n->ino != ino || n->dir != dir || !n->name || strcmp(n->name, name)) {
		copy = strdup(name);
		if (copy) {
			free(n->name);
			n->name = copy;
			n->ino = ino;
			n->dir = dir;
		}
	}
	pthread_mutex_unlock(&lin_lock);
}
