/* meta_priv.h — what meta.c shares with the other record files of meta/
 * (spacelog.c); not for callers outside meta/.
 */
#ifndef AIFS_META_META_PRIV_H
#define AIFS_META_META_PRIV_H

#include <stddef.h>
#include <stdint.h>

/* Log a record that cannot be decoded; return -EIO. */
int meta_corrupt(const char *what, const uint8_t *k, size_t klen, size_t vlen);
/* Write V as N little-endian bytes at P; return P + N. */
uint8_t *meta_le_put(uint8_t *p, uint64_t v, int n);
/* Read N little-endian bytes at *P and advance *P past them. */
uint64_t meta_le_get(const uint8_t **p, int n);

struct tier_ref;
/* The stored extent of extent record K -> V. */
int meta_extent_ref(const uint8_t *k, size_t klen, const uint8_t *v, size_t vlen,
		    struct tier_ref *r);

struct meta_extent;
/* The value of extent record E, malloc'd (*LEN bytes); NULL if out of memory. */
uint8_t *meta_extent_value(const struct meta_extent *e, size_t *len);

#endif
