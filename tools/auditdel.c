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

static void report(struct log *l, const struct gone *g, unsigned long *legacy)
{
	char path[4096], tag[64], a[32], r[32];
	const char *d, *c;
	uint64_t age, ret;

	if (g->del == SIZE_MAX) {
		c = g->create == SIZE_MAX ? NULL : l->rec[g->create];
		if (!c || !strstr(c, "\"retention\":")) {
			(*legacy)++;	/* deleted before deletions were records */
			return;
		}
		field_str(c, "path", path, sizeof(path));
		problem(l, "deleted against retention: %s (inode %llu) is gone and no record "
			"says who deleted it", path, (unsigned long long)g->ino);
		return;
	}
	d = l->rec[g->del];
	field_str(d, "path", path, sizeof(path));
	field_str(d, "tag", tag, sizeof(tag));
	age = field_u64(d, "age");
	ret = field_u64(d, "retention");
	if (!strcmp(tag, "released") && g->release < g->del && g->create != SIZE_MAX &&
	    strstr(l->rec[g->create], "\"lock\":\"compliance\"")) {
		problem(l, "deleted against retention: %s (inode %llu) by uid %llu (record %zu): "
			"released although it was made in compliance mode", path,
			(unsigned long long)g->ino, (unsigned long long)field_u64(d, "uid"), g->del);
	} else if (!strcmp(tag, "released") && g->release < g->del) {
		printf("deleted after its retention was released: %s (inode %llu) by uid %llu "
		       "(record %zu; released by uid %llu, record %zu)\n", path,
		       (unsigned long long)g->ino, (unsigned long long)field_u64(d, "uid"),
		       g->del, (unsigned long long)field_u64(l->rec[g->release], "uid"),
		       g->release);
	} else if (!strcmp(tag, "retention ended") && strstr(d, "\"age\":") && age >= ret) {
		printf("deleted after its retention: %s (inode %llu) by uid %llu (record %zu; "
		       "sealed %s before, retention %s)\n", path, (unsigned long long)g->ino,
		       (unsigned long long)field_u64(d, "uid"), g->del, dur(age, a, sizeof(a)),
		       dur(ret, r, sizeof(r)));
	} else {
		problem(l, "deleted against retention: %s (inode %llu) by uid %llu (record %zu; "
			"sealed %s before, retention %s%s)", path, (unsigned long long)g->ino,
			(unsigned long long)field_u64(d, "uid"), g->del, dur(age, a, sizeof(a)),
			dur(ret, r, sizeof(r)), !strcmp(tag, "released") ?
			", and no release record before it" : "");
	}
}

void verify_deletions(struct log *l, const uint64_t *ino, size_t n)
{
	struct gone *g = calloc(n ? n : 1, sizeof(*g)), key, *p;
	unsigned long legacy = 0;
	size_t m = 0;

	if (!n) {
		free(g);
		return;		/* no file is gone: nothing to say */
	}
	if (!g) {
		problem(l, "out of memory checking %zu deleted files", n);
		return;
	}
	for (size_t i = 0; i < n; i++)
		g[i] = (struct gone){ ino[i], SIZE_MAX, SIZE_MAX, SIZE_MAX };
	qsort(g, n, sizeof(*g), ino_cmp);
	for (size_t i = 0; i < n; i++)		/* unique */
		if (!m || g[m - 1].ino != g[i].ino)
			g[m++] = g[i];
	for (size_t i = 0; i < l->n; i++) {
		char op[16];

		key.ino = field_u64(l->rec[i], "inode");
		p = bsearch(&key, g, m, sizeof(*g), ino_cmp);
		if (!p)
			continue;
		field_str(l->rec[i], "op", op, sizeof(op));
		if (!strcmp(op, "create") && p->create == SIZE_MAX)
			p->create = i;
		else if (!strcmp(op, "release"))
			p->release = i;
		else if (!strcmp(op, "delete"))
			p->del = i;
	}
	for (size_t i = 0; i < m; i++)
		report(l, &g[i], &legacy);
	if (legacy)
		printf("deleted before deletions were recorded: %lu file%s\n", legacy,
		       legacy == 1 ? "" : "s");
	free(g);
}
