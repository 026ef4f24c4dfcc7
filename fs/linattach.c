/* linattach.c — attaching a job's lineage to what it commits, and the
 * feature's hooks.
 *
 * Attach.  A commit by a process of a job copies the job, the committing
 * process and every source so far into a 'Z' vino record in the commit's
 * own batch, which the caller makes durable (records: lineage.c).  The
 * first write of a job to a journal file does the same for that file.  A
 * restored version takes the lineage of the version it restores; a purged
 * version or snapshot root, or a dropped directory version, loses its own.
 *
 * Layer: feature (lineage), the last of its files: over lineage.c (the
 * sources a job read), linjob.c and linserve.c; called through the hooks
 * (hooks.h), version_events and by the journal.
 */
#include "fs/lineage.h"
#include "fs/commit.h"
#include "fs/hooks.h"
#include "fs/lineage_priv.h"
#include "meta/keys.h"

#include <errno.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

struct gather {
	struct lsrc *v;
	size_t n, cap;
	uint8_t (*mem)[LIN_SRC_KEY];	/* keys of the job's sources in memory, sorted */
	size_t nmem;
	int rc;
};

static int key_cmp(const void *a, const void *b)
{
	return memcmp(a, b, LIN_SRC_KEY);
}

/* Keep a copy of source S unless it is one of the job's in memory (a job's
 * sources are unique in memory and in its stored records, so only those
 * two sets can overlap: a binary search, not a scan per source). */
static void gather_add(struct gather *g, const uint8_t *key, uint8_t flags, uint64_t files,
		       const uint8_t *sum, const char *json, size_t jlen)
{
	struct lsrc *s;

	if (g->nmem && bsearch(key, g->mem, g->nmem, LIN_SRC_KEY, key_cmp))
		return;
	if (g->n == g->cap && lin_grow((void **)&g->v, &g->cap, sizeof(*g->v)) < 0) {
		g->rc = -ENOMEM;
		return;
	}
	s = &g->v[g->n];
	memcpy(s->key, key, LIN_SRC_KEY);
	s->flags = flags;
	s->files = files;
	memcpy(s->sum, sum, 32);
	s->json = strndup(json, jlen);
	if (!s->json)
		g->rc = -ENOMEM;
	else
		g->n++;
}

/* Sources of the job stored by earlier mounts. */
static int gather_cb(void *ctx, const void *key, size_t klen, const void *val, size_t vlen)
{
	const uint8_t *v = val;

	if (klen != LIN_JOB_ID + LIN_SRC_KEY || vlen < LIN_SRC_HDR || v[0] != 1) {
		log_err("lineage: damaged source record (%zu-byte key, %zu-byte value)", klen,
			vlen);
		return 0;
	}
	gather_add(ctx, (const uint8_t *)key + LIN_JOB_ID, v[1], key_get_u64(v + 2), v + 10,
		   (const char *)v + LIN_SRC_HDR, vlen - LIN_SRC_HDR);
	return 0;
}

/* The lineage record of job J (of PID) as of now into VAL, and the job's
 * dataset sources' state into B: 0 or -errno. */
static int gather_record(struct fs *fs, struct meta_batch *b, struct ljob *j, uint32_t pid,
			 struct sb *val)
{
	struct gather g = { 0 };
	struct sb hdr = { 0 };
	char cmd[2048], now[40];
	int rc;

	pthread_mutex_lock(&lin_lock);
	for (size_t i = 0; i < j->nsrc; i++) {
		struct lsrc *s = &j->src[i];

		gather_add(&g, s->key, s->flags, s->files, s->sum, s->json, strlen(s->json));
	}
	pthread_mutex_unlock(&lin_lock);
	/* in first-read order; their sorted keys tell stored sources apart */
	g.mem = g.rc == 0 && g.n ? malloc(g.n * LIN_SRC_KEY) : NULL;
	for (size_t i = 0; g.mem && i < g.n; i++)
		memcpy(g.mem[i], g.v[i].key, LIN_SRC_KEY);
	if (g.mem) {
		g.nmem = g.n;
		qsort(g.mem, g.nmem, LIN_SRC_KEY, key_cmp);
	} else if (g.rc == 0 && g.n) {
		g.rc = -ENOMEM;
	}
	if (g.rc == 0)
		g.rc = meta_rec_foreach(fs->meta, LIN_REC_SRC, j->id, LIN_JOB_ID, gather_cb, &g);
	lin_cmdline(pid, cmd, sizeof(cmd));
	lin_iso(fs_now(), now, sizeof(now));
	sb_add(&hdr, "{\"job\": ");
	sb_add(&hdr, j->desc);
	sb_printf(&hdr, ", \"writer\": {\"pid\": %u, \"cmdline\": ", pid);
	sb_str(&hdr, cmd);
	sb_printf(&hdr, "}, \"attached\": \"%s\"}", now);
	lin_rec_begin(val, &hdr);
	for (size_t i = 0; g.rc == 0 && i < g.n; i++) {
		lin_rec_source(val, g.v[i].key, g.v[i].flags, g.v[i].files, g.v[i].sum,
			       g.v[i].json);
		if (g.v[i].key[0] == 'd')
			lin_src_put(b, j, &g.v[i]);		/* its state as of now */
	}
	rc = g.rc < 0 ? g.rc : hdr.err || val->err ? -ENOMEM : 0;
	for (size_t i = 0; i < g.n; i++)
		free(g.v[i].json);
	free(g.v);
	free(g.mem);
	free(hdr.p);
	return rc;
}

