/* shipping.c — the daemon's metadata shipper: for a store whose data is
 * in RADOS, a thread ships the metadata committed since its last round to
 * the pool every SHIP_SECS (meta/ship.h), and once more at unmount, so
 * that `aifsctl recover` on another host finds everything committed up to
 * about SHIP_SECS before the host was lost.
 */
#include "fs/fs.h"
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
	pthread_cond_t cond;
	bool stop;
};

static void *shipper_main(void *arg)
{
	struct shipper *sp = arg;
	struct timespec until;

	pthread_mutex_lock(&sp->lock);
	while (!sp->stop) {
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += SHIP_SECS;
		pthread_cond_timedwait(&sp->cond, &sp->lock, &until);
		pthread_mutex_unlock(&sp->lock);
		ship_step(sp->ship);	/* logs its own failures; tried again next round */
		pthread_mutex_lock(&sp->lock);
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
	pthread_mutex_unlock(&sp->lock);
	pthread_join(sp->thread, NULL);
	if (ship_step(sp->ship) < 0)
		log_err("metadata shipped up to %llu only: the last changes are not in the pool",
			(unsigned long long)ship_shipped(sp->ship));
	ship_free(sp->ship);
	pthread_mutex_destroy(&sp->lock);
	pthread_cond_destroy(&sp->cond);
	free(sp);
	fs->shipper = NULL;
}
