/* content.c — content hashes of the files of dataset and checkpoint areas,
 * and whether a saved file is whole (torch.save zip, safetensors).
 *
 * A dataset or checkpoint file's SHA-256 is computed as its bytes arrive
 * in order (the session's running hash, vsession.c) and stored with the
 * inode generation it describes ('H' record); a stale or missing one is
 * computed when first asked for.
 */
#include "fs/inode.h"
#include "fs/data.h"
#include "fs/extmap.h"
#include "fs/content.h"
#include "fs/hooks.h"
#include "meta/keys.h"
#include "meta/records.h"

#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REC_H	META_REC_CONTENT_HASH	/* meta/records.h */

bool content_tracked(const struct inode *in)
{
	return S_ISREG(in->attr.mode) && !(in->attr.flags & META_IF_READONLY) &&
	       (in->attr.policy == META_AREA_CHECKPOINT || in->attr.policy == META_AREA_DATASET);
}

/* SHA-256 of IN's whole content, read back through the extent map. */
int content_hash_now(struct fs *fs, struct inode *in, uint8_t sha[32])
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	char *buf = malloc(FS_MAX_WRITE);
	uint64_t off = 0;
	size_t got;
	int rc = md && buf && EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1 ? 0 : -ENOMEM;

	if (rc == 0)
		rc = fs_map_load(fs, in);
	while (rc == 0 && off < in->attr.size) {
		rc = fs_read(fs, in, buf, FS_MAX_WRITE, off, &got);
		if (rc == 0 && got == 0)
			rc = -EIO;
		if (rc == 0)
			EVP_DigestUpdate(md, buf, got);
		off += got;
	}
	if (rc == 0)
		EVP_DigestFinal_ex(md, sha, NULL);
	EVP_MD_CTX_free(md);
	free(buf);
	return rc;
}

static int read_at(struct fs *fs, struct inode *in, void *dst, size_t len, uint64_t off)
{
	size_t got;
	int rc = fs_read(fs, in, dst, len, off, &got);

	return rc < 0 ? rc : got == len ? 0 : -EIO;
}

static uint64_t le(const uint8_t *p, int n)
{
	uint64_t v = 0;

	while (n--)
		v = v << 8 | p[n];
	return v;
}

/* A zip (torch.save) is whole if its end-of-central-directory record ends
 * the file and the central directory it points at ends where it starts. */
static bool zip_whole(struct fs *fs, struct inode *in)
{
	uint64_t size = in->attr.size, tail = size < 65557 ? size : 65557;
	uint8_t *b = malloc(tail);
	bool ok = false;

	if (!b || read_at(fs, in, b, tail, size - tail) < 0)
		goto out;
	for (int64_t i = (int64_t)tail - 22; i >= 0 && !ok; i--) {
		uint64_t eocd = size - tail + (uint64_t)i, cdsize, cdoff;

		if (le(b + i, 4) != 0x06054b50 || eocd + 22 + le(b + i + 20, 2) != size)
			continue;
		cdsize = le(b + i + 12, 4);
		cdoff = le(b + i + 16, 4);
		if (i >= 20 && le(b + i - 20, 4) == 0x07064b50) {
			/* zip64 (PyTorch writes it always): the locator sits
			 * just before the record and points at the zip64 one */
			uint64_t z64;
			uint8_t r[56];

			z64 = le(b + i - 12, 8);
			if (z64 + 56 > size || read_at(fs, in, r, 56, z64) < 0 ||
			    le(r, 4) != 0x06064b50)
				break;
			cdsize = le(r + 40, 8);
			cdoff = le(r + 48, 8);
			ok = cdoff + cdsize == z64;
		} else {
			ok = cdoff + cdsize == eocd;
		}
		break;
	}
out:
	free(b);
	return ok;
}

/* A safetensors file is whole if its tensors' data ends at its end. */
static bool safetensors_whole(struct fs *fs, struct inode *in, uint64_t hlen)
{
	char *h = malloc(hlen + 1), *p;
	uint64_t max = 0;
	bool ok = false;

	if (!h || read_at(fs, in, h, hlen, 8) < 0)
		goto out;
	h[hlen] = 0;
	for (p = strstr(h, "\"data_offsets\""); p; p = strstr(p + 1, "\"data_offsets\"")) {
		unsigned long long a, e;

		if (sscanf(strchr(p, '[') ? strchr(p, '[') : p, "[%llu , %llu]", &a, &e) != 2 ||
		    a > e)
			goto out;
		if (e > max)
			max = e;
	}
	ok = 8 + hlen + max == in->attr.size;
out:
	free(h);
	return ok;
}

