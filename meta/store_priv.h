/* store_priv.h — file helpers that store.c (opening a store) and mkfs.c
 * (making one) share; meta/ only.  Functions returning int give 0 or a
 * negative errno.
 */
#ifndef AIFS_META_STORE_PRIV_H
#define AIFS_META_STORE_PRIV_H

#include <stddef.h>

/* Format a user message into ERR (ERRLEN bytes) and return RC. */
int store_fail(char *err, size_t errlen, int rc, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* "A/B", malloc'd (NULL when out of memory). */
char *store_path_join(const char *a, const char *b);
/* A new random uuid (36 characters and NUL) into OUT. */
int store_uuid_make(char *out);
/* Write FILE under DIR with CONTENT and fsync it and DIR. */
int store_write_durable(const char *dir, const char *file, const char *content);
/* Make directory DIR/SUB. */
int store_mkdir_in(const char *dir, const char *sub);
/* Make directory PATH (a store root or a tier, WHAT in messages) private to
 * the caller: anyone else who may write into it may delete meta/ or replace
 * audit.pub.  ERR says why not. */
int store_dir_private(const char *path, const char *what, char *err, size_t errlen);
/* 1 if PATH is an empty directory, 0 if not, or a negative errno. */
int store_dir_is_empty(const char *path);

#endif
