/* ops.h — the FUSE adapter: the table of handlers (ops.c: attributes,
 * statfs, session; file.c: open files; dir.c, rename.c: the namespace;
 * readdir.c; xattr.c) and what its files share (promote.c, reflink.c).
 *
 * Layer: FUSE adapter, the top of fs/; called by main.c and the adapter's
 * own files (fwdops.c, a follower's handlers, included).
 */
#ifndef AIFS_FS_OPS_H
#define AIFS_FS_OPS_H

#include "fs/fs.h"
#include "fs/fuseapi.h"
#include "fs/xattr.h"

/* copy_file_range between open files of IN and OUT: shares extents (see
 * reflink.c); bytes done, or -EOPNOTSUPP for the kernel to copy bytes. */
ssize_t fs_reflink(struct fs *fs, fuse_req_t req, struct inode *src, uint64_t soff,
		   struct inode *dst, uint64_t doff, size_t len);
const struct fuse_lowlevel_ops *fs_ops_table(void);
void fs_dir_ops(struct fuse_lowlevel_ops *ops);
void fs_file_ops(struct fuse_lowlevel_ops *ops);
void fs_readdir_ops(struct fuse_lowlevel_ops *ops);
void fs_rename_ops(struct fuse_lowlevel_ops *ops);
void fs_xattr_ops(struct fuse_lowlevel_ops *ops);
/* The clone ioctl (aifs_ioctl.h; promote.c). */
void fs_ioctl_ops(struct fuse_lowlevel_ops *ops);
/* "FILE@vN": the length of FILE and *N, or 0 if NAME is not an alias. */
size_t fs_version_alias(const char *name, uint32_t *n);
/* Fill E for IN (caller holds IN's lock). */
void fs_entry(struct fs *fs, struct inode *in, struct fuse_entry_param *e);
double fs_attr_timeout(const struct fs *fs, const struct inode *in);
/* Publish SRC's content (a checkpoint file's newest complete version) as
 * a new file at the mount-relative path VALUE, sharing its data. */
int fs_promote(struct fs *fs, fuse_req_t req, struct inode *src, const char *value, size_t size);
/* user.aifs.promote=PATH (xattr.h, set): fs_promote. */
extern const struct fs_xattr promote_xattrs[];
/* Create regular file NAME in PARENT; *OUT is referenced. */
int fs_create_node(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		   struct inode **out);
/* Make NAME of type and mode MODE in PARENT, owned by the caller (a
 * symbolic link to TARGET when TARGET is not NULL); *OUT is referenced.
 * The caller checked its permission on PARENT. */
int fs_make_node(fuse_req_t req, fuse_ino_t parent, const char *name, uint32_t mode,
		 const char *target, struct inode **out);
/* Remove NAME from PARENT as unlink(2) (DIR false) or rmdir(2) would for
 * the caller: 0 or -errno. */
int fs_remove_entry(fuse_req_t req, fuse_ino_t parent, const char *name, bool dir);

#endif
