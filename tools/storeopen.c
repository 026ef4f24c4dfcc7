/* storeopen.c — opening a store from an offline aifsctl command. */
#include <errno.h>
#include <stdio.h>
#include <unistd.h>

#include "tools/aifsctl.h"

int tool_store_open(const char *path, struct store **s, const char *cmd)
{
	char err[1024];
	int rc = -EBUSY;

	/* A store unmounted a moment ago may still be closing: wait a little. */
	for (int tries = 0; tries < 50 && rc == -EBUSY; tries++) {
		rc = store_open(path, s, err, sizeof(err));
		if (rc == -EBUSY)
			usleep(100000);
	}
	if (rc < 0)
		fprintf(stderr, "aifsctl %s: %s\n", cmd, err);
	return rc;
}

int tool_store_open_ro_ok(const char *path, struct store **s, const char *cmd, bool *ro)
{
	char err[1024];
	int rc = store_open(path, s, err, sizeof(err));

	*ro = rc == -EROFS || rc == -ENOSPC;
	if (rc == -EBUSY)
		return tool_store_open(path, s, cmd);
	if (*ro) {
		if (rc == -ENOSPC)
			fprintf(stderr, "aifsctl %s: %s\n", cmd, err);
		else
			fprintf(stderr, "aifsctl %s: %s is on read-only media\n", cmd, path);
		rc = store_open_ro(path, NULL, s, err, sizeof(err));
		if (rc == 0)
			fprintf(stderr, "aifsctl %s: %s opened read-only\n", cmd, path);
	}
	if (rc < 0)
		fprintf(stderr, "aifsctl %s: %s\n", cmd, err);
	return rc;
}
