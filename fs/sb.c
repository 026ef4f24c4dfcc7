/* sb.c — the string builder of fs/ (sb.h). */
#include "fs/sb.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool sb_room(struct sb *s, size_t n)
{
	if (s->err)
		return false;
	if (s->len + n + 1 > s->cap) {
		size_t cap = (s->len + n + 1) * 2;
		char *p = realloc(s->p, cap);

		if (!p) {
			s->err = true;
			return false;
		}
		s->p = p;
		s->cap = cap;
	}
	return true;
}

void sb_addn(struct sb *s, const char *str, size_t n)
{
	if (!sb_room(s, n))
		return;
	memcpy(s->p + s->len, str, n);
	s->len += n;
	s->p[s->len] = 0;
}

void sb_add(struct sb *s, const char *str)
{
	sb_addn(s, str, strlen(str));
}

void sb_printf(struct sb *s, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || !sb_room(s, (size_t)n))
		return;
	va_start(ap, fmt);
	vsnprintf(s->p + s->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	s->len += (size_t)n;
}

static const char hexdig[] = "0123456789abcdef";

void sb_str(struct sb *s, const char *str)
{
	sb_addn(s, "\"", 1);
	while (*str) {
		size_t run = 0;
		unsigned char c;

		while ((c = (unsigned char)str[run]) && c != '"' && c != '\\' && c >= 0x20 &&
		       c != 0x7f)
			run++;
		if (run)
			sb_addn(s, str, run);
		str += run;
		c = (unsigned char)*str;
		if (!c)
			break;
		if (c == '"' || c == '\\') {
			char e[2] = { '\\', (char)c };

			sb_addn(s, e, 2);
		} else {
			char e[6] = { '\\', 'u', '0', '0', hexdig[c >> 4], hexdig[c & 15] };

			sb_addn(s, e, 6);
		}
		str++;
	}
	sb_addn(s, "\"", 1);
}

void sb_hex(struct sb *s, const uint8_t *b, size_t n)
{
	if (!sb_room(s, 2 * n))
		return;
	for (size_t i = 0; i < n; i++) {
		s->p[s->len++] = hexdig[b[i] >> 4];
		s->p[s->len++] = hexdig[b[i] & 15];
	}
	s->p[s->len] = 0;
}

void sb_clear(struct sb *s)
{
	s->len = 0;
	s->err = false;
	if (s->p)
		s->p[0] = 0;
}

void sb_free(struct sb *s)
{
	free(s->p);
	memset(s, 0, sizeof(*s));
}

char *sb_take(struct sb *s)
{
	char *p = s->err ? NULL : s->p;

	if (s->err)
		free(s->p);
	if (p == NULL && !s->err)
		p = strdup("");
	memset(s, 0, sizeof(*s));
	return p;
}
