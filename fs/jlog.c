/* jlog.c — the records of the signed log of journal areas (journal.c):
 * each record a JSON line, its leaf hash, and where a journal file's path
 * and seal time are kept; the store's clock, and which files are a journal
 * area's.
 *
 * Layer: feature (journal), below journal.c: calls only the core (no
 * request: test_jlog links it without libfuse).
 */
#include "fs/journal_priv.h"
#include "fs/inode.h"
#include "fs/journal.h"
#include "fs/path.h"
#include "meta/keys.h"
#include "tier/failpoint.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Put record SEQ (time T) for L into B and its leaf hash into H (caller
 * holds the journal lock, which also guards the record's builder). */
int journal_leaf_put(struct fs *fs, const struct leaf *l, uint64_t seq, int64_t t,
		     struct meta_batch *b, uint8_t h[32])
{
	struct sb *s = &fs->journal->rec;
	uint8_t k[8];

	sb_clear(s);
	sb_add(s, "{\"seq\":");
	sb_u64(s, seq);
	sb_add(s, ",\"op\":\"");
	sb_add(s, l->op);
	sb_add(s, "\",\"time\":");
	sb_i64(s, t);
	sb_add(s, ",\"uid\":");
	sb_u64(s, l->uid);
	sb_add(s, ",\"pid\":");
	sb_u64(s, l->pid);
	sb_add(s, ",\"comm\":");
	sb_str(s, l->comm ? l->comm : "");
	sb_add(s, ",\"path\":");
	sb_str(s, l->path ? l->path : "");
	sb_add(s, ",\"inode\":");
	sb_u64(s, l->ino);
	sb_add(s, ",\"offset\":");
	sb_u64(s, l->offset);
	sb_add(s, ",\"length\":");
	sb_u64(s, l->length);
	sb_add(s, ",\"sha256\":\"");
	if (l->sha)
		sb_hex(s, l->sha, 32);
	sb_add(s, "\"");
	if (l->tag) {
		sb_add(s, ",\"tag\":");
		sb_str(s, l->tag);
	}
	if (l->has_retention) {
		sb_add(s, ",\"retention\":");
		sb_i64(s, l->retention);
	}
	if (l->lock) {
		sb_add(s, ",\"lock\":\"");
		sb_add(s, l->lock);
		sb_add(s, "\"");
	}
	if (l->has_age) {
		sb_add(s, ",\"age\":");
		sb_i64(s, l->age);
	}
	sb_add(s, "}");
	if (s->err || failpoint("journal_record", ENOMEM)) {
		log_err("audit: out of memory for the %s record of %s", l->op,
			l->path ? l->path : "?");
		return -ENOMEM;
	}
	merkle_leaf_hash(s->p, s->len, h);
	key_put_u64(k, seq);
	meta_rec_put(b, REC_J, k, 8, s->p, s->len);
	return 0;
}

int journal_leaf_put_next(struct fs *fs, const struct leaf *l, struct meta_batch *b, uint8_t h[32])
{
	return journal_leaf_put(fs, l, merkle_size(&fs->journal->tree), fs_now(), b, h);
}

int journal_leaf_commit(struct fs *fs, const struct leaf *l, struct meta_batch *b)
{
	struct journal *j = fs->journal;
	uint8_t h[32];
	int rc;

	pthread_mutex_lock(&j->lock);
	rc = journal_leaf_put_next(fs, l, b, h);
	if (rc == 0)
		rc = fs_commit(fs, b, false);
	if (rc == 0)
		rc = merkle_append(&j->tree, h);
	if (rc == 0 && merkle_size(&j->tree) - j->signed_size >= fs->opt.audit_leaves)
		pthread_cond_signal(&j->cond);
	pthread_mutex_unlock(&j->lock);
	if (rc < 0)
		log_err("audit: recording %s of %s failed: %s", l->op, l->path ? l->path : "?",
			strerror(-rc));
	return rc;
}

/* Nanoseconds the store has been mounted, over its whole life. */
int64_t journal_mono_now(struct journal *j)
{
	return j->mono_base + (journal_boottime() - j->boot0);
}

time_t journal_wall_of(struct journal *j, int64_t mono)
{
	int64_t ns = j->wall0 + (mono - j->mono_base);

	return (time_t)(ns >= 0 ? ns / 1000000000 : -((-ns + 999999999) / 1000000000));
}

bool journal_file(const struct inode *in)
{
	return S_ISREG(in->attr.mode) && in->attr.policy == META_AREA_JOURNAL &&
	       !(in->attr.flags & META_IF_READONLY);
}

/* Path of directory DIR from the mount root ("" for the root, else with a
 * leading slash), or "?INO" if it cannot be found. */
void journal_dir_path(struct fs *fs, uint64_t dir, char *out, size_t len)
{
	char rel[4096];
	int n = fs_dir_path(fs, dir, rel, sizeof(rel)) < 0 ? -1 :
		snprintf(out, len, "%s%s", rel[0] ? "/" : "", rel);

	if (n < 0 || (size_t)n >= len)
		snprintf(out, len, "?%llu", (unsigned long long)dir);
}

void journal_path_put(struct meta_batch *b, uint64_t ino, const char *path, int64_t sealed)
{
	size_t len = strlen(path);
	uint8_t k[8], v[8 + 4096];

	if (len > sizeof(v) - 8)
		len = sizeof(v) - 8;
	key_put_u64(k, ino);
	key_put_u64(v, (uint64_t)sealed);
	memcpy(v + 8, path, len);
	meta_rec_put(b, REC_A, k, 8, v, 8 + len);
}

/* The path recorded for IN and its seal time (-1: not sealed). */
int journal_path_load(struct fs *fs, uint64_t ino, char *path, size_t len, int64_t *sealed)
{
	uint8_t k[8];
	void *v;
	size_t vlen;
	int rc;

	key_put_u64(k, ino);
	rc = meta_rec_get(fs->meta, REC_A, k, 8, &v, &vlen);
	if (rc < 0)
		return rc;
	if (vlen < 8) {
		free(v);
		return -EIO;
	}
	*sealed = (int64_t)key_get_u64(v);
	snprintf(path, len, "%.*s", (int)(vlen - 8), (char *)v + 8);
	free(v);
	return 0;
}
