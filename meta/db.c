/* db.c — the RocksDB plumbing of meta/ (see db.h): options, open and
 * close, error mapping, batches, point reads and prefix iteration.
 *
 * Memory: a 32 MiB block cache that also holds index and filter blocks,
 * and at most two 32 MiB memtables, so RocksDB stays near 100 MiB of the
 * daemon's 256 MiB whatever the size of the store.
 *
 * Thread safety: rocksdb_t is thread-safe and the read and write options
 * kept in struct meta are never modified after meta_open.  Iterations use
 * their own read options, since each carries its own bound.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <rocksdb/c.h>

#include "meta/db.h"
#include "meta/records.h"
#include "tier/failpoint.h"
#include "tier/log.h"

/* The ids of space log records being committed (see meta_space_log_stable). */
#define LOG_INFLIGHT_MAX	256

struct meta {
	rocksdb_t *db;
	rocksdb_readoptions_t *ropt;	/* point reads */
	rocksdb_writeoptions_t *wopt;	/* commits: WAL, no sync */
	rocksdb_writeoptions_t *wsync;	/* commits: WAL, synced */
	pthread_mutex_t log_lock;	/* the space log's ids: */
	pthread_cond_t log_cond;	/* a slot of inflight came free */
	bool log_ready;			/* log_next read from the store */
	uint64_t log_next;		/* the next id to give */
	uint64_t inflight[LOG_INFLIGHT_MAX];	/* given, not yet committed or given up */
	unsigned ninflight;
	uint64_t logged;		/* changes logged since the open */
	bool readonly;
	struct hist *hist;		/* epoch snapshots (history.c) */
};

struct meta_batch {
	rocksdb_writebatch_t *wb;
	struct space_delta *d;		/* reference count changes (meta_space_delta) */
	size_t nd, capd;
	struct hist_batch h;
};

/* Log RocksDB error ERR (freed here) about WHAT; return its errno. */
static int db_fail(const char *what, char *err)
{
	int rc = -EIO;

	/* RocksDB reports a held LOCK file with either message, depending
	 * on whether this process or another one holds it. */
	if (strstr(err, "While lock file") || strstr(err, "lock hold by") ||
	    strstr(err, "Resource busy"))
		rc = -EBUSY;
	else if (strstr(err, "does not exist (create_if_missing is false)"))
		rc = -ENOENT;
	else if (strstr(err, "No space left on device"))
		rc = -ENOSPC;
	else if (strstr(err, "Read-only file system"))
		rc = -EROFS;
	log_err("meta: %s: %s", what, err);
	rocksdb_free(err);
	return rc;
}

/* Build into END the smallest key above every key that starts with
 * PREFIX; return its length, or 0 when PREFIX is all 0xff (no such key:
 * every key at or past PREFIX then starts with it). */
static size_t db_prefix_end(uint8_t *end, const uint8_t *prefix, size_t plen)
{
	memcpy(end, prefix, plen);
	while (plen > 0 && end[plen - 1] == 0xff)
		plen--;
	if (plen > 0)
		end[plen - 1]++;
	return plen;
}

/* --- open, close, batches --------------------------------------------- */

static bool open_readonly;	/* set by meta_open_readonly for one call */
static bool open_shipped;	/* set by meta_open_shipped for one call */

int meta_open_shipped(const char *dir, struct meta **out)
{
	int rc;

	open_shipped = true;
	rc = meta_open(dir, false, out);
	open_shipped = false;
	return rc;
}

int meta_open_readonly(const char *dir, struct meta **out)
{
	int rc;

	open_readonly = true;
	rc = meta_open(dir, false, out);
	open_readonly = false;
	return rc;
}

