/* virt.h — the hidden .aifs directories (virt.c): per directory the
 * versions and snapshots views, at the root the statistics, metrics and
 * audit head; node ids with FS_VIRT_BIT set.
 *
 * Layer: FUSE adapter; called by the handlers of dir.c, readdir.c, ops.c
 * and file.c.
 */
#ifndef AIFS_FS_VIRT_H
#define AIFS_FS_VIRT_H

#include "fs/fs.h"
#include "fs/fuseapi.h"

/* DIR/.aifs/versions/FILE/VLIST_NAME: the listing of FILE's versions in
 * one read (version_listing), found by name but not listed. */
#define VLIST_NAME "index.json"

void virt_init(void);
bool virt_is(uint64_t ino);
void virt_stat(struct fs *fs, uint64_t ino, struct stat *st);
/* Entry for NAME in PARENT if it is a virtual name; -ENOENT if not.  When
 * the name is a real inode (a version), *REAL is it, referenced. */
int virt_lookup(struct fs *fs, uint64_t parent, const char *name,
		struct fuse_entry_param *e, struct inode **real);
/* Content of view file ID (malloc'd), for open; -EISDIR for directories. */
int virt_open(struct fs *fs, uint64_t id, char **text, size_t *len);
/* 0 if REQ's caller may list (LIST) or look a name up in view ID, else
 * -EACCES: DIR/.aifs/versions and DIR/.aifs/snapshots list what DIR holds,
 * so listing them needs read and search permission on DIR and looking a
 * name up needs search permission on DIR. */
int virt_access(struct fs *fs, fuse_req_t req, uint64_t id, bool list);
/* Node id of DIR/.aifs/versions/FILE for file INO. */
uint64_t virt_versions_of(uint64_t ino);
/* True if ID is DS/.aifs/snapshots; *DS is then DS. */
bool virt_snapshots_of(uint64_t id, uint64_t *ds);
/* List virtual directory ID through ADD (after "." and ".."). */
int virt_readdir(struct fs *fs, uint64_t id,
		 int (*add)(void *ctx, const char *name, size_t len, uint64_t ino, uint32_t type),
		 void *ctx);

/* The views' subscription to what versions publish (version.h). */
extern const struct version_events virt_version_events;

#endif
