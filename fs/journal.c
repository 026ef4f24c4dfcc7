/* journal.c — journal areas: append-only files and a signed Merkle log.
 *
 * In a journal area a file is created, then written only at its end; its
 * last writer's close seals it.  Until its retention ends (and while a
 * legal hold is on it), it cannot be truncated, unlinked, renamed, or have
 * its mode, owner, times or attributes changed.  Retention is measured on
 * a monotonic clock that the store persists, so setting the system time
 * forward releases nothing.
 *
 * Every create, write and seal is a leaf of an RFC 6962 Merkle tree: a
 * JSON line kept in a 'J' seq record.  Every N leaves or T seconds, and at
 * unmount, the tree head is signed with the store's Ed25519 key as a
 * C2SP checkpoint note ('K' size record); the newest one is readable at
 * MOUNT/.aifs/audit/checkpoint, and each new one is queued for the
 * -o audit_witness command (witness.c).  `aifsctl audit verify` recomputes
 * all of it with only the public key.
 */
#include "fs/journal_priv.h"
#include "fs/inode.h"
#include "fs/data.h"
#include "fs/content.h"
#include "fs/journal.h"
#include "fs/path.h"
#include "fs/hooks.h"
#include "fs/lineage.h"
#include "fs/witness.h"
#include "meta/keys.h"
#include "tier/failpoint.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* The caller's identity.  The command name is read from /proc once per
 * process and second on each worker thread, not once per record. */
void journal_who(fuse_req_t req, struct leaf *l, char *comm)
{
	static __thread uint32_t last_pid;
	static __thread int64_t last_time;
	static __thread char last_comm[16];
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	int64_t now = journal_boottime();

	l->uid = ctx->uid;
	l->pid = ctx->pid;
	if ((uint32_t)ctx->pid != last_pid || now - last_time > 1000000000) {
		fs_proc_comm(ctx->pid, last_comm);
		last_pid = ctx->pid;
		last_time = now;
	}
	memcpy(comm, last_comm, 16);
	l->comm = comm;
}

static int clock_save(struct fs *fs, struct meta_batch *b)
{
	uint8_t v[8];

	key_put_u64(v, (uint64_t)journal_mono_now(fs->journal));
	meta_rec_put(b, REC_C, "clock", 5, v, 8);
	return 0;
}

/* Sign the current tree head if it grew since the last signature. */
static int checkpoint(struct fs *fs)
{
	struct journal *j = fs->journal;
	struct meta_batch *b;
	uint8_t root[32], k[8];
	char *note = NULL;
	uint64_t size;
	int rc;

	uint8_t state[MERKLE_STATE_MAX];
	size_t slen;

	pthread_mutex_lock(&j->lock);
	size = merkle_size(&j->tree);
	if (size == j->signed_size || !j->key) {
		pthread_mutex_unlock(&j->lock);
		return 0;
	}
	rc = merkle_root(&j->tree, root);
	if (rc == 0)
		rc = note_sign(j->key, j->name, j->origin, size, root, time(NULL), &note);
	slen = merkle_serialize(&j->tree, state);
	pthread_mutex_unlock(&j->lock);
	b = rc == 0 ? meta_batch_new() : NULL;
	if (b) {
		key_put_u64(k, size);
		meta_rec_put(b, REC_K, k, 8, note, strlen(note));
		/* the tree at this head: the next mount reads only the records
		 * after it (tree_load) */
		meta_rec_put(b, REC_C, "tree", 4, state, slen);
		clock_save(fs, b);
		rc = fs_commit(fs, b, true);
		meta_batch_free(b);
	} else if (rc == 0) {
		rc = -ENOMEM;
	}
	if (rc == 0) {
		pthread_mutex_lock(&j->lock);
		if (size > j->signed_size)
			j->signed_size = size;
		pthread_mutex_unlock(&j->lock);
		witness_post(j->witness, size, note);	/* queued: never waits for CMD */
	} else {
		log_err("audit: signing the checkpoint at %llu records failed: %s",
			(unsigned long long)size, strerror(-rc));
	}
	free(note);
	return rc;
}

