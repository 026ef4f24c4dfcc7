/* radosmsg.c — requests and answers between the hosts of a store through
 * watch/notify on one object of its RADOS namespace, and the data objects
 * that carry the bytes of a request (see radosmsg.h for the contract).
 *
 * The writer's watch is kept by a thread of its own: librados reports a
 * watch it lost through the error callback (and rados_watch_check), and the
 * thread makes it again, so that a writer whose link to the cluster dropped
 * for a while serves again once it is back.  Answers are acked with the
 * cookie of the watch that got the request.
 *
 * A caller's handle that the cluster blocklisted (an evicted client: every
 * operation fails with ESHUTDOWN) is shut down and made anew, with a new
 * client address, and the operation is tried once more: a refused
 * operation was not made, so trying it again is safe.  One whose
 * operation timed out is made anew too, for the next operation.  The handle of a
 * writer that serves is never made anew here: it is fenced on purpose.
 */
#include "tier/radosmsg.h"
#include "tier/log.h"
#include "tier/rados_priv.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PIECE		(4u << 20)	/* bytes of one write or read of a data object */
#define DATA_PREFIX	"w."

struct radosmsg {
	char *spec;
	struct tier_rados_opts ro;	/* strings owned by the opener, alive while open */
	pthread_rwlock_t conn;	/* cluster and io: read-held by each use, written to renew */
	rados_t cluster;
	rados_ioctx_t io;
	uint64_t gen;		/* under conn: handles made anew */
	uint64_t renewals;	/* under conn: of which after a blocklisting */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	/* serving (under lock) */
	void (*fn)(void *ctx, struct radosmsg_token tok, const void *buf, size_t len);
	void *ctx;
	bool serving, stop, lost;
	uint64_t cookie;		/* the watch, when watching */
	bool watching;
	pthread_t keeper;
	bool keeper_on;
};

/* Connect to the cluster of SPEC and open its pool and namespace, which
 * must hold a store (aifs.store); on failure RO->err says why. */
static int connect_ns(const char *spec, const struct tier_rados_opts *ro, rados_t *cluster,
		      rados_ioctx_t *io)
{
	char *pool, *ns, *full = NULL;
	int rc = rtier_spec_parse(spec, ro ? ro->uuid : NULL, &pool, &ns);

	if (rc < 0)
		return rc;
	if (asprintf(&full, "rados:%s/%s", pool, ns) < 0)
		full = NULL;
	rc = full ? rtier_cluster_connect(full, pool, ns, ro, cluster, io) : -ENOMEM;
	if (rc == 0)
		rc = rtier_store_check(full, *io, ro);
	if (rc < 0 && *io) {
		rados_ioctx_destroy(*io);
		rados_shutdown(*cluster);
		*io = NULL;
		*cluster = NULL;
	}
	free(full);
	free(pool);
	free(ns);
	return rc;
}

int radosmsg_open(const char *spec, const struct tier_rados_opts *ro, struct radosmsg **out)
{
	struct radosmsg *m = calloc(1, sizeof(*m));
	int rc;

	if (!m || !(m->spec = strdup(spec))) {
		free(m);
		return -ENOMEM;
	}
	pthread_mutex_init(&m->lock, NULL);
	pthread_cond_init(&m->cond, NULL);
	pthread_rwlock_init(&m->conn, NULL);
	m->ro = *ro;
	m->ro.err = NULL;
	rc = connect_ns(spec, ro, &m->cluster, &m->io);
	if (rc < 0) {
		free(m->spec);
		free(m);
		return rc;
	}
	*out = m;
	return 0;
}

void radosmsg_close(struct radosmsg *m)
{
	if (!m)
		return;
	radosmsg_unserve(m);
	rados_ioctx_destroy(m->io);
	rados_shutdown(m->cluster);
	pthread_mutex_destroy(&m->lock);
	pthread_cond_destroy(&m->cond);
	pthread_rwlock_destroy(&m->conn);
	free(m->spec);
	free(m);
}

/* ---- the handle ----------------------------------------------------------- */

/* Take the handle for one operation; its generation into *GEN. */
static void use(struct radosmsg *m, uint64_t *gen)
{
	pthread_rwlock_rdlock(&m->conn);
	*gen = m->gen;
}

