/* fwdserve.c — the writer makes the changes followers forward (fwd.h).
 *
 * Requests arrive through the pool (tier/radosmsg.h) on a thread of
 * librados, which only queues them; FWD_WORKERS threads of their own make
 * them.  A worker makes a change as the caller, through this daemon's own
 * mount: its thread takes the caller's file system uid, gid and groups
 * (setfsuid, setfsgid and setgroups of that thread alone) and umask (the
 * thread's own: unshare(CLONE_FS)), is named as the caller's command
 * (the journal names a writer so), and tells lineage which job it acts for
 * (lineage_remote_begin); then it opens, writes, closes, makes directories
 * or renames with system calls, beneath the mount root (openat2
 * RESOLVE_BENEATH).  So the kernel checks the caller's permissions, and
 * the daemon applies every rule of the areas at the commit exactly as for
 * a process of this host: a save that creates or truncates and closes a
 * checkpoint file is a version, a DCP .metadata renamed in commits the
 * directory, a journal write is a signed record.  No handler's lock is
 * held by a worker, which is not one of the FUSE threads, so its requests
 * are served like anyone's.  The mount is opened anew for each request:
 * a descriptor kept open would make the mount busy and refuse umount.
 *
 * A follower writing a journal file over a long session forwards its
 * records as they come (each flush, fsync, and every second): each request
 * appends them and closes, which would seal the file, so the worker holds
 * the file as one more writer (nwriters, counted in nheld too, so that an
 * open does not wait for it as for a close under way) from its first
 * request until the follower's last (FWD_FINAL), whose close then seals it
 * as the last writer's close does.  A follower that goes silent loses its hold after
 * journal_lease seconds (-o journal_lease, the file is sealed then); the
 * follower renews it every RENEW_SECS (fwd_priv.h) while its file is open.  At unmount the holds go without a seal, as in a crash:
 * the follower's next request goes on, and its last one seals.
 *
 * The answer carries the errno and the sequence number of the metadata
 * once the change is made; the answer waits until that much is shipped
 * (shipping_push), so that the follower can wait for its replica to apply
 * it.  A request for another writer (the follower follows the one before
 * a fail-over) is refused with ESTALE, and one that arrives after its
 * deadline is dropped (ETIMEDOUT: its caller has given up).
 */
#include "fs/fs.h"
#include "fs/fwd.h"
#include "fs/fwdwire.h"
#include "fs/hooks.h"
#include "fs/inode.h"
#include "fs/journal.h"
#include "fs/lineage.h"
#include "fs/shipping.h"
#include "meta/keys.h"
#include "tier/radosmsg.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#define FWD_WORKERS	4
#define FWD_QUEUE_MAX	1024
#define FWD_SWEEP_SECS	3600	/* data objects older than this are a dead host's */
#define CHUNK		(4u << 20)
#define RECORD_MAX	(64u << 20)

struct fjob {
	struct radosmsg_token tok;
	void *buf;
	size_t len;
	struct fjob *next;
};

/* A follower's journal session: the file held open for it. */
struct hold {
	char host[256];
	uint64_t sid;
	struct inode *in;	/* referenced, counted in nwriters */
	int64_t seen;		/* CLOCK_MONOTONIC s of its last request */
	struct hold *next;
};

struct fwd_server {
	struct fs *fs;
	char *mnt;
	struct radosmsg *msg;
	char writer[FWD_ID_LEN + 1];
	pthread_t workers[FWD_WORKERS];
	int nworkers;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct fjob *head, *tail;
	size_t queued;
	bool stop, swept;
	struct hold *holds;	/* under lock */
};

static int64_t mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

static int64_t real_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ---- the caller's identity ------------------------------------------------ */

static void unbecome(void)
{
	if (geteuid() == 0) {
		setfsuid(0);
		setfsgid(0);
		syscall(SYS_setgroups, 0, NULL);
	}
	umask(022);
	prctl(PR_SET_NAME, "aifs-fwd", 0, 0, 0);
	lineage_remote_end((uint32_t)gettid());
}