static void flush_dirty(struct fs *fs);

static void *checkpointer(void *arg)
{
	struct fs *fs = arg;
	struct journal *j = fs->journal;
	struct timespec until;

	uint64_t last = UINT64_MAX;

	pthread_mutex_lock(&j->lock);
	while (!j->stop) {
		bool due = merkle_size(&j->tree) + j->npending - j->signed_size >=
			   fs->opt.audit_leaves;

		/* records still due after a round that signed: another round at
		 * once; otherwise (nothing due, or a round that could not sign)
		 * wait for the count, the time, or the stop */
		if (!due || j->signed_size == last) {
			clock_gettime(CLOCK_REALTIME, &until);
			until.tv_sec += fs->opt.audit_secs;
			pthread_cond_timedwait(&j->cond, &j->lock, &until);
		}
		last = j->signed_size;
		pthread_mutex_unlock(&j->lock);
		flush_dirty(fs);
		checkpoint(fs);
		pthread_mutex_lock(&j->lock);
	}
	pthread_mutex_unlock(&j->lock);
	return NULL;
}

static int replay(void *ctx, const void *key, size_t klen, const void *val, size_t vlen)
{
	struct journal *j = ctx;
	uint8_t h[32];
	int rc;

	if (klen != 8 || key_get_u64(key) != merkle_size(&j->tree)) {
		log_err("audit: log record %llu out of sequence (expected %llu)",
			klen == 8 ? (unsigned long long)key_get_u64(key) : 0ull,
			(unsigned long long)merkle_size(&j->tree));
		return -EIO;
	}
	rc = merkle_leaf_hash(val, vlen, h);
	return rc ? rc : merkle_append(&j->tree, h);
}

static int last_signed(void *ctx, const void *key, size_t klen, const void *val, size_t vlen)
{
	(void)val;
	(void)vlen;
	if (klen == 8)
		((struct journal *)ctx)->signed_size = key_get_u64(key);
	return 1;		/* the newest: the walk goes backward */
}

/* The tree as of the newest signed checkpoint, kept with it: the records
 * before it need not be read again.  True if J's tree is that state, whose
 * root the checkpoint, checked with the store's key, signs; false (J's
 * tree empty) if there is none or it does not match, and then every
 * record is read. */
static bool tree_load(struct fs *fs, struct journal *j, const char *vkey)
{
	uint8_t k[8], root[32], mine[32];
	uint64_t size;
	void *v = NULL, *note = NULL;
	size_t len, nlen;
	bool ok = false;

	if (!vkey || !j->signed_size ||
	    meta_rec_get(fs->meta, REC_C, "tree", 4, &v, &len) < 0)
		return false;
	key_put_u64(k, j->signed_size);
	if (merkle_deserialize(&j->tree, v, len) == 0 &&
	    merkle_size(&j->tree) == j->signed_size &&
	    meta_rec_get(fs->meta, REC_K, k, 8, &note, &nlen) == 0 &&
	    note_verify(vkey, note, NULL, &size, root, NULL) == 0 && size == j->signed_size &&
	    merkle_root(&j->tree, mine) == 0 && !memcmp(mine, root, 32))
		ok = true;
	if (!ok) {
		log_notice("audit: the tree kept with the checkpoint at %llu records does not match "
			   "it: every record is read", (unsigned long long)j->signed_size);
		merkle_init(&j->tree);
	}
	free(v);
	free(note);
	return ok;
}

/* Keep J's tree (at the newest signed checkpoint) for the next mount. */
static void tree_keep(struct fs *fs, struct journal *j)
{
	uint8_t state[MERKLE_STATE_MAX];
	size_t slen = merkle_serialize(&j->tree, state);
	struct meta_batch *b = meta_batch_new();

	if (!b)
		return;
	meta_rec_put(b, REC_C, "tree", 4, state, slen);
	if (fs_commit(fs, b, false) < 0)
		log_warn("audit: the tree of the log could not be kept: the next mount reads "
			 "every record again");
	meta_batch_free(b);
}

