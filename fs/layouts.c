/* layouts.c — the directory checkpoints of training stacks, recognised by
 * the file that each stack writes last, so that one save is one
 * directory version (version_dir_commit) without any setup.
 *
 * In a directory of a checkpoint area:
 *  - PyTorch DCP: .metadata renamed in (written as .metadata.tmp) — every
 *    rank has written its shard before rank 0 writes it;
 *  - Hugging Face Trainer: trainer_state.json closed;
 *  - Hugging Face save_pretrained, sharded: the index
 *    (model.safetensors.index.json, pytorch_model.bin.index.json) closed,
 *    every shard of its weight_map present and not being written;
 *  - save_pretrained, one file: model.safetensors or pytorch_model.bin
 *    closed beside config.json, in a directory not named checkpoint-N
 *    (there the Trainer writes more, and trainer_state.json commits);
 *  - TensorFlow CheckpointManager: the state file "checkpoint" renamed in
 *    beside a ckpt-N.index;
 *  - TensorFlow SavedModel: saved_model.pb closed beside variables/.
 * aifsctl checkpoint commit DIR commits any directory at any time; the
 * mount option dir_versions=manual turns the recognition off.
 */
#include "fs/layouts.h"
#include "fs/fs.h"
#include "fs/inode.h"
#include "fs/data.h"
#include "fs/version.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool has_suffix(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && !strcmp(s + n - m, suffix);
}

/* Does DIR have an entry NAME of type TYPE (0: any)? */
static bool has_entry(struct fs *fs, uint64_t dir, const char *name, uint32_t type)
{
	uint64_t ino;
	uint32_t t;

	return meta_dentry_get(fs->meta, dir, name, strlen(name), &ino, &t) == 0 &&
	       (!type || t == type);
}

/* Is regular file NAME of DIR there, with no write session under way? */
static bool whole_file(struct fs *fs, uint64_t dir, const char *name)
{
	struct inode *in;
	uint64_t ino;
	uint32_t t;
	bool ok;

	if (meta_dentry_get(fs->meta, dir, name, strlen(name), &ino, &t) < 0 || t != S_IFREG ||
	    inode_get(fs, ino, &in) < 0)
		return false;
	pthread_rwlock_rdlock(&in->lock);
	ok = !version_in_session(fs, in) && in->nwriters == 0;
	pthread_rwlock_unlock(&in->lock);
	inode_put(fs, in);
	return ok;
}

static int ends_cb(void *ctx, const char *name, size_t len, uint64_t ino, uint32_t type)
{
	const char *suffix = ctx;
	size_t m = strlen(suffix);

	(void)ino;
	return type == S_IFREG && len > m && !memcmp(name + len - m, suffix, m);
}

/* Does DIR have a regular file whose name ends with SUFFIX? */
static bool has_suffixed(struct fs *fs, uint64_t dir, const char *suffix)
{
	return meta_dentry_foreach(fs->meta, dir, NULL, 0, ends_cb, (void *)suffix) == 1;
}

struct named {
	uint64_t ino;
	bool checkpoint_n;
};

static int name_cb(void *ctx, const char *name, size_t len, uint64_t ino, uint32_t type)
{
	struct named *n = ctx;

	(void)type;
	if (ino != n->ino)
		return 0;
	n->checkpoint_n = len > 11 && !memcmp(name, "checkpoint-", 11);
	return 1;
}

/* Is directory DIR (in GRANDPARENT) named checkpoint-N, a Trainer's? */
static bool trainer_dir(struct fs *fs, uint64_t dir, uint64_t grandparent)
{
	struct named n = { .ino = dir };

	if (!grandparent)
		return false;
	meta_dentry_foreach(fs->meta, grandparent, NULL, 0, name_cb, &n);
	return n.checkpoint_n;
}

/* Is every shard named by the index file IN (locked by no one) whole? */
static bool shards_whole(struct fs *fs, struct inode *in, uint64_t dir)
{
	json_t *root = NULL, *map, *v;
	const char *key;
	size_t got = 0;
	char *text = NULL;
	bool ok = false;
	int rc;

	pthread_rwlock_wrlock(&in->lock);
	if (in->attr.size > 0 && in->attr.size < (16u << 20) && (text = malloc(in->attr.size + 1)))
		rc = fs_read(fs, in, text, in->attr.size, 0, &got);
	else
		rc = -EFBIG;
	pthread_rwlock_unlock(&in->lock);
	if (rc == 0)
		root = json_loadb(text, got, 0, NULL);
	map = root ? json_object_get(root, "weight_map") : NULL;
	if (map && json_is_object(map) && json_object_size(map)) {
		ok = true;
		json_object_foreach(map, key, v) {
			if (!json_is_string(v) || strchr(json_string_value(v), '/') ||
			    !whole_file(fs, dir, json_string_value(v))) {
				ok = false;
				break;
			}
		}
	}
	json_decref(root);
	free(text);
	return ok;
}

/* The directory DIR is in, as last looked up (0 if unknown). */
static uint64_t parent_of(struct fs *fs, uint64_t dir)
{
	struct inode *d;
	uint64_t p = 0;

	if (inode_get(fs, dir, &d) == 0) {
		pthread_rwlock_rdlock(&d->lock);
		p = d->parent;
		pthread_rwlock_unlock(&d->lock);
		inode_put(fs, d);
	}
	return p;
}

bool layout_close_commits(struct fs *fs, struct inode *in, uint64_t *dirp)
{
	char name[META_NAME_MAX + 1];
	uint64_t dir;
	bool yes = false;

	pthread_rwlock_rdlock(&in->lock);
	version_last_name(fs, in, &dir, name, sizeof(name));
	pthread_rwlock_unlock(&in->lock);
	*dirp = dir;
	if (!name[0] || !dir || fs->opt.dir_versions_manual)
		return false;
	if (!strcmp(name, "trainer_state.json"))
		yes = true;
	else if (has_suffix(name, ".safetensors.index.json") || has_suffix(name, ".bin.index.json"))
		yes = shards_whole(fs, in, dir);
	else if (!strcmp(name, "model.safetensors") || !strcmp(name, "pytorch_model.bin"))
		yes = has_entry(fs, dir, "config.json", S_IFREG) &&
		      !has_suffixed(fs, dir, ".index.json") &&
		      !trainer_dir(fs, dir, parent_of(fs, dir));
	else if (!strcmp(name, "saved_model.pb"))
		yes = has_entry(fs, dir, "variables", S_IFDIR);
	return yes;
}

bool layout_rename_commits(struct fs *fs, uint64_t dir, const char *name)
{
	if (fs->opt.dir_versions_manual)
		return false;
	if (!strcmp(name, ".metadata"))
		return true;
	return !strcmp(name, "checkpoint") && has_suffixed(fs, dir, ".index") &&
	       has_entry(fs, dir, "checkpoint", S_IFREG);
}
