/* fwd.c — a follower's writes, forwarded to the writer (fwd.h).
 *
 * What a follower forwards: the files and directories of checkpoint and
 * journal areas (create, write, truncate of files; mkdir, unlink, rmdir,
 * rename; setxattr and removexattr).  Every other change fails with
 * EROFS, as it did when followers were read-only.
 *
 * A file opened for writing is a session staged on the local disk (an
 * unnamed file in REPLICA/fwd/), and the caller's identity is taken at the
 * open (uid, gid, groups, umask, AIFS_JOB, command line).  The writer is
 * asked at the open whether the caller may write there (FWD_CHECK), so
 * that EACCES or a writer out of reach shows at open(2) as it would on
 * the writer, before a large file is written for nothing.
 *  - A checkpoint file (or any file of a checkpoint area) is sent whole
 *    when a descriptor of the session is closed after a write (FLUSH) and
 *    at its last release if written since: its bytes as a data object of
 *    the pool, then one request (FWD_PUT) that the writer makes as
 *    create-or-truncate, write, close of the file: a save, so a version,
 *    as on the writer.  A session that does not truncate starts from the
 *    file's content.  fsync makes the staged bytes durable on this host;
 *    the save is committed at close, as on the writer.
 *  - A journal file gets its writes as records (one per write(2), kept
 *    with their lengths); they are sent (FWD_APPEND) at each close of a
 *    descriptor, each fsync, and every second from the forwarding thread;
 *    the session's last release ends it (FWD_FINAL: the writer seals the
 *    file).  A session idle for a while renews its hold on the writer.
 * A file created on the follower has no inode until the writer makes it:
 * the kernel is given a node id of the session (NODE_BIT set), with its
 * name and attributes never cached, and lookups of that name answer with
 * it while the session lasts.
 *
 * Every answer carries the writer's sequence number holding the change:
 * the follower waits (at most forward_timeout) until its replica has
 * applied it (follow_wait) before it answers the caller, so the caller
 * reads what it wrote.  A writer that does not answer within
 * forward_timeout, or that is not there, is EIO and one log line; nothing
 * is changed on the follower.  A journal session whose records could not
 * be sent fails from then on (EIO): its records are not retried, since a
 * request that timed out may still have been made.
 *
 * Reads by processes of named jobs (AIFS_JOB) of sources that lineage
 * tracks (lineage_source_of) are sent to the writer too (FWD_LINEAGE), in
 * batches from the forwarding thread and before any change is sent, so
 * that the job's lineage on the writer holds what it read on every host.
 */
#include "fs/fs.h"
#include "fs/fwd.h"
#include "fs/fwd_priv.h"
#include "fs/follow.h"
#include "fs/inode.h"
#include "fs/inval.h"
#include "fs/data.h"
#include "fs/extmap.h"
#include "fs/lineage.h"
#include "fs/path.h"
#include "fs/ops.h"
#include "meta/keys.h"
#include "tier/radosmsg.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct fwd_follower FW = { .lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER,
			   .send_lock = PTHREAD_MUTEX_INITIALIZER };

void fwd_counts(uint64_t *ok, uint64_t *refused, uint64_t *lost)
{
	pthread_mutex_lock(&FW.lock);
	*ok = FW.ok;
	*refused = FW.refused;
	*lost = FW.lost;
	pthread_mutex_unlock(&FW.lock);
}

int fwd_link(char *addr, size_t len, uint64_t *renewals)
{
	*renewals = 0;
	return FW.msg ? radosmsg_addr(FW.msg, addr, len, renewals) : -ENOTCONN;
}

/* ---- the caller ------------------------------------------------------------ */

void fwd_proc_text(uint32_t pid, const char *what, char *buf, size_t len)
{
	char path[64];
	ssize_t n = -1;
	int fd;

	snprintf(path, sizeof(path), "/proc/%u/%s", pid, what);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		n = read(fd, buf, len - 1);
		close(fd);
	}
	buf[n > 0 ? n : 0] = 0;
	for (ssize_t i = 0; i < n; i++)
		if (buf[i] == 0 || buf[i] == '\n')
			buf[i] = ' ';
	while (n > 0 && buf[n - 1] == ' ')
		buf[--n] = 0;
}