/* This thread acts as R's caller: 0, or -EPERM when it cannot. */
static int become(const struct fwd_req *r)
{
	gid_t groups[FWD_GROUPS_MAX];

	if (geteuid() != 0) {
		if (r->uid != geteuid())
			return -EPERM;	/* a daemon that is not root acts only as itself */
	} else {
		for (uint32_t i = 0; i < r->ngroups; i++)
			groups[i] = r->groups[i];
		if (syscall(SYS_setgroups, (size_t)r->ngroups, groups) < 0)
			return -errno;
		setfsgid(r->gid);
		setfsuid(r->uid);
		if ((uid_t)setfsuid((uid_t)-1) != r->uid || (gid_t)setfsgid((gid_t)-1) != r->gid) {
			unbecome();
			return -EPERM;
		}
	}
	umask(r->umask & 0777);
	prctl(PR_SET_NAME, r->comm && r->comm[0] ? r->comm : "aifs-fwd", 0, 0, 0);
	lineage_remote_begin((uint32_t)gettid(), r->job ? r->job : "", r->cmdline);
	return 0;
}

/* ---- paths beneath the mount ---------------------------------------------- */

/* The directory of mount-relative PATH, opened O_PATH beneath ROOT as the
 * caller; *NAME its last component.  -errno on failure. */
static int open_parent(int root, const char *path, const char **name)
{
	struct open_how how = { .flags = O_PATH | O_DIRECTORY | O_CLOEXEC,
				.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS };
	const char *slash = strrchr(path, '/');
	char dir[4096];
	long fd;

	if (!fwd_path_ok(path))
		return -EINVAL;
	*name = slash ? slash + 1 : path;
	snprintf(dir, sizeof(dir), "%.*s", slash ? (int)(slash - path) : 1, slash ? path : ".");
	fd = syscall(SYS_openat2, root, dir, &how, sizeof(how));
	return fd < 0 ? -errno : (int)fd;
}

/* Forwarded changes go to checkpoint and journal areas only (a follower
 * asks for nothing else): the area of directory DFD. */