int meta_open(const char *dir, bool create, struct meta **out)
{
	rocksdb_options_t *opt = rocksdb_options_create();
	rocksdb_block_based_table_options_t *tbl = rocksdb_block_based_options_create();
	rocksdb_lru_cache_options_t *co = rocksdb_lru_cache_options_create();
	rocksdb_cache_t *cache;
	struct meta *m = calloc(1, sizeof(*m));
	char *err = NULL;
	int rc = 0;

	/* Two shards, not the default 64: an entry larger than its shard is
	 * never kept, and the bloom filter of a large table (one per table,
	 * about 1.2 bytes per key) would be read back from disk and checked
	 * on every lookup -- 100,000 lookups of a snapshot took 25 s so. */
	rocksdb_lru_cache_options_set_capacity(co, 64u << 20);
	rocksdb_lru_cache_options_set_num_shard_bits(co, 1);
	cache = rocksdb_cache_create_lru_opts(co);
	rocksdb_lru_cache_options_destroy(co);
	if (!m) {
		rc = -ENOMEM;
		goto out;
	}
	/* Memory stays bounded: index and filter blocks are charged to the
	 * 64 MiB block cache instead of growing with the number of tables,
	 * and at most two 16 MiB memtables exist. */
	rocksdb_block_based_options_set_block_cache(tbl, cache);
	rocksdb_block_based_options_set_filter_policy(tbl,
						      rocksdb_filterpolicy_create_bloom_full(10));
	rocksdb_block_based_options_set_cache_index_and_filter_blocks(tbl, 1);
	rocksdb_block_based_options_set_pin_l0_filter_and_index_blocks_in_cache(tbl, 1);
	rocksdb_options_set_block_based_table_factory(opt, tbl);
	rocksdb_options_set_create_if_missing(opt, create);
	rocksdb_options_set_write_buffer_size(opt, 16u << 20);
	rocksdb_options_set_max_write_buffer_number(opt, 2);
	rocksdb_options_set_max_open_files(opt, 512);
	/* Recent levels churn and are small: compress only the last one. */
	rocksdb_options_set_compression(opt, rocksdb_no_compression);
	rocksdb_options_set_bottommost_compression(opt, rocksdb_lz4_compression);
	rocksdb_options_set_level_compaction_dynamic_level_bytes(opt, 1);
	/* RocksDB's own LOG: warnings and up (InfoLogLevel 2 is WARN_LEVEL;
	 * c.h has no name for it), a few small files. */
	rocksdb_options_set_info_log_level(opt, 2);
	rocksdb_options_set_keep_log_file_num(opt, 4);
	rocksdb_options_set_max_log_file_size(opt, 4u << 20);
	/* Shipped metadata: write-ahead logs are kept a while after they are
	 * obsolete, so that meta_updates finds what was not shipped yet. */
	if (open_shipped) {
		rocksdb_options_set_WAL_ttl_seconds(opt, 3600);
		rocksdb_options_set_WAL_size_limit_MB(opt, 256);
	}

	m->db = open_readonly ? rocksdb_open_for_read_only(opt, dir, 0, &err) :
				rocksdb_open(opt, dir, &err);
	if (err) {
		rc = db_fail(dir, err);
		goto out;
	}
	pthread_mutex_init(&m->log_lock, NULL);
	pthread_cond_init(&m->log_cond, NULL);
	m->readonly = open_readonly;
	m->ropt = rocksdb_readoptions_create();
	m->wopt = rocksdb_writeoptions_create();
	m->wsync = rocksdb_writeoptions_create();
	rocksdb_writeoptions_set_sync(m->wopt, 0);
	rocksdb_writeoptions_set_sync(m->wsync, 1);
	rc = hist_open(m);
	if (rc) {
		log_err("meta: cannot read the epoch snapshots of %s: %s", dir, strerror(-rc));
		meta_close(m);
		m = NULL;
		goto out;
	}
	*out = m;
	m = NULL;
out:
	free(m);
	/* The DB holds its own references to the options and the cache. */
	rocksdb_cache_destroy(cache);
	rocksdb_block_based_options_destroy(tbl);
	rocksdb_options_destroy(opt);
	return rc;
}

