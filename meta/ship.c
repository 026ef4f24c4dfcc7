/* ship.c — shipping the metadata to the pool, and rebuilding a store from
 * it (see ship.h for the objects and the guarantees).
 */
#include "meta/ship.h"
#include "meta/ship_priv.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tier/log.h"

#define LOG_LIMIT	(64u << 20)	/* log bytes shipped before a new checkpoint */
#define NAME_MAX_LEN	300

struct ship {
	struct store *s;
	struct tier *t;		/* the hot tier, in RADOS: where blobs go */
	uint64_t shipped;	/* last sequence number shipped */
	uint64_t log_bytes;	/* shipped in logs since the checkpoint */
	char *tmp;		/* STORE/ship.tmp: where checkpoints are made */
};

/* ---- small file helpers ---------------------------------------------- */

int ship_file_read(const char *path, void **buf, size_t *len)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC), rc = 0;
	char *b = NULL;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0 || !(b = malloc(st.st_size ? (size_t)st.st_size : 1)))
		rc = b ? -errno : -ENOMEM;
	for (off_t off = 0; rc == 0 && off < st.st_size; ) {
		ssize_t n = pread(fd, b + off, (size_t)(st.st_size - off), off);

		if (n <= 0)
			rc = n < 0 ? -errno : -EIO;
		off += n > 0 ? n : 0;
	}
	close(fd);
	if (rc) {
		free(b);
		return rc;
	}
	*buf = b;
	*len = (size_t)st.st_size;
	return 0;
}

static int file_write(const char *path, const void *buf, size_t len, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode), rc = 0;
	const char *p = buf;

	if (fd < 0)
		return -errno;
	for (size_t off = 0; rc == 0 && off < len; ) {
		ssize_t n = write(fd, p + off, len - off);

		if (n < 0)
			rc = -errno;
		off += n > 0 ? (size_t)n : 0;
	}
	if (rc == 0 && fsync(fd) < 0)
		rc = -errno;
	close(fd);
	return rc;
}

/* Remove the files of the flat directory DIR, then DIR. */
static void dir_remove(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char p[4096];

	if (!d)
		return;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) {
			snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
			unlink(p);
		}
	closedir(d);
	rmdir(dir);
}

static int put_file(struct tier *t, const char *name, const char *path)
{
	void *buf = NULL;
	size_t len = 0;
	int rc = ship_file_read(path, &buf, &len);

	if (rc)
		return rc;
	rc = tier_blob_put(t, name, buf, len);
	free(buf);
	return rc;
}

/* ---- shipping -------------------------------------------------------- */

/* The metadata shipped may only name extents that are in the pool: wait
 * for the writes (and the uploads of a cache) of both tiers. */
static int wait_writes(struct store *s)
{
	int rc = 0;

	for (int i = 0; i < TIER_COUNT; i++) {
		int r = tier_wait_writes(s->tiers[i]);

		rc = rc ? rc : r;
	}
	if (rc)
		log_err("ship: the data written so far is not in the pool yet: %s", strerror(-rc));
	return rc;
}

struct stale {
	struct tier *t;
	char keep[NAME_MAX_LEN];	/* prefix of the names kept ("" : none) */
};

static int remove_stale(void *ctx, const char *name)
{
	struct stale *st = ctx;

	if (!st->keep[0] || strncmp(name, st->keep, strlen(st->keep)))
		tier_blob_remove(st->t, name);
	return 0;
}

/* Ship a new checkpoint of the metadata, then drop the older one and the
 * logs it covers. */