/* Done with the handle; RC the operation's result.  True when RC says the
 * cluster blocklisted the handle and a new one was made (or another
 * thread made one since GEN): the operation may be tried again.  A handle
 * whose operation timed out is made anew too (a client can go on timing
 * out after an OSD came back), but the operation is not tried again: it
 * may have been made. */
static bool unuse(struct radosmsg *m, uint64_t gen, int rc)
{
	rados_t cluster;
	rados_ioctx_t io;
	bool serving;
	int r;

	pthread_rwlock_unlock(&m->conn);
	if (rc != -ESHUTDOWN && rc != -ETIMEDOUT)
		return false;
	pthread_mutex_lock(&m->lock);
	serving = m->serving;
	pthread_mutex_unlock(&m->lock);
	if (serving)
		return false;
	pthread_rwlock_wrlock(&m->conn);
	if (m->gen != gen) {
		pthread_rwlock_unlock(&m->conn);
		return rc == -ESHUTDOWN;
	}
	r = connect_ns(m->spec, &m->ro, &cluster, &io);
	if (r == 0) {
		rados_ioctx_destroy(m->io);
		rados_shutdown(m->cluster);
		m->cluster = cluster;
		m->io = io;
		m->renewals += rc == -ESHUTDOWN;
		m->gen++;
	}
	pthread_rwlock_unlock(&m->conn);
	if (rc == -ETIMEDOUT)
		return false;
	if (r < 0)
		log_err("%s: the cluster blocklisted this client, and a new one cannot "
			"connect: %s (tried again at the next request)", m->spec, strerror(-r));
	else
		log_notice("%s: the cluster blocklisted this client: connected anew", m->spec);
	return r == 0;
}

int radosmsg_addr(struct radosmsg *m, char *buf, size_t len, uint64_t *renewals)
{
	int rc;

	pthread_rwlock_rdlock(&m->conn);
	rc = rtier_addr(m->cluster, buf, len);
	*renewals = m->renewals;
	pthread_rwlock_unlock(&m->conn);
	return rc;
}

/* ---- serving ------------------------------------------------------------- */

static void watch_cb(void *arg, uint64_t notify_id, uint64_t handle, uint64_t notifier_id,
		     void *data, size_t len)
{
	struct radosmsg *m = arg;
	struct radosmsg_token tok = { .notify_id = notify_id, .cookie = handle };
	bool serving;

	(void)notifier_id;
	pthread_mutex_lock(&m->lock);
	serving = m->serving;
	pthread_mutex_unlock(&m->lock);
	if (serving)
		m->fn(m->ctx, tok, data, len);
	else	/* an empty answer: the caller is told that nobody serves */
		rados_notify_ack(m->io, RADOSMSG_OBJ, notify_id, handle, NULL, 0);
}

static void watch_err(void *arg, uint64_t cookie, int err)
{
	struct radosmsg *m = arg;

	pthread_mutex_lock(&m->lock);
	if (m->watching && m->cookie == cookie)
		m->lost = true;
	pthread_cond_signal(&m->cond);
	pthread_mutex_unlock(&m->lock);
	log_warn("%s: the watch of %s was lost (%s): made again", m->spec, RADOSMSG_OBJ,
		 strerror(-err));
}

/* Create the object (it may have been removed) and watch it. */
static int watch(struct radosmsg *m)
{
	static const char text[] = "aifs: the writer of this store watches this object\n";
	uint64_t cookie;
	int rc = rados_write_full(m->io, RADOSMSG_OBJ, text, sizeof(text) - 1);

	if (rc == 0)
		rc = rados_watch3(m->io, RADOSMSG_OBJ, &cookie, watch_cb, watch_err,
				  RADOSMSG_WATCH_SECS, m);
	if (rc < 0)
		return rc;
	pthread_mutex_lock(&m->lock);
	m->cookie = cookie;
	m->watching = true;
	m->lost = false;
	pthread_mutex_unlock(&m->lock);
	return 0;
}

