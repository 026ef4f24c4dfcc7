/* store.c — opening, creating and locking a whole store (see store.h).
 *
 * aifs.conf is the first thing read: it decides whether this binary may
 * touch the store at all (format version), before RocksDB is opened.
 * The lock is an flock on STORE/lock held for as long as the store is open;
 * the kernel drops it when the holder dies, so a kill -9 never leaves a
 * stale lock behind.  The lock file says who holds it: its pid on the first
 * line, and, once a daemon has mounted the store, the mount point on the
 * second.  umount(8) returns before that daemon has closed the store: a
 * holder whose mount point is no longer mounted is exiting, and is waited
 * for (LOCK_WAIT_MS at most).
 */
#include "meta/store.h"
#include "meta/ship.h"
#include "meta/store_priv.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "meta/note.h"
#include "tier/log.h"

/* Format a user message into ERR and return RC (a negative errno). */
int store_fail(char *err, size_t errlen, int rc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return rc;
}

char *store_path_join(const char *a, const char *b)
{
	char *p;

	if (asprintf(&p, "%s/%s", a, b) < 0)
		return NULL;
	return p;
}

int store_uuid_make(char *out)
{
	unsigned char r[16];
	int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	if (read(fd, r, sizeof(r)) != (ssize_t)sizeof(r)) {
		close(fd);
		return -EIO;
	}
	close(fd);
	r[6] = (r[6] & 0x0f) | 0x40;
	r[8] = (r[8] & 0x3f) | 0x80;
	sprintf(out, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
		r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10],
		r[11], r[12], r[13], r[14], r[15]);
	return 0;
}

/* Write FILE under DIR with CONTENT and fsync it and DIR. */
int store_write_durable(const char *dir, const char *file, const char *content)
{
	char *p = store_path_join(dir, file);
	int fd, rc = 0, dfd;
	size_t len = strlen(content);

	if (!p)
		return -ENOMEM;
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	free(p);
	if (fd < 0)
		return -errno;
	if (write(fd, content, len) != (ssize_t)len || fsync(fd) < 0)
		rc = errno ? -errno : -EIO;
	close(fd);
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		fsync(dfd);
		close(dfd);
	}
	return rc;
}

int store_mkdir_in(const char *dir, const char *sub)
{
	char *p = store_path_join(dir, sub);
	int rc = 0;

	if (!p)
		return -ENOMEM;
	if (mkdir(p, 0700) < 0 && errno != EEXIST)
		rc = -errno;
	free(p);
	return rc;
}

/* Make directory PATH (a store root or a tier) private to the caller:
 * anyone else who may write into it may delete meta/ or replace
 * audit.pub.  0, or a negative errno with ERR saying why. */
int store_dir_private(const char *path, const char *what, char *err, size_t errlen)
{
	struct stat st;

	if (stat(path, &st) < 0)
		return store_fail(err, errlen, -errno, "cannot read %s %s: %s", what, path,
			    strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return store_fail(err, errlen, -ENOTDIR, "%s %s is not a directory", what, path);
	if (st.st_uid != geteuid())
		return store_fail(err, errlen, -EPERM, "%s %s is owned by uid %u, not by you: make the "
			    "store in a directory you own", what, path, (unsigned)st.st_uid);
	if ((st.st_mode & 07777) != 0700 && chmod(path, 0700) < 0)
		return store_fail(err, errlen, -errno, "cannot make %s %s private (mode 0700): %s",
			    what, path, strerror(errno));
	return 0;
}

/* 1 if PATH is an empty directory, 0 if not, or a negative errno. */
int store_dir_is_empty(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *de;
	int empty = 1;

	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) {
			empty = 0;
			break;
		}
	}
	closedir(d);
	return empty;
}

/* Parse aifs.conf of S ("key = value" lines; unknown keys are kept for
 * newer binaries and ignored here). */