static int ship_checkpoint(struct ship *sh)
{
	char name[NAME_MAX_LEN], path[4096], *man = NULL;
	size_t mlen = 0;
	struct dirent *de;
	struct stale st = { .t = sh->t };
	struct stat sb;
	uint64_t seq;
	FILE *mf;
	DIR *d;
	int rc;

	dir_remove(sh->tmp);
	rc = meta_checkpoint(sh->s->meta, sh->tmp, &seq);
	if (rc == 0)
		rc = wait_writes(sh->s);
	if (rc)
		return rc;
	mf = open_memstream(&man, &mlen);
	d = opendir(sh->tmp);
	if (!mf || !d)
		rc = -ENOMEM;
	while (rc == 0 && (de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof path, "%s/%s", sh->tmp, de->d_name);
		snprintf(name, sizeof name, "c.%016" PRIx64 ".%s", seq, de->d_name);
		rc = stat(path, &sb) < 0 ? -errno : put_file(sh->t, name, path);
		if (rc == 0)
			fprintf(mf, "%s %lld\n", de->d_name, (long long)sb.st_size);
	}
	if (d)
		closedir(d);
	if (mf)
		fclose(mf);
	snprintf(name, sizeof name, "c.%016" PRIx64, seq);
	if (rc == 0)
		rc = tier_blob_put(sh->t, name, man, mlen);
	if (rc == 0) {
		char head[32];

		snprintf(head, sizeof head, "%016" PRIx64 "\n", seq);
		rc = tier_blob_put(sh->t, "head", head, strlen(head));
	}
	free(man);
	dir_remove(sh->tmp);
	if (rc) {
		log_err("ship: checkpoint of the metadata at %" PRIu64 " not shipped: %s", seq,
			strerror(-rc));
		return rc;
	}
	snprintf(st.keep, sizeof st.keep, "c.%016" PRIx64, seq);
	tier_blob_list(sh->t, "c.", remove_stale, &st);
	st.keep[0] = 0;
	tier_blob_list(sh->t, "l.", remove_stale, &st);
	sh->shipped = seq;
	sh->log_bytes = 0;
	log_info("ship: metadata checkpoint at %" PRIu64 " shipped", seq);
	return 0;
}

struct logbuf {
	FILE *f;
	uint64_t upto, first, last;
};

static void put_be(uint8_t *p, uint64_t v, int n)
{
	for (int i = n - 1; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static int collect(void *ctx, uint64_t seq, uint32_t count, const void *rep, size_t len)
{
	struct logbuf *lb = ctx;
	uint8_t h[16];

	if (seq > lb->upto)
		return 1;
	if (seq + count <= lb->last + 1)
		return 0;	/* shipped already */
	if (!lb->first)
		lb->first = seq;
	put_be(h, seq, 8);
	put_be(h + 8, count, 4);
	put_be(h + 12, len, 4);
	if (fwrite(h, 1, sizeof h, lb->f) != sizeof h || fwrite(rep, 1, len, lb->f) != len)
		return -ENOMEM;
	lb->last = seq + count - 1;
	return 0;
}

int ship_step(struct ship *sh)
{
	struct logbuf lb = { .last = sh->shipped };
	char name[NAME_MAX_LEN], *buf = NULL;
	size_t len = 0;
	int rc;

	lb.upto = meta_seq(sh->s->meta);
	if (lb.upto <= sh->shipped)
		return 0;
	if (sh->log_bytes > LOG_LIMIT)
		return ship_checkpoint(sh);
	rc = wait_writes(sh->s);
	if (rc)
		return rc;
	lb.f = open_memstream(&buf, &len);
	if (!lb.f)
		return -ENOMEM;
	rc = meta_updates(sh->s->meta, sh->shipped + 1, collect, &lb);
	fclose(lb.f);
	if (rc == -ENOENT) {
		free(buf);
		log_warn("ship: the metadata logs since %" PRIu64 " are gone: shipping a checkpoint",
			 sh->shipped + 1);
		return ship_checkpoint(sh);
	}
	if (rc == 0 && len) {
		snprintf(name, sizeof name, "l.%016" PRIx64, lb.first);
		rc = tier_blob_put(sh->t, name, buf, len);
	}
	free(buf);
	if (rc) {
		log_err("ship: metadata from %" PRIu64 " not shipped: %s", sh->shipped + 1,
			strerror(-rc));
		return rc;
	}
	sh->shipped = lb.last;
	sh->log_bytes += len;
	return 0;
}

uint64_t ship_shipped(const struct ship *sh)
{
	return sh->shipped;
}

/* The writer's identity, shipped as blob "writer" before anything else of
 * a shipping: a follower that finds another one there follows another
 * writer's metadata, whose sequence numbers are not those it applied.
 * Made anew when the store has none, and when it was a follower's replica
 * (a follow.seq), which mounted read-write becomes the writer. */
static int writer_id(const char *dir, struct tier *t)
{
	char path[4096], seqp[4096], id[40];
	void *buf = NULL;
	size_t len = 0;
	int rc;

	snprintf(path, sizeof path, "%s/writer.id", dir);
	snprintf(seqp, sizeof seqp, "%s/follow.seq", dir);
	if (access(seqp, F_OK) == 0 || ship_file_read(path, &buf, &len) != 0 || len < 8) {
		uint8_t r[16];
		int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);

		if (fd < 0 || read(fd, r, sizeof r) != (ssize_t)sizeof r) {
			if (fd >= 0)
				close(fd);
			return -EIO;
		}
		close(fd);
		for (int i = 0; i < 16; i++)
			snprintf(id + 2 * i, 3, "%02x", r[i]);
		id[32] = '\n';
		rc = file_write(path, id, 33, 0644);
		if (rc == 0 && unlink(seqp) < 0 && errno != ENOENT)
			rc = -errno;
		if (rc)
			return rc;
		log_notice("ship: writer %.32s of %s", id, dir);
	}
	free(buf);
	return put_file(t, "writer", path);
}

void ship_free(struct ship *sh)
{
	if (!sh)
		return;
	free(sh->tmp);
	free(sh);
}

/* ---- recovery -------------------------------------------------------- */

int ship_names_add(void *ctx, const char *name)
{
	struct ship_names *l = ctx;

	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 64;
		char **v = realloc(l->v, cap * sizeof *v);

		if (!v)
			return -ENOMEM;
		l->v = v;
		l->cap = cap;
	}
	if (!(l->v[l->n] = strdup(name)))
		return -ENOMEM;
	l->n++;
	return 0;
}