void fwd_caller_of(fuse_req_t req, struct caller *c)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	gid_t g[FWD_GROUPS_MAX];
	int n;

	memset(c, 0, sizeof(*c));
	c->uid = ctx->uid;
	c->gid = ctx->gid;
	c->pid = ctx->pid;
	c->umask = ctx->umask;
	n = fuse_req_getgroups(req, FWD_GROUPS_MAX, g);
	c->ngroups = n < 0 ? 0 : n > FWD_GROUPS_MAX ? FWD_GROUPS_MAX : (uint32_t)n;
	for (uint32_t i = 0; i < c->ngroups; i++)
		c->groups[i] = g[i];
	if (!fwd_job_of(c->pid, c->job, sizeof(c->job)))
		c->job[0] = 0;
	fwd_proc_text(c->pid, "cmdline", c->cmdline, sizeof(c->cmdline));
	fwd_proc_text(c->pid, "comm", c->comm, sizeof(c->comm));
}

/* ---- requests ------------------------------------------------------------- */

/* Errors that say the follower's view is older than the writer's: the
 * caller waits for the replica to catch up before it is told. */
static bool view_error(int err)
{
	return err == EEXIST || err == ENOENT || err == ENOTEMPTY || err == ENOTDIR ||
	       err == EISDIR;
}

/* Send R for caller WHO and wait for the answer, then for the replica:
 * 0 or -errno (EIO when the writer did not answer). */
int fwd_call(struct fwd_req *r, const struct caller *who)
{
	static const char *const ops[FWD_OPS] = {
		"?", "check", "save", "append", "mkdir", "unlink", "rmdir", "rename", "setxattr",
		"removexattr", "lineage",
	};
	struct fwd_answer a;
	void *buf = NULL, *out = NULL;
	size_t len, olen;
	int rc;

	if (!FW.msg)
		return -EIO;
	if (r->op != FWD_LINEAGE && follow_stale()) {
		log_err("follower: %s of %s: this follower no longer follows the writer (see the "
			"log above): it fails with EIO", ops[r->op], r->path ? r->path : "-");
		return -EIO;
	}
	if (r->op != FWD_LINEAGE && r->op != FWD_CHECK)
		fwd_notes_send();	/* the job's reads reach the writer before its change */
	memcpy(r->writer, FW.writer, sizeof(r->writer));
	r->host = FW.host;
	pthread_mutex_lock(&FW.lock);
	r->id = ++FW.next_id;
	pthread_mutex_unlock(&FW.lock);
	r->expires = fwd_real_ns() + (int64_t)FW.timeout_ms * 1000000;
	if (who) {
		r->uid = who->uid;
		r->gid = who->gid;
		r->umask = who->umask;
		r->pid = who->pid;
		r->ngroups = who->ngroups;
		memcpy(r->groups, who->groups, sizeof(r->groups));
		r->job = who->job;
		r->cmdline = who->cmdline;
		r->comm = who->comm;
	}
	rc = fwd_req_encode(r, &buf, &len);
	if (rc == 0)
		rc = radosmsg_call(FW.msg, buf, len, FW.timeout_ms, &out, &olen);
	free(buf);
	if (rc == 0 && fwd_answer_decode(out, olen, &a) < 0)
		rc = -EPROTO;
	free(out);
	if (rc == 0 && a.err == ESTALE)
		rc = -ECHILD;
	else if (rc == 0 && a.err == ETIMEDOUT)
		rc = -ETIMEDOUT;	/* it came too late to the writer: not made */
	/* nobody will read the data object: it goes (after a timeout, the
	 * writer may still make the change: the object stays for it, and the
	 * sweep of a later writer removes what is left) */
	if ((rc == -ENOTCONN || rc == -ECHILD || rc == -EPROTO) && r->obj)
		radosmsg_data_remove(FW.msg, r->obj, r->size);
	if (rc < 0) {
		pthread_mutex_lock(&FW.lock);
		FW.lost++;
		pthread_mutex_unlock(&FW.lock);
		if (r->op == FWD_LINEAGE)
			return -EIO;	/* fwd_notes_send says so, now and then */
		log_err("follower: %s of %s: %s: it fails with EIO", ops[r->op],
			r->path ? r->path : "-",
			rc == -ENOTCONN ? "no writer serves the store (is it mounted?)" :
			rc == -ETIMEDOUT ? "the writer did not answer in time (forward_timeout)" :
			rc == -ECHILD ? "another writer serves the store now: mount the follower "
					"again to follow it" :
			strerror(-rc));
		return -EIO;
	}
	pthread_mutex_lock(&FW.lock);
	if (a.err)
		FW.refused++;
	else
		FW.ok++;
	pthread_mutex_unlock(&FW.lock);
	if (r->op != FWD_CHECK && r->op != FWD_LINEAGE && (!a.err || view_error(a.err))) {
		int w = follow_wait(a.seq, FW.timeout_ms < WAIT_MS ? FW.timeout_ms : WAIT_MS);

		if (w < 0)
			log_warn("follower: %s of %s was made by the writer (at %llu) but this "
				 "replica has not applied it yet: %s", ops[r->op],
				 r->path ? r->path : "-", (unsigned long long)a.seq, strerror(-w));
		/* a file's content changed: the kernel's pages of it go before the
		 * caller reads it again (bounded: see inval_settle) */
		else if (r->op == FWD_PUT || r->op == FWD_APPEND)
			inval_settle(SETTLE_MS);
	}
	return -a.err;
}

