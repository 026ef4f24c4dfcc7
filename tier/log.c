/* log.c — the one logging module of aifs (see log.h).
 *
 * Every message becomes exactly one line: newlines inside a message are
 * replaced by spaces and an overlong message is cut and marked with "...".
 * On stderr a line is "YYYY-MM-DD HH:MM:SS.mmm IDENT[PID]: LEVEL: TEXT" and
 * is written with one write(2) under a mutex, so lines of concurrent
 * threads never interleave.  syslog(3) is thread-safe on its own.
 *
 * Before log_init, messages go to stderr as "aifs" at LOG_INFO, so that
 * tools and tests that never call log_init still see errors.
 */
#include "tier/log.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define LOG_PREFIX_MAX	128	/* time, ident (< 64), pid, level */
#define LOG_LINE_MAX	1024	/* the message itself, NUL included */

/* The threshold is read without the lock on every call (atomically):
 * log_debug checks it before formatting anything. */
static int log_threshold = LOG_INFO;

/* Guarded by log_lock: the destination and the identity. */
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static int log_to_stderr = 1;
static char log_ident[64] = "aifs";	/* openlog keeps this pointer */

static const char *const level_names[] = {
	[LOG_EMERG] = "emerg", [LOG_ALERT] = "alert", [LOG_CRIT] = "crit",
	[LOG_ERR] = "error", [LOG_WARNING] = "warning", [LOG_NOTICE] = "notice",
	[LOG_INFO] = "info", [LOG_DEBUG] = "debug",
};

static int level_clamp(int level)
{
	if (level < LOG_EMERG)
		return LOG_EMERG;
	if (level > LOG_DEBUG)
		return LOG_DEBUG;
	return level;
}

void log_init(const char *ident, int to_stderr, int level)
{
	pthread_mutex_lock(&log_lock);
	if (!log_to_stderr)
		closelog();
	snprintf(log_ident, sizeof log_ident, "%s", ident ? ident : "aifs");
	log_to_stderr = to_stderr;
	if (!to_stderr)
		openlog(log_ident, LOG_PID | LOG_NDELAY, LOG_DAEMON);
	__atomic_store_n(&log_threshold, level_clamp(level), __ATOMIC_RELAXED);
	pthread_mutex_unlock(&log_lock);
}

int log_level(void)
{
	return __atomic_load_n(&log_threshold, __ATOMIC_RELAXED);
}

int log_level_parse(const char *name)
{
	if (!name)
		return -1;
	for (int l = LOG_ERR; l <= LOG_DEBUG; l++)
		if (strcasecmp(name, level_names[l]) == 0)
			return l;
	return -1;
}

/* Append "YYYY-MM-DD HH:MM:SS.mmm IDENT[PID]: LEVEL: " to LINE; returns its length. */
static size_t stderr_prefix(char *line, size_t cap, int level)
{
	struct timespec now;
	struct tm tm;
	size_t n;

	clock_gettime(CLOCK_REALTIME, &now);
	localtime_r(&now.tv_sec, &tm);
	n = strftime(line, cap, "%Y-%m-%d %H:%M:%S", &tm);
	n += snprintf(line + n, cap - n, ".%03ld %s[%d]: %s: ", now.tv_nsec / 1000000,
		      log_ident, (int)getpid(), level_names[level]);
	return n < cap ? n : cap - 1;
}

/* Write all of BUF to stderr; a failing stderr has nowhere to report to. */
static void stderr_write(const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t w = write(STDERR_FILENO, buf, len);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		buf += w;
		len -= (size_t)w;
	}
}

void log_msg(int level, const char *fmt, ...)
{
	char line[LOG_PREFIX_MAX + LOG_LINE_MAX];
	int saved_errno = errno;	/* the caller's: logging must not change it */
	size_t head = 0, len;
	va_list ap;
	int n;

	level = level_clamp(level);
	if (level > log_level())
		return;
	pthread_mutex_lock(&log_lock);
	if (log_to_stderr)
		head = stderr_prefix(line, LOG_PREFIX_MAX, level);
	va_start(ap, fmt);
	n = vsnprintf(line + head, LOG_LINE_MAX, fmt, ap);
	va_end(ap);
	if (n < 0)
		n = snprintf(line + head, LOG_LINE_MAX, "(unformattable message: %s)", fmt);
	len = head + ((size_t)n < LOG_LINE_MAX ? (size_t)n : LOG_LINE_MAX - 1);
	if ((size_t)n >= LOG_LINE_MAX)
		memcpy(line + len - 3, "...", 3);
	for (size_t i = head; i < len; i++)
		if (line[i] == '\n' || line[i] == '\r')
			line[i] = ' ';
	if (log_to_stderr) {
		line[len++] = '\n';
		stderr_write(line, len);
	} else {
		line[len] = '\0';
		syslog(level, "%s", line);
	}
	pthread_mutex_unlock(&log_lock);
	errno = saved_errno;
}