static int area_ok(struct fs *fs, int dfd)
{
	struct meta_inode a;
	struct stat st;

	if (fstat(dfd, &st) < 0)
		return -errno;
	if (meta_inode_get(fs->meta, (uint64_t)st.st_ino, &a) < 0)
		return -ENOENT;
	return a.policy == META_AREA_CHECKPOINT || a.policy == META_AREA_JOURNAL ? 0 : -EROFS;
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return w < 0 ? -errno : -EIO;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* ---- the operations --------------------------------------------------------- */

static int faccess(int dfd, const char *name, int mode)
{
	return syscall(SYS_faccessat2, dfd, name, mode, AT_EACCESS) < 0 ? -errno : 0;
}

static int op_check(const struct fwd_req *r, int dfd, const char *name)
{
	int rc = faccess(dfd, name, W_OK);

	if (rc == 0 && (r->flags & O_CREAT) && (r->flags & O_EXCL))
		return -EEXIST;
	if (rc == -ENOENT && (r->flags & O_CREAT))
		rc = faccess(dfd, ".", W_OK | X_OK);
	return rc;
}

/* The data object of R holds R->size bytes. */
static int data_check(struct fwd_server *sv, const struct fwd_req *r)
{
	char probe;
	int64_t n;

	if (!r->obj || strchr(r->obj, '/'))
		return -EINVAL;
	if (!r->size)
		return 0;
	n = radosmsg_data_read(sv->msg, r->obj, r->size - 1, &probe, 1);
	if (n != 1 || radosmsg_data_read(sv->msg, r->obj, r->size, &probe, 1) != 0)
		return n < 0 ? (int)n : -EIO;
	return 0;
}

/* Copy OFF.. of R's data object, LEN bytes, to FD (one write per record
 * when REC). */
static int copy_data(struct fwd_server *sv, const struct fwd_req *r, int fd, uint64_t off,
		     uint64_t len, char *buf, size_t cap)
{
	int rc = 0;

	while (rc == 0 && len) {
		size_t n = len < cap ? (size_t)len : cap;
		int64_t got = radosmsg_data_read(sv->msg, r->obj, off, buf, n);

		if (got != (int64_t)n)
			return got < 0 ? (int)got : -EIO;
		rc = write_all(fd, buf, n);
		off += n;
		len -= n;
	}
	return rc;
}

static int op_put(struct fwd_server *sv, const struct fwd_req *r, int dfd, const char *name)
{
	char *buf;
	int fd, rc = data_check(sv, r);

	if (rc < 0)
		return rc;
	buf = malloc(CHUNK);
	if (!buf)
		return -ENOMEM;
	fd = openat(dfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | (r->flags & O_EXCL),
		    r->mode & 07777);
	rc = fd < 0 ? -errno : copy_data(sv, r, fd, 0, r->size, buf, CHUNK);
	/* the close commits the save (a version), as a local writer's does */
	if (fd >= 0 && close(fd) < 0 && rc == 0)
		rc = -errno;
	free(buf);
	return rc;
}

static struct hold *hold_find(struct fwd_server *sv, const struct fwd_req *r)
{
	struct hold *h;

	pthread_mutex_lock(&sv->lock);
	for (h = sv->holds; h; h = h->next)
		if (h->sid == r->sid && !strcmp(h->host, r->host ? r->host : ""))
			break;
	if (h)
		h->seen = mono_s();
	pthread_mutex_unlock(&sv->lock);
	return h;
}

/* Hold the journal file open as FD for R's session. */
static struct hold *hold_take(struct fwd_server *sv, const struct fwd_req *r, int fd)
{
	struct hold *h = calloc(1, sizeof(*h));
	struct stat st;

	if (!h || fstat(fd, &st) < 0 || inode_get(sv->fs, (uint64_t)st.st_ino, &h->in) < 0) {
		free(h);
		return NULL;
	}
	snprintf(h->host, sizeof(h->host), "%s", r->host ? r->host : "");
	h->sid = r->sid;
	h->seen = mono_s();
	pthread_rwlock_wrlock(&h->in->lock);
	h->in->nwriters++;
	h->in->nheld++;
	pthread_rwlock_unlock(&h->in->lock);
	pthread_mutex_lock(&sv->lock);
	h->next = sv->holds;
	sv->holds = h;
	pthread_mutex_unlock(&sv->lock);
	return h;
}

/* Let go of H (taken off the list): with SEAL, the last writer's close
 * seals the file, once the worker's own close has been released. */
static int hold_drop(struct fwd_server *sv, struct hold *h, bool seal)
{
	struct inode *in = h->in;
	int rc = 0;

	for (int i = 0; seal && i < 1000; i++) {	/* the kernel's release comes later */
		uint32_t n;

		pthread_rwlock_rdlock(&in->lock);
		n = in->nwriters - in->nheld;
		pthread_rwlock_unlock(&in->lock);
		if (n == 0)
			break;
		usleep(1000);
	}
	pthread_rwlock_wrlock(&in->lock);
	if (in->nwriters)
		in->nwriters--;
	if (in->nheld)
		in->nheld--;
	if (seal && in->nwriters == 0 && journal_file(in)) {
		const struct fs_feature_ops *f = fs_hook_claimer(sv->fs, in);
		bool ended = false;

		if (f && f->last_close)	/* the journal's: it seals the file */
			rc = f->last_close(sv->fs, NULL, in, &ended);
	}
	pthread_rwlock_unlock(&in->lock);
	inode_put(sv->fs, in);
	free(h);
	return rc;
}

static void hold_unlink(struct fwd_server *sv, struct hold *h)
{
	pthread_mutex_lock(&sv->lock);
	for (struct hold **p = &sv->holds; *p; p = &(*p)->next)
		if (*p == h) {
			*p = h->next;
			break;
		}
	pthread_mutex_unlock(&sv->lock);
}

/* Journal records: R->value holds their lengths (4 bytes each). */
static int op_append(struct fwd_server *sv, const struct fwd_req *r, int dfd, const char *name)
{
	size_t nrec = r->vlen / 4;
	const uint8_t *lens = r->value;
	struct hold *h = hold_find(sv, r);
	uint64_t sum = 0, off = 0;
	char *buf = NULL;
	int fd, rc = 0;

	if (r->vlen % 4 || (nrec && !r->obj))
		return -EINVAL;
	for (size_t i = 0; i < nrec; i++)
		sum += key_get_u32(lens + 4 * i);
	if (sum != r->size)
		return -EINVAL;
	if (!nrec && h && !(r->flags & FWD_FINAL))
		return 0;		/* the session is alive: its hold renewed */
	if (nrec && (rc = data_check(sv, r)) < 0)
		return rc;
	fd = openat(dfd, name, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, r->mode & 07777);
	if (fd < 0)
		return -errno;
	if (!h && !(h = hold_take(sv, r, fd)))
		rc = -ENOMEM;
	for (size_t i = 0; rc == 0 && i < nrec; i++) {
		uint32_t len = key_get_u32(lens + 4 * i);
		char *b = len > RECORD_MAX ? NULL : realloc(buf, len ? len : 1);

		if (!b) {
			rc = len > RECORD_MAX ? -EFBIG : -ENOMEM;
			break;
		}
		buf = b;
		/* one write per record, as the follower's caller made it */
		rc = copy_data(sv, r, fd, off, len, buf, len ? len : 1);
		off += len;
	}
	free(buf);
	if (close(fd) < 0 && rc == 0)
		rc = -errno;
	if (h && (r->flags & FWD_FINAL)) {
		int s;

		hold_unlink(sv, h);
		s = hold_drop(sv, h, true);
		rc = rc ? rc : s;
	}
	return rc;
}

static int op_xattr(const struct fwd_req *r, int dfd, const char *name)
{
	char proc[64];
	int fd = openat(dfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC), rc;

	if (fd < 0)
		return -errno;
	if (!r->name2) {
		close(fd);
		return -EINVAL;
	}
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	rc = r->op == FWD_SETXATTR ? setxattr(proc, r->name2, r->value, r->vlen, (int)r->flags) :
				     removexattr(proc, r->name2);
	rc = rc < 0 ? -errno : 0;
	close(fd);
	return rc;
}

/* Reads of named jobs on a follower: uid u32 | job, cmdline, json (each a
 * u32 length and bytes) | key[17] | file u64, repeated. */
static int op_lineage(struct fwd_server *sv, const struct fwd_req *r)
{
	const uint8_t *p = r->value, *end = p ? p + r->vlen : NULL;

	while (p && p < end) {
		char *s[3] = { NULL };
		uint32_t uid;
		const uint8_t *key;
		uint64_t file;
		bool bad = end - p < 4;

		uid = bad ? 0 : key_get_u32(p);
		p += bad ? 0 : 4;
		for (int i = 0; i < 3 && !bad; i++) {
			uint32_t l = end - p >= 4 ? key_get_u32(p) : UINT32_MAX;

			bad = l > (size_t)(end - p) - 4 || !(s[i] = strndup((const char *)p + 4, l));
			p += bad ? 0 : 4 + (size_t)l;
		}
		bad = bad || end - p < LINEAGE_SRC_KEY + 8;
		if (!bad) {
			key = p;
			file = key_get_u64(p + LINEAGE_SRC_KEY);
			p += LINEAGE_SRC_KEY + 8;
			lineage_remote_read(sv->fs, uid, s[0], s[1], key, s[2][0] ? s[2] : NULL,
					    file);
		}
		for (int i = 0; i < 3; i++)
			free(s[i]);
		if (bad)
			return -EINVAL;
	}
	return 0;
}

static int perform(struct fwd_server *sv, const struct fwd_req *r)
{
	const char *name, *name2;
	int root, dfd = -1, dfd2 = -1, rc;

	if (r->op == FWD_LINEAGE)
		return op_lineage(sv, r);
	if (!r->path || (r->op == FWD_RENAME && !r->path2))
		return -EINVAL;
	root = open(sv->mnt, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (root < 0)
		return -EIO;
	rc = become(r);
	if (rc == 0)
		rc = dfd = open_parent(root, r->path, &name);
	if (rc >= 0)
		rc = area_ok(sv->fs, dfd);
	if (rc == 0 && r->op == FWD_RENAME) {
		rc = dfd2 = open_parent(root, r->path2, &name2);
		if (rc >= 0)
			rc = area_ok(sv->fs, dfd2);
	}
	if (rc == 0) {
		switch (r->op) {
		case FWD_CHECK: rc = op_check(r, dfd, name); break;
		case FWD_PUT: rc = op_put(sv, r, dfd, name); break;
		case FWD_APPEND: rc = op_append(sv, r, dfd, name); break;
		case FWD_MKDIR: rc = mkdirat(dfd, name, r->mode & 07777) < 0 ? -errno : 0; break;
		case FWD_UNLINK: rc = unlinkat(dfd, name, 0) < 0 ? -errno : 0; break;
		case FWD_RMDIR: rc = unlinkat(dfd, name, AT_REMOVEDIR) < 0 ? -errno : 0; break;
		case FWD_RENAME:
			rc = syscall(SYS_renameat2, dfd, name, dfd2, name2, r->flags) < 0 ? -errno : 0;
			break;
		case FWD_SETXATTR:
		case FWD_REMOVEXATTR: rc = op_xattr(r, dfd, name); break;
		default: rc = -EINVAL; break;
		}
	}
	if (dfd >= 0)
		close(dfd);
	if (dfd2 >= 0)
		close(dfd2);
	unbecome();
	close(root);
	return rc;
}

static const char *const op_names[FWD_OPS] = {
	"?", "check", "save", "append", "mkdir", "unlink", "rmdir", "rename", "setxattr",
	"removexattr", "lineage",
};

static void serve_one(struct fwd_server *sv, struct fjob *j)
{
	struct fwd_answer a = { 0 };
	uint8_t out[FWD_ANSWER_LEN];
	struct fwd_req r;
	int rc = fwd_req_decode(j->buf, j->len, &r);

	if (rc == 0 && strcmp(r.writer, sv->writer))
		rc = -ESTALE;	/* it follows the writer before a fail-over */
	else if (rc == 0 && r.expires && real_ns() > r.expires)
		rc = -ETIMEDOUT;	/* its caller has given up: nothing is done */
	else if (rc == 0)
		rc = perform(sv, &r);
	if (r.obj && !strchr(r.obj, '/'))
		radosmsg_data_remove(sv->msg, r.obj, r.size);	/* made or not: done with */
	a.err = -rc;
	a.seq = meta_seq(sv->fs->meta);
	memcpy(a.writer, sv->writer, sizeof(a.writer));
	if (rc < 0 && rc != -EACCES && rc != -EPERM && rc != -ENOENT && rc != -EEXIST &&
	    rc != -ENOTEMPTY && rc != -ENOTDIR && rc != -EISDIR && rc != -ENODATA)
		log_warn("follower %s: %s of %s for uid %u: %s", r.host ? r.host : "?",
			 r.op < FWD_OPS ? op_names[r.op] : "?", r.path ? r.path : "?", r.uid,
			 strerror(-rc));
	else
		log_info("follower %s: %s of %s for uid %u: %s", r.host ? r.host : "?",
			 r.op < FWD_OPS ? op_names[r.op] : "?", r.path ? r.path : "-", r.uid,
			 rc ? strerror(-rc) : "done");
	/* the follower waits for its replica to apply the change: ship it now */
	if (r.op != FWD_CHECK && (rc = shipping_push(sv->fs, a.seq)) < 0)
		log_err("follower %s: the change at %llu is not shipped yet (%s): the follower "
			"sees it once it is", r.host ? r.host : "?", (unsigned long long)a.seq,
			strerror(-rc));
	fwd_answer_encode(&a, out);
	radosmsg_reply(sv->msg, j->tok, out, sizeof(out));
}

/* Journal holds of followers gone silent: sealed. */
static void expire_holds(struct fwd_server *sv)
{
	int64_t now = mono_s();
	struct hold *gone = NULL;

	pthread_mutex_lock(&sv->lock);
	for (struct hold **p = &sv->holds; *p; ) {
		struct hold *h = *p;

		if (now - h->seen < (int64_t)sv->fs->opt.journal_lease) {
			p = &h->next;
			continue;
		}
		*p = h->next;
		h->next = gone;
		gone = h;
	}
	pthread_mutex_unlock(&sv->lock);
	while (gone) {
		struct hold *h = gone;
		uint64_t ino = h->in->ino;

		gone = h->next;
		log_notice("follower %s: its journal session on inode %llu was silent for %u s: "
			   "the file is sealed", h->host, (unsigned long long)ino, sv->fs->opt.journal_lease);
		if (hold_drop(sv, h, true) < 0)
			log_err("follower: sealing journal inode %llu failed",
				(unsigned long long)ino);
	}
}

static void *worker_main(void *arg)
{
	struct fwd_server *sv = arg;
	struct timespec until;
	int64_t last = mono_s();
	bool sweep;

	/* a umask of this thread's own (the caller's, per request) */
	if (unshare(CLONE_FS) < 0)
		log_warn("follower requests: unshare(CLONE_FS): %s (the daemon's umask applies)",
			 strerror(errno));
	unbecome();
	pthread_mutex_lock(&sv->lock);
	sweep = !sv->swept;
	sv->swept = true;
	pthread_mutex_unlock(&sv->lock);
	if (sweep) {
		int n = radosmsg_sweep(sv->msg, FWD_SWEEP_SECS);

		if (n > 0)
			log_notice("followers: removed %d data objects of requests never made", n);
	}
	pthread_mutex_lock(&sv->lock);
	while (!sv->stop) {
		struct fjob *j = sv->head;

		if (!j) {
			clock_gettime(CLOCK_REALTIME, &until);
			until.tv_sec += 5;
			pthread_cond_timedwait(&sv->cond, &sv->lock, &until);
		} else {
			sv->head = j->next;
			if (!sv->head)
				sv->tail = NULL;
			sv->queued--;
			pthread_mutex_unlock(&sv->lock);
			serve_one(sv, j);
			free(j->buf);
			free(j);
			pthread_mutex_lock(&sv->lock);
		}
		if (mono_s() - last >= 5) {
			last = mono_s();
			pthread_mutex_unlock(&sv->lock);
			expire_holds(sv);
			pthread_mutex_lock(&sv->lock);
		}
	}
	pthread_mutex_unlock(&sv->lock);
	return NULL;
}

/* On a thread of librados: queue, never block. */
static void on_request(void *ctx, struct radosmsg_token tok, const void *buf, size_t len)
{
	struct fwd_server *sv = ctx;
	struct fjob *j = calloc(1, sizeof(*j));

	if (j && (j->buf = malloc(len ? len : 1))) {
		memcpy(j->buf, buf, len);
		j->len = len;
		j->tok = tok;
		pthread_mutex_lock(&sv->lock);
		if (!sv->stop && sv->queued < FWD_QUEUE_MAX) {
			if (sv->tail)
				sv->tail->next = j;
			else
				sv->head = j;
			sv->tail = j;
			sv->queued++;
			pthread_cond_signal(&sv->cond);
			j = NULL;
		}
		pthread_mutex_unlock(&sv->lock);
	}
	if (j) {	/* refused: busy */
		struct fwd_answer a = { .err = EBUSY };
		uint8_t out[FWD_ANSWER_LEN];

		fwd_answer_encode(&a, out);
		radosmsg_reply(sv->msg, tok, out, sizeof(out));
		free(j->buf);
		free(j);
	}
}

int fwd_serve_start(struct fs *fs, const char *mnt, const struct tier_rados_opts *ro)
{
	struct fwd_server *sv;
	int rc;

	if (!fs->shipper)
		return 0;	/* not a store in RADOS, or not shipped: nobody follows */
	sv = calloc(1, sizeof(*sv));
	if (!sv || !(sv->mnt = strdup(mnt))) {
		free(sv);
		return -ENOMEM;
	}
	sv->fs = fs;
	pthread_mutex_init(&sv->lock, NULL);
	pthread_cond_init(&sv->cond, NULL);
	rc = fwd_writer_id(fs->store->path, sv->writer);
	if (rc == 0)
		rc = radosmsg_open(fs->store->hot_path, ro, &sv->msg);
	for (int i = 0; rc == 0 && i < FWD_WORKERS; i++) {
		rc = -pthread_create(&sv->workers[i], NULL, worker_main, sv);
		if (rc == 0)
			sv->nworkers++;
	}
	if (rc == 0)
		rc = radosmsg_serve(sv->msg, on_request, sv);
	fs->fwd_server = sv;
	if (rc < 0) {
		fwd_serve_stop(fs);
		return rc;
	}
	if (geteuid() != 0)
		log_notice("followers' writes are made only for uid %u: the daemon is not root",
			   (unsigned)geteuid());
	return 0;
}

void fwd_serve_stop(struct fs *fs)
{
	struct fwd_server *sv = fs->fwd_server;
	struct fjob *j;
	struct hold *h;

	if (!sv)
		return;
	if (sv->msg)
		radosmsg_unserve(sv->msg);
	pthread_mutex_lock(&sv->lock);
	sv->stop = true;
	pthread_cond_broadcast(&sv->cond);
	pthread_mutex_unlock(&sv->lock);
	for (int i = 0; i < sv->nworkers; i++)
		pthread_join(sv->workers[i], NULL);
	while ((j = sv->head)) {	/* not made: their callers get EIO */
		sv->head = j->next;
		free(j->buf);
		free(j);
	}
	while ((h = sv->holds)) {
		sv->holds = h->next;
		hold_drop(sv, h, false);	/* unsealed, as after a crash */
	}
	radosmsg_close(sv->msg);
	pthread_mutex_destroy(&sv->lock);
	pthread_cond_destroy(&sv->cond);
	free(sv->mnt);
	free(sv);
	fs->fwd_server = NULL;
}