void meta_close(struct meta *m)
{
	if (!m)
		return;
	if (!m->readonly) {
		/* the memtables into tables now: the next open need not replay
		 * (and flush) the write-ahead log, which is what made a mount
		 * after a busy one slow */
		rocksdb_flushoptions_t *fo = rocksdb_flushoptions_create();
		char *err = NULL;

		rocksdb_flushoptions_set_wait(fo, 1);
		rocksdb_flush(m->db, fo, &err);
		rocksdb_flushoptions_destroy(fo);
		if (err) {
			log_warn("meta: flush at close: %s (the next open replays the log)", err);
			rocksdb_free(err);
		}
	}
	rocksdb_close(m->db);
	hist_close(m->hist);
	rocksdb_readoptions_destroy(m->ropt);
	rocksdb_writeoptions_destroy(m->wopt);
	rocksdb_writeoptions_destroy(m->wsync);
	pthread_mutex_destroy(&m->log_lock);
	pthread_cond_destroy(&m->log_cond);
	free(m);
}

int meta_sync(struct meta *m)
{
	char *err = NULL;
	int rc = failpoint("meta_sync", EIO);

	if (rc < 0)
		return rc;
	rocksdb_flush_wal(m->db, 1, &err);
	return err ? db_fail("sync", err) : 0;
}

/* NULL if out of memory. */
struct meta_batch *meta_batch_new(void)
{
	struct meta_batch *b = calloc(1, sizeof(*b));

	if (b)
		b->wb = rocksdb_writebatch_create();
	return b;
}

void meta_batch_free(struct meta_batch *b)
{
	if (!b)
		return;
	rocksdb_writebatch_destroy(b->wb);
	free(b->d);
	free(b->h.kept);
	free(b->h.dropped);
	hist_batch_moves_free(&b->h);
	free(b);
}

void meta_batch_clear(struct meta_batch *b)
{
	rocksdb_writebatch_clear(b->wb);
	b->nd = 0;
	b->h.change = 0;
	b->h.nkept = 0;
	b->h.ndropped = 0;
	hist_batch_moves_free(&b->h);
}

struct hist **db_hist(struct meta *m)
{
	return &m->hist;
}

struct hist_batch *db_batch_hist(struct meta_batch *b)
{
	return &b->h;
}

void db_batch_iterate(struct meta_batch *b, void *ctx,
		      void (*put)(void *ctx, const char *k, size_t klen, const char *v, size_t vlen),
		      void (*del)(void *ctx, const char *k, size_t klen))
{
	rocksdb_writebatch_iterate(b->wb, ctx, put, del);
}

size_t db_batch_nd(const struct meta_batch *b)
{
	return b->nd;
}

void db_batch_set_nd(struct meta_batch *b, size_t nd)
{
	b->nd = nd;
}

void db_batch_mark(struct meta_batch *b)
{
	rocksdb_writebatch_set_save_point(b->wb);
}

void db_batch_unmark(struct meta_batch *b, bool undo)
{
	char *err = NULL;

	if (undo)
		rocksdb_writebatch_rollback_to_save_point(b->wb, &err);
	else
		rocksdb_writebatch_pop_save_point(b->wb, &err);
	if (err) {
		log_err("meta: batch save point: %s", err);
		rocksdb_free(err);
	}
}

void meta_space_delta(struct meta_batch *b, const struct tier_ref *r, int delta)
{
	if (b->nd == SIZE_MAX)
		return;
	if (b->nd == b->capd) {
		size_t cap = b->capd ? b->capd * 2 : 16;
		struct space_delta *v = realloc(b->d, cap * sizeof(*v));

		if (!v) {
			/* the log would lie: B's commit fails (ENOMEM) instead */
			b->nd = SIZE_MAX;
			return;
		}
		b->d = v;
		b->capd = cap;
	}
	b->d[b->nd++] = (struct space_delta){ .tier = r->tier, .seg = r->seg, .off = r->off,
					      .len = r->stored_len, .delta = (int8_t)delta };
}

