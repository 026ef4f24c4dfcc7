/* vhash.c — a session's SHA-256, on a thread of its own once the session
 * is big (vhash.h says why and how much waits).
 *
 * Invariant: while the thread runs, only it touches md, between the
 * moment a chunk is queued and the moment the queue is empty and the
 * thread idle (drain); the owner touches md only after a drain.
 */
#include "fs/vhash.h"
#include "tier/failpoint.h"
#include "tier/log.h"

#include <errno.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

struct chunk {
	struct chunk *next;
	size_t size;
	unsigned char data[];
};

struct vhash {
	EVP_MD_CTX *md;
	uint64_t given;		/* bytes given since the last reset */
	bool failed;		/* an update failed: the hash is wrong */
	bool threaded, no_thread;
	pthread_t thread;
	pthread_mutex_t mu;	/* guards what follows */
	pthread_cond_t cv;
	struct chunk *head, *tail;
	size_t queued;		/* bytes queued and not yet hashed */
	bool busy, stop;
};

static void *hash_main(void *arg)
{
	struct vhash *h = arg;
	struct chunk *c;
	bool ok;

	pthread_mutex_lock(&h->mu);
	for (;;) {
		while (!h->head && !h->stop)
			pthread_cond_wait(&h->cv, &h->mu);
		if (h->stop)
			break;		/* what is left is not wanted */
		c = h->head;
		h->head = c->next;
		if (!h->head)
			h->tail = NULL;
		h->busy = true;
		pthread_mutex_unlock(&h->mu);
		ok = EVP_DigestUpdate(h->md, c->data, c->size) == 1;
		pthread_mutex_lock(&h->mu);
		if (!ok)
			h->failed = true;
		h->queued -= c->size;
		h->busy = false;
		free(c);
		pthread_cond_broadcast(&h->cv);
	}
	pthread_mutex_unlock(&h->mu);
	return NULL;
}

/* Wait until the thread has hashed all that was queued. */
static void drain(struct vhash *h)
{
	if (!h->threaded)
		return;
	pthread_mutex_lock(&h->mu);
	while (h->head || h->busy)
		pthread_cond_wait(&h->cv, &h->mu);
	pthread_mutex_unlock(&h->mu);
}

static bool start_thread(struct vhash *h)
{
	int rc = failpoint("vhash_thread", EAGAIN);

	if (rc == 0)
		rc = -pthread_create(&h->thread, NULL, hash_main, h);
	if (rc < 0) {
		h->no_thread = true;	/* once per session is enough */
		log_warn("checkpoint hash: no thread of its own (%s): hashed by the writer",
			 strerror(-rc));
		return false;
	}
	h->threaded = true;
	return true;
}

struct vhash *vhash_new(void)
{
	struct vhash *h = calloc(1, sizeof(*h));

	if (!h)
		return NULL;
	h->md = EVP_MD_CTX_new();
	if (!h->md || EVP_DigestInit_ex(h->md, EVP_sha256(), NULL) != 1) {
		EVP_MD_CTX_free(h->md);
		free(h);
		return NULL;
	}
	pthread_mutex_init(&h->mu, NULL);
	pthread_cond_init(&h->cv, NULL);
	return h;
}

/* Hash BUF in the caller's thread, after what is queued. */
static int update_here(struct vhash *h, const void *buf, size_t size)
{
	drain(h);
	if (EVP_DigestUpdate(h->md, buf, size) != 1)
		h->failed = true;
	return h->failed ? -EIO : 0;
}

int vhash_update(struct vhash *h, const void *buf, size_t size)
{
	struct chunk *c = NULL;

	if (h->failed)
		return -EIO;
	h->given += size;
	if (!h->threaded && (h->given < VHASH_ASYNC_FROM || h->no_thread || !start_thread(h)))
		return update_here(h, buf, size);
	if (failpoint("vhash_queue", ENOMEM) == 0)
		c = malloc(sizeof(*c) + size);
	if (!c)
		return update_here(h, buf, size);
	c->next = NULL;
	c->size = size;
	memcpy(c->data, buf, size);
	pthread_mutex_lock(&h->mu);
	while (h->queued >= VHASH_QUEUE)
		pthread_cond_wait(&h->cv, &h->mu);
	if (h->tail)
		h->tail->next = c;
	else
		h->head = c;
	h->tail = c;
	h->queued += size;
	pthread_cond_broadcast(&h->cv);
	pthread_mutex_unlock(&h->mu);
	return 0;
}

int vhash_final(struct vhash *h, uint8_t sha[32])
{
	drain(h);
	if (h->failed || EVP_DigestFinal_ex(h->md, sha, NULL) != 1)
		return -EIO;
	return 0;
}

int vhash_reset(struct vhash *h)
{
	drain(h);
	h->given = 0;
	h->failed = EVP_DigestInit_ex(h->md, EVP_sha256(), NULL) != 1;
	return h->failed ? -EIO : 0;
}

void vhash_free(struct vhash *h)
{
	if (!h)
		return;
	if (h->threaded) {
		pthread_mutex_lock(&h->mu);
		h->stop = true;
		pthread_cond_broadcast(&h->cv);
		pthread_mutex_unlock(&h->mu);
		pthread_join(h->thread, NULL);
	}
	while (h->head) {
		struct chunk *c = h->head;

		h->head = c->next;
		free(c);
	}
	pthread_cond_destroy(&h->cv);
	pthread_mutex_destroy(&h->mu);
	EVP_MD_CTX_free(h->md);
	free(h);
}