static int conf_read(struct store *s, char *err, size_t errlen)
{
	char *p = store_path_join(s->path, "aifs.conf");
	char line[4096], key[64], val[4000];
	FILE *f;
	int have_format = 0;

	if (!p)
		return -ENOMEM;
	f = fopen(p, "re");
	free(p);
	if (!f)
		return store_fail(err, errlen, -errno,
			    "%s is not an aifs store: cannot read aifs.conf: %s "
			    "(create a store with: aifsctl mkfs %s)",
			    s->path, strerror(errno), s->path);
	while (fgets(line, sizeof(line), f)) {
		if (line[0] == '#' || sscanf(line, " %63[^= ] = %3999[^\n]", key, val) != 2)
			continue;
		if (!strcmp(key, "format")) {
			s->format = (uint32_t)strtoul(val, NULL, 10);
			have_format = 1;
		} else if (!strcmp(key, "uuid")) {
			snprintf(s->uuid, sizeof(s->uuid), "%.39s", val);
		} else if (!strcmp(key, "created")) {
			s->created = strtoll(val, NULL, 10);
		} else if (!strcmp(key, "segment_size")) {
			s->segment_size = strtoull(val, NULL, 10);
		} else if (!strcmp(key, "cold")) {
			free(s->cold_path);
			s->cold_path = strdup(val);
		} else if (!strcmp(key, "hot")) {
			free(s->hot_path);
			s->hot_path = strdup(val);
		} else if (!strcmp(key, "ceph_conf")) {
			free(s->ceph_conf);
			s->ceph_conf = strdup(val);
		} else if (!strcmp(key, "ceph_user")) {
			free(s->ceph_user);
			s->ceph_user = strdup(val);
		}
	}
	fclose(f);
	if (!have_format || s->format == 0)
		return store_fail(err, errlen, -EINVAL, "%s/aifs.conf has no valid format line; "
			    "the store is damaged", s->path);
	if (s->format > STORE_FORMAT)
		return store_fail(err, errlen, -EPROTONOSUPPORT,
			    "store %s has format %u, newer than this aifs (format %u); "
			    "use a newer aifs", s->path, s->format, STORE_FORMAT);
	return 0;
}

#define LOCK_WAIT_MS	10000	/* longest wait for an exiting holder */

/* True if PATH is a mount point in this mount namespace. */
static bool is_mount_point(const char *path)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char line[3 * 4096], mp[4096];
	bool found = false;

	if (!f)
		return true;		/* cannot tell: take it as a live mount */
	while (!found && fgets(line, sizeof(line), f)) {
		const char *q = line;
		size_t n = 0;

		for (int field = 0; field < 4 && q; field++) {	/* the 5th is the mount point */
			q = strchr(q, ' ');
			q = q ? q + 1 : NULL;
		}
		/* octal escapes (\040 for a space) as the kernel writes them */
		while (q && *q && *q != ' ' && n + 1 < sizeof(mp)) {
			if (q[0] == '\\' && q[1] >= '0' && q[1] <= '3' && q[2] && q[3]) {
				mp[n++] = (char)((q[1] - '0') << 6 | (q[2] - '0') << 3 | (q[3] - '0'));
				q += 4;
			} else {
				mp[n++] = *q++;
			}
		}
		mp[n] = 0;
		found = q && !strcmp(mp, path);
	}
	fclose(f);
	return found;
}

/* Read who holds the lock on FD: pid and mount point ("" when unknown). */
static void lock_holder(int fd, char *pid, size_t pidlen, char *mnt, size_t mntlen)
{
	char buf[4200];
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
	char *nl;

	buf[n > 0 ? n : 0] = 0;
	nl = strchr(buf, '\n');
	if (nl)
		*nl++ = 0;
	n = (ssize_t)strnlen(buf, pidlen - 1);
	memcpy(pid, buf, (size_t)n);
	pid[n] = 0;
	n = nl ? (ssize_t)strnlen(nl, mntlen - 1) : 0;
	memcpy(mnt, nl ? nl : "", (size_t)n);
	mnt[n] = 0;
	mnt[strcspn(mnt, "\n")] = 0;
}

/* The lock on FD is held by a daemon whose mount is gone: wait for it to
 * let go, LOCK_WAIT_MS at most.  0 once the lock is ours, else -EWOULDBLOCK. */