int journal_init(struct fs *fs)
{
	struct journal *j = calloc(1, sizeof(*j));
	char *kp = NULL, *vkey = NULL;
	void *v;
	size_t len;
	struct timespec now;
	int rc;

	if (!j)
		return -ENOMEM;
	fs->journal = j;
	pthread_mutex_init(&j->lock, NULL);
	pthread_mutex_init(&j->retention_lock, NULL);
	pthread_cond_init(&j->cond, NULL);
	merkle_init(&j->tree);
	snprintf(j->name, sizeof(j->name), "aifs-%.8s", fs->store->uuid);
	snprintf(j->origin, sizeof(j->origin), "aifs/%s", fs->store->uuid);
	if (meta_rec_get(fs->meta, REC_C, "clock", 5, &v, &len) == 0) {
		if (len == 8)
			j->mono_base = (int64_t)key_get_u64(v);
		free(v);
	}
	j->boot0 = journal_boottime();
	clock_gettime(CLOCK_REALTIME, &now);
	j->wall0 = (int64_t)now.tv_sec * 1000000000 + now.tv_nsec;
	if (asprintf(&kp, "%s/audit.key", fs->store->path) < 0)
		return -ENOMEM;
	rc = note_key_load(kp, &j->key);
	if (rc == 0)
		rc = note_vkey(j->key, j->name, &vkey);
	if (rc < 0)
		log_warn("audit: no usable signing key %s (%s): journal checkpoints are not "
			 "signed", kp, strerror(-rc));
	free(kp);
	rc = meta_rec_foreach_rev(fs->meta, REC_K, NULL, 0, last_signed, j);
	if (rc >= 0) {
		uint8_t start[8];

		/* the records after the newest checkpoint's tree, or all */
		bool kept = tree_load(fs, j, vkey);

		key_put_u64(start, merkle_size(&j->tree));
		rc = meta_rec_foreach_from(fs->meta, REC_J, NULL, 0, start, 8, replay, j);
		if (rc >= 0 && !kept && j->signed_size && merkle_size(&j->tree) == j->signed_size &&
		    !fs->opt.store_ro)
			tree_keep(fs, j);	/* read in full once: the next mount need not */
	}
	free(vkey);
	return rc < 0 ? rc : 0;
}

int journal_start(struct fs *fs)
{
	struct journal *j = fs->journal;
	int rc;

	if (fs->opt.audit_witness) {
		rc = witness_start(fs->opt.audit_witness, &j->witness);
		if (rc < 0)
			log_err("audit witness: thread not started (%s): checkpoints are not "
				"handed to '%s'", strerror(-rc), fs->opt.audit_witness);
	}
	rc = -pthread_create(&j->thread, NULL, checkpointer, fs);
	j->running = rc == 0;
	return rc;
}

void journal_stop(struct fs *fs)
{
	struct journal *j = fs->journal;
	struct meta_batch *b;

	if (!j)
		return;
	if (j->running) {
		pthread_mutex_lock(&j->lock);
		j->stop = true;
		pthread_cond_signal(&j->cond);
		pthread_mutex_unlock(&j->lock);
		pthread_join(j->thread, NULL);
	}
	if (!fs->opt.store_ro) {
		flush_dirty(fs);
		checkpoint(fs);
	}
	witness_stop(j->witness);	/* after the last checkpoint is posted */
	j->witness = NULL;
	b = fs->opt.store_ro ? NULL : meta_batch_new();
	if (b) {
		clock_save(fs, b);
		fs_commit(fs, b, true);
		meta_batch_free(b);
	}
	note_key_free(j->key);
	free(j->pend_hash);
	sb_free(&j->rec);
	free(j);
	fs->journal = NULL;
}

struct jfile *jfile_of(struct fs *fs, struct inode *in, bool make)
{
	void **slot = fs_slot(fs, in, "journal");

