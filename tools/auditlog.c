/* auditlog.c — a journal's log as the audit commands read it: its records
 * and signed checkpoints, loaded from a store (mounted or not) or from an
 * export directory.
 */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "meta/merkle.h"
#include "meta/note.h"
#include "meta/records.h"
#include "meta/store.h"
#include "tools/aifsctl.h"
#include "tools/audit.h"
#include "tools/common.h"

void problem(struct log *l, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfprintf(l->problem_out ? l->problem_out : stdout, fmt, ap);
	va_end(ap);
	putc('\n', l->problem_out ? l->problem_out : stdout);
	l->problems++;
}

static void par_split(size_t n, unsigned k, void (*fn)(void *ctx, size_t lo, size_t hi),
		      void *ctx);

/* Room for LEN bytes in L's arena: records are kept in large blocks, not
 * one allocation each. */
static char *arena_take(struct log *l, size_t len)
{
	char *p;

	if (l->arena_used + len > l->arena_size) {
		size_t size = len > ARENA_BLOCK ? len : ARENA_BLOCK;
		char **v = realloc(l->arena, (l->narena + 1) * sizeof(*v));

		if (!v)
			return NULL;
		l->arena = v;
		if (!(v[l->narena] = malloc(size)))
			return NULL;
		l->narena++;
		l->arena_used = 0;
		l->arena_size = size;
	}
	p = l->arena[l->narena - 1] + l->arena_used;
	l->arena_used += len;
	return p;
}

static int log_add(struct log *l, const void *rec, size_t len)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 1024;
		char **r = realloc(l->rec, cap * sizeof(*r));
		size_t *n = r ? realloc(l->len, cap * sizeof(*n)) : NULL;
		uint8_t (*h)[32] = n ? realloc(l->hash, cap * sizeof(*h)) : NULL;

		if (r)
			l->rec = r;
		if (n)
			l->len = n;
		if (!h)
			return -ENOMEM;
		l->hash = h;
		l->cap = cap;
	}
	l->rec[l->n] = arena_take(l, len + 1);
	if (!l->rec[l->n])
		return -ENOMEM;
	memcpy(l->rec[l->n], rec, len);
	l->rec[l->n][len] = 0;
	l->len[l->n] = len;
	l->n++;
	return 0;		/* hashed by log_hash, all at once */
}

static void hash_part(void *ctx, size_t lo, size_t hi)
{
	struct log *l = ctx;

	for (size_t i = lo; i < hi; i++)
		merkle_leaf_hash(l->rec[i], l->len[i], l->hash[i]);
}

/* The leaf hash of every record, on every core. */
static void log_hash(struct log *l)
{
	par_for(l->n, hash_part, l);
}

static int ck_add(struct log *l, uint64_t size, const char *note, size_t len)
{
	if (l->nck == l->capck) {
		size_t cap = l->capck ? l->capck * 2 : 64;
		uint64_t *s = realloc(l->ck_size, cap * sizeof(*s));
		char **t = s ? realloc(l->ck_note, cap * sizeof(*t)) : NULL;

		if (s)
			l->ck_size = s;
		if (!t)
			return -ENOMEM;
		l->ck_note = t;
		l->capck = cap;
	}
	l->ck_note[l->nck] = strndup(note, len);
	l->ck_size[l->nck++] = size;
	return l->ck_note[l->nck - 1] ? 0 : -ENOMEM;
}

static uint64_t be64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

static int rec_cb(void *ctx, const void *key, size_t klen, const void *val, size_t vlen)
{
	struct log *l = ctx;

	if (klen != 8 || be64(key) != l->n) {
		problem(l, "record %zu is missing (found record %llu instead)", l->n,
			klen == 8 ? (unsigned long long)be64(key) : 0ull);
		return -EBADMSG;
	}
	return log_add(l, val, vlen);
}

static int ck_cb(void *ctx, const void *key, size_t klen, const void *val, size_t vlen)
{
	return klen == 8 ? ck_add(ctx, be64(key), val, vlen) : 0;
}

int leaf_fn(void *ctx, uint64_t index, uint8_t out[32])
{
	struct log *l = ctx;

	if (index >= l->n)
		return -EINVAL;
	memcpy(out, l->hash[index], 32);
	return 0;
}

void log_free(struct log *l)
{
	for (size_t i = 0; i < l->narena; i++)
		free(l->arena[i]);
	free(l->arena);
	free(l->info);
	for (size_t i = 0; i < l->nck; i++)
		free(l->ck_note[i]);
	free(l->rec);
	free(l->len);
	free(l->hash);
	free(l->ck_size);
	free(l->ck_note);
}

char *read_text(const char *path)
{
	FILE *f = fopen(path, "re");
	char *buf = NULL;
	size_t cap = 0;
	ssize_t n;

	if (!f)
		return NULL;
	n = getdelim(&buf, &cap, 0, f);
	fclose(f);
	if (n < 0) {
		free(buf);
		return NULL;
	}
	return buf;
}