static int lock_wait_exiting(struct store *s, const char *pid)
{
	log_notice("waiting for the previous aifs of store %s (pid %s) to exit", s->path, pid);
	for (int waited = 0; waited < LOCK_WAIT_MS; waited += 20) {
		struct timespec ts = { 0, 20 * 1000000 };

		nanosleep(&ts, NULL);
		if (flock(s->lock_fd, LOCK_EX | LOCK_NB) == 0)
			return 0;
		if (errno != EWOULDBLOCK)
			return -errno;
	}
	return -EWOULDBLOCK;
}

/* Take the store's lock or explain who holds it. */
static int lock_take(struct store *s, char *err, size_t errlen)
{
	char *p = store_path_join(s->path, "lock");
	char pid[32] = "", mnt[4096];
	ssize_t n;
	int e = 0;

	if (!p)
		return -ENOMEM;
	s->lock_fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	free(p);
	if (s->lock_fd < 0)
		return store_fail(err, errlen, -errno, "cannot open %s/lock: %s", s->path,
			    strerror(errno));
	if (flock(s->lock_fd, LOCK_EX | LOCK_NB) < 0) {
		e = errno;
		lock_holder(s->lock_fd, pid, sizeof(pid), mnt, sizeof(mnt));
		if (e == EWOULDBLOCK && mnt[0] && !is_mount_point(mnt))
			e = -lock_wait_exiting(s, pid[0] ? pid : "unknown");
	}
	if (e == EWOULDBLOCK)
		return store_fail(err, errlen, -EBUSY,
			    "store %s is already in use (mounted or being checked) "
			    "by process %s", s->path, pid[0] ? pid : "unknown");
	if (e != 0)
		return store_fail(err, errlen, -e, "cannot lock %s: %s", s->path, strerror(e));
	n = snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
	if (ftruncate(s->lock_fd, 0) < 0 || pwrite(s->lock_fd, pid, n, 0) != n)
		log_warn("cannot record pid in %s/lock: %s", s->path, strerror(errno));
	return 0;
}

int store_lock_mounted(struct store *s, const char *mnt)
{
	char line[4200];
	int n = snprintf(line, sizeof(line), "%d\n%s\n", (int)getpid(), mnt);

	if (n < 0 || (size_t)n >= sizeof(line) || strchr(mnt, '\n'))
		return -ENAMETOOLONG;
	if (ftruncate(s->lock_fd, 0) < 0 || pwrite(s->lock_fd, line, n, 0) != n)
		return -errno;
	return 0;
}

static bool store_readonly;	/* set by store_open_readonly for one call */

/* Opening the metadata database for writing writes new log and manifest
 * files and may flush the old log into a table: RocksDB aborts when the
 * disk fills up under it.  -ENOSPC unless the disk of metadata directory
 * MDIR has room for that (its log files once more, and 4 MiB). */
static int meta_room(struct store *s, const char *mdir, char *err, size_t errlen)
{
	uint64_t need = 4u << 20, avail;
	struct statvfs sv;
	struct dirent *e;
	DIR *d;

	if (statvfs(mdir, &sv) < 0)
		return 0;		/* the open says what is wrong */
	d = opendir(mdir);
	while (d && (e = readdir(d))) {
		struct stat st;
		size_t n = strlen(e->d_name);

		if (n > 4 && !strcmp(e->d_name + n - 4, ".log") &&
		    fstatat(dirfd(d), e->d_name, &st, 0) == 0)
			need += (uint64_t)st.st_size;
	}
	if (d)
		closedir(d);
	avail = (uint64_t)sv.f_bavail * sv.f_frsize;
	if (avail >= need)
		return 0;
	return store_fail(err, errlen, -ENOSPC, "the disk of store %s is full (%llu bytes free, "
		    "%llu needed to open its metadata for writing): free space on it, or open "
		    "it read-only", s->path, (unsigned long long)avail, (unsigned long long)need);
}
static bool store_lock_shared;	/* set by store_open_ro for one call */

/* The shared lock of a read-only open on read-only media: none if there
 * is no lock file (no writer ever opened the store from there). */
