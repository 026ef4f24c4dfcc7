/* objcache.c — the local cache and write buffer of a remote store's
 * objects (see objcache.h).
 *
 * Every object the cache knows has one entry, found by name in a hash
 * table.  Its state says where its bytes are:
 *   FILLING    being written to DIR/up (dirty) or DIR/rd (clean); not
 *              readable yet, and neither evicted nor uploaded;
 *   DIRTY      in DIR/up, waiting in the upload queue;
 *   UPLOADING  in DIR/up, an uploader is writing it to the store;
 *   CLEAN      in DIR/rd, on the LRU list (most recently used first).
 *
 * Invariants, under c->lock: bytes is the sum of the lengths of all
 * entries and never exceeds limit once a put has made room; dirty is the
 * sum of the lengths of the entries put dirty and not yet uploaded, at
 * most dirty_limit; the queue holds the DIRTY and UPLOADING entries in
 * increasing seq (the order they were put), so that its head is the
 * oldest not yet uploaded; fail_gen counts failed uploads.
 */
#include "tier/objcache.h"
#include "tier/log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define RETRY_SECS	1	/* an uploader waits this long after a failure */

enum { FILLING, DIRTY, UPLOADING, CLEAN };

struct entry {
	char name[OBJCACHE_NAME_MAX];
	uint64_t len;
	uint64_t seq;		/* order in the upload queue */
	int state;
	bool dirty;		/* put dirty and not yet uploaded */
	bool synced;		/* its file in up/ was fdatasync'd */
	struct entry *hnext;	/* hash chain */
	struct entry *prev, *next;	/* the queue or the LRU list */
};

struct list {
	struct entry *head, *tail;
};

struct objcache {
	char *dir;
	int upfd;		/* DIR/up, for fsync of new names */
	uint64_t limit, dirty_limit;
	unsigned timeout;
	bool readonly;
	struct objcache_ops ops;
	void *ctx;
	pthread_mutex_t lock;
	pthread_cond_t cond;	/* an entry changed state, or room was made */
	pthread_cond_t work;	/* wakes the uploaders */
	struct entry **tab;
	size_t nbuckets, n;
	struct list lru, queue;
	uint64_t bytes, dirty, seq, fail_gen;
	bool stop, failing;
	pthread_t threads[OBJCACHE_UPLOADERS];
	int nthreads;
	struct objcache_stats st;
};

/* ---- lists and the table (lock held) ---------------------------------- */

static void list_unlink(struct list *l, struct entry *e)
{
	if (e->prev)
		e->prev->next = e->next;
	else
		l->head = e->next;
	if (e->next)
		e->next->prev = e->prev;
	else
		l->tail = e->prev;
	e->prev = e->next = NULL;
}

static void list_push_front(struct list *l, struct entry *e)
{
	e->prev = NULL;
	e->next = l->head;
	if (l->head)
		l->head->prev = e;
	else
		l->tail = e;
	l->head = e;
}

static void list_push_back(struct list *l, struct entry *e)
{
	e->next = NULL;
	e->prev = l->tail;
	if (l->tail)
		l->tail->next = e;
	else
		l->head = e;
	l->tail = e;
}

static size_t bucket(const struct objcache *c, const char *name)
{
	uint64_t h = 1469598103934665603ull;

	for (const char *p = name; *p; p++)
		h = (h ^ (uint8_t)*p) * 1099511628211ull;
	return (size_t)(h & (c->nbuckets - 1));
}

static struct entry *lookup(const struct objcache *c, const char *name)
{
	struct entry *e = c->tab[bucket(c, name)];

	while (e && strcmp(e->name, name))
		e = e->hnext;
	return e;
}

