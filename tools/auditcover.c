/* auditcover.c — `aifsctl audit verify`: every journal file is covered to
 * its end by its write records and has its seal record if sealed, and each
 * stored lineage matches its "lineage" record (auditverify.h).
 */
#include <errno.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "meta/keys.h"
#include "meta/records.h"
#include "meta/store.h"
#include "tools/audit.h"
#include "tools/auditrec.h"
#include "tools/auditverify.h"
#include "tools/common.h"

static int jfile_cmp(const void *a, const void *b)
{
	uint64_t x = ((const struct jfile *)a)->ino, y = ((const struct jfile *)b)->ino;

	return x < y ? -1 : x > y;
}

/* Every journal file must be covered to its end by write records, and
 * have a seal record if it is sealed: records removed from the end of the
 * log (and the checkpoints after them) show up here. */
static int cover_check(void *ctx, const struct meta_inode *in)
{
	struct cover *c = ctx;
	struct jfile key = { .ino = in->ino }, *j;

	if (!S_ISREG(in->mode) || in->policy != META_AREA_JOURNAL ||
	    (in->flags & (META_IF_VERSION | META_IF_SNAPSHOT)))
		return 0;
	j = bsearch(&key, c->v, c->n, sizeof(*c->v), jfile_cmp);
	if (!j || j->covered != in->size) {
		fprintf(c->out, "journal file inode %llu holds %llu bytes but records cover %llu: "
			"records were removed\n", (unsigned long long)in->ino,
			(unsigned long long)in->size, (unsigned long long)(j ? j->covered : 0));
	} else if ((in->flags & META_IF_SEALED) && !j->sealed) {
		fprintf(c->out, "journal file inode %llu is sealed but its seal record is missing\n",
			(unsigned long long)in->ino);
	}
	return 0;
}

/* The journal files the records name, by inode, then the walk of the
 * store's inodes (in a thread of its own, beside the content's). */
void *verify_cover_main(void *arg)
{
	struct cover *c = arg;
	struct log *l = c->l;
	size_t m = 0;

	c->v = calloc(l->n ? l->n : 1, sizeof(*c->v));
	if (!c->v) {
		fprintf(c->out, "out of memory checking the cover of journal files\n");
		return NULL;
	}
	for (size_t i = 0; i < l->n; i++) {
		const struct recinfo *ri = &l->info[i];

		if (ri->op == OP_WRITE || ri->op == OP_SEAL || ri->op == OP_CREATE)
			c->v[c->n++] = (struct jfile){ .ino = ri->ino };
	}
	qsort(c->v, c->n, sizeof(*c->v), jfile_cmp);
	for (size_t i = 0; i < c->n; i++)	/* unique */
		if (!m || c->v[m - 1].ino != c->v[i].ino)
			c->v[m++] = c->v[i];
	c->n = m;
	for (size_t i = 0; i < l->n; i++) {
		const struct recinfo *ri = &l->info[i];
		struct jfile key = { .ino = ri->ino }, *j;

		if (ri->op != OP_WRITE && ri->op != OP_SEAL)
			continue;
		j = bsearch(&key, c->v, c->n, sizeof(*c->v), jfile_cmp);
		if (j && ri->op == OP_WRITE && ri->off + ri->len > j->covered)
			j->covered = ri->off + ri->len;
		else if (j && ri->op == OP_SEAL)
			j->sealed = true;
	}
	meta_inode_foreach(c->s->meta, cover_check, c);
	return NULL;
}

/* Each journal file keeps the lineage of the job that last started writing
 * it; the log's newest "lineage" record of the file must name its SHA-256
 * (the bytes of the 'Z' record, fs/lineage.c).  Earlier ones were
 * replaced and cannot be checked here.  Newest first, as the records go
 * back. */
void verify_lineage(struct log *l, struct store *s)
{
	uint64_t *seen = NULL;
	size_t nseen = 0, nlin = 0;
	struct auditrec *r;

	for (size_t i = 0; i < l->n; i++)
		nlin += l->info[i].op == OP_LINEAGE;
	if (!nlin)
		return;
	seen = malloc(nlin * sizeof(*seen));
	r = malloc(sizeof(*r));
	if (!seen || !r) {
		problem(l, "out of memory checking lineage records");
		free(seen);
		free(r);
		return;
	}
	/* the inodes of the lineage records met so far (newer), sorted */
	for (size_t i = l->n; i-- > 0;) {
		char got[65];
		uint64_t ino = l->info[i].ino;
		uint8_t k[8], sha[32];
		size_t at;
		void *v;
		size_t len;

		if (l->info[i].op != OP_LINEAGE)
			continue;
		for (at = 0; at < nseen && seen[at] < ino; at++)
			;
		if (at < nseen && seen[at] == ino)
			continue;	/* a newer record of the file came first */
		memmove(seen + at + 1, seen + at, (nseen - at) * sizeof(*seen));
		seen[at] = ino;
		nseen++;
		for (int b = 7; b >= 0; b--, ino >>= 8)
			k[b] = (uint8_t)ino;
		if (meta_rec_get(s->meta, 'Z', k, 8, &v, &len) < 0)
			continue;	/* the file is gone, and its lineage with it */
		EVP_Digest(v, len, sha, NULL, EVP_sha256(), NULL);
		free(v);
		for (int b = 0; b < 32; b++)
			snprintf(got + 2 * b, 3, "%02x", sha[b]);
		if (auditrec_parse(r, l->rec[i], l->len[i], NULL) == 0 && strcmp(r->sha256, got))
			problem(l, "lineage of %s was changed (record %zu names %.16s..., the store "
				"holds %.16s...)", r->path, i, r->sha256, got);
	}
	free(seen);
	free(r);
}