static int lock_take_shared(struct store *s, char *err, size_t errlen)
{
	char *p = store_path_join(s->path, "lock");

	if (!p)
		return -ENOMEM;
	s->lock_fd = open(p, O_RDONLY | O_CLOEXEC);
	free(p);
	if (s->lock_fd < 0)
		return errno == ENOENT ? 0 : store_fail(err, errlen, -errno, "cannot open %s/lock: %s",
						  s->path, strerror(errno));
	if (flock(s->lock_fd, LOCK_SH | LOCK_NB) < 0)
		return store_fail(err, errlen, errno == EWOULDBLOCK ? -EBUSY : -errno,
			    "store %s is in use by a writer: %s", s->path,
			    errno == EWOULDBLOCK ? "mounted read-write or being repaired" :
						   strerror(errno));
	return 0;
}

int store_open_ro(const char *path, const char *cold, struct store **out, char *err,
		  size_t errlen)
{
	int rc;

	store_readonly = store_lock_shared = true;
	rc = store_open_cold(path, cold, out, err, errlen);
	store_readonly = store_lock_shared = false;
	return rc;
}


/* How to reach the RADOS tiers of S: O's choices over aifs.conf's.  The
 * lock's cookie (HOLDER, HOLDLEN bytes) names this host and the store's
 * path; NOTE describes the holder for whoever finds the lock taken. */
static void rados_opts(const struct store *s, const struct store_opts *o,
		       struct tier_rados_opts *ro, char *holder, size_t holdlen, char *note,
		       size_t notelen, char *err, size_t errlen)
{
	char host[256] = "?", real[PATH_MAX];

	gethostname(host, sizeof(host) - 1);
	if (!realpath(s->path, real))
		snprintf(real, sizeof(real), "%s", s->path);
	snprintf(holder, holdlen, "%s:%s", host, real);
	snprintf(note, notelen, "aifs pid %d on %s, store %s%s%s", (int)getpid(), host, real,
		 o && o->mnt ? ", mounted on " : "", o && o->mnt ? o->mnt : "");
	*ro = (struct tier_rados_opts){
		.conf = o && o->ceph_conf ? o->ceph_conf : s->ceph_conf,
		.user = o && o->ceph_user ? o->ceph_user : s->ceph_user,
		.timeout = o && o->rados_timeout >= 0 ? (unsigned)o->rados_timeout :
			   STORE_RADOS_TIMEOUT,
		.uuid = s->uuid, .holder = holder, .note = note, .err = err, .errlen = errlen,
		.cache_size = !o || !o->cache_size ? -1 : o->cache_size < 0 ? 0 : o->cache_size,
	};
}

static int tiers_open(struct store *s, const struct store_opts *o, bool ro_tiers, char *err,
		      size_t errlen)
{
	char *hot = s->hot_path ? strdup(s->hot_path) : store_path_join(s->path, "hot");
	char *cold = s->cold_path ? strdup(s->cold_path) : store_path_join(s->path, "cold");
	char *cache = store_path_join(s->path, "cache");
	char holder[PATH_MAX + 300], note[2 * PATH_MAX + 400];
	struct tier_rados_opts ro;
	int rc = -ENOMEM;

	if (!hot || !cold || !cache)
		goto out;
	err[0] = 0;
	rados_opts(s, o, &ro, holder, sizeof(holder), note, sizeof(note), err, errlen);
	ro.cache_dir = cache;	/* the hot tier's only: cold data is read rarely */
	ro.cache_own = o && o->follower;
	rc = tier_open_spec(hot, TIER_HOT, ro_tiers, &ro, &s->tiers[TIER_HOT]);
	ro.cache_dir = NULL;
	ro.cache_own = false;
	if (rc < 0) {
		if (!err[0])
			store_fail(err, errlen, rc, "cannot open hot tier %s: %s", hot, strerror(-rc));
		goto out;
	}
	/* Both tiers in one namespace: the hot tier holds its lock. */
	if (tier_spec_is_rados(hot) && !strcmp(hot, cold))
		ro.holder = NULL;
	rc = tier_open_spec(cold, TIER_COLD, ro_tiers, &ro, &s->tiers[TIER_COLD]);
	if (rc < 0 && !err[0])
		store_fail(err, errlen, rc, "cannot open cold tier %s: %s", cold, strerror(-rc));
	for (int t = 0; rc == 0 && s->segment_size && t < TIER_COUNT; t++) {
		rc = tier_set_seg_max(s->tiers[t], s->segment_size);
		if (rc < 0)
			store_fail(err, errlen, rc, "aifs.conf of %s: bad segment_size %llu", s->path,
			     (unsigned long long)s->segment_size);
	}
out:
	free(hot);
	free(cold);
	free(cache);
	return rc;
}


