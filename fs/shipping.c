/* shipping.c — the daemon's metadata shipper: for a store whose data is
 * in RADOS, a thread ships the metadata committed since its last round to
 * the pool every SHIP_SECS (meta/ship.h), and once more at unmount, so
 * that `aifsctl recover` on another host finds everything committed up to
 * about SHIP_SECS before the host was lost.  With -o remote_sync=on a
 * durable commit also waits for a round that ships it (shipping_wait).
 */
#include "fs/fs.h"
#include "fs/shipping.h"
#include "fs/hooks.h"
#include "meta/ship.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SHIP_SECS	1

struct shipper {
	struct ship *ship;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;	/* wakes the thread: stop, or a waiter */
	pthread_cond_t round;	/* a round ended */
	bool stop;
	uint64_t want;		/* the highest sequence number a waiter needs */
	uint64_t shipped;	/* what the last round left shipped */
	uint64_t rounds;	/* rounds ended */
	int last_rc;		/* the outcome of the last round */
};

static void *shipper_main(void *arg)
{
	struct shipper *sp = arg;
	struct timespec until;

	pthread_mutex_lock(&sp->lock);
	while (!sp->stop) {
		int rc;

		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += SHIP_SECS;
		/* a waiter's request starts a round at once, unless the last failed */
		if (sp->want <= sp->shipped || sp->last_rc < 0)
			pthread_cond_timedwait(&sp->cond, &sp->lock, &until);
		pthread_mutex_unlock(&sp->lock);
		rc = ship_step(sp->ship);	/* logs its own failures; tried again next round */
		pthread_mutex_lock(&sp->lock);
		sp->shipped = ship_shipped(sp->ship);
		sp->last_rc = rc;
		sp->rounds++;
		pthread_cond_broadcast(&sp->round);
	}
	pthread_mutex_unlock(&sp->lock);
	return NULL;
}

int shipping_start(struct fs *fs)
{
	struct shipper *sp;
	int rc;

	if (!tier_spec_is_rados(fs->store->hot_path))
		return 0;
	sp = calloc(1, sizeof(*sp));
	if (!sp)
		return -ENOMEM;
	rc = ship_open(fs->store, &sp->ship);
	if (rc < 0) {
		free(sp);
		return rc;
	}
	pthread_mutex_init(&sp->lock, NULL);
	pthread_cond_init(&sp->cond, NULL);
	pthread_cond_init(&sp->round, NULL);
	sp->shipped = ship_shipped(sp->ship);
	rc = -pthread_create(&sp->thread, NULL, shipper_main, sp);
	if (rc < 0) {
		ship_free(sp->ship);
		free(sp);
		return rc;
	}
	fs->shipper = sp;
	return 0;
}

void shipping_stop(struct fs *fs)
{
	struct shipper *sp = fs->shipper;

	if (!sp)
		return;
	pthread_mutex_lock(&sp->lock);
	sp->stop = true;
	pthread_cond_signal(&sp->cond);
	pthread_cond_broadcast(&sp->round);
	pthread_mutex_unlock(&sp->lock);
	pthread_join(sp->thread, NULL);
	if (ship_step(sp->ship) < 0)
		log_err("metadata shipped up to %llu only: the last changes are not in the pool",
			(unsigned long long)ship_shipped(sp->ship));
	ship_free(sp->ship);
	pthread_mutex_destroy(&sp->lock);
	pthread_cond_destroy(&sp->cond);
	pthread_cond_destroy(&sp->round);
	free(sp);
	fs->shipper = NULL;
}

/* A round that began after the request covers everything committed
 * before it: wait for it (or for the one after, if a round was running). */
static int ship_until(struct shipper *sp, uint64_t target)
{
	uint64_t start;
	int rc = 0;

	pthread_mutex_lock(&sp->lock);
	start = sp->rounds;
	if (target > sp->want)
		sp->want = target;
	pthread_cond_signal(&sp->cond);
	while (!sp->stop && sp->shipped < target) {
		if (sp->rounds >= start + 2) {
			rc = sp->last_rc < 0 ? sp->last_rc : -EIO;
			break;
		}
		pthread_cond_wait(&sp->round, &sp->lock);
	}
	pthread_mutex_unlock(&sp->lock);
	return rc;
}

int shipping_wait(struct fs *fs)
{
	uint64_t target;
	int rc;

	if (!fs->shipper || !fs->opt.remote_sync)
		return 0;
	target = meta_seq(fs->meta);
	rc = ship_until(fs->shipper, target);
	if (rc < 0)
		log_err("remote_sync: metadata up to %llu not shipped to the pool: %s",
			(unsigned long long)target, strerror(-rc));
	return rc < 0 ? -EIO : 0;
}

int shipping_push(struct fs *fs, uint64_t seq)
{
	return fs->shipper ? ship_until(fs->shipper, seq) : -ENOTCONN;
}

const struct fs_feature_ops shipping_feature = {
	.name = "shipping",
	.durable = shipping_wait,
};