/* Is IN's content a whole file of the formats we know torn saves of? */
bool content_whole(struct fs *fs, struct inode *in)
{
	uint8_t head[9];
	uint64_t hlen;

	if (in->attr.size < 9 || read_at(fs, in, head, 9, 0) < 0)
		return true;
	if (le(head, 4) == 0x04034b50)
		return zip_whole(fs, in);
	hlen = le(head, 8);
	if (head[8] == '{' && hlen >= 2 && hlen < (100u << 20))
		return hlen + 8 <= in->attr.size && safetensors_whole(fs, in, hlen);
	return true;
}

/* Is version inode VINO a zip or safetensors file (formats whose saves
 * are never empty)?  False when it cannot be read. */
bool content_known_format(struct fs *fs, uint64_t vino)
{
	struct inode *vin;
	uint8_t head[9];
	bool known = false;

	if (inode_get(fs, vino, &vin) < 0)
		return false;
	pthread_rwlock_wrlock(&vin->lock);
	if (vin->attr.size >= 9 && fs_map_load(fs, vin) == 0 && read_at(fs, vin, head, 9, 0) == 0)
		known = le(head, 4) == 0x04034b50 ||
			(head[8] == '{' && le(head, 8) >= 2 && le(head, 8) < (100u << 20));
	pthread_rwlock_unlock(&vin->lock);
	inode_put(fs, vin);
	return known;
}

/* --- content hashes of dataset files ----------------------------------- */

static void hash_put(struct meta_batch *b, uint64_t ino, uint64_t gen, const uint8_t sha[32])
{
	uint8_t k[8], v[40];

	key_put_u64(k, ino);
	key_put_u64(v, gen);
	memcpy(v + 8, sha, 32);
	meta_rec_put(b, REC_H, k, 8, v, sizeof(v));
}

int content_hash_put(struct fs *fs, struct inode *in, const uint8_t sha[32])
{
	struct meta_batch *b = meta_batch_new();
	int rc = 0;

	if (b) {
		hash_put(b, in->ino, in->attr.generation, sha);
		rc = fs_commit(fs, b, false);
		meta_batch_free(b);
	}
	return rc;
}

int content_sha(struct fs *fs, struct inode *in, uint8_t sha[32])
{
	struct meta_batch *b;
	uint8_t k[8];
	void *v;
	size_t len;
	int rc;

	key_put_u64(k, in->ino);
	if (meta_rec_get(fs->meta, REC_H, k, 8, &v, &len) == 0) {
		bool fresh = len == 40 && key_get_u64(v) == in->attr.generation;

		if (fresh)
			memcpy(sha, (uint8_t *)v + 8, 32);
		free(v);
		if (fresh)
			return 0;
	}
	rc = fs_map_load(fs, in);
	if (rc == 0)
		rc = content_hash_now(fs, in, sha);
	if (rc == 0 && (b = meta_batch_new())) {
		hash_put(b, in->ino, in->attr.generation, sha);
		fs_commit(fs, b, false);
		meta_batch_free(b);
	}
	return rc;
}

void content_copy_hash(struct fs *fs, struct meta_batch *b, uint64_t src, uint64_t dst)
{
	uint8_t k[8];
	void *v;
	size_t len;

	key_put_u64(k, src);
	if (meta_rec_get(fs->meta, REC_H, k, 8, &v, &len) == 0) {
		key_put_u64(k, dst);
		meta_rec_put(b, REC_H, k, 8, v, len);
		free(v);
	}
}

void content_forget(struct meta_batch *b, uint64_t ino)
{
	uint8_t k[8];

	key_put_u64(k, ino);
	meta_rec_del(b, REC_H, k, 8);
}

/* --- hooks into the core ------------------------------------------------ */

static void content_purge(struct fs *fs, struct inode *in, struct meta_batch *b)
{
	(void)fs;
	content_forget(b, in->ino);
}

static void content_purge_now(struct fs *fs, struct inode *in, struct meta_batch *b)
{
	(void)fs;
	if (S_ISREG(in->attr.mode))
		content_forget(b, in->ino);
}

const struct fs_feature_ops content_feature = {
	.name = "content hashes",
	.purge = content_purge,
	.purge_now = content_purge_now,
};
