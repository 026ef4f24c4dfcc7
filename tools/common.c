/* common.c — helpers shared by the aifsctl commands and lsaifs. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tools/common.h"

void json_fstr(FILE *f, const char *s)
{
	putc('"', f);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			putc('\\', f);
		if ((unsigned char)*s < 0x20)
			fprintf(f, "\\u%04x", *s);
		else
			putc(*s, f);
	}
	putc('"', f);
}

void json_str(const char *s)
{
	json_fstr(stdout, s);
}

/* The mount root of the file system holding directory DIR (realpath'd). */
int mount_root(const char *dir, char *root, size_t len)
{
	char cur[4096], up[4200];
	struct stat a, b;

	if (!realpath(dir, cur) || stat(cur, &a) < 0)
		return -errno;
	for (;;) {
		char *slash;

		if (!strcmp(cur, "/"))
			break;
		snprintf(up, sizeof(up), "%s/..", cur);
		if (stat(up, &b) < 0 || b.st_dev != a.st_dev)
			break;
		slash = strrchr(cur, '/');
		if (slash == cur)
			slash[1] = 0;
		else
			*slash = 0;
	}
	snprintf(root, len, "%s", cur);
	return 0;
}
