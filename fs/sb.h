/* sb.h — the string builder of fs/ (sb.c): text, and JSON strings, grown
 * as it is written (the .aifs views, user.aifs.* values, lineage records).
 * A failed allocation is remembered: later writes do nothing and sb_take
 * returns NULL.  struct sb starts zeroed.
 *
 * Layer: core, with no dependency in fs/; anything in fs/ may use it.
 */
#ifndef AIFS_FS_SB_H
#define AIFS_FS_SB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sb {
	char *p;
	size_t len, cap;
	bool err;
};

void sb_add(struct sb *s, const char *str);
void sb_addn(struct sb *s, const char *str, size_t n);
void sb_printf(struct sb *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* STR as a JSON string: quotes, backslashes and control characters
 * escaped, other bytes as they are. */
void sb_str(struct sb *s, const char *str);
/* STR as the inside of a JSON string (no quotes), escaped as by sb_str;
 * with ASCII, each byte of 0x80 and above too, as \u00XX, so that a reader
 * has any bytes back whole (as the code points U+0000..U+00FF of the same
 * values), UTF-8 or not. */
void sb_esc(struct sb *s, const char *str, bool ascii);
/* V in decimal (the listings of many records: no printf). */
void sb_u64(struct sb *s, uint64_t v);
void sb_i64(struct sb *s, int64_t v);
/* N bytes of B in lower-case hex. */
void sb_hex(struct sb *s, const uint8_t *b, size_t n);
/* The text (malloc'd, the caller frees; "" if nothing was written), or
 * NULL after an allocation failure; S is empty again. */
char *sb_take(struct sb *s);
/* Empty S (and forget a failed allocation) but keep its memory, for a
 * builder reused record after record; sb_free gives the memory back. */
void sb_clear(struct sb *s);
void sb_free(struct sb *s);

#endif
