/* jretain.c — retention of journal files (S3 Object Lock): what retention
 * each file and directory keeps, and whether it lets a file change now.
 *
 * A journal file cannot be changed or removed while it is being written,
 * while its retention (measured on the store's monotonic clock from its
 * seal) runs, or while a legal hold is on it.  A file or directory whose
 * retention was set under audit_mode=compliance stays in compliance mode
 * on every later mount.  The holds, releases and retention settings that
 * change this are made through the mount (jcontrol.c).
 *
 * Layer: feature (journal), over jlog.c and the core; no request reaches
 * it (test_jretain links it without libfuse).
 */
#include "fs/journal_priv.h"
#include "fs/inode.h"
#include "fs/journal.h"
#include "meta/keys.h"

#include <errno.h>
#include <stdlib.h>

/* Retention of INO in ns: its own, set when it was created from its
 * directory's, else the mount's.  *COMPLIANCE (if given): whether it was
 * set in compliance mode, which no later governance mount undoes.  The
 * record is the ns, then a 'C' byte for compliance. */
int64_t journal_retention_get(struct fs *fs, uint64_t ino, bool *compliance)
{
	uint8_t k[8];
	void *v;
	size_t len;
	int64_t ns = (int64_t)(fs->opt.audit_retention_days * 86400.0 * 1e9);

	if (compliance)
		*compliance = false;
	key_put_u64(k, ino);
	if (meta_rec_get(fs->meta, REC_T, k, 8, &v, &len) == 0) {
		if (len >= 8)
			ns = (int64_t)key_get_u64(v);
		if (compliance && len == 9)
			*compliance = ((uint8_t *)v)[8] == 'C';
		free(v);
	}
	return ns;
}

int64_t journal_retention_of(struct fs *fs, uint64_t ino)
{
	return journal_retention_get(fs, ino, NULL);
}

/* Keep retention NS (COMPLIANCE: locked in compliance mode) for INO in B. */
void journal_retention_put(struct meta_batch *b, uint64_t ino, int64_t ns, bool compliance)
{
	uint8_t k[8], v[9];

	key_put_u64(k, ino);
	key_put_u64(v, (uint64_t)ns);
	v[8] = 'C';
	meta_rec_put(b, REC_T, k, 8, v, compliance ? 9 : 8);
}

/* A new file keeps the retention and mode its directory (or, if the
 * directory has none, the mount) gives it now: changing the directory's,
 * remounting with another audit_retention or in governance mode later
 * never shortens it. */
int64_t journal_retention_inherit(struct fs *fs, uint64_t dir, uint64_t ino, bool *compliance,
				  struct meta_batch *b)
{
	int64_t ns = journal_retention_get(fs, dir, compliance);

	*compliance = *compliance || fs->opt.audit_compliance;
	journal_retention_put(b, ino, ns, *compliance);
	return ns;
}

/* A new directory DIR in journal directory PARENT keeps PARENT's retention
 * if it has one: a subdirectory is no way around it. */
void journal_dir_inherit(struct fs *fs, uint64_t parent, uint64_t dir, struct meta_batch *b)
{
	uint8_t k[8];
	void *v;
	size_t len;

	key_put_u64(k, parent);
	if (meta_rec_get(fs->meta, REC_T, k, 8, &v, &len) < 0)
		return;
	if (len >= 8 && len <= 9) {
		key_put_u64(k, dir);
		meta_rec_put(b, REC_T, k, 8, v, len);
	}
	free(v);
}

/* Why retention lets IN go now: 0 if it may be changed or removed (WHY:
 * "released" or "retention ended"), else -EPERM. */
int journal_retention_allows(struct fs *fs, struct inode *in, const char **why, int64_t *age)
{
	char path[8];
	int64_t sealed, ret;
	bool compliance;
	uint8_t k[8];
	void *v;
	size_t vlen;

	key_put_u64(k, in->ino);
	if (meta_rec_any(fs->meta, REC_Y, k, 8))
		return -EPERM;		/* legal hold */
	*age = -1;
	if ((in->attr.flags & META_IF_SEALED) &&
	    journal_path_load(fs, in->ino, path, sizeof(path), &sealed) == 0 && sealed >= 0)
		*age = journal_mono_now(fs->journal) - sealed;
	ret = journal_retention_get(fs, in->ino, &compliance);
	if (!fs->opt.audit_compliance && !compliance &&
	    meta_rec_get(fs->meta, REC_R, k, 8, &v, &vlen) == 0) {
		free(v);
		*why = "released";	/* by root, governance mode */
		return 0;
	}
	if (*age < 0)
		return -EPERM;		/* still being written */
	if (*age < ret)
		return -EPERM;		/* retention not over */
	*why = "retention ended";
	return 0;
}

int journal_may_change(struct fs *fs, struct inode *in)
{
	const char *why;
	int64_t age;

	return journal_file(in) ? journal_retention_allows(fs, in, &why, &age) : 0;
}