static int log_ready_locked(struct meta *m)
{
	uint8_t lo[1] = { META_REC_SPACE_LOG }, hi[1] = { META_REC_SPACE_LOG + 1 };
	uint8_t key[KEY_MAX];
	uint64_t epoch, end = 0;
	size_t klen;
	int rc;

	if (m->log_ready)
		return 0;
	/* past the last record, and past what a compaction took in (which
	 * deleted those records): an id is never given twice */
	rc = meta_space_mark_get(m, &epoch, &end);
	if (rc < 0 && rc != -ENOENT)
		return rc;
	m->log_next = end + 1;
	rc = db_last_key(m, "space log", lo, 1, hi, 1, key, &klen);
	if (rc < 0 && rc != -ENOENT)
		return rc;
	if (rc == 0 && key[0] == META_REC_SPACE_LOG && klen == 9 &&
	    key_get_u64(key + 1) >= m->log_next)
		m->log_next = key_get_u64(key + 1) + 1;
	m->log_ready = true;
	return 0;
}

int meta_space_log_stable(struct meta *m, uint64_t *last)
{
	int rc;

	pthread_mutex_lock(&m->log_lock);
	rc = log_ready_locked(m);
	if (rc == 0) {
		uint64_t low = m->log_next;

		for (unsigned i = 0; i < m->ninflight; i++)
			if (m->inflight[i] < low)
				low = m->inflight[i];
		*last = low - 1;
	}
	pthread_mutex_unlock(&m->log_lock);
	return rc;
}

static void inflight_drop(struct meta *m, uint64_t id)
{
	pthread_mutex_lock(&m->log_lock);
	for (unsigned i = 0; i < m->ninflight; i++)
		if (m->inflight[i] == id) {
			m->inflight[i] = m->inflight[--m->ninflight];
			break;
		}
	pthread_cond_signal(&m->log_cond);
	pthread_mutex_unlock(&m->log_lock);
}

/* Put B's reference count changes in B as one space log record under a
 * new id (into *ID; 0 if B has none).  The id stays in flight until the
 * commit is done, so that no compaction of the log passes it. */
static int log_append(struct meta *m, struct meta_batch *b, uint64_t *id)
{
	uint8_t k[9], *v;
	size_t n;
	int rc;

	*id = 0;
	if (b->nd == 0)
		return 0;
	if (b->nd == SIZE_MAX)
		return -ENOMEM;
	v = malloc(1 + b->nd * SPACE_DELTA_LEN);
	if (!v)
		return -ENOMEM;
	pthread_mutex_lock(&m->log_lock);
	rc = log_ready_locked(m);
	while (rc == 0 && m->ninflight == LOG_INFLIGHT_MAX)
		pthread_cond_wait(&m->log_cond, &m->log_lock);
	if (rc == 0) {
		*id = m->log_next++;
		m->inflight[m->ninflight++] = *id;
	}
	pthread_mutex_unlock(&m->log_lock);
	if (rc < 0) {
		free(v);
		return rc;
	}
	n = meta_space_log_encode(b->d, b->nd, v);
	k[0] = META_REC_SPACE_LOG;
	key_put_u64(k + 1, *id);
	rocksdb_writebatch_set_save_point(b->wb);
	rocksdb_writebatch_put(b->wb, (const char *)k, sizeof(k), (const char *)v, n);
	free(v);
	return 0;
}

int meta_batch_commit(struct meta *m, struct meta_batch *b, bool sync)
{
	char *err = NULL;
	uint64_t id;
	size_t nlogged;
	int rc = failpoint("meta_commit", EIO);

	if (rc < 0)
		return rc;
	rc = hist_commit_begin(m, b);
	if (rc < 0)
		return rc;
	nlogged = b->nd;	/* history's own +1 included */
	rc = log_append(m, b, &id);
	if (rc < 0) {
		log_err("meta: commit: cannot log the reference count changes: %s", strerror(-rc));
		hist_commit_end(m, b, false);
		return rc;
	}
	rocksdb_write(m->db, sync ? m->wsync : m->wopt, b->wb, &err);
	if (id) {
		char *e2 = NULL;

		/* the record goes with the batch: a retry logs it anew */
		if (err) {
			rocksdb_writebatch_rollback_to_save_point(b->wb, &e2);
		} else {
			rocksdb_writebatch_pop_save_point(b->wb, &e2);
			b->nd = 0;	/* logged: a commit again changes no count */
		}
		if (e2)
			rocksdb_free(e2);
		inflight_drop(m, id);
		if (!err)
			__atomic_add_fetch(&m->logged, nlogged, __ATOMIC_RELAXED);
	}
	hist_commit_end(m, b, !err);
	return err ? db_fail("commit", err) : 0;
}

