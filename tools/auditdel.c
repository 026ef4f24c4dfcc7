/* auditdel.c — `aifsctl audit verify`: what became of the journal files
 * that are no longer in the store.
 *
 * Since deletions are records (op "delete": who, the file's retention, its
 * age since its seal on the store's clock, and why retention allowed it),
 * a missing file is one of: deleted after its retention, deleted after root
 * released it (governance mode), or deleted against retention (a delete
 * record that retention did not allow, a release of a file made in
 * compliance mode, or no delete record although its
 * create record carries a retention, i.e. was made by a daemon that
 * records deletions).  Files created before deletions were recorded are
 * counted, as before, as deleted after their retention.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/audit.h"
#include "tools/auditrec.h"
#include "tools/auditverify.h"

struct gone {
	uint64_t ino;
	size_t create, release, del;	/* record index, or SIZE_MAX */
};

static int ino_cmp(const void *a, const void *b)
{
	uint64_t x = ((const struct gone *)a)->ino, y = ((const struct gone *)b)->ino;

	return x < y ? -1 : x > y;
}

/* "3.2 s" or "183 days". */
static const char *dur(uint64_t ns, char *buf, size_t len)
{
	double s = (double)ns / 1e9;

	if (s < 86400)
		snprintf(buf, len, "%.1f s", s);
	else
		snprintf(buf, len, "%.4g days", s / 86400);
	return buf;
}

/* What became of file G, told from its records (D and C: room to read its
 * delete record and one other of its records into). */
static void report(struct log *l, const struct gone *g, struct auditrec *d,
		   struct auditrec *c, unsigned long *legacy)
{
	char a[32], r[32];
	uint64_t age, ret;

	if (g->del == SIZE_MAX) {
		if (g->create == SIZE_MAX ||
		    auditrec_parse(c, l->rec[g->create], l->len[g->create], NULL) < 0 ||
		    !c->has_retention) {
			(*legacy)++;	/* deleted before deletions were records */
			return;
		}
		problem(l, "deleted against retention: %s (inode %llu) is gone and no record "
			"says who deleted it", c->path, (unsigned long long)g->ino);
		return;
	}
	auditrec_parse(d, l->rec[g->del], l->len[g->del], NULL);
	age = d->has_age && d->age > 0 ? (uint64_t)d->age : 0;
	ret = d->has_retention && d->retention > 0 ? (uint64_t)d->retention : 0;
	if (!strcmp(d->tag, "released") && g->release < g->del && g->create != SIZE_MAX &&
	    auditrec_parse(c, l->rec[g->create], l->len[g->create], NULL) == 0 &&
	    !strcmp(c->lock, "compliance")) {
		problem(l, "deleted against retention: %s (inode %llu) by uid %llu (record %zu): "
			"released although it was made in compliance mode", d->path,
			(unsigned long long)g->ino, (unsigned long long)d->uid, g->del);
	} else if (!strcmp(d->tag, "released") && g->release < g->del) {
		auditrec_parse(c, l->rec[g->release], l->len[g->release], NULL);
		printf("deleted after its retention was released: %s (inode %llu) by uid %llu "
		       "(record %zu; released by uid %llu, record %zu)\n", d->path,
		       (unsigned long long)g->ino, (unsigned long long)d->uid, g->del,
		       (unsigned long long)c->uid, g->release);
	} else if (!strcmp(d->tag, "retention ended") && d->has_age && age >= ret) {
		printf("deleted after its retention: %s (inode %llu) by uid %llu (record %zu; "
		       "sealed %s before, retention %s)\n", d->path, (unsigned long long)g->ino,
		       (unsigned long long)d->uid, g->del, dur(age, a, sizeof(a)),
		       dur(ret, r, sizeof(r)));
	} else {
		problem(l, "deleted against retention: %s (inode %llu) by uid %llu (record %zu; "
			"sealed %s before, retention %s%s)", d->path, (unsigned long long)g->ino,
			(unsigned long long)d->uid, g->del, dur(age, a, sizeof(a)),
			dur(ret, r, sizeof(r)), !strcmp(d->tag, "released") ?
			", and no release record before it" : "");
	}
}

void verify_deletions(struct log *l, const uint64_t *ino, size_t n)
{
	struct gone *g = calloc(n ? n : 1, sizeof(*g)), key, *p;
	struct auditrec *rec = malloc(2 * sizeof(*rec));
	unsigned long legacy = 0;
	size_t m = 0;

	if (!n) {
		free(g);
		free(rec);
		return;		/* no file is gone: nothing to say */
	}
	if (!g || !rec) {
		problem(l, "out of memory checking %zu deleted files", n);
		free(g);
		free(rec);
		return;
	}
	for (size_t i = 0; i < n; i++)
		g[i] = (struct gone){ ino[i], SIZE_MAX, SIZE_MAX, SIZE_MAX };
	qsort(g, n, sizeof(*g), ino_cmp);
	for (size_t i = 0; i < n; i++)		/* unique */
		if (!m || g[m - 1].ino != g[i].ino)
			g[m++] = g[i];
	for (size_t i = 0; i < l->n; i++) {
		const struct recinfo *ri = &l->info[i];

		key.ino = ri->ino;
		p = bsearch(&key, g, m, sizeof(*g), ino_cmp);
		if (!p)
			continue;
		if (ri->op == OP_CREATE && p->create == SIZE_MAX)
			p->create = i;
		else if (ri->op == OP_RELEASE)
			p->release = i;
		else if (ri->op == OP_DELETE)
			p->del = i;
	}
	for (size_t i = 0; i < m; i++)
		report(l, &g[i], &rec[0], &rec[1], &legacy);
	if (legacy)
		printf("deleted before deletions were recorded: %lu file%s\n", legacy,
		       legacy == 1 ? "" : "s");
	free(g);
	free(rec);
}
