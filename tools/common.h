/* common.h — helpers shared by the aifsctl commands and lsaifs. */
#ifndef AIFS_TOOLS_COMMON_H
#define AIFS_TOOLS_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include <jansson.h>

/* Print S to stdout as a JSON string: quotes, backslashes and control
 * characters escaped, well-formed UTF-8 as it is, and each other byte B
 * (a name that is not UTF-8) as the escape of U+DC00+B, as Python's
 * surrogateescape decodes it: the JSON stays valid and the name exact. */
void json_str(const char *s);
/* The same to F. */
void json_fstr(FILE *f, const char *s);

/* The value at dotted PATH ("tiers.hot.bytes") of JSON document DOC (a
 * borrowed reference), or NULL. */
json_t *json_at(json_t *doc, const char *path);
/* Its number (0 if absent). */
unsigned long long json_u64_at(json_t *doc, const char *path);
double json_num_at(json_t *doc, const char *path);

/* S (a file or process name: any bytes) for a terminal, quoted as
 * `ls -b` does: control characters and bytes that are not UTF-8 as C
 * escapes (\n, \t, \033...), a backslash as \\; the rest as it is, so that
 * no name moves the cursor, clears the screen or forges a line.  Into OUT
 * (LEN bytes; TTY_QUOTE_MAX always fits a name of up to 4095 bytes),
 * which is returned. */
#define TTY_QUOTE_MAX (4 * 4096)
const char *tty_quote(const char *s, char *out, size_t len);

/* The mount root of the file system holding PATH (a file or directory,
 * realpath'd) into ROOT; 0 or -errno. */
int mount_root(const char *path, char *root, size_t len);

/* The value of attribute NAME of PATH (malloc'd, NUL-terminated), or NULL
 * with errno set. */
char *xattr_str(const char *path, const char *name);

/* Show DONE of TOTAL for long work WHAT as a bar on stderr when it is a
 * terminal (at most once a second, and at the end); nothing otherwise. */
void progress(const char *what, unsigned long long done, unsigned long long total);

/* From TEXT, a command's help (its "usage: aifsctl ..." lines, a blank line,
 * a description), print to F the usage lines of VERB: those whose first or
 * second word after "aifsctl" is VERB (or has it among a|b alternatives),
 * with their continuation lines, the first as "usage: ..."; with HELP, also
 * the description.  When VERB is NULL or no line is VERB's, all the usage
 * lines (and with HELP, the description). */
void usage_of(FILE *f, const char *text, const char *verb, bool help);

#endif
