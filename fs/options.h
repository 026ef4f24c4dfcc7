/* options.h — the daemon's command line: STORE, MOUNTPOINT and -o words.
 *
 * parse_cmdline fills a struct cmdline: the fields of struct fs_opts that
 * an option sets, the comma list handed to FUSE and the kernel unchanged,
 * and what the start-up needs beside them (a RADOS tier's cluster, a
 * follower's replica).  Every bad word is refused with one line naming it.
 */
#ifndef AIFS_FS_OPTIONS_H
#define AIFS_FS_OPTIONS_H

#include "fs/fs.h"

#include <stdbool.h>
#include <stdint.h>

struct cmdline {
	const char *store, *mnt;
	struct fs_opts opt;
	char *fuse_opts;	/* comma list for FUSE */
	char *ceph_conf, *ceph_user;	/* how to reach a RADOS tier (NULL: aifs.conf's) */
	int rados_timeout;	/* seconds, < 0: the default */
	int64_t cache_size;	/* bytes, 0: the default, < 0: none */
	int has_fsname, has_subtype;
	bool follow;		/* STORE is rados:POOL/NAME, followed (follow.c) */
	char *replica;		/* the follower's local replica */
	const char *spec;	/* what it follows */
	uint64_t follow_next;
};

/* 0 to go on, 1 to exit 0 (help/version), 2 on a usage error (printed). */
int parse_cmdline(int argc, char **argv, struct cmdline *c);

/* Add the word O to the list handed to FUSE and the kernel; 0, or -1 out of memory. */
int cmdline_add_fuse_opt(struct cmdline *c, const char *o);

/* Free the option strings of C: parse_cmdline's, and follow_prepare's replica. */
void cmdline_free(struct cmdline *c);

#endif
