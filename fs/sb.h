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
