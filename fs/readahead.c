/* readahead.c — the kernel's read-ahead of a FUSE mount, through its
 * backing device info in sysfs (readahead.h).
 */
#include "fs/fs.h"
#include "fs/readahead.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The device "MAJ:MIN" of the FUSE mount on MNT from /proc/self/mountinfo
 * (a stat of MNT would wait for this very daemon); 0 if found. */
static int mount_dev(const char *mnt, char *dev, size_t len)
{
	char line[4096], id[32], point[PATH_MAX], type[64];
	FILE *f = fopen("/proc/self/mountinfo", "re");
	int found = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		const char *dash = strstr(line, " - ");

		if (!dash || sscanf(line, "%*s %*s %31s %*s %4095s", id, point) != 2 ||
		    sscanf(dash + 3, "%63s", type) != 1)
			continue;
		if (!strcmp(point, mnt) && !strncmp(type, "fuse", 4)) {
			snprintf(dev, len, "%s", id);
			found = 0;	/* the last one is on top */
		}
	}
	fclose(f);
	return found;
}

/* FUSE mounts get the kernel's 128 KiB read-ahead, so a sequential reader
 * waits on a READ round trip per 128 KiB; KIB (one FUSE request can carry
 * 1 MiB) keeps the daemon's extent reads large and overlapped. */
void readahead_set(const char *mnt, unsigned kib)
{
	char real[PATH_MAX], dev[32], path[96];
	FILE *f;

	if (!kib || !realpath(mnt, real) || mount_dev(real, dev, sizeof(dev)) < 0) {
		if (kib)
			log_msg(LOG_INFO, "read-ahead of %s left as is: mount not found", mnt);
		return;
	}
	snprintf(path, sizeof(path), "/sys/class/bdi/%s/read_ahead_kb", dev);
	f = fopen(path, "we");
	if (f && fprintf(f, "%u\n", kib) < 0) {
		fclose(f);
		f = NULL;
	}
	if (!f || fclose(f) != 0)
		log_msg(LOG_INFO, "read-ahead of %s left as is: %s: %s", mnt, path,
			strerror(errno));
}