/* Load the log of an export directory (records.jsonl, checkpoints/). */
int load_export(const char *dir, struct log *l)
{
	char p[4200], *line = NULL;
	size_t cap = 0;
	ssize_t n;
	FILE *f;
	DIR *d;
	struct dirent *de;
	int rc = 0;

	snprintf(p, sizeof(p), "%s/records.jsonl", dir);
	f = fopen(p, "re");
	if (!f)
		return -errno;
	while (rc == 0 && (n = getline(&line, &cap, f)) > 0) {
		if (line[n - 1] == '\n')
			n--;
		rc = log_add(l, line, (size_t)n);
	}
	free(line);
	fclose(f);
	log_hash(l);
	snprintf(p, sizeof(p), "%s/checkpoints", dir);
	d = opendir(p);
	if (!d)
		return rc ? rc : -errno;
	while (rc == 0 && (de = readdir(d))) {
		char q[4600], *text;
		uint64_t size;

		if (sscanf(de->d_name, "%llu.note", (unsigned long long *)&size) != 1)
			continue;
		snprintf(q, sizeof(q), "%s/%s", p, de->d_name);
		text = read_text(q);
		rc = text ? ck_add(l, size, text, strlen(text)) : -errno;
		free(text);
	}
	closedir(d);
	/* checkpoints in size order */
	for (size_t i = 1; i < l->nck; i++)
		for (size_t j = i; j > 0 && l->ck_size[j - 1] > l->ck_size[j]; j--) {
			uint64_t s = l->ck_size[j];
			char *t = l->ck_note[j];

			l->ck_size[j] = l->ck_size[j - 1];
			l->ck_note[j] = l->ck_note[j - 1];
			l->ck_size[j - 1] = s;
			l->ck_note[j - 1] = t;
		}
	return rc;
}

/* If PATH is the mount point of an aifs, the store it mounts into STORE. */
bool store_of_mount(const char *path, char *store, size_t len)
{
	char real[4096], dev[4096], dir[4096], type[64];
	FILE *f;
	bool found = false;

	if (!realpath(path, real) || !(f = fopen("/proc/mounts", "re")))
		return false;
	while (!found && fscanf(f, "%4095s %4095s %63s %*[^\n]", dev, dir, type) == 3)
		found = !strcmp(dir, real) && !strcmp(type, "fuse.aifs");
	fclose(f);
	if (found)
		snprintf(store, len, "%s", dev);
	return found;
}

/* Open the store at PATH, or the store mounted at PATH (read-only, beside
 * the daemon: it sees what the daemon has written so far). */
int open_store(const char *path, struct store **s)
{
	char store[4096], err[1024];
	int rc;

	if (!store_of_mount(path, store, sizeof(store)))
		return tool_store_open(path, s, "audit");
	rc = store_open_readonly(store, s, err, sizeof(err));
	if (rc < 0)
		fprintf(stderr, "aifsctl audit: %s\n", err);
	return rc;
}

/* One thread's part of the records: seq [lo, hi), into the arrays of L
 * (sized beforehand) and an arena of its own. */
struct load_part {
	struct log *l, own;	/* own: just the arena */
	struct meta *m;
	uint64_t lo, hi, next, found;
	bool gap;
	int rc;
};

static int part_cb(void *ctx, const void *key, size_t klen, const void *val, size_t vlen)
{
	struct load_part *p = ctx;
	uint64_t k = klen == 8 ? be64(key) : UINT64_MAX;
	char *r;

	if (k != p->next || k >= p->hi) {
		if (p->next < p->hi) {		/* the first record missing */
			p->gap = true;
			p->found = klen == 8 ? k : 0;
		}
		return 1;
	}
	r = arena_take(&p->own, vlen + 1);
	if (!r)
		return -ENOMEM;
	memcpy(r, val, vlen);
	r[vlen] = 0;
	p->l->rec[k] = r;
	p->l->len[k] = vlen;
	merkle_leaf_hash(r, vlen, p->l->hash[k]);	/* while it is at hand */
	p->next++;
	return 0;
}

static void load_part_run(void *ctx, size_t lo, size_t hi)
{
	struct load_part *parts = ctx;

	for (size_t i = lo; i < hi; i++) {
		struct load_part *p = &parts[i];
		uint8_t start[8];

		for (int b = 7, v = 0; b >= 0; b--, v++)
			start[b] = (uint8_t)(p->lo >> (8 * v));
		meta_bulk_scan(true);
		p->rc = meta_rec_foreach_from(p->m, META_REC_JOURNAL_LEAF, NULL, 0, start, 8,
					      part_cb, p);
		meta_bulk_scan(false);
		if (p->rc > 0)
			p->rc = 0;
	}
}

static int last_cb(void *ctx, const void *key, size_t klen, const void *val, size_t vlen)
{
	(void)val;
	(void)vlen;
	*(uint64_t *)ctx = klen == 8 ? be64(key) + 1 : 0;
	return 1;
}