static void *keeper_main(void *arg)
{
	struct radosmsg *m = arg;
	struct timespec until;
	bool failed = false;

	pthread_mutex_lock(&m->lock);
	while (!m->stop) {
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += 1;
		pthread_cond_timedwait(&m->cond, &m->lock, &until);
		if (m->stop)
			break;
		if (m->watching && !m->lost) {
			uint64_t cookie = m->cookie;
			int rc;

			pthread_mutex_unlock(&m->lock);
			rc = rados_watch_check(m->io, cookie);
			pthread_mutex_lock(&m->lock);
			if (rc >= 0 || m->stop)
				continue;
			m->lost = true;
		}
		if (m->watching) {
			uint64_t cookie = m->cookie;

			m->watching = false;
			pthread_mutex_unlock(&m->lock);
			rados_unwatch2(m->io, cookie);
			pthread_mutex_lock(&m->lock);
		}
		pthread_mutex_unlock(&m->lock);
		{
			int rc = watch(m);

			if (rc < 0 && !failed)
				log_err("%s: cannot watch %s: %s (followers' writes fail until it "
					"can)", m->spec, RADOSMSG_OBJ, strerror(-rc));
			else if (rc == 0 && failed)
				log_notice("%s: watching %s again", m->spec, RADOSMSG_OBJ);
			failed = rc < 0;
		}
		pthread_mutex_lock(&m->lock);
	}
	pthread_mutex_unlock(&m->lock);
	return NULL;
}

int radosmsg_serve(struct radosmsg *m,
		   void (*fn)(void *ctx, struct radosmsg_token tok, const void *buf, size_t len),
		   void *ctx)
{
	int rc;

	pthread_mutex_lock(&m->lock);
	m->fn = fn;
	m->ctx = ctx;
	m->serving = true;
	m->stop = false;
	pthread_mutex_unlock(&m->lock);
	rc = watch(m);
	if (rc == 0) {
		rc = -pthread_create(&m->keeper, NULL, keeper_main, m);
		m->keeper_on = rc == 0;
	}
	if (rc < 0)
		radosmsg_unserve(m);
	return rc;
}

void radosmsg_unserve(struct radosmsg *m)
{
	bool watching;
	uint64_t cookie;

	pthread_mutex_lock(&m->lock);
	m->stop = true;
	m->serving = false;
	pthread_cond_signal(&m->cond);
	pthread_mutex_unlock(&m->lock);
	if (m->keeper_on)
		pthread_join(m->keeper, NULL);
	m->keeper_on = false;
	pthread_mutex_lock(&m->lock);
	watching = m->watching;
	cookie = m->cookie;
	m->watching = false;
	pthread_mutex_unlock(&m->lock);
	if (watching)
		rados_unwatch2(m->io, cookie);
	rados_watch_flush(m->cluster);
}

int radosmsg_reply(struct radosmsg *m, struct radosmsg_token tok, const void *buf, size_t len)
{
	int rc = rados_notify_ack(m->io, RADOSMSG_OBJ, tok.notify_id, tok.cookie, buf, (int)len);

	if (rc < 0)
		log_warn("%s: cannot answer a request: %s", m->spec, strerror(-rc));
	return rc;
}

/* ---- calling ------------------------------------------------------------- */