uint64_t meta_space_log_count(struct meta *m)
{
	return __atomic_load_n(&m->logged, __ATOMIC_RELAXED);
}

void db_batch_put(struct meta_batch *b, const uint8_t *k, size_t klen,
		  const void *v, size_t vlen)
{
	rocksdb_writebatch_put(b->wb, (const char *)k, klen, v, vlen);
}

void db_batch_del(struct meta_batch *b, const uint8_t *k, size_t klen)
{
	rocksdb_writebatch_delete(b->wb, (const char *)k, klen);
}

void db_batch_del_range(struct meta_batch *b, const uint8_t *lo, size_t lolen,
			const uint8_t *hi, size_t hilen)
{
	rocksdb_writebatch_delete_range(b->wb, (const char *)lo, lolen, (const char *)hi, hilen);
}

void db_batch_put_kind(struct meta_batch *b, uint8_t kind, const void *key, size_t klen,
		       const void *v, size_t vlen)
{
	const char *kp[2] = { (const char *)&kind, key };
	size_t ks[2] = { 1, klen };
	const char *vp = v;

	rocksdb_writebatch_putv(b->wb, 2, kp, ks, 1, &vp, &vlen);
}

void db_batch_del_kind(struct meta_batch *b, uint8_t kind, const void *key, size_t klen)
{
	const char *kp[2] = { (const char *)&kind, key };
	size_t ks[2] = { 1, klen };

	rocksdb_writebatch_deletev(b->wb, 2, kp, ks);
}

/* --- point reads ------------------------------------------------------- */

int db_get_pinned(struct meta *m, const uint8_t *k, size_t klen, struct db_pinned *p)
{
	char *err = NULL;

	p->ps = rocksdb_get_pinned(m->db, m->ropt, (const char *)k, klen, &err);
	if (err)
		return db_fail("get", err);
	if (!p->ps)
		return -ENOENT;
	p->v = (const uint8_t *)rocksdb_pinnableslice_value(p->ps, &p->len);
	return 0;
}

void db_unpin(struct db_pinned *p)
{
	rocksdb_pinnableslice_destroy(p->ps);
}

int db_get_copy(struct meta *m, const uint8_t *k, size_t klen, void **val, size_t *len)
{
	struct db_pinned p;
	char *copy;
	int rc = db_get_pinned(m, k, klen, &p);

	if (rc)
		return rc;
	copy = malloc(p.len + 1);
	if (copy) {
		memcpy(copy, p.v, p.len);
		copy[p.len] = '\0';
		*val = copy;
		*len = p.len;
	}
	db_unpin(&p);
	return copy ? 0 : -ENOMEM;
}

/* The lower bound keeps the backward seek from wandering past LOWER into
 * whatever sorts before it when no key lies in between. */
int db_prev_key(struct meta *m, const char *what, const uint8_t *lower, size_t lowlen,
		const uint8_t *at, size_t alen, uint8_t *key, size_t cap, size_t *klen)
{
	rocksdb_readoptions_t *ro = rocksdb_readoptions_create();
	rocksdb_iterator_t *it;
	char *err = NULL;
	int rc = -ENOENT;

	rocksdb_readoptions_set_iterate_lower_bound(ro, (const char *)lower, lowlen);
	it = rocksdb_create_iterator(m->db, ro);
	rocksdb_iter_seek_for_prev(it, (const char *)at, alen);
	if (rocksdb_iter_valid(it)) {
		const char *k = rocksdb_iter_key(it, klen);

		memcpy(key, k, *klen < cap ? *klen : cap);
		rc = 0;
	} else {
		rocksdb_iter_get_error(it, &err);
		if (err)
			rc = db_fail(what, err);
	}
	rocksdb_iter_destroy(it);
	rocksdb_readoptions_destroy(ro);
	return rc;
}