int ship_names_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

uint64_t ship_get_be(const uint8_t *p, int n)
{
	uint64_t v = 0;

	for (int i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

/* The last sequence number of log NAME's whole batches into *LAST; its
 * size into *LEN. */
static int log_last(struct tier *t, const char *name, uint64_t *last, size_t *len)
{
	void *blob = NULL;
	size_t pos = 0;
	int rc = tier_blob_get(t, name, &blob, len);
	uint8_t *buf = blob;

	while (rc == 0 && pos + 16 <= *len) {
		uint64_t seq = ship_get_be(buf + pos, 8);
		uint32_t count = (uint32_t)ship_get_be(buf + pos + 8, 4);
		uint32_t blen = (uint32_t)ship_get_be(buf + pos + 12, 4);

		if (pos + 16 + blen > *len)
			break;
		*last = seq + count - 1;
		pos += 16 + (size_t)blen;
	}
	free(blob);
	return rc;
}

static int probe_first(void *ctx, uint64_t seq, uint32_t count, const void *rep, size_t len)
{
	(void)count;
	(void)rep;
	(void)len;
	*(uint64_t *)ctx = seq;
	return 1;
}

/* The same writer mounted again: go on with the logs already in the pool
 * (followers go on applying them) if the metadata still holds every batch
 * after the last one shipped; else -ESTALE (a checkpoint is shipped). */
static int ship_resume(struct ship *sh)
{
	struct ship_names logs = { 0 };
	uint64_t last = 0, first = 0, seq = meta_seq(sh->s->meta);
	size_t len = 0;
	void *head = NULL;
	int rc = tier_blob_get(sh->t, "head", &head, &len);

	if (rc == 0)
		last = strtoull(head, NULL, 16);
	free(head);
	if (rc == 0)
		rc = tier_blob_list(sh->t, "l.", ship_names_add, &logs);
	if (logs.n)
		qsort(logs.v, logs.n, sizeof *logs.v, ship_names_cmp);
	sh->log_bytes = 0;
	for (size_t i = 0; rc == 0 && i < logs.n; i++) {
		rc = log_last(sh->t, logs.v[i], &last, &len);
		sh->log_bytes += len;
	}
	for (size_t i = 0; i < logs.n; i++)
		free(logs.v[i]);
	free(logs.v);
	if (rc == 0 && last > seq)
		rc = -ESTALE;		/* the pool is ahead of this metadata */
	if (rc == 0 && last < seq &&
	    (meta_updates(sh->s->meta, last + 1, probe_first, &first) < 0 || !first ||
	     first > last + 1))
		rc = -ESTALE;		/* what was not shipped is no longer in the log */
	if (rc < 0)
		return rc;
	sh->shipped = last;
	log_info("ship: going on from batch %" PRIu64 " with the metadata logs in the pool", last);
	return 0;
}

int ship_open(struct store *s, struct ship **out)
{
	static const char *const files[] = { "aifs.conf", "audit.key", "audit.pub" };
	static const char *const blobs[] = { "conf", "audit.key", "audit.pub" };
	struct ship *sh = calloc(1, sizeof *sh);
	char path[4096], seqp[4096];
	void *mine = NULL, *pool = NULL;
	size_t mlen = 0, plen = 0;
	bool same;
	int rc = 0;

	if (!sh || asprintf(&sh->tmp, "%s/ship.tmp", s->path) < 0) {
		free(sh);
		return -ENOMEM;
	}
	sh->s = s;
	sh->t = s->tiers[TIER_HOT];
	/* the pool's logs go on from this store's if this writer shipped them */
	snprintf(path, sizeof path, "%s/writer.id", s->path);
	snprintf(seqp, sizeof seqp, "%s/follow.seq", s->path);
	same = access(seqp, F_OK) < 0 && ship_file_read(path, &mine, &mlen) == 0 && mlen >= 32 &&
	       tier_blob_get(sh->t, "writer", &pool, &plen) == 0 && plen >= 32 &&
	       !memcmp(mine, pool, 32);
	free(mine);
	free(pool);
	rc = writer_id(s->path, sh->t);
	for (size_t i = 0; rc == 0 && i < sizeof files / sizeof files[0]; i++) {
		snprintf(path, sizeof path, "%s/%s", s->path, files[i]);
		rc = put_file(sh->t, blobs[i], path);
		if (rc)
			log_err("ship: cannot ship %s: %s", path, strerror(-rc));
	}
	if (rc == 0 && !(same && ship_resume(sh) == 0))
		rc = ship_checkpoint(sh);
	if (rc) {
		ship_free(sh);
		return rc;
	}
	*out = sh;
	return 0;
}

/* Fetch the checkpoint files of head into MDIR; *SEQ its sequence number. */
static int fetch_checkpoint(struct tier *t, const char *mdir, uint64_t *seq, char *err,
			    size_t errlen)
{
	char name[NAME_MAX_LEN], path[4400], file[256], *line, *save = NULL;
	void *head = NULL, *man = NULL, *buf;
	size_t len;
	long long size;
	int rc = tier_blob_get(t, "head", &head, &len);

	if (rc) {
		snprintf(err, errlen, "no shipped metadata (m.head): %s", strerror(-rc));
		return rc;
	}
	*seq = strtoull(head, NULL, 16);
	free(head);
	snprintf(name, sizeof name, "c.%016" PRIx64, *seq);
	rc = tier_blob_get(t, name, &man, &len);
	if (rc) {
		snprintf(err, errlen, "checkpoint %s missing: %s", name, strerror(-rc));
		return rc;
	}
	((char *)man)[len ? len - 1 : 0] = 0;
	for (line = strtok_r(man, "\n", &save); rc == 0 && line; line = strtok_r(NULL, "\n", &save)) {
		if (sscanf(line, "%255s %lld", file, &size) != 2 || strchr(file, '/')) {
			snprintf(err, errlen, "checkpoint %s: bad line '%s'", name, line);
			rc = -EINVAL;
			break;
		}
		snprintf(name, sizeof name, "c.%016" PRIx64 ".%s", *seq, file);
		rc = tier_blob_get(t, name, &buf, &len);
		if (rc == 0 && (long long)len != size)
			rc = -EIO;
		if (rc == 0) {
			snprintf(path, sizeof path, "%s/%s", mdir, file);
			rc = file_write(path, buf, len, 0644);
			free(buf);
		}
		if (rc)
			snprintf(err, errlen, "checkpoint file %s: %s", name, strerror(-rc));
	}
	free(man);
	return rc;
}

/* Apply log object NAME's batches from *NEXT on to M. */
static int apply_log(struct tier *t, struct meta *m, const char *name, uint64_t *next, char *err,
		     size_t errlen)
{
	void *blob;
	size_t len, pos = 0;
	int rc = tier_blob_get(t, name, &blob, &len);
	uint8_t *buf = blob;

	while (rc == 0 && pos + 16 <= len) {
		uint64_t seq = ship_get_be(buf + pos, 8);
		uint32_t count = (uint32_t)ship_get_be(buf + pos + 8, 4);
		uint32_t blen = (uint32_t)ship_get_be(buf + pos + 12, 4);

		if (pos + 16 + blen > len)
			break;
		if (seq + count > *next) {
			if (seq != *next) {
				snprintf(err, errlen, "shipped metadata has a gap: batch %" PRIu64
					 " follows %" PRIu64, seq, *next - 1);
				rc = -EIO;
				break;
			}
			rc = meta_apply(m, buf + pos + 16, blen);
			*next = seq + count;
		}
		pos += 16 + (size_t)blen;
	}
	if (rc == 0 && pos != len) {
		snprintf(err, errlen, "log %s is truncated", name);
		rc = -EIO;
	}
	if (rc && !err[0])
		snprintf(err, errlen, "log %s: %s", name, strerror(-rc));
	free(buf);
	return rc;
}

/* The shipped aifs.conf with the Ceph conf and user of RO, into DIR. */
static int write_conf(struct tier *t, const struct tier_rados_opts *ro, const char *dir)
{
	char path[4096], *out = NULL, *line, *save = NULL;
	size_t len, olen = 0;
	void *conf;
	FILE *f;
	int rc = tier_blob_get(t, "conf", &conf, &len);

	if (rc)
		return rc;
	f = open_memstream(&out, &olen);
	if (!f) {
		free(conf);
		return -ENOMEM;
	}
	((char *)conf)[len ? len - 1 : 0] = 0;
	for (line = strtok_r(conf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if ((ro->conf && !strncmp(line, "ceph_conf ", 10)) ||
		    (ro->user && !strncmp(line, "ceph_user ", 10)))
			continue;
		fprintf(f, "%s\n", line);
	}
	if (ro->conf)
		fprintf(f, "ceph_conf = %s\n", ro->conf);
	if (ro->user)
		fprintf(f, "ceph_user = %s\n", ro->user);
	fclose(f);
	free(conf);
	snprintf(path, sizeof path, "%s/aifs.conf", dir);
	rc = file_write(path, out, olen, 0644);
	free(out);
	return rc;
}

static int fetch_key(struct tier *t, const char *dir, const char *name, mode_t mode)
{
	char path[4096];
	void *buf;
	size_t len;
	int rc = tier_blob_get(t, strcmp(name, "writer.id") ? name : "writer", &buf, &len);

	if (rc)
		return rc;
	snprintf(path, sizeof path, "%s/%s", dir, name);
	rc = file_write(path, buf, len, mode);
	free(buf);
	return rc;
}

int ship_recover(const char *spec, const struct tier_rados_opts *ro, const char *dir,
		 uint64_t *seq, char *err, size_t errlen)
{
	struct ship_names logs = { 0 };
	struct meta *m = NULL;
	struct tier *t = NULL;
	char mdir[4096];
	uint64_t next;
	int rc;

	err[0] = 0;
	if (!tier_spec_is_rados(spec) || !strchr(spec, '/')) {
		snprintf(err, errlen, "%s: expected rados:POOL/NAME", spec);
		return -EINVAL;
	}
	if ((mkdir(dir, 0700) < 0 && errno != EEXIST) ||
	    (snprintf(mdir, sizeof mdir, "%s/meta", dir), mkdir(mdir, 0700) < 0)) {
		snprintf(err, errlen, "cannot create %s (it must be absent or empty): %s", mdir,
			 strerror(errno));
		return -errno;
	}
	rc = tier_open_spec(spec, TIER_HOT, 1, ro, &t);
	if (rc) {
		if (!err[0])
			snprintf(err, errlen, "cannot open %s: %s", spec, strerror(-rc));
		return rc;
	}
	rc = fetch_checkpoint(t, mdir, seq, err, errlen);
	next = *seq + 1;
	if (rc == 0 && (rc = meta_open(mdir, false, &m)) < 0)
		snprintf(err, errlen, "cannot open the recovered metadata: %s", strerror(-rc));
	if (rc == 0)
		rc = tier_blob_list(t, "l.", ship_names_add, &logs);
	if (logs.n)
		qsort(logs.v, logs.n, sizeof *logs.v, ship_names_cmp);
	for (size_t i = 0; rc == 0 && i < logs.n; i++)
		rc = apply_log(t, m, logs.v[i], &next, err, errlen);
	if (rc == 0 && (rc = meta_sync(m)) < 0)
		snprintf(err, errlen, "cannot sync the recovered metadata: %s", strerror(-rc));
	meta_close(m);
	if (rc == 0 && (rc = fetch_key(t, dir, "writer.id", 0644)) == -ENOENT)
		rc = 0;		/* shipped before writers had an identity */
	if (rc == 0 && ((rc = fetch_key(t, dir, "audit.key", 0600)) ||
			(rc = fetch_key(t, dir, "audit.pub", 0644))))
		snprintf(err, errlen, "cannot recover the audit keys: %s", strerror(-rc));
	/* aifs.conf last: its presence marks a complete store */
	if (rc == 0 && (rc = write_conf(t, ro, dir)) < 0)
		snprintf(err, errlen, "cannot write %s/aifs.conf: %s", dir, strerror(-rc));
	for (size_t i = 0; i < logs.n; i++)
		free(logs.v[i]);
	free(logs.v);
	tier_close(t);
	*seq = next - 1;
	if (rc && !err[0])
		snprintf(err, errlen, "%s", strerror(-rc));
	return rc;
}
