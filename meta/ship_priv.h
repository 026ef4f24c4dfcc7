/* ship_priv.h — what ship.c (shipping, recovery) and shipfollow.c (the
 * followers' side) share; private to meta/. */
#ifndef AIFS_META_SHIP_PRIV_H
#define AIFS_META_SHIP_PRIV_H

#include <stddef.h>
#include <stdint.h>

/* A growing list of names (malloc'd strings). */
struct ship_names {
	char **v;
	size_t n, cap;
};

/* Read file PATH whole into a malloc'd *BUF of *LEN bytes. */
int ship_file_read(const char *path, void **buf, size_t *len);
/* tier_blob_list's FN: add NAME to the struct ship_names CTX. */
int ship_names_add(void *ctx, const char *name);
/* qsort's order of names. */
int ship_names_cmp(const void *a, const void *b);
/* The N-byte big-endian number at P. */
uint64_t ship_get_be(const uint8_t *p, int n);

#endif