int db_last_key(struct meta *m, const char *what, const uint8_t *lower, size_t lowlen,
		const uint8_t *at, size_t alen, uint8_t *key, size_t *klen)
{
	return db_prev_key(m, what, lower, lowlen, at, alen, key, KEY_MAX, klen);
}

/* --- prefix iteration -------------------------------------------------- */

static __thread bool bulk_scan;

void meta_bulk_scan(bool on)
{
	bulk_scan = on;
}

int db_cur_open(struct db_cursor *c, struct meta *m, const uint8_t *prefix, size_t plen,
		const uint8_t *start, size_t slen)
{
	size_t elen;

	c->end = plen <= sizeof(c->end_buf) ? c->end_buf : malloc(plen);
	if (!c->end)
		return -ENOMEM;
	c->ro = rocksdb_readoptions_create();
	elen = db_prefix_end(c->end, prefix, plen);
	if (elen > 0)
		rocksdb_readoptions_set_iterate_upper_bound(c->ro, (const char *)c->end, elen);
	if (bulk_scan) {	/* read once: keep the block cache for what is read again */
		rocksdb_readoptions_set_fill_cache(c->ro, 0);
		rocksdb_readoptions_set_readahead_size(c->ro, 2u << 20);
	}
	c->it = rocksdb_create_iterator(m->db, c->ro);
	rocksdb_iter_seek(c->it, (const char *)start, slen);
	c->started = false;
	c->backward = false;
	c->low = NULL;
	return 0;
}

int db_cur_open_rev(struct db_cursor *c, struct meta *m, const uint8_t *prefix, size_t plen)
{
	size_t elen;

	c->end = plen <= sizeof(c->end_buf) ? c->end_buf : malloc(plen);
	c->low = malloc(plen ? plen : 1);
	if (!c->end || !c->low) {
		if (c->end != c->end_buf)
			free(c->end);
		free(c->low);
		return -ENOMEM;
	}
	memcpy(c->low, prefix, plen);
	c->ro = rocksdb_readoptions_create();
	/* both bounds: the backward walk stops at the prefix's first key */
	rocksdb_readoptions_set_iterate_lower_bound(c->ro, (const char *)c->low, plen);
	elen = db_prefix_end(c->end, prefix, plen);
	if (elen > 0)
		rocksdb_readoptions_set_iterate_upper_bound(c->ro, (const char *)c->end, elen);
	c->it = rocksdb_create_iterator(m->db, c->ro);
	rocksdb_iter_seek_to_last(c->it);
	c->started = false;
	c->backward = true;
	return 0;
}

bool db_cur_next(struct db_cursor *c)
{
	if (c->started && c->backward)
		rocksdb_iter_prev(c->it);
	else if (c->started)
		rocksdb_iter_next(c->it);
	c->started = true;
	if (!rocksdb_iter_valid(c->it))
		return false;
	c->k = (const uint8_t *)rocksdb_iter_key(c->it, &c->klen);
	c->v = (const uint8_t *)rocksdb_iter_value(c->it, &c->vlen);
	return true;
}

int db_cur_close(struct db_cursor *c, int rc)
{
	char *err = NULL;

	if (rc == 0) {
		rocksdb_iter_get_error(c->it, &err);
		if (err)
			rc = db_fail("iterate", err);
	}
	rocksdb_iter_destroy(c->it);
	rocksdb_readoptions_destroy(c->ro);
	if (c->end != c->end_buf)
		free(c->end);
	free(c->low);
	return rc;
}

/* --- shipping --------------------------------------------------------- */

uint64_t meta_seq(struct meta *m)
{
	return rocksdb_get_latest_sequence_number(m->db);
}