static uint64_t le(const uint8_t *p, int n)
{
	uint64_t v = 0;

	for (int i = n - 1; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

int radosmsg_call(struct radosmsg *m, const void *req, size_t len, unsigned timeout_ms,
		  void **out, size_t *outlen)
{
	char *reply = NULL;
	size_t rlen = 0, pos = 4;
	uint32_t n;
	int rc;

	*out = NULL;
	*outlen = 0;
	uint64_t gen;

	if (len > RADOSMSG_MAX)
		return -EMSGSIZE;
	do {
		use(m, &gen);
		rc = rados_notify2(m->io, RADOSMSG_OBJ, req, (int)len, timeout_ms, &reply, &rlen);
	} while (unuse(m, gen, rc) && !reply);
	if (rc == -ENOENT)
		rc = -ENOTCONN;		/* no writer ever served here */
	n = reply && rlen >= 4 ? (uint32_t)le((uint8_t *)reply, 4) : 0;
	for (uint32_t i = 0; i < n && pos + 20 <= rlen; i++) {
		uint32_t alen = (uint32_t)le((uint8_t *)reply + pos + 16, 4);

		pos += 20;
		if (pos + alen > rlen)
			break;
		if (alen && !*out) {
			*out = malloc(alen);
			if (!*out) {
				rc = -ENOMEM;
				break;
			}
			memcpy(*out, reply + pos, alen);
			*outlen = alen;
		}
		pos += alen;
	}
	if (reply)
		rados_buffer_free(reply);
	if (*out && rc != -ENOMEM)
		return 0;	/* answered, even if another watcher timed out */
	if (rc == 0)
		rc = -ENOTCONN;	/* nobody watches, or only one that does not serve */
	return rc;
}

/* ---- data objects -------------------------------------------------------- */

static void part_name(char *buf, size_t len, const char *name, uint64_t part)
{
	snprintf(buf, len, DATA_PREFIX "%s.%06llx", name, (unsigned long long)part);
}

int radosmsg_data_write(struct radosmsg *m, const char *name, uint64_t off, const void *buf,
			size_t len)
{
	const char *p = buf;
	char oid[512];
	uint64_t gen;
	int rc = 0;

	while (rc == 0 && len) {
		uint64_t part = off / RADOSMSG_PART, poff = off % RADOSMSG_PART;
		size_t n = len < PIECE ? len : PIECE;

		if (n > RADOSMSG_PART - poff)
			n = (size_t)(RADOSMSG_PART - poff);
		part_name(oid, sizeof(oid), name, part);
		do {
			use(m, &gen);
			rc = poff ? rados_write(m->io, oid, p, n, poff) :
				    rados_write_full(m->io, oid, p, n);
		} while (unuse(m, gen, rc));
		p += n;
		off += n;
		len -= n;
	}
	if (rc < 0)
		log_err("%s: cannot write data object %s: %s", m->spec, oid, strerror(-rc));
	return rc < 0 ? rc : 0;
}

int64_t radosmsg_data_read(struct radosmsg *m, const char *name, uint64_t off, void *buf,
			   size_t len)
{
	char *p = buf, oid[512];
	int64_t got = 0;
	uint64_t gen;

	while (len) {
		uint64_t part = off / RADOSMSG_PART, poff = off % RADOSMSG_PART;
		size_t n = len < PIECE ? len : PIECE;
		int r;

		if (n > RADOSMSG_PART - poff)
			n = (size_t)(RADOSMSG_PART - poff);
		part_name(oid, sizeof(oid), name, part);
		do {
			use(m, &gen);
			r = rados_read(m->io, oid, p, n, poff);
		} while (unuse(m, gen, r));
		if (r == -ENOENT && part)
			break;		/* the end, at a part's boundary */
		if (r < 0) {
			log_err("%s: cannot read data object %s: %s", m->spec, oid, strerror(-r));
			return r;
		}
		got += r;
		p += r;
		off += (uint64_t)r;
		len -= (size_t)r;
		if ((size_t)r < n)
			break;		/* the end */
	}
	return got;
}

void radosmsg_data_remove(struct radosmsg *m, const char *name, uint64_t size)
{
	char oid[512];

	for (uint64_t part = 0; part == 0 || part * RADOSMSG_PART < size; part++) {
		part_name(oid, sizeof(oid), name, part);
		pthread_rwlock_rdlock(&m->conn);
		rados_remove(m->io, oid);
		pthread_rwlock_unlock(&m->conn);
	}
}

int radosmsg_sweep(struct radosmsg *m, unsigned age)
{
	rados_list_ctx_t ls;
	const char *name;
	time_t now = time(NULL);
	char **old = NULL;
	size_t n = 0, cap = 0;
	int rc;

	pthread_rwlock_rdlock(&m->conn);
	rc = rados_nobjects_list_open(m->io, &ls);
	if (rc < 0) {
		pthread_rwlock_unlock(&m->conn);
		return rc;
	}
	while ((rc = rados_nobjects_list_next(ls, &name, NULL, NULL)) == 0) {
		uint64_t size;
		time_t mtime;

		if (strncmp(name, DATA_PREFIX, strlen(DATA_PREFIX)) ||
		    rados_stat(m->io, name, &size, &mtime) < 0 || now - mtime < (time_t)age)
			continue;
		if (n == cap) {
			char **v = realloc(old, (cap ? cap * 2 : 16) * sizeof(*v));

			if (!v)
				break;
			old = v;
			cap = cap ? cap * 2 : 16;
		}
		if (!(old[n] = strdup(name)))
			break;
		n++;
	}
	rados_nobjects_list_close(ls);
	for (size_t i = 0; i < n; i++) {
		rados_remove(m->io, old[i]);
		free(old[i]);
	}
	pthread_rwlock_unlock(&m->conn);
	free(old);
	return rc == -ENOENT || rc == 0 ? (int)n : rc;
}