/* The records read in parts, one per thread: what a walk from the first
 * would read, stopping at the first missing one.  -EAGAIN when the parts
 * cannot be laid out (the caller walks from the first). */
static int load_parallel(struct store *s, struct log *l)
{
	struct load_part parts[PAR_MAX];
	unsigned k = par_threads();
	uint64_t n = 0;
	int rc = meta_rec_foreach_rev(s->meta, META_REC_JOURNAL_LEAF, NULL, 0, last_cb, &n);

	if (rc < 0)
		return rc;
	if (n < 4096 || k == 1 || n > (1ull << 32))
		return -EAGAIN;
	l->rec = calloc(n, sizeof(*l->rec));
	l->len = calloc(n, sizeof(*l->len));
	l->hash = calloc(n, sizeof(*l->hash));
	if (!l->rec || !l->len || !l->hash) {
		free(l->rec);
		free(l->len);
		free(l->hash);
		l->rec = NULL;
		l->len = NULL;
		l->hash = NULL;
		return -EAGAIN;
	}
	l->cap = n;
	for (unsigned i = 0; i < k; i++)
		parts[i] = (struct load_part){ .l = l, .m = s->meta, .lo = n * i / k,
					       .hi = n * (i + 1) / k, .next = n * i / k };
	par_split(k, k, load_part_run, parts);
	rc = 0;
	for (unsigned i = 0; i < k; i++) {
		struct load_part *p = &parts[i];
		char **v = realloc(l->arena, (l->narena + p->own.narena) * sizeof(*v));

		if (v) {	/* the blocks are freed with L's */
			if (p->own.narena)
				memcpy(v + l->narena, p->own.arena, p->own.narena * sizeof(*v));
			l->arena = v;
			l->narena += p->own.narena;
		} else {
			for (size_t b = 0; b < p->own.narena; b++)
				free(p->own.arena[b]);
		}
		free(p->own.arena);
		if (rc || l->n != p->lo)
			continue;	/* after the first part that ended early */
		l->n = p->next;
		if (p->rc < 0) {
			rc = p->rc;
		} else if (p->gap) {
			problem(l, "record %zu is missing (found record %llu instead)", l->n,
				(unsigned long long)p->found);
			rc = -EBADMSG;
		} else if (p->next < p->hi) {
			rc = 1;		/* the end of the log */
		}
	}
	return rc < 0 ? rc : 0;
}

int load_store(struct store *s, struct log *l)
{
	int rc = load_parallel(s, l);	/* hashed as read */

	if (rc == -EAGAIN) {
		rc = meta_rec_foreach(s->meta, META_REC_JOURNAL_LEAF, NULL, 0, rec_cb, l);
		log_hash(l);	/* what was read, also when a record is missing */
	}
	return rc ? rc : meta_rec_foreach(s->meta, META_REC_JOURNAL_CHECKPOINT, NULL, 0, ck_cb, l);
}

/* --- running on every core ------------------------------------------------ */

struct part {
	void (*fn)(void *ctx, size_t lo, size_t hi);
	void *ctx;
	size_t lo, hi;
};

static void *part_main(void *arg)
{
	struct part *p = arg;

	p->fn(p->ctx, p->lo, p->hi);
	return NULL;
}

struct each {
	void (*fn)(void *ctx, unsigned thread);
	void *ctx;
};

static void each_part(void *ctx, size_t lo, size_t hi)
{
	struct each *e = ctx;

	(void)hi;
	e->fn(e->ctx, (unsigned)lo);
}

void par_all(void (*fn)(void *ctx, unsigned thread), void *ctx)
{
	struct each e = { fn, ctx };
	unsigned k = par_threads();

	par_split(k, k, each_part, &e);
}

unsigned par_threads(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	return n < 1 ? 1 : n > PAR_MAX ? PAR_MAX : (unsigned)n;
}

void par_for(size_t n, void (*fn)(void *ctx, size_t lo, size_t hi), void *ctx)
{
	par_split(n, n < 4096 ? 1 : par_threads(), fn, ctx);	/* small: not worth a thread */
}

/* [0, N) in K parts, part i [N*i/K, N*(i+1)/K), part 0 on this thread. */
static void par_split(size_t n, unsigned k, void (*fn)(void *ctx, size_t lo, size_t hi),
		      void *ctx)
{
	struct part p[PAR_MAX];
	pthread_t t[PAR_MAX];
	bool started[PAR_MAX] = { false };

	if (k <= 1) {
		fn(ctx, 0, n);
		return;
	}
	for (unsigned i = 0; i < k; i++)
		p[i] = (struct part){ fn, ctx, n * i / k, n * (i + 1) / k };
	for (unsigned i = 1; i < k; i++)
		started[i] = pthread_create(&t[i], NULL, part_main, &p[i]) == 0;
	fn(ctx, p[0].lo, p[0].hi);
	for (unsigned i = 1; i < k; i++) {
		if (started[i])
			pthread_join(t[i], NULL);
		else
			fn(ctx, p[i].lo, p[i].hi);	/* no thread: done here */
	}
}
