/* follow.c — a follower mount: a read-only mount, on any host that reaches
 * the cluster, of a store whose data is in RADOS and whose writer ships its
 * metadata to the pool (shipping.c, meta/ship.h).
 *
 * The follower keeps a replica of the metadata in a local directory (made
 * by the same recovery as `aifsctl recover` the first time) and reads the
 * data from the pool through its local cache.  A thread applies what the
 * writer ships every FOLLOW_MS: each batch goes into the replica as the
 * writer committed it; the inodes it touched that the daemon holds in
 * memory are read again, and the kernel is told (inval.h) to drop its
 * pages and names of them.  The kernel keeps names and attributes of a
 * follower mount for one second at most, so that what a lookup answered
 * before a change is not served much longer.  The writer ships every
 * second: a follower sees a change about two seconds after its commit.
 *
 * A follower whose link to the cluster drops keeps serving its replica as
 * it was (the names as of the last batch applied, the data in its cache)
 * while its lag grows, and says it is disconnected (follow_status).  When
 * the cluster blocklisted its client (ESHUTDOWN: evicted), the handle is
 * shut down and made anew, so that it catches up on its own once the
 * cluster lets a new client of this host in; so is one whose reads timed
 * out (a client can go on timing out after an OSD came back).
 *
 * The replica remembers the next sequence number to apply in
 * REPLICA/follow.seq, written after the replica's metadata is synced: a
 * crash between the two applies a few batches twice, which puts and
 * deletes of the same keys make harmless.
 */
#include "fs/fs.h"
#include "fs/follow.h"
#include "fs/inval.h"
#include "fs/inode.h"
#include "meta/keys.h"
#include "meta/ship.h"
#include "tier/failpoint.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define FOLLOW_MS	500

struct follower {
	struct fs *fs;
	struct ship_follow *sf;		/* only the thread uses it, and replaces it */
	char *spec;
	struct tier_rados_opts ro;	/* strings owned by the mount */
	int link;			/* the last step's error (0: it read the pool) */
	uint64_t renewals;		/* times sf was made anew */
	char addr[128];			/* sf's client address */
	char *seqfile;
	uint64_t next;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;		/* wakes the thread: stop, or a kick */
	pthread_cond_t applied;		/* a step ended */
	bool stop, stale, kick;
	int64_t applied_at;		/* when a step last succeeded (ns) */
	uint64_t batches_seq;		/* next, as of that step */
	/* what the step being applied touched */
	uint64_t *inos;
	size_t n, cap;
	uint8_t (*dkeys)[KEY_MAX];	/* dentry keys: 'D' | parent | name */
	size_t *dlen, nd, capd;
	bool oom;
};

static struct follower *F;

int follow_seq_read(const char *replica, uint64_t *next)
{
	char path[4096], buf[32];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/follow.seq", replica);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -EINVAL;
	buf[n] = 0;
	*next = strtoull(buf, NULL, 10);
	return *next ? 0 : -EINVAL;
}

int follow_seq_write(const char *replica, uint64_t next)
{
	char path[4096], tmp[4200], buf[32];
	int fd, n, rc = 0;

	snprintf(path, sizeof(path), "%s/follow.seq", replica);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	n = snprintf(buf, sizeof(buf), "%llu\n", (unsigned long long)next);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	if (write(fd, buf, (size_t)n) != n || fsync(fd) < 0)
		rc = -errno ? -errno : -EIO;
	close(fd);
	if (rc == 0 && rename(tmp, path) < 0)
		rc = -errno;
	return rc;
}

