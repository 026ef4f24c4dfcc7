/* log.h — the one logging module of aifs.
 *
 * Every layer logs through here: one line per event, with a level and,
 * where an errno is involved, its text.  The daemon logs to stderr when
 * running in the foreground and to syslog otherwise.  Thread-safe.
 */
#ifndef AIFS_LOG_H
#define AIFS_LOG_H

#include <syslog.h>

/* Start logging as IDENT; to stderr if TO_STDERR, else to syslog.
 * Messages above LEVEL (a LOG_* syslog level) are dropped. */
void log_init(const char *ident, int to_stderr, int level);

/* Current threshold level. */
int log_level(void);

/* Parse "error|warning|notice|info|debug" into a LOG_* level; -1 if unknown. */
int log_level_parse(const char *name);

/* Log one line at LEVEL.  The format takes no trailing newline. */
void log_msg(int level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define log_err(...)	log_msg(LOG_ERR, __VA_ARGS__)
#define log_warn(...)	log_msg(LOG_WARNING, __VA_ARGS__)
#define log_notice(...)	log_msg(LOG_NOTICE, __VA_ARGS__)
#define log_info(...)	log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...)	do { if (log_level() >= LOG_DEBUG) log_msg(LOG_DEBUG, __VA_ARGS__); } while (0)

#endif