/* Mount-relative path of NAME in directory DIR into BUF. */
int fwd_path_in(uint64_t dir, const char *name, char *buf, size_t len)
{
	char d[4096];
	int rc = fs_dir_path(FW.fs, dir, d, sizeof(d));

	if (rc == 0 && snprintf(buf, len, "%s%s%s", d, d[0] ? "/" : "", name) >= (int)len)
		rc = -ENAMETOOLONG;
	return rc == 0 && !fwd_path_ok(buf) ? -EINVAL : rc;
}

/* Mount-relative path of inode INO (a directory, or a file by the parent
 * it was last looked up in). */
int fwd_path_of(uint64_t ino, char *buf, size_t len)
{
	char name[META_NAME_MAX + 1];
	struct meta_inode a;
	uint64_t parent;
	int rc = fs_ino_parent(FW.fs, ino, &parent, &a);

	if (rc == 0 && S_ISDIR(a.mode))
		return fs_dir_path(FW.fs, ino, buf, len) == 0 && fwd_path_ok(buf) ? 0 : -EINVAL;
	if (rc == 0 && (!parent || (parent & FS_VIRT_BIT)))
		rc = -ENOENT;
	if (rc == 0)
		rc = fs_name_in(FW.fs, parent, ino, name);
	return rc < 0 ? rc : fwd_path_in(parent, name, buf, len);
}

/* Does the area of inode INO forward writes?  -EROFS if not. */
int fwd_area_of(uint64_t ino, struct meta_inode *a)
{
	struct inode *in;
	int rc;

	if ((ino & FS_VIRT_BIT) || fwd_is_node(ino))
		return -EROFS;
	rc = inode_get(FW.fs, ino, &in);
	if (rc < 0)
		return rc;
	pthread_rwlock_rdlock(&in->lock);
	*a = in->attr;
	pthread_rwlock_unlock(&in->lock);
	inode_put(FW.fs, in);
	if ((a->policy != META_AREA_CHECKPOINT && a->policy != META_AREA_JOURNAL) ||
	    (a->flags & META_IF_READONLY))
		return -EROFS;
	return 0;
}

