/* access.c — POSIX permission checks made by the daemon (see access.h).
 *
 * The rules are those of generic_permission(): the owner class if the
 * caller owns the inode, else the group class if the inode's group is the
 * caller's gid or one of its supplementary groups, else the other class.
 * Root (uid 0) may read and write anything and search directories; it may
 * execute a non-directory only if some x bit is set.
 */
#include "fs/access.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define UMASK_DEFAULT	022

/* The umask of process PID from /proc/PID/status (Linux 4.7 and later). */
static uint32_t proc_umask(uint32_t pid)
{
	char path[64], buf[2048], *p;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%u/status", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return UMASK_DEFAULT;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return UMASK_DEFAULT;
	buf[n] = 0;
	p = strstr(buf, "\nUmask:");
	return p ? (uint32_t)strtoul(p + 7, NULL, 8) & 0777 : UMASK_DEFAULT;
}

uint32_t access_umask(fuse_req_t req)
{
	return proc_umask(fuse_req_ctx(req)->pid);
}

void access_cred_get(fuse_req_t req, struct access_cred *c)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	int n;

	c->uid = ctx->uid;
	c->gid = ctx->gid;
	c->ngroups = 0;
	if (c->uid == 0)
		return;		/* root's groups change nothing */
	n = fuse_req_getgroups(req, ACCESS_GROUPS_MAX, c->groups);
	c->ngroups = n < 0 ? 0 : n > ACCESS_GROUPS_MAX ? ACCESS_GROUPS_MAX : n;
}

bool access_in_group(const struct access_cred *c, uint32_t gid)
{
	if (c->gid == gid)
		return true;
	for (int i = 0; i < c->ngroups; i++)
		if (c->groups[i] == gid)
			return true;
	return false;
}

int access_check(const struct access_cred *c, const struct meta_inode *a, int mask)
{
	uint32_t bits;

	mask &= R_OK | W_OK | X_OK;
	if (c->uid == 0) {
		if (!(mask & X_OK) || S_ISDIR(a->mode) || (a->mode & 0111))
			return 0;
		return -EACCES;
	}
	if (c->uid == a->uid)
		bits = (a->mode >> 6) & 7;
	else if (access_in_group(c, a->gid))
		bits = (a->mode >> 3) & 7;
	else
		bits = a->mode & 7;
	return ((uint32_t)mask & ~bits) ? -EACCES : 0;
}

bool access_req_owner(fuse_req_t req, const struct meta_inode *a)
{
	uint32_t uid = fuse_req_ctx(req)->uid;

	return uid == 0 || uid == a->uid;
}