static void on_key(void *ctx, const void *key, size_t klen)
{
	struct follower *f = ctx;
	const uint8_t *k = key;

	if (klen < 9)
		return;
	if (f->n == f->cap) {
		size_t cap = f->cap ? f->cap * 2 : 256;
		uint64_t *v = realloc(f->inos, cap * sizeof(*v));

		if (!v) {
			f->oom = true;
			return;
		}
		f->inos = v;
		f->cap = cap;
	}
	f->inos[f->n++] = key_get_u64(k + 1);
	if (k[0] != 'D' || klen == 9 || klen > KEY_MAX)
		return;
	if (f->nd == f->capd) {
		size_t cap = f->capd ? f->capd * 2 : 64;
		uint8_t (*d)[KEY_MAX] = realloc(f->dkeys, cap * sizeof(*d));
		size_t *l;

		if (!d) {
			f->oom = true;
			return;
		}
		f->dkeys = d;
		l = realloc(f->dlen, cap * sizeof(*l));
		if (!l) {
			f->oom = true;
			return;
		}
		f->dlen = l;
		f->capd = cap;
	}
	memcpy(f->dkeys[f->nd], k, klen);
	f->dlen[f->nd++] = klen;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* The inodes the step touched: what the daemon holds of them is read
 * again, and the kernel forgets their pages and the changed names. */
static void refresh(struct follower *f)
{
	struct fs *fs = f->fs;

	if (f->n)
		qsort(f->inos, f->n, sizeof(*f->inos), cmp_u64);
	for (size_t i = 0; i < f->n; i++) {
		struct meta_inode a;
		struct inode *in;

		if (i && f->inos[i] == f->inos[i - 1])
			continue;
		in = inode_find_cached(fs, f->inos[i]);
		if (in) {
			pthread_rwlock_wrlock(&in->lock);
			if (meta_inode_get(fs->meta, in->ino, &a) == 0)
				in->attr = a;
			fs_content_reload(in);
			pthread_rwlock_unlock(&in->lock);
			inode_put(fs, in);
		}
		inval_inode(f->inos[i], 0, 0);
	}
	for (size_t i = 0; i < f->nd; i++)
		inval_entry(key_get_u64(f->dkeys[i] + 1), (const char *)f->dkeys[i] + 9,
			    f->dlen[i] - 9);
	f->n = f->nd = 0;
}

/* A step failed with RC: make the handle anew if the cluster evicted it
 * (ESHUTDOWN), or if it timed out: a client whose requests timed out while
 * an OSD was away may go on timing out once it is back, where a new one
 * is served. */
static void relink(struct follower *f, int rc)
{
	struct ship_follow *sf;
	int r;

	if (rc != -ESHUTDOWN && rc != -ETIMEDOUT)
		return;
	r = ship_follow_open(f->spec, &f->ro, f->fs->store->path, &sf);
	if (r < 0) {
		if (rc == -ESHUTDOWN)
			log_err("follower: the cluster blocklisted this client and a new one "
				"cannot connect (%s): serving the replica as it is, tried again",
				strerror(-r));
		return;
	}
	ship_follow_free(f->sf);
	pthread_mutex_lock(&f->lock);
	f->sf = sf;
	if (rc == -ESHUTDOWN)
		f->renewals++;
	ship_follow_addr(sf, f->addr, sizeof(f->addr));
	pthread_mutex_unlock(&f->lock);
	if (rc == -ESHUTDOWN)
		log_notice("follower: the cluster blocklisted this client: connected anew as %s",
			   f->addr);
	else
		log_info("follower: reading the pool timed out: connected anew as %s", f->addr);
}

static void *follow_main(void *arg)
{
	struct follower *f = arg;
	struct timespec until;

	pthread_mutex_lock(&f->lock);
	while (!f->stop) {
		uint64_t next = f->next;
		int rc;

		pthread_mutex_unlock(&f->lock);
		/* a stale replica is served as it is, and its lag grows; the fail
		 * point follow_step holds the replica back (a slow follower) */
		rc = f->stale ? -EAGAIN : failpoint("follow_step", EAGAIN);
		if (rc == 0)
			rc = ship_follow_step(f->sf, f->fs->meta, &next, on_key, f);
		if (f->oom) {
			/* what changed is not known: forget every name the kernel holds */
			log_err("follower: out of memory noting what changed");
			inval_inode(META_ROOT_INO, 0, 0);
			f->oom = false;
		}
		if (next != f->next && meta_sync(f->fs->meta) == 0 &&
		    follow_seq_write(f->fs->store->path, next) < 0)
			log_err("follower: cannot record its position in %s/follow.seq",
				f->fs->store->path);
		refresh(f);
		if (rc == -ESTALE && !f->stale) {
			log_err("follower: the writer compacted its shipped metadata past what "
				"this replica has applied (%llu); unmount and mount again to "
				"rebuild the replica", (unsigned long long)next);
			f->stale = true;
		} else if (rc == -ECHILD && !f->stale) {
			log_err("follower: another writer ships to the pool now (a fail-over); "
				"serving the replica as it was: unmount and mount again to follow "
				"the new writer");
			f->stale = true;
		} else if (rc < 0 && rc != -ESTALE && rc != -ECHILD && rc != -EAGAIN &&
			   rc != f->link) {
			log_warn("follower: reading what the writer shipped: %s (tried again; "
				 "said once until it works)", strerror(-rc));
		}
		if (rc == 0 && f->link)
			log_notice("follower: reading what the writer ships again");
		relink(f, rc);
		pthread_mutex_lock(&f->lock);
		if (rc != -EAGAIN && rc != -ESTALE && rc != -ECHILD)
			f->link = rc;
		f->next = next;
		if (rc == 0) {
			f->applied_at = fs_now();
			f->batches_seq = next;
		}
		pthread_cond_broadcast(&f->applied);
		if (f->kick) {
			f->kick = false;
			continue;	/* a writer waits for its change: step again now */
		}
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += FOLLOW_MS * 1000000L;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		if (!f->stop)
			pthread_cond_timedwait(&f->cond, &f->lock, &until);
	}
	pthread_mutex_unlock(&f->lock);
	return NULL;
}

int follow_start(struct fs *fs, const char *spec, const struct tier_rados_opts *ro,
		 uint64_t next)
{
	struct follower *f = calloc(1, sizeof(*f));
	int rc;

	if (!f)
		return -ENOMEM;
	f->fs = fs;
	f->next = next;
	f->ro = *ro;
	f->ro.err = NULL;
	f->spec = strdup(spec);
	f->applied_at = fs_now();
	pthread_mutex_init(&f->lock, NULL);
	pthread_cond_init(&f->cond, NULL);
	pthread_cond_init(&f->applied, NULL);
	rc = f->spec ? ship_follow_open(spec, ro, fs->store->path, &f->sf) : -ENOMEM;
	if (rc == 0)
		ship_follow_addr(f->sf, f->addr, sizeof(f->addr));
	if (rc == 0 && pthread_create(&f->thread, NULL, follow_main, f) != 0)
		rc = -EAGAIN;
	if (rc < 0) {
		ship_follow_free(f->sf);
		free(f->spec);
		free(f);
		log_err("follower: cannot follow %s: %s; serving the replica as it is", spec,
			strerror(-rc));
		return rc;
	}
	log_notice("following %s from shipped batch %llu", spec, (unsigned long long)next);
	F = f;
	return 0;
}

void follow_stop(struct fs *fs)
{
	struct follower *f = F;

	(void)fs;
	if (!f)
		return;
	pthread_mutex_lock(&f->lock);
	f->stop = true;
	pthread_cond_signal(&f->cond);
	pthread_cond_broadcast(&f->applied);
	pthread_mutex_unlock(&f->lock);
	pthread_join(f->thread, NULL);
	ship_follow_free(f->sf);
	free(f->spec);
	free(f->inos);
	free(f->dkeys);
	free(f->dlen);
	free(f);
	F = NULL;
}

int follow_wait(uint64_t seq, unsigned ms)
{
	struct follower *f = F;
	struct timespec until;
	int rc = 0;

	if (!f)
		return -ESTALE;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += ms / 1000;
	until.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&f->lock);
	while (f->next <= seq && rc == 0) {
		if (f->stale || f->stop) {
			rc = -ESTALE;
			break;
		}
		f->kick = true;
		pthread_cond_signal(&f->cond);
		rc = -pthread_cond_timedwait(&f->applied, &f->lock, &until);
	}
	if (f->next > seq)
		rc = 0;
	pthread_mutex_unlock(&f->lock);
	return rc;
}