	if (slot && !*slot && make)
		*slot = calloc(1, sizeof(struct jfile));
	return slot ? *slot : NULL;
}

void jfile_free(struct inode *in, void *slot)
{
	struct jfile *jf = slot;

	(void)in;
	if (jf) {
		free(jf->path);
		free(jf->pend);
		free(jf);
	}
}

static void remember_writer(struct fs *fs, struct inode *in, const struct leaf *l)
{
	struct jfile *jf = jfile_of(fs, in, true);

	if (!jf)
		return;		/* the seal names its releaser */
	jf->uid = l->uid;
	jf->pid = l->pid;
	memcpy(jf->comm, l->comm, sizeof(jf->comm));
}

void journal_created(fuse_req_t req, struct inode *in)
{
	struct leaf l;
	char comm[16];

	journal_who(req, &l, comm);
	remember_writer(fuse_req_userdata(req), in, &l);
}

int journal_check_write(struct inode *in, uint64_t off)
{
	if (in->attr.flags & META_IF_SEALED)
		return -EPERM;		/* sealed at its last close */
	if (off != in->attr.size)
		return -EPERM;		/* journal files are only appended to */
	return 0;
}

/* IN has one more unstored record: make sure the checkpointer stores it
 * in time (every audit_checkpoint_records records or seconds). */
static void note_pending(struct fs *fs, struct inode *in, const struct jfile *jf)
{
	struct journal *jr = fs->journal;
	struct inode *ref;

	pthread_mutex_lock(&jr->lock);
	if (jf->n == 1 && (ref = inode_peek(fs, in->ino))) {
		if (jr->ndirty == jr->capdirty) {
			size_t cap = jr->capdirty ? jr->capdirty * 2 : 16;
			struct inode **v = realloc(jr->dirty, cap * sizeof(*v));

			if (v) {
				jr->dirty = v;
				jr->capdirty = cap;
			}
		}
		if (jr->ndirty < jr->capdirty)
			jr->dirty[jr->ndirty++] = ref;
		else
			inode_put(fs, ref);	/* stored at its close or when full */
	}
	jr->npending++;
	/* once, when the unsigned records reach the count: the checkpointer
	 * goes on without waiting while more are due (a signal per write
	 * past it cost writers a wake-up each) */
	if (merkle_size(&jr->tree) + jr->npending - jr->signed_size == fs->opt.audit_leaves)
		pthread_cond_signal(&jr->cond);
	pthread_mutex_unlock(&jr->lock);
}

/* Store the buffered writes (and so the records) of every journal file
 * that has unstored records. */
static void flush_dirty(struct fs *fs)
{
	struct journal *jr = fs->journal;
	struct inode **v;
	size_t n;

	pthread_mutex_lock(&jr->lock);
	v = jr->dirty;
	n = jr->ndirty;
	jr->dirty = NULL;
	jr->ndirty = jr->capdirty = 0;
	pthread_mutex_unlock(&jr->lock);
	for (size_t i = 0; i < n; i++) {
		struct jfile *jf;

		pthread_rwlock_wrlock(&v[i]->lock);
		jf = jfile_of(fs, v[i], false);
		if (jf && jf->n && fs_flush(fs, v[i]) < 0)
			log_err("audit: storing the writes of %s failed",
				jf->path ? jf->path : "?");
		pthread_rwlock_unlock(&v[i]->lock);
		inode_put(fs, v[i]);
	}
	free(v);
}

/* The first write of a job to IN: the lineage of the job (the checkpoint
 * versions and snapshots it read) becomes the file's, with a "lineage"
 * record of its SHA-256 in the signed log, in one batch.  A failure is
 * logged by lineage.c and costs the write nothing. */
static void journal_lineage(struct fs *fs, struct inode *in, const char *path,
			    const struct leaf *w)
{
	struct meta_batch *b = meta_batch_new();
	uint8_t sha[32];
	struct leaf l = { .op = "lineage", .uid = w->uid, .pid = w->pid, .comm = w->comm,
			  .path = path ? path : "?", .ino = in->ino, .sha = sha };

	if (b && lineage_journal(fs, b, in->ino, w->pid, w->uid, sha) == 1) {
		if (journal_leaf_commit(fs, &l, b) < 0)
			lineage_journal_undo(in->ino);
	}
	meta_batch_free(b);
}