/* Upload COUNT bytes from OFF of session S's staged file as data object
 * NAME (made up here). */
static int upload(struct fsess *s, uint64_t off, uint64_t count, char *name, size_t nlen)
{
	char *buf = count ? malloc(COPY_CHUNK) : NULL;
	int rc = 0;

	pthread_mutex_lock(&FW.lock);
	snprintf(name, nlen, "%016" PRIx64 ".%" PRIu64, FW.nonce, ++FW.next_id);
	pthread_mutex_unlock(&FW.lock);
	if (count && !buf)
		return -ENOMEM;
	for (uint64_t done = 0; rc == 0 && done < count; ) {
		size_t n = count - done < COPY_CHUNK ? (size_t)(count - done) : COPY_CHUNK;
		ssize_t got = pread(s->fd, buf, n, (off_t)(off + done));

		if (got != (ssize_t)n)
			rc = got < 0 ? -errno : -EIO;
		else
			rc = radosmsg_data_write(FW.msg, name, done, buf, n);
		done += n;
	}
	free(buf);
	if (rc < 0) {
		radosmsg_data_remove(FW.msg, name, count);
		log_err("follower: the bytes of %s cannot be written to the pool: %s", s->path,
			strerror(-rc));
		return -EIO;
	}
	return 0;
}

/* Checkpoint session S (locked): send the whole file. */
int fwd_send_put(struct fsess *s)
{
	struct fwd_req r = { .op = FWD_PUT, .path = s->path, .mode = s->mode, .size = s->size,
			     .flags = s->made ? 0 : (uint32_t)(s->oflags & O_EXCL) };
	char obj[64];
	int rc = upload(s, 0, s->size, obj, sizeof(obj));

	if (rc < 0)
		return rc;
	r.obj = obj;
	rc = fwd_call(&r, &s->who);
	if (rc == 0)
		s->made = true;
	s->dirty = false;
	return rc;
}

/* Journal session S (locked): send the records staged since the last
 * send; FINAL ends the session. */
int fwd_send_records(struct fsess *s, bool final)
{
	struct fwd_req r = { .op = FWD_APPEND, .path = s->path, .mode = s->mode, .sid = s->sid,
			     .flags = final ? FWD_FINAL : 0 };
	uint8_t *lens = NULL;
	uint64_t bytes = 0;
	char obj[64];
	int rc;

	if (s->err) {
		if (final && s->made)
			fwd_call(&r, &s->who);	/* the writer lets go of the file, sealed */
		return s->err;
	}
	if (!s->nrecs && !final && s->made && fwd_mono_s() - s->last_sent < RENEW_SECS)
		return 0;
	if (s->nrecs && !(lens = malloc(4 * s->nrecs)))
		return -ENOMEM;
	for (size_t i = 0; i < s->nrecs; i++) {
		key_put_u32(lens + 4 * i, s->recs[i]);
		bytes += s->recs[i];
	}
	rc = s->nrecs ? upload(s, s->sent, bytes, obj, sizeof(obj)) : 0;
	if (rc == 0) {
		r.obj = s->nrecs ? obj : NULL;
		r.size = bytes;
		r.value = lens;
		r.vlen = 4 * s->nrecs;
		rc = fwd_call(&r, &s->who);
	}
	free(lens);
	s->last_sent = fwd_mono_s();
	if (rc == 0) {
		s->sent += bytes;
		s->nrecs = 0;
		s->made = true;
	} else {
		s->err = rc;	/* not retried: a send that timed out may have been made */
		log_err("follower: journal file %s: its records from byte %llu could not be sent: "
			"its next writes fail", s->path, (unsigned long long)(s->base + s->sent));
	}
	return rc;
}

/* ---- sessions ------------------------------------------------------------- */

struct fsess *fwd_sess_find_node(uint64_t node)
{
	struct fsess *s;