void lineage_attach(struct fs *fs, struct meta_batch *b, uint32_t pid, uint32_t uid,
		    uint64_t vino)
{
	struct ljob *j;
	struct sb val = { 0 };
	uint8_t k[8];
	int rc;

	if (fs->opt.lineage_off || !pid)
		return;
	pthread_once(&lin_boot_once, lin_boot_init);
	j = lin_job_of(pid, uid, true);
	if (!j)
		return;
	rc = gather_record(fs, b, j, pid, &val);
	if (rc == 0) {
		key_put_u64(k, vino);
		meta_rec_put(b, LIN_REC_LIN, k, 8, val.p, val.len);
	} else {
		log_err("lineage: version inode %llu: its lineage could not be gathered: %s",
			(unsigned long long)vino, strerror(-rc));
	}
	free(val.p);
}

/* Journal files: the job whose lineage each carries, and the writer last
 * seen, so that most writes cost a comparison. */
#define JNOTES	256

static struct {
	uint64_t ino;
	uint32_t pid;
	uint8_t job[LIN_JOB_ID];
} jnotes[JNOTES];

int lineage_journal(struct fs *fs, struct meta_batch *b, uint64_t ino, uint32_t pid, uint32_t uid,
		    uint8_t sha[32])
{
	size_t slot = ino % JNOTES;
	struct sb val = { 0 };
	struct ljob *j;
	uint8_t k[8];
	int rc;

	if (fs->opt.lineage_off || !pid)
		return 0;
	pthread_mutex_lock(&lin_lock);
	rc = jnotes[slot].ino == ino && jnotes[slot].pid == pid;
	pthread_mutex_unlock(&lin_lock);
	if (rc && !lin_is_remote(pid))	/* one thread acts for many hosts' jobs */
		return 0;
	pthread_once(&lin_boot_once, lin_boot_init);
	j = lin_job_of(pid, uid, true);
	if (!j)
		return 0;
	pthread_mutex_lock(&lin_lock);
	rc = jnotes[slot].ino == ino && !memcmp(jnotes[slot].job, j->id, LIN_JOB_ID) ? 1 : 0;
	jnotes[slot].ino = ino;
	jnotes[slot].pid = pid;
	memcpy(jnotes[slot].job, j->id, LIN_JOB_ID);
	pthread_mutex_unlock(&lin_lock);
	if (rc || !j->nsrc)
		return 0;	/* the same job; or one that has read nothing */
	rc = gather_record(fs, b, j, pid, &val);
	if (rc == 0 && EVP_Digest(val.p, val.len, sha, NULL, EVP_sha256(), NULL) != 1)
		rc = -EIO;
	if (rc == 0) {
		key_put_u64(k, ino);
		meta_rec_put(b, LIN_REC_LIN, k, 8, val.p, val.len);
	} else {
		log_err("lineage: journal file %llu: the lineage of its writer could not be "
			"gathered: %s", (unsigned long long)ino, strerror(-rc));
	}
	free(val.p);
	if (rc < 0)
		lineage_journal_undo(ino);
	return rc < 0 ? rc : 1;
}

void lineage_journal_undo(uint64_t ino)
{
	pthread_mutex_lock(&lin_lock);
	if (jnotes[ino % JNOTES].ino == ino)
		jnotes[ino % JNOTES].ino = 0;	/* tried again at the next write */
	pthread_mutex_unlock(&lin_lock);
}

void lineage_copy(struct fs *fs, struct meta_batch *b, uint64_t from, uint64_t to)
{
	uint8_t k[8];
	void *v;
	size_t len;
	int rc;

	key_put_u64(k, from);
	rc = meta_rec_get(fs->meta, LIN_REC_LIN, k, 8, &v, &len);
	if (rc == -ENOENT)
		return;
	if (rc < 0) {
		log_err("lineage: version inode %llu: the lineage of the version it restores "
			"cannot be read: %s", (unsigned long long)to, strerror(-rc));
		return;
	}
	key_put_u64(k, to);
	meta_rec_put(b, LIN_REC_LIN, k, 8, v, len);
	free(v);
}

void lineage_forget(struct meta_batch *b, uint64_t ino)
{
	uint8_t k[8];

	key_put_u64(k, ino);
	meta_rec_del(b, LIN_REC_LIN, k, 8);
}

/* --- hooks into the core ------------------------------------------------ */

/* A version or a snapshot root is purged: its lineage goes with it. */
static void lineage_purge(struct fs *fs, struct inode *in, struct meta_batch *b)
{
	(void)fs;
	if (in->attr.flags & (META_IF_VERSION | META_IF_SNAPROOT))
		lineage_forget(b, in->ino);
}

const struct fs_feature_ops lineage_feature = {
	.name = "lineage",
	.purge = lineage_purge,
	.opened = lineage_open,
};

/* What versions publish (version.h): a new version gets the lineage of the
 * job that saved it (a restored one, that of the version it restores); a
 * dropped directory version takes its lineage along. */
static void lineage_version_committed(struct fs *fs, struct meta_batch *b, uint64_t vino,
				      uint32_t pid, uint32_t uid, uint64_t restored)
{
	if (restored)
		lineage_copy(fs, b, restored, vino);
	else
		lineage_attach(fs, b, pid, uid, vino);
}

static void lineage_version_dropped(struct fs *fs, struct meta_batch *b, uint64_t vino)
{
	(void)fs;
	lineage_forget(b, vino);
}

const struct version_events lineage_version_events = {
	.committed = lineage_version_committed,
	.dir_dropped = lineage_version_dropped,
};