int journal_wrote(struct fs *fs, fuse_req_t req, struct inode *in, const char *buf,
		  size_t size, uint64_t off)
{
	struct jfile *jf = jfile_of(fs, in, true);
	char path[4096], comm[16];
	int64_t sealed;
	struct leaf l;
	struct jleaf *j;

	if (!jf)
		return -ENOMEM;
	if (!jf->path) {	/* cached while the inode is loaded */
		if (journal_path_load(fs, in->ino, path, sizeof(path), &sealed) < 0)
			snprintf(path, sizeof(path), "?%llu", (unsigned long long)in->ino);
		jf->path = strdup(path);
	}
	if (jf->n == jf->cap) {
		size_t cap = jf->cap ? jf->cap * 2 : 64;
		struct jleaf *v = realloc(jf->pend, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		jf->pend = v;
		jf->cap = cap;
	}
	j = &jf->pend[jf->n];
	if (EVP_Digest(buf, size, j->sha, NULL, EVP_sha256(), NULL) != 1)
		return -EIO;
	journal_who(req, &l, comm);
	journal_lineage(fs, in, jf->path, &l);
	remember_writer(fs, in, &l);
	j->time = fs_now();
	j->uid = l.uid;
	j->pid = l.pid;
	memcpy(j->comm, comm, sizeof(j->comm));
	j->offset = off;
	j->length = size;
	jf->n++;
	note_pending(fs, in, jf);
	return 0;
}

/* The records of IN's writes whose bytes a commit of IN's buffer stores
 * with the inode: those within its size.  A write being made (recorded,
 * not yet in the buffer: journal_wrote comes first) lies past it. */
static size_t records_stored(const struct jfile *jf, const struct inode *in)
{
	size_t n = 0;

	while (n < jf->n && jf->pend[n].offset + jf->pend[n].length <= in->attr.size)
		n++;
	return n;
}

void journal_unwrote(struct fs *fs, struct inode *in)
{
	struct journal *jr = fs->journal;
	struct jfile *jf = jfile_of(fs, in, false);

	if (!jf || !jf->n)
		return;
	jf->n--;
	pthread_mutex_lock(&jr->lock);
	if (jr->npending)
		jr->npending--;
	pthread_mutex_unlock(&jr->lock);
}

void journal_records_begin(struct fs *fs, struct inode *in, struct meta_batch *b)
{
	struct journal *j = fs->journal;
	struct jfile *jf = jfile_of(fs, in, false);
	size_t n = jf ? records_stored(jf, in) : 0;

	pthread_mutex_lock(&j->lock);	/* held until journal_records_end */
	j->pend_n = n;
	j->pend_short = false;
	if (j->pend_cap < n) {
		uint8_t (*h)[32] = realloc(j->pend_hash, n * sizeof(*h));

		if (!h)
			return;		/* end sees pend_cap short: records dropped, logged */
		j->pend_hash = h;
		j->pend_cap = n;
	}
	for (size_t i = 0; i < n; i++) {
		const struct jleaf *p = &jf->pend[i];
		struct leaf l = { .op = "write", .uid = p->uid, .pid = p->pid, .comm = p->comm,
				  .path = jf->path ? jf->path : "?", .ino = in->ino,
				  .offset = p->offset, .length = p->length, .sha = p->sha };

		if (journal_leaf_put(fs, &l, merkle_size(&j->tree) + i, p->time, b,
				     j->pend_hash[i]) < 0) {
			j->pend_n = i;	/* the rest stay pending for the next store */
			j->pend_short = true;
			break;
		}
	}
}

void journal_records_end(struct fs *fs, struct inode *in, int rc)
{
	struct journal *j = fs->journal;
	struct jfile *jf = jfile_of(fs, in, false);
	size_t n = j->pend_n;

	if (j->pend_cap < n) {
		log_err("audit: out of memory: %zu write records of %s lost", n,
			jf && jf->path ? jf->path : "?");
		rc = -ENOMEM;
	}
	if (rc == 0 && j->pend_short)
		in->werr = -ENOMEM;	/* records left pending: the next fsync says so */
	for (size_t i = 0; rc == 0 && i < n; i++)
		merkle_append(&j->tree, j->pend_hash[i]);
	if (rc == 0 && n) {
		jf->n -= n;
		memmove(jf->pend, jf->pend + n, jf->n * sizeof(*jf->pend));
		j->npending = j->npending > n ? j->npending - n : 0;
		if (merkle_size(&j->tree) - j->signed_size >= fs->opt.audit_leaves)
			pthread_cond_signal(&j->cond);
	}
	pthread_mutex_unlock(&j->lock);
}

/* The seal flag on the inode, the seal time and the seal record are one
 * commit: a crash leaves the file sealed with its record, or unsealed
 * without it (and its next writer's last close seals it).  REQ may be
 * NULL (an open whose reply was lost): the record names the last writer. */
int journal_seal(struct fs *fs, fuse_req_t req, struct inode *in)
{
	char path[4096], comm[16];
	uint8_t sha[32];
	int64_t sealed;
	struct meta_batch *b;
	struct leaf l = { .op = "seal", .ino = in->ino, .sha = sha };
	struct jfile *jf = jfile_of(fs, in, false);
	int rc;

	if (in->attr.flags & META_IF_SEALED)
		return 0;
	rc = fs_flush(fs, in);
	if (rc == 0)
		rc = content_hash_now(fs, in, sha);
	if (rc < 0)
		return rc;
	if (journal_path_load(fs, in->ino, path, sizeof(path), &sealed) < 0)
		snprintf(path, sizeof(path), "?%llu", (unsigned long long)in->ino);
	if (req)
		journal_who(req, &l, comm);
	if ((jf && jf->pid) || !req) {	/* sealed at a release: name the writer */
		l.uid = jf ? jf->uid : 0;
		l.pid = jf ? jf->pid : 0;
		l.comm = jf ? jf->comm : "";
	}
	l.path = path;
	l.length = in->attr.size;
	b = meta_batch_new();
	if (!b)
		return -ENOMEM;
	journal_path_put(b, in->ino, path, journal_mono_now(fs->journal));
	in->attr.flags |= META_IF_SEALED;
	inode_save(b, in);
	rc = failpoint("journal_seal", EIO);
	if (rc == 0)
		rc = journal_leaf_commit(fs, &l, b);
	else
		log_err("audit: sealing %s failed: %s", path, strerror(-rc));
	meta_batch_free(b);
	if (rc < 0) {
		in->attr.flags &= ~META_IF_SEALED;	/* not sealed on disk */
		return rc;
	}
	(void)failpoint("journal_sealed", 0);
	return 0;
}

/* The newest signed checkpoint, malloc'd (caller frees); -ENOENT if none. */
int journal_checkpoint_text(struct fs *fs, char **text, size_t *len)
{
	struct journal *j = fs->journal;
	uint8_t k[8];
	void *v;
	int rc;

	if (!fs->opt.store_ro) {
		flush_dirty(fs);
		checkpoint(fs);	/* what a reader sees includes every record so far */
	}
	pthread_mutex_lock(&j->lock);
	key_put_u64(k, j->signed_size);
	pthread_mutex_unlock(&j->lock);
	rc = meta_rec_get(fs->meta, REC_K, k, 8, &v, len);
	if (rc == 0)
		*text = v;
	return rc;
}

void journal_sizes(struct fs *fs, uint64_t *records, uint64_t *signed_size)
{
	struct journal *j = fs->journal;

	pthread_mutex_lock(&j->lock);
	*records = merkle_size(&j->tree);
	*signed_size = j->signed_size;
	pthread_mutex_unlock(&j->lock);
}