int store_open_readonly(const char *path, struct store **out, char *err, size_t errlen)
{
	int rc;

	store_readonly = true;
	rc = store_open(path, out, err, errlen);
	store_readonly = false;
	return rc;
}

int store_open(const char *path, struct store **out, char *err, size_t errlen)
{
	return store_open_opts(path, NULL, out, err, errlen);
}

int store_open_cold(const char *path, const char *cold, struct store **out, char *err,
		    size_t errlen)
{
	struct store_opts o = { .cold = cold, .rados_timeout = -1 };

	return store_open_opts(path, &o, out, err, errlen);
}

static int set_meta_format(struct meta *m, uint32_t format)
{
	struct meta_batch *b = meta_batch_new();
	int rc;

	if (!b)
		return -ENOMEM;
	meta_format_put(b, format);
	rc = meta_batch_commit(m, b, true);
	meta_batch_free(b);
	return rc;
}

int store_set_format(struct store *s, uint32_t format)
{
	char *p = store_path_join(s->path, "aifs.conf"), *text = NULL, *out = NULL;
	size_t cap = 0, len = 0;
	FILE *f, *o;
	char *line = NULL;
	ssize_t n;
	int rc = 0;

	if (!p)
		return -ENOMEM;
	f = fopen(p, "re");
	free(p);
	if (!f)
		return -errno;
	o = open_memstream(&out, &len);
	if (!o) {
		fclose(f);
		return -ENOMEM;
	}
	while ((n = getline(&line, &cap, f)) > 0) {
		char key[64];

		if (line[0] != '#' && sscanf(line, " %63[^= ] =", key) == 1 && !strcmp(key, "format"))
			fprintf(o, "format = %u\n", format);
		else
			fwrite(line, 1, (size_t)n, o);
	}
	free(line);
	fclose(f);
	if (fclose(o) != 0)
		rc = -ENOMEM;
	text = out;
	if (rc == 0) {
		/* a new file renamed over the old one: never half written */
		rc = store_write_durable(s->path, "aifs.conf.new", text);
		if (rc == 0) {
			char *from = store_path_join(s->path, "aifs.conf.new");
			char *to = store_path_join(s->path, "aifs.conf");

			if (!from || !to)
				rc = -ENOMEM;
			else if (rename(from, to) < 0)
				rc = -errno;
			free(from);
			free(to);
		}
		if (rc == 0) {
			int dfd = open(s->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

			if (dfd >= 0) {
				fsync(dfd);
				close(dfd);
			}
		}
	}
	free(text);
	if (rc == 0)
		rc = set_meta_format(s->meta, format);
	if (rc == 0) {
		log_notice("store %s: format %u (was %u)", s->path, format, s->format);
		s->format = format;
	}
	return rc;
}

int store_open_opts(const char *path, const struct store_opts *o, struct store **out,
		    char *err, size_t errlen)
{
	const char *cold = o ? o->cold : NULL;
	struct store *s = calloc(1, sizeof(*s));
	struct stat st;
	uint32_t fmt;
	char *mdir = NULL;
	int rc;

	if (!s)
		return -ENOMEM;
	s->lock_fd = -1;
	s->path = strdup(path);
	if (!s->path) {
		rc = -ENOMEM;
		goto fail;
	}
	if (stat(path, &st) < 0) {
		rc = store_fail(err, errlen, -errno, "no store at %s: %s (create one with: "
			  "aifsctl mkfs %s)", path, strerror(errno), path);
		goto fail;
	}
	rc = conf_read(s, err, errlen);
	if (rc < 0)
		goto fail;
	if (cold) {
		free(s->cold_path);
		s->cold_path = strdup(cold);
		if (!s->cold_path) {
			rc = -ENOMEM;
			goto fail;
		}
	}
	rc = store_lock_shared ? lock_take_shared(s, err, errlen) :
	     store_readonly ? 0 : lock_take(s, err, errlen);
	if (rc < 0)
		goto fail;
	mdir = store_path_join(path, "meta");
	rc = !mdir ? -ENOMEM : store_readonly ? 0 : meta_room(s, mdir, err, errlen);
	if (rc < 0)
		goto fail;
	rc = store_readonly ? meta_open_readonly(mdir, &s->meta) :
	     tier_spec_is_rados(s->hot_path) && !(o && o->follower) ?
	     meta_open_shipped(mdir, &s->meta) : meta_open(mdir, false, &s->meta);
	if (rc < 0) {
		store_fail(err, errlen, rc, "cannot open metadata database %s: %s", mdir ? mdir : path,
		     strerror(-rc));
		goto fail;
	}
	rc = meta_format_get(s->meta, &fmt);
	if (rc == 0 && fmt + 1 == s->format && s->format >= 2) {
		/* an upgrade cut short between aifs.conf and the metadata */
		rc = store_readonly ? 0 : set_meta_format(s->meta, s->format);
		if (rc == 0)
			fmt = s->format;
	}
	if (rc < 0 || fmt != s->format) {
		rc = store_fail(err, errlen, -EINVAL, "metadata of %s has format %u but aifs.conf "
			  "says %u; the store is damaged", path, rc < 0 ? 0 : fmt, s->format);
		goto fail;
	}
	rc = tiers_open(s, o, store_readonly || (o && o->follower), err, errlen);
	if (rc < 0)
		goto fail;
	if (!store_readonly && !(o && o->follower) && tier_spec_is_rados(s->hot_path)) {
		rc = ship_catch_up(s, err, errlen);	/* a replica becoming the writer */
		if (rc < 0)
			goto fail;
	}
	free(mdir);
	*out = s;
	return 0;
fail:
	free(mdir);
	store_close(s);
	return rc;
}

void store_close(struct store *s)
{
	if (!s)
		return;
	for (int i = 0; i < TIER_COUNT; i++)
		if (s->tiers[i])
			tier_close(s->tiers[i]);
	if (s->meta)
		meta_close(s->meta);
	if (s->lock_fd >= 0)
		close(s->lock_fd);
	free(s->cold_path);
	free(s->hot_path);
	free(s->ceph_conf);
	free(s->ceph_user);
	free(s->path);
	free(s);
}

int store_rados_unlock(const char *path, const struct store_opts *o,
		       void (*report)(void *ctx, const char *who), void *ctx, char *err,
		       size_t errlen)
{
	struct store *s = calloc(1, sizeof(*s));
	char holder[PATH_MAX + 300], note[2 * PATH_MAX + 400];
	struct tier_rados_opts ro;
	int rc;

	if (!s || !(s->path = strdup(path))) {
		free(s);
		return store_fail(err, errlen, -ENOMEM, "out of memory");
	}
	s->lock_fd = -1;
	const char *spec;

	rc = conf_read(s, err, errlen);
	spec = tier_spec_is_rados(s->hot_path) ? s->hot_path : s->cold_path;
	if (rc == 0 && !tier_spec_is_rados(spec))
		rc = store_fail(err, errlen, -EINVAL, "store %s has no RADOS tier", path);
	/* the local lock: a store mounted here must be unmounted, not unlocked */
	if (rc == 0)
		rc = lock_take(s, err, errlen);
	if (rc == 0) {
		err[0] = 0;
		rados_opts(s, o, &ro, holder, sizeof(holder), note, sizeof(note), err, errlen);
		rc = tier_rados_unlock(spec, &ro, report, ctx);
		if (rc < 0 && !err[0])
			store_fail(err, errlen, rc, "cannot unlock %s: %s", spec, strerror(-rc));
	}
	store_close(s);
	return rc;
}