/* Double the table when it holds more entries than buckets. */
static void grow(struct objcache *c)
{
	size_t old = c->nbuckets;
	struct entry **o = c->tab, **t = calloc(old * 2, sizeof(*t));

	if (!t)
		return;		/* longer chains, still correct */
	c->tab = t;
	c->nbuckets = old * 2;
	for (size_t i = 0; i < old; i++) {
		for (struct entry *e = o[i], *nx; e; e = nx) {
			size_t b = bucket(c, e->name);

			nx = e->hnext;
			e->hnext = t[b];
			t[b] = e;
		}
	}
	free(o);
}

/* A new entry NAME of LEN bytes in STATE, counted in bytes; NULL without
 * memory. */
static struct entry *insert(struct objcache *c, const char *name, uint64_t len, int state)
{
	struct entry *e = calloc(1, sizeof(*e));
	size_t b;

	if (!e)
		return NULL;
	snprintf(e->name, sizeof(e->name), "%s", name);
	e->len = len;
	e->state = state;
	if (c->n >= c->nbuckets)
		grow(c);
	b = bucket(c, name);
	e->hnext = c->tab[b];
	c->tab[b] = e;
	c->n++;
	c->bytes += len;
	return e;
}

/* Forget E (already off its list) and free it. */
static void forget(struct objcache *c, struct entry *e)
{
	struct entry **p = &c->tab[bucket(c, e->name)];

	while (*p != e)
		p = &(*p)->hnext;
	*p = e->hnext;
	c->n--;
	c->bytes -= e->len;
	if (e->dirty)
		c->dirty -= e->len;
	free(e);
	pthread_cond_broadcast(&c->cond);
}

static void path_of(const struct objcache *c, bool up, const char *name, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s/%s", c->dir, up ? "up" : "rd", name);
}

/* Evict clean entries, least recently used first, until LEN more bytes
 * fit; false if they cannot. */
static bool make_room(struct objcache *c, uint64_t len)
{
	char path[4096];

	while (c->bytes + len > c->limit && c->lru.tail) {
		struct entry *e = c->lru.tail;

		list_unlink(&c->lru, e);
		path_of(c, false, e->name, path, sizeof(path));
		unlink(path);
		c->st.evictions++;
		forget(c, e);
	}
	return c->bytes + len <= c->limit;
}

/* Put E (now in up/) at the tail of the upload queue. */
static void enqueue(struct objcache *c, struct entry *e)
{
	e->state = DIRTY;
	e->seq = c->seq++;
	list_push_back(&c->queue, e);
	pthread_cond_signal(&c->work);
}

/* ---- files -------------------------------------------------------------- */

static int file_write(const char *path, const void *buf, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600), rc = 0;
	const char *p = buf;

	if (fd < 0)
		return -errno;
	for (size_t off = 0; off < len && rc == 0; ) {
		ssize_t n = pwrite(fd, p + off, len - off, (off_t)off);

		if (n < 0)
			rc = -errno;
		else
			off += (size_t)n;
	}
	close(fd);
	return rc;
}

/* Read LEN bytes at OFF of PATH: 0, -ENOENT, or -EIO when short.  AHEAD
 * bytes after them are read ahead by the kernel (each read opens the file
 * anew, so its own read-ahead never sees a sequential reader). */
static int file_read(const char *path, uint64_t off, size_t len, void *dst, uint64_t ahead)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), rc = 0;
	char *p = dst;

	if (fd < 0)
		return -errno;
	if (ahead)
		posix_fadvise(fd, (off_t)(off + len), (off_t)ahead, POSIX_FADV_WILLNEED);
	for (size_t done = 0; done < len && rc == 0; ) {
		ssize_t n = pread(fd, p + done, len - done, (off_t)(off + done));

		if (n < 0)
			rc = -errno;
		else if (n == 0)
			rc = -EIO;
		else
			done += (size_t)n;
	}
	close(fd);
	return rc;
}

/* ---- uploads ------------------------------------------------------------ */