bool follow_stale(void)
{
	struct follower *f = F;
	bool stale;

	if (!f)
		return true;
	pthread_mutex_lock(&f->lock);
	stale = f->stale;
	pthread_mutex_unlock(&f->lock);
	return stale;
}

bool follow_status(double *lag, uint64_t *next, struct follow_link *link)
{
	struct follower *f = F;

	if (!f)
		return false;
	pthread_mutex_lock(&f->lock);
	*lag = (double)(fs_now() - f->applied_at) / 1e9;
	*next = f->batches_seq;
	link->err = f->link;
	link->renewals = f->renewals;
	snprintf(link->addr, sizeof(link->addr), "%s", f->addr);
	pthread_mutex_unlock(&f->lock);
	return true;
}

bool follow_writer_changed(const char *spec, const struct tier_rados_opts *ro, const char *replica)
{
	struct ship_follow *sf;
	bool changed;

	if (ship_follow_open(spec, ro, replica, &sf) < 0)
		return false;	/* the mount says what is wrong */
	changed = ship_follow_same_writer(sf) == -ECHILD;
	ship_follow_free(sf);
	return changed;
}

int follow_replica(const char *spec, const struct tier_rados_opts *ro, char **replica,
		   uint64_t *next, char *msg, size_t msglen)
{
	char conf[4096 + 16], err[1024], *p;
	uint64_t seq;
	int rc;

	if (!tier_spec_is_rados(spec) || !strchr(spec, '/')) {
		snprintf(msg, msglen, "--follow: expected rados:POOL/NAME, saw %s", spec);
		return -EINVAL;
	}
	if (!*replica) {
		if (asprintf(replica, "/var/lib/aifs/follow/%s", spec + 6) < 0)
			return -ENOMEM;
		for (p = *replica + 21; *p; p++)
			if (*p == '/')
				*p = '.';
		if ((mkdir("/var/lib/aifs", 0755) < 0 && errno != EEXIST) ||
		    (mkdir("/var/lib/aifs/follow", 0700) < 0 && errno != EEXIST)) {
			snprintf(msg, msglen, "cannot create /var/lib/aifs/follow: %s",
				 strerror(errno));
			return -errno;
		}
	}
	snprintf(conf, sizeof(conf), "%s/aifs.conf", *replica);
	if (access(conf, F_OK) == 0 && follow_writer_changed(spec, ro, *replica)) {
		/* a fail-over: the replica follows a writer that is gone */
		char aside[4096 + 32];

		snprintf(aside, sizeof(aside), "%s.old-writer", *replica);
		if (rename(*replica, aside) < 0) {
			snprintf(msg, msglen, "another writer ships %s now; cannot move the old "
				 "replica %s aside: %s", spec, *replica, strerror(errno));
			return -errno;
		}
		fprintf(stderr, "aifs: another writer ships %s now: the replica is made anew "
			"(the old one is in %s)\n", spec, aside);
	}
	if (access(conf, F_OK) < 0) {
		rc = ship_recover(spec, ro, *replica, &seq, err, sizeof(err));
		if (rc == 0)
			rc = follow_seq_write(*replica, seq + 1);
		if (rc < 0) {
			snprintf(msg, msglen, "cannot make the replica of %s in %s: %s", spec,
				 *replica, err[0] ? err : strerror(-rc));
			return rc;
		}
	}
	rc = follow_seq_read(*replica, next);
	if (rc < 0)
		snprintf(msg, msglen, "%s is not a follower's replica (no follow.seq): remove it "
			 "to have it made anew", *replica);
	return rc;
}