	pthread_mutex_lock(&FW.lock);
	for (s = FW.sessions; s && s->node != node; s = s->next)
		;
	if (s)
		s->refs++;
	pthread_mutex_unlock(&FW.lock);
	return s;
}

/* A session of a file not made yet named NAME in PARENT. */
struct fsess *fwd_sess_find_name(uint64_t parent, const char *name)
{
	struct fsess *s;

	pthread_mutex_lock(&FW.lock);
	for (s = FW.sessions; s; s = s->next)
		if (fwd_is_node(s->node) && s->parent == parent && !strcmp(s->name, name))
			break;
	if (s)
		s->refs++;
	pthread_mutex_unlock(&FW.lock);
	return s;
}

void fwd_sess_put(struct fsess *s)
{
	bool last;

	pthread_mutex_lock(&FW.lock);
	last = --s->refs == 0;
	pthread_mutex_unlock(&FW.lock);
	if (!last)
		return;
	if (s->fd >= 0)
		close(s->fd);
	free(s->recs);
	free(s->name);
	free(s->path);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

struct fsess *fwd_fh_sess(const struct fuse_file_info *fi)
{
	return fi && (fi->fh & FH_STAGED) ? (struct fsess *)(uintptr_t)(fi->fh & ~(uint64_t)15) :
					     NULL;
}

/* A new session (one handle) of NAME in PARENT at PATH, file INO (0: new). */
int fwd_sess_new(const char *path, uint64_t parent, const char *name, uint64_t ino,
		    bool journal, uint32_t mode, const struct caller *who, struct fsess **out)
{
	struct fsess *s = calloc(1, sizeof(*s));	/* 16-aligned: bit 3 is FH_STAGED's */

	if (!s)
		return -ENOMEM;
	pthread_mutex_init(&s->lock, NULL);
	s->fd = open(FW.stage_dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	s->name = strdup(name);
	s->path = strdup(path);
	if (s->fd < 0 || !s->name || !s->path) {
		int rc = s->fd < 0 ? -errno : -ENOMEM;

		log_err("follower: cannot stage a write in %s: %s", FW.stage_dir, strerror(-rc));
		s->refs = 1;
		fwd_sess_put(s);
		return rc == -ENOMEM ? rc : -EIO;
	}
	s->ino = ino;
	s->parent = parent;
	s->journal = journal;
	s->mode = mode;
	s->who = *who;
	s->mtime = fs_now();
	s->last_sent = fwd_mono_s();
	pthread_mutex_lock(&FW.lock);
	s->node = ino ? ino : NODE_BIT | ++FW.next_node;
	s->sid = FW.sid_base + FW.next_node + FW.next_id++;
	s->refs = s->handles = 1;
	s->next = FW.sessions;
	FW.sessions = s;
	pthread_mutex_unlock(&FW.lock);
	*out = s;
	return 0;
}

/* The last handle of S is released: S leaves the table. */
void fwd_sess_unlink(struct fsess *s)
{
	pthread_mutex_lock(&FW.lock);
	for (struct fsess **p = &FW.sessions; *p; p = &(*p)->next)
		if (*p == s) {
			*p = s->next;
			break;
		}
	pthread_mutex_unlock(&FW.lock);
}

void fwd_sess_stat(struct fsess *s, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = s->node;
	st->st_mode = S_IFREG | (s->mode & 07777 & ~s->who.umask);
	st->st_nlink = 1;
	st->st_uid = s->who.uid;
	st->st_gid = s->who.gid;
	st->st_blksize = 4096;
	pthread_mutex_lock(&s->lock);
	st->st_size = (off_t)(s->journal ? s->base + s->size : s->size);
	pthread_mutex_unlock(&s->lock);
	st->st_blocks = (st->st_size + 511) / 512;
	st->st_atim = st->st_mtim = st->st_ctim =
		(struct timespec){ s->mtime / 1000000000, s->mtime % 1000000000 };
}

/* ---- the forwarding thread ---------------------------------------------------- */

/* Journal sessions: records sent every STREAM_MS, holds renewed. */
static void stream_journals(void)
{
	struct fsess *v[64];
	size_t n = 0;

	pthread_mutex_lock(&FW.lock);
	for (struct fsess *s = FW.sessions; s && n < 64; s = s->next)
		if (s->journal && s->handles) {
			s->refs++;
			v[n++] = s;
		}
	pthread_mutex_unlock(&FW.lock);
	for (size_t i = 0; i < n; i++) {
		struct fsess *s = v[i];

		if (pthread_mutex_trylock(&s->lock) == 0) {	/* a writer sends it already */
			if (!s->err && (s->nrecs || (s->made &&
						     fwd_mono_s() - s->last_sent >= RENEW_SECS)))
				fwd_send_records(s, false);
			pthread_mutex_unlock(&s->lock);
		}
		fwd_sess_put(s);
	}
}

static void *fwd_main(void *arg)
{
	struct timespec until;

	(void)arg;
	pthread_mutex_lock(&FW.lock);
	while (!FW.stop) {
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += STREAM_MS * 1000000L;
		while (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		if (!FW.nlen)
			pthread_cond_timedwait(&FW.cond, &FW.lock, &until);
		if (FW.stop)
			break;
		pthread_mutex_unlock(&FW.lock);
		fwd_notes_send();
		stream_journals();
		pthread_mutex_lock(&FW.lock);
	}
	pthread_mutex_unlock(&FW.lock);
	return NULL;
}

static int forward_open(struct fs *fs, const char *spec, const struct tier_rados_opts *ro)
{
	struct tier_rados_opts mro = *ro;
	uint64_t r = 0;
	int rc, fd;

	FW.fs = fs;
	FW.timeout_ms = fs->opt.forward_timeout * 1000;
	gethostname(FW.host, sizeof(FW.host) - 1);
	snprintf(FW.stage_dir, sizeof(FW.stage_dir), "%s/fwd", fs->store->path);
	if (mkdir(FW.stage_dir, 0700) < 0 && errno != EEXIST)
		return -errno;
	fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
	if (fd < 0 || read(fd, &r, sizeof(r)) != (ssize_t)sizeof(r))
		r = (uint64_t)fwd_real_ns() ^ (uint64_t)getpid() << 32;
	if (fd >= 0)
		close(fd);
	FW.nonce = r;
	FW.sid_base = r & ~0xffffffffull;
	rc = fwd_writer_id(fs->store->path, FW.writer);
	if (rc < 0)
		return rc;
	/* a request waits for its answer up to forward_timeout, not less */
	if (mro.timeout && mro.timeout < fs->opt.forward_timeout + 5)
		mro.timeout = fs->opt.forward_timeout + 5;
	mro.err = NULL;
	rc = radosmsg_open(spec, &mro, &FW.msg);
	if (rc < 0)
		return rc;
	FW.stop = false;
	rc = -pthread_create(&FW.thread, NULL, fwd_main, NULL);
	FW.running = rc == 0;
	return rc;
}

int fwd_start(struct fs *fs, const char *spec, const struct tier_rados_opts *ro)
{
	int rc = forward_open(fs, spec, ro);

	if (rc < 0)
		log_err("follower: cannot reach %s to forward writes (%s): writes fail with EIO",
			spec, strerror(-rc));
	return rc;
}

void fwd_stop(struct fs *fs)
{
	(void)fs;
	if (FW.running) {
		pthread_mutex_lock(&FW.lock);
		FW.stop = true;
		pthread_cond_signal(&FW.cond);
		pthread_mutex_unlock(&FW.lock);
		pthread_join(FW.thread, NULL);
		FW.running = false;
	}
	radosmsg_close(FW.msg);
	FW.msg = NULL;
	free(FW.notes);
	FW.notes = NULL;
	FW.nlen = FW.ncap = 0;
	free(FW.seen);
	FW.seen = NULL;
	FW.nseen = 0;
}