/* Upload E (UPLOADING) outside the lock; 0 or the failure. */
static int upload_one(struct objcache *c, const char *name, uint64_t len)
{
	char path[4096], to[4096];
	void *buf = malloc(len ? len : 1);
	int rc;

	if (!buf)
		return -ENOMEM;
	path_of(c, true, name, path, sizeof(path));
	rc = file_read(path, 0, len, buf, 0);
	if (rc < 0)
		log_err("cache %s: cannot read %s for its upload: %s", c->dir, path, strerror(-rc));
	else
		rc = c->ops.upload(c->ctx, name, buf, len);
	free(buf);
	if (rc == 0) {
		path_of(c, false, name, to, sizeof(to));
		if (rename(path, to) < 0)
			unlink(path);	/* uploaded: the copy is only a cache */
	}
	return rc;
}

static void *uploader(void *arg)
{
	struct objcache *c = arg;

	pthread_mutex_lock(&c->lock);
	while (!c->stop) {
		struct entry *e = c->queue.head;
		char name[OBJCACHE_NAME_MAX];
		uint64_t len;
		int rc;

		while (e && e->state != DIRTY)
			e = e->next;
		if (!e) {
			pthread_cond_wait(&c->work, &c->lock);
			continue;
		}
		e->state = UPLOADING;
		snprintf(name, sizeof(name), "%s", e->name);
		len = e->len;
		pthread_mutex_unlock(&c->lock);
		rc = upload_one(c, name, len);
		pthread_mutex_lock(&c->lock);
		e = lookup(c, name);	/* objcache_drop waits for UPLOADING: still there */
		if (rc == 0) {
			list_unlink(&c->queue, e);
			e->state = CLEAN;
			e->dirty = false;
			c->dirty -= e->len;
			list_push_front(&c->lru, e);
			c->st.uploads++;
			if (c->failing)
				log_notice("cache %s: uploads go on", c->dir);
			c->failing = false;
		} else {
			e->state = DIRTY;
			c->st.upload_errors++;
			c->fail_gen++;
			if (!c->failing)
				log_err("cache %s: upload of %s failed: %s (kept here and tried again "
					"every %d s)", c->dir, name, strerror(-rc), RETRY_SECS);
			c->failing = true;
		}
		pthread_cond_broadcast(&c->cond);
		if (rc < 0 && !c->stop) {
			struct timespec until;

			clock_gettime(CLOCK_REALTIME, &until);
			until.tv_sec += RETRY_SECS;
			pthread_cond_timedwait(&c->work, &c->lock, &until);
		}
	}
	pthread_mutex_unlock(&c->lock);
	return NULL;
}

/* ---- open / close ------------------------------------------------------- */

/* Index the files of DIR/up (UP) or DIR/rd. */
static int scan(struct objcache *c, bool up)
{
	char path[4096];
	struct dirent *de;
	struct stat st;
	DIR *d;

	snprintf(path, sizeof(path), "%s/%s", c->dir, up ? "up" : "rd");
	d = opendir(path);
	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		struct entry *e;

		if (de->d_name[0] == '.')
			continue;
		path_of(c, up, de->d_name, path, sizeof(path));
		if (strlen(de->d_name) >= OBJCACHE_NAME_MAX || stat(path, &st) < 0 ||
		    !S_ISREG(st.st_mode) || lookup(c, de->d_name) ||
		    (up && c->ops.adopt(c->ctx, de->d_name, (uint64_t)st.st_size))) {
			unlink(path);
			continue;
		}
		e = insert(c, de->d_name, (uint64_t)st.st_size, up ? DIRTY : CLEAN);
		if (!e)
			break;
		if (up) {
			e->dirty = e->synced = true;
			c->dirty += e->len;
			enqueue(c, e);
		} else {
			list_push_front(&c->lru, e);
		}
	}
	closedir(d);
	return 0;
}

static int dir_make(const char *dir, const char *sub)
{
	char path[4096];

	snprintf(path, sizeof(path), "%s%s%s", dir, sub ? "/" : "", sub ? sub : "");
	return mkdir(path, 0700) < 0 && errno != EEXIST ? -errno : 0;
}