int meta_checkpoint(struct meta *m, const char *dir, uint64_t *seq)
{
	rocksdb_checkpoint_t *cp;
	char *err = NULL;

	*seq = rocksdb_get_latest_sequence_number(m->db);
	cp = rocksdb_checkpoint_object_create(m->db, &err);
	if (err)
		return db_fail("checkpoint", err);
	/* 0: flush the memtables, so that the copy needs no log replayed */
	rocksdb_checkpoint_create(cp, dir, 0, &err);
	rocksdb_checkpoint_object_destroy(cp);
	return err ? db_fail("checkpoint", err) : 0;
}

int meta_updates(struct meta *m, uint64_t from,
		 int (*fn)(void *ctx, uint64_t seq, uint32_t count, const void *rep, size_t len),
		 void *ctx)
{
	rocksdb_wal_iterator_t *it;
	char *err = NULL;
	int rc = 0;

	it = rocksdb_get_updates_since(m->db, from, NULL, &err);	/* default options */
	if (err) {
		log_err("meta: updates since %llu: %s", (unsigned long long)from, err);
		rocksdb_free(err);
		return -ENOENT;
	}
	for (; rc == 0 && rocksdb_wal_iter_valid(it); rocksdb_wal_iter_next(it)) {
		uint64_t seq;
		rocksdb_writebatch_t *wb = rocksdb_wal_iter_get_batch(it, &seq);
		size_t len;
		const char *rep = rocksdb_writebatch_data(wb, &len);

		rc = fn(ctx, seq, (uint32_t)rocksdb_writebatch_count(wb), rep, len);
		rocksdb_writebatch_destroy(wb);
	}
	if (rc == 0) {
		rocksdb_wal_iter_status(it, &err);
		if (err) {
			log_err("meta: updates since %llu: %s", (unsigned long long)from, err);
			rocksdb_free(err);
			rc = -ENOENT;
		}
	}
	rocksdb_wal_iter_destroy(it);
	return rc < 0 ? rc : 0;
}

struct key_cb {
	void (*fn)(void *ctx, const void *key, size_t klen);
	void *ctx;
};

static void wb_put(void *state, const char *k, size_t klen, const char *v, size_t vlen)
{
	struct key_cb *c = state;

	(void)v;
	(void)vlen;
	c->fn(c->ctx, k, klen);
}

static void wb_del(void *state, const char *k, size_t klen)
{
	struct key_cb *c = state;

	c->fn(c->ctx, k, klen);
}

static void epoch_put(void *state, const char *k, size_t klen, const char *v, size_t vlen)
{
	(void)v;
	(void)vlen;
	if (klen && k[0] == META_REC_EPOCH)
		*(bool *)state = true;
}

static void epoch_del(void *state, const char *k, size_t klen)
{
	epoch_put(state, k, klen, NULL, 0);
}

/* Epoch snapshots made or dropped by the writer: read them again. */
static void epochs_applied(struct meta *m, rocksdb_writebatch_t *wb)
{
	bool any = false;

	rocksdb_writebatch_iterate(wb, &any, epoch_put, epoch_del);
	if (any)
		hist_reload(m);
}

int meta_apply_keys(struct meta *m, const void *rep, size_t len,
		    void (*fn)(void *ctx, const void *key, size_t klen), void *ctx)
{
	rocksdb_writebatch_t *wb = rocksdb_writebatch_create_from(rep, len);
	struct key_cb c = { fn, ctx };
	char *err = NULL;

	rocksdb_write(m->db, m->wopt, wb, &err);
	if (!err && fn)
		rocksdb_writebatch_iterate(wb, &c, wb_put, wb_del);
	if (!err)
		epochs_applied(m, wb);
	rocksdb_writebatch_destroy(wb);
	return err ? db_fail("apply", err) : 0;
}

int meta_apply(struct meta *m, const void *rep, size_t len)
{
	rocksdb_writebatch_t *wb = rocksdb_writebatch_create_from(rep, len);
	char *err = NULL;

	rocksdb_write(m->db, m->wopt, wb, &err);
	if (!err)
		epochs_applied(m, wb);
	rocksdb_writebatch_destroy(wb);
	return err ? db_fail("apply", err) : 0;
}
