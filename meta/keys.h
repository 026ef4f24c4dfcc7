/* keys.h — fixed-width big-endian key encodings of the metadata store.
 *
 * Big-endian integers sort in numeric order under RocksDB's bytewise
 * comparator, so a key "kind | ino | offset" iterates a file's extents in
 * offset order and "kind | parent | name" a directory in name order.
 */
#ifndef AIFS_META_KEYS_H
#define AIFS_META_KEYS_H

#include <stddef.h>
#include <stdint.h>

/* Longest key: kind + ino + 255-byte name. */
#define KEY_MAX (1 + 8 + 256)

/* Store V big-endian at P; return P advanced past it. */
uint8_t *key_put_u64(uint8_t *p, uint64_t v);
uint8_t *key_put_u32(uint8_t *p, uint32_t v);
/* Read a big-endian value at P. */
uint64_t key_get_u64(const uint8_t *p);
uint32_t key_get_u32(const uint8_t *p);

/* Build "kind | ino" into K (KEY_MAX bytes); return its length. */
size_t key_ino(uint8_t *k, uint8_t kind, uint64_t ino);
/* Build "kind | ino | off". */
size_t key_ino_off(uint8_t *k, uint8_t kind, uint64_t ino, uint64_t off);
/* Build "kind | ino | name" (LEN <= 255 bytes). */
size_t key_ino_name(uint8_t *k, uint8_t kind, uint64_t ino, const char *name, size_t len);

#endif