int objcache_open(const char *dir, uint64_t limit, unsigned timeout, bool readonly,
		  const struct objcache_ops *ops, void *ctx, struct objcache **out)
{
	struct objcache *c = calloc(1, sizeof(*c));
	char path[4096];
	int rc = 0;

	*out = NULL;
	if (!c || !(c->dir = strdup(dir)) || !(c->tab = calloc(64, sizeof(*c->tab)))) {
		if (c)
			free(c->dir);
		free(c);
		return -ENOMEM;
	}
	c->nbuckets = 64;
	c->upfd = -1;
	c->limit = limit;
	c->dirty_limit = limit / 2;
	c->timeout = timeout;
	c->readonly = readonly;
	c->ops = *ops;
	c->ctx = ctx;
	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->cond, NULL);
	pthread_cond_init(&c->work, NULL);
	if (!readonly) {
		rc = dir_make(dir, NULL);
		if (rc == 0)
			rc = dir_make(dir, "up");
		if (rc == 0)
			rc = dir_make(dir, "rd");
		snprintf(path, sizeof(path), "%s/up", dir);
		if (rc == 0 && (c->upfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
			rc = -errno;
		if (rc == 0)
			rc = scan(c, true);
		if (rc == 0)
			rc = scan(c, false);
		if (rc < 0) {
			log_err("cache %s: cannot open: %s", dir, strerror(-rc));
			objcache_close(c);
			return rc;
		}
		make_room(c, 0);
		for (int i = 0; i < OBJCACHE_UPLOADERS; i++) {
			if (pthread_create(&c->threads[i], NULL, uploader, c) != 0)
				break;
			c->nthreads++;
		}
		if (!c->nthreads) {
			log_err("cache %s: cannot start its uploads", dir);
			objcache_close(c);
			return -EAGAIN;
		}
		if (c->queue.head)
			log_notice("cache %s: %" PRIu64 " bytes written before the last stop are "
				   "being uploaded", dir, c->dirty);
	}
	*out = c;
	return 0;
}

void objcache_close(struct objcache *c)
{
	if (!c)
		return;
	if (c->nthreads && objcache_flush(c) < 0)
		log_err("cache %s: %" PRIu64 " bytes not uploaded: kept in %s/up, to be uploaded "
			"at the next mount", c->dir, c->dirty, c->dir);
	pthread_mutex_lock(&c->lock);
	c->stop = true;
	pthread_cond_broadcast(&c->work);
	pthread_cond_broadcast(&c->cond);
	pthread_mutex_unlock(&c->lock);
	for (int i = 0; i < c->nthreads; i++)
		pthread_join(c->threads[i], NULL);
	for (size_t i = 0; i < c->nbuckets; i++) {
		for (struct entry *e = c->tab[i], *nx; e; e = nx) {
			nx = e->hnext;
			free(e);
		}
	}
	if (c->upfd >= 0)
		close(c->upfd);
	pthread_mutex_destroy(&c->lock);
	pthread_cond_destroy(&c->cond);
	pthread_cond_destroy(&c->work);
	free(c->tab);
	free(c->dir);
	free(c);
}

/* ---- puts and gets ------------------------------------------------------ */

int objcache_put_dirty(struct objcache *c, const char *name, const void *buf, size_t len)
{
	struct timespec until;
	char path[4096];
	struct entry *e;
	int rc = 0;

	if (c->readonly || len > c->dirty_limit || strlen(name) >= OBJCACHE_NAME_MAX)
		return -EFBIG;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += c->timeout;
	pthread_mutex_lock(&c->lock);
	while (rc == 0 && (c->dirty + len > c->dirty_limit || !make_room(c, len))) {
		if (c->stop)
			rc = -ESHUTDOWN;
		else if (!c->timeout)
			pthread_cond_wait(&c->cond, &c->lock);
		else
			rc = -pthread_cond_timedwait(&c->cond, &c->lock, &until);
	}
	e = rc == 0 && !lookup(c, name) ? insert(c, name, len, FILLING) : NULL;
	if (e) {
		e->dirty = true;
		c->dirty += len;
	}
	pthread_mutex_unlock(&c->lock);
	if (!e)
		return rc ? rc : -EEXIST;
	path_of(c, true, name, path, sizeof(path));
	rc = file_write(path, buf, len);
	pthread_mutex_lock(&c->lock);
	if (rc == 0) {
		enqueue(c, e);
	} else {
		log_err("cache %s: cannot write %s: %s (written to the store directly)", c->dir,
			path, strerror(-rc));
		forget(c, e);
	}
	pthread_mutex_unlock(&c->lock);
	if (rc)
		unlink(path);
	return rc;
}

void objcache_put_clean(struct objcache *c, const char *name, const void *buf, size_t len)
{
	char path[4096];
	struct entry *e = NULL;
	int rc;

	if (c->readonly || len > c->limit / 2 || strlen(name) >= OBJCACHE_NAME_MAX)
		return;
	pthread_mutex_lock(&c->lock);
	if (!lookup(c, name) && make_room(c, len))
		e = insert(c, name, len, FILLING);
	pthread_mutex_unlock(&c->lock);
	if (!e)
		return;
	path_of(c, false, name, path, sizeof(path));
	rc = file_write(path, buf, len);
	pthread_mutex_lock(&c->lock);
	if (rc == 0) {
		e->state = CLEAN;
		list_push_front(&c->lru, e);
		pthread_cond_broadcast(&c->cond);
	} else {
		forget(c, e);
	}
	pthread_mutex_unlock(&c->lock);
	if (rc)
		unlink(path);
}

bool objcache_wants(struct objcache *c, const char *name, size_t len)
{
	bool want;

	if (c->readonly || len > c->limit / 2)
		return false;
	pthread_mutex_lock(&c->lock);
	want = !lookup(c, name);
	pthread_mutex_unlock(&c->lock);
	return want;
}

uint64_t objcache_limit(const struct objcache *c)
{
	return c->limit;
}

int objcache_get(struct objcache *c, const char *name, uint64_t off, size_t len, void *dst)
{
	char path[4096];
	bool up = true;
	uint64_t ahead = 0;
	struct entry *e;

	if (c->readonly) {
		/* no index: whatever the writer beside us keeps */
		path_of(c, true, name, path, sizeof(path));
		if (file_read(path, off, len, dst, 0) == 0)
			return 1;
		path_of(c, false, name, path, sizeof(path));
		return file_read(path, off, len, dst, 0) == 0;
	}
	pthread_mutex_lock(&c->lock);
	e = lookup(c, name);
	if (!e || e->state == FILLING || off + len > e->len) {
		c->st.misses++;
		pthread_mutex_unlock(&c->lock);
		return 0;
	}
	if (e->state == CLEAN) {
		up = false;
		list_unlink(&c->lru, e);
		list_push_front(&c->lru, e);
	}
	if (off == 0)		/* a reader at the start of the object: the rest follows */
		ahead = e->len - len;
	pthread_mutex_unlock(&c->lock);
	path_of(c, up, name, path, sizeof(path));
	if (file_read(path, off, len, dst, ahead) == 0 ||
	    (up && (path_of(c, false, name, path, sizeof(path)),
		    file_read(path, off, len, dst, ahead) == 0))) {
		pthread_mutex_lock(&c->lock);
		c->st.hits++;
		pthread_mutex_unlock(&c->lock);
		return 1;
	}
	/* evicted meanwhile, or its file is damaged: the caller reads the store */
	pthread_mutex_lock(&c->lock);
	c->st.misses++;
	pthread_mutex_unlock(&c->lock);
	return 0;
}

int objcache_corrupt(struct objcache *c, const char *name)
{
	char path[4096];
	struct entry *e;
	int rc = 0;

	if (c->readonly)
		return 0;
	pthread_mutex_lock(&c->lock);
	e = lookup(c, name);
	if (e && e->state == CLEAN) {
		list_unlink(&c->lru, e);
		forget(c, e);
		path_of(c, false, name, path, sizeof(path));
		unlink(path);
		c->st.corrupt++;
		log_err("cache %s: %s is damaged: dropped, read from the store", c->dir, name);
	} else if (e && e->dirty) {
		c->st.corrupt++;
		rc = -EIO;
		log_err("cache %s: %s is damaged and not yet uploaded: its bytes are lost", c->dir,
			name);
	}
	pthread_mutex_unlock(&c->lock);
	return rc;
}

void objcache_drop(struct objcache *c, const char *name)
{
	char path[4096];
	struct entry *e;

	if (c->readonly)
		return;
	pthread_mutex_lock(&c->lock);
	while ((e = lookup(c, name)) && (e->state == UPLOADING || e->state == FILLING))
		pthread_cond_wait(&c->cond, &c->lock);
	if (e) {
		path_of(c, e->state != CLEAN, name, path, sizeof(path));
		list_unlink(e->state == CLEAN ? &c->lru : &c->queue, e);
		forget(c, e);
		unlink(path);
	}
	pthread_mutex_unlock(&c->lock);
}

/* ---- durability --------------------------------------------------------- */

int objcache_sync(struct objcache *c)
{
	char (*names)[OBJCACHE_NAME_MAX] = NULL, path[4096];
	size_t n = 0, cap = 0;
	int rc = 0;

	if (c->readonly)
		return 0;
	pthread_mutex_lock(&c->lock);
	for (struct entry *e = c->queue.head; e; e = e->next)
		cap += !e->synced;
	if (cap && !(names = malloc(cap * sizeof(*names))))
		rc = -ENOMEM;
	for (struct entry *e = c->queue.head; e && names; e = e->next) {
		if (!e->synced) {
			memcpy(names[n++], e->name, OBJCACHE_NAME_MAX);
			e->synced = true;
		}
	}
	pthread_mutex_unlock(&c->lock);
	for (size_t i = 0; i < n && rc == 0; i++) {
		int fd;

		path_of(c, true, names[i], path, sizeof(path));
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			if (errno != ENOENT)	/* else uploaded, or dropped, meanwhile */
				rc = -errno;
			continue;
		}
		if (fdatasync(fd) < 0)
			rc = -errno;
		close(fd);
	}
	if (rc == 0 && n && fsync(c->upfd) < 0)
		rc = -errno;
	if (rc < 0) {
		log_err("cache %s: cannot sync the objects to upload: %s", c->dir, strerror(-rc));
		pthread_mutex_lock(&c->lock);
		for (size_t i = 0; i < n; i++) {
			struct entry *e = lookup(c, names[i]);

			if (e)
				e->synced = false;
		}
		pthread_mutex_unlock(&c->lock);
	}
	free(names);
	return rc;
}

int objcache_flush(struct objcache *c)
{
	uint64_t upto, gen;
	int rc = 0;

	if (c->readonly)
		return 0;
	pthread_mutex_lock(&c->lock);
	upto = c->seq;
	gen = c->fail_gen;
	while (c->queue.head && c->queue.head->seq < upto) {
		if (c->fail_gen != gen || c->stop) {
			rc = -EIO;
			break;
		}
		pthread_cond_wait(&c->cond, &c->lock);
	}
	pthread_mutex_unlock(&c->lock);
	return rc;
}

void objcache_stats(struct objcache *c, struct objcache_stats *out)
{
	pthread_mutex_lock(&c->lock);
	*out = c->st;
	out->limit = c->limit;
	out->bytes = c->bytes;
	out->dirty = c->dirty;
	pthread_mutex_unlock(&c->lock);
}
