/* auditlog.c — a journal's log as the audit commands read it: its records
 * and signed checkpoints, loaded from a store (mounted or not) or from an
 * export directory, and the fields of a record.
 */
#include <dirent.h>
#include <errno.h>
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
	l->rec[l->n] = malloc(len + 1);
	if (!l->rec[l->n])
		return -ENOMEM;
	memcpy(l->rec[l->n], rec, len);
	l->rec[l->n][len] = 0;
	l->len[l->n] = len;
	merkle_leaf_hash(rec, len, l->hash[l->n]);
	l->n++;
	return 0;
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

/* Integer field NAME of JSON record R (our own fixed format). */
uint64_t field_u64(const char *r, const char *name)
{
	char key[48];
	const char *p;

	snprintf(key, sizeof(key), "\"%s\":", name);
	p = strstr(r, key);
	return p ? strtoull(p + strlen(key), NULL, 10) : 0;
}

void field_str(const char *r, const char *name, char *out, size_t len)
{
	char key[48];
	const char *p, *e;

	snprintf(key, sizeof(key), "\"%s\":\"", name);
	p = strstr(r, key);
	out[0] = 0;
	if (!p)
		return;
	p += strlen(key);
	e = strchr(p, '"');
	if (e && (size_t)(e - p) < len) {
		memcpy(out, p, (size_t)(e - p));
		out[e - p] = 0;
	}
}
void log_free(struct log *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->rec[i]);
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

int load_store(struct store *s, struct log *l)
{
	int rc = meta_rec_foreach(s->meta, META_REC_JOURNAL_LEAF, NULL, 0, rec_cb, l);

	return rc ? rc : meta_rec_foreach(s->meta, META_REC_JOURNAL_CHECKPOINT, NULL, 0, ck_cb, l);
}
