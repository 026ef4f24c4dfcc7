/* dcache.c — the decoded-extent cache (see dcache.h).
 *
 * Invariant, under c->lock: a slot with valid set holds the decoded bytes
 * of the extent at (seg, off); a slot with users > 0 is being filled or
 * read outside the lock and is neither reused nor freed.
 */
#include "tier/dcache.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct dslot {
	uint32_t seg;
	uint64_t off;
	uint32_t raw_len;
	uint8_t codec;
	bool valid;
	uint32_t users;
	uint64_t used;		/* LRU clock */
	uint8_t *buf;
	uint32_t cap;
};

struct dcache {
	pthread_mutex_t lock;
	uint64_t clock;
	struct dslot slot[DCACHE_SLOTS];
};

struct dcache *dcache_new(void)
{
	struct dcache *c = calloc(1, sizeof(*c));

	if (c)
		pthread_mutex_init(&c->lock, NULL);
	return c;
}

void dcache_free(struct dcache *c)
{
	if (!c)
		return;
	for (int i = 0; i < DCACHE_SLOTS; i++)
		free(c->slot[i].buf);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

static bool same(const struct dslot *s, const struct tier_ref *r)
{
	return s->valid && s->seg == r->seg && s->off == r->off && s->raw_len == r->raw_len &&
	       s->codec == r->codec;
}

bool dcache_read(struct dcache *c, const struct tier_ref *r, uint32_t inner, uint32_t len,
		 void *dst)
{
	struct dslot *s = NULL;

	if (!c)
		return false;
	pthread_mutex_lock(&c->lock);
	for (int i = 0; i < DCACHE_SLOTS && !s; i++)
		if (same(&c->slot[i], r))
			s = &c->slot[i];
	if (s) {
		s->users++;
		s->used = ++c->clock;
	}
	pthread_mutex_unlock(&c->lock);
	if (!s)
		return false;
	memcpy(dst, s->buf + inner, len);
	pthread_mutex_lock(&c->lock);
	s->users--;
	pthread_mutex_unlock(&c->lock);
	return true;
}

struct dslot *dcache_begin(struct dcache *c, const struct tier_ref *r, uint8_t **buf)
{
	struct dslot *s = NULL;

	if (!c)
		return NULL;
	pthread_mutex_lock(&c->lock);
	for (int i = 0; i < DCACHE_SLOTS; i++) {
		struct dslot *x = &c->slot[i];

		if (x->users == 0 && (!s || !x->valid || (s->valid && x->used < s->used)))
			s = x;
	}
	if (s) {
		s->valid = false;
		s->users = 1;
	}
	pthread_mutex_unlock(&c->lock);
	if (!s)
		return NULL;
	if (s->cap < r->raw_len) {
		uint8_t *b = realloc(s->buf, r->raw_len);

		if (!b) {
			dcache_end(c, s, false);
			return NULL;
		}
		s->buf = b;
		s->cap = r->raw_len;
	}
	s->seg = r->seg;
	s->off = r->off;
	s->raw_len = r->raw_len;
	s->codec = r->codec;
	*buf = s->buf;
	return s;
}

void dcache_end(struct dcache *c, struct dslot *s, bool ok)
{
	pthread_mutex_lock(&c->lock);
	s->valid = ok;
	s->used = ++c->clock;
	s->users--;
	pthread_mutex_unlock(&c->lock);
}
