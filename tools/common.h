/* common.h — helpers shared by the aifsctl commands and lsaifs. */
#ifndef AIFS_TOOLS_COMMON_H
#define AIFS_TOOLS_COMMON_H

#include <stddef.h>
#include <stdio.h>

/* Print S to stdout as a JSON string (quotes, backslashes and control
 * characters escaped; other bytes as they are). */
void json_str(const char *s);
/* The same to F. */
void json_fstr(FILE *f, const char *s);

/* The mount root of the file system holding PATH (a file or directory,
 * realpath'd) into ROOT; 0 or -errno. */
int mount_root(const char *path, char *root, size_t len);

/* The value of attribute NAME of PATH (malloc'd, NUL-terminated), or NULL
 * with errno set. */
char *xattr_str(const char *path, const char *name);

/* Show DONE of TOTAL for long work WHAT as a bar on stderr when it is a
 * terminal (at most once a second, and at the end); nothing otherwise. */
void progress(const char *what, unsigned long long done, unsigned long long total);

#endif
