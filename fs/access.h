/* access.h — who may do what: the POSIX permission checks that the daemon
 * makes itself for what the kernel does not check (fs/ only).
 *
 * With default_permissions the kernel checks every plain operation, but a
 * user.aifs.* control is only checked for write permission on the file
 * that carries it, and the .aifs views are mode 0555 to the kernel.  Each
 * control therefore checks, with the caller's credentials, what the POSIX
 * operation it resembles would: creating a name needs write and search
 * permission on the directory and search permission on every directory on
 * the way; reading content needs read permission on that content.  Root
 * passes every check except search (execute) of a non-directory with no
 * x bit, as CAP_DAC_OVERRIDE does.
 *
 * Layer: permissions, above the core; called by acl.c, the features and
 * the FUSE adapter.
 */
#ifndef AIFS_FS_ACCESS_H
#define AIFS_FS_ACCESS_H

#include "fs/fs.h"
#include "fs/fuseapi.h"

#include <errno.h>

#define ACCESS_GROUPS_MAX	64	/* supplementary groups looked at */

/* The credentials of a request's caller. */
struct access_cred {
	uint32_t uid, gid;
	int ngroups;
	gid_t groups[ACCESS_GROUPS_MAX];
};

/* Fill C from REQ: uid, gid and supplementary groups of the calling
 * process (the groups are read from /proc: a process that has gone keeps
 * only its gid).  Never fails. */
void access_cred_get(fuse_req_t req, struct access_cred *c);

/* The umask of REQ's calling process (022 if it cannot be read).  The
 * kernel passes one only with the requests that create a node; a control
 * that creates one asks the caller's process. */
uint32_t access_umask(fuse_req_t req);

/* True if GID is C's gid or one of its supplementary groups. */
bool access_in_group(const struct access_cred *c, uint32_t gid);

/* 0 if C may do MASK (a set of R_OK, W_OK, X_OK) to an inode with
 * attributes A, else -EACCES. */
int access_check(const struct access_cred *c, const struct meta_inode *a, int mask);


/* True if REQ's caller is root or owns an inode with attributes A (what
 * chmod(2) asks; no /proc read). */
bool access_req_owner(fuse_req_t req, const struct meta_inode *a);

/* True if RC is a refusal of the caller's request (a bad value, no
 * permission, a name that is or is not there), which is answered with
 * the errno and never logged above debug level: any user can repeat it
 * at will.  Inline: the features call it from what needs no request. */
static inline bool access_refusal(int rc)
{
	switch (-rc) {
	case EACCES: case EPERM: case EINVAL: case EEXIST: case ENOENT: case ENOTDIR:
	case EISDIR: case ENAMETOOLONG: case EBUSY: case ENOTEMPTY: case EROFS:
	case ENODATA: case ERANGE: case E2BIG:
		return true;
	default:
		return false;
	}
}

#endif
