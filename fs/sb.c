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

static const char hexd[] = "0123456789abcdef";

void sb_esc(struct sb *s, const char *str, bool ascii)
{
	const char *run = str;

	for (; *str; str++) {
		unsigned char c = (unsigned char)*str;
		char e[7] = { '\\', 'u', '0', '0', hexd[c >> 4], hexd[c & 15], 0 };

		if (c >= 0x20 && c != 0x7f && c != '"' && c != '\\' && (c < 0x80 || !ascii))
			continue;
		sb_addn(s, run, (size_t)(str - run));
		run = str + 1;
		if (c == '"' || c == '\\') {
			e[1] = (char)c;
			e[2] = 0;
		}
		sb_add(s, e);
	}
	sb_addn(s, run, (size_t)(str - run));
}

void sb_str(struct sb *s, const char *str)
{
	sb_add(s, "\"");
	sb_esc(s, str, false);
	sb_add(s, "\"");
}

void sb_hex(struct sb *s, const uint8_t *b, size_t n)
{
	if (!sb_room(s, 2 * n))
		return;
	for (size_t i = 0; i < n; i++) {
		s->p[s->len++] = hexd[b[i] >> 4];
		s->p[s->len++] = hexd[b[i] & 15];
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

/* V in decimal, after a minus sign if NEG. */
static void num(struct sb *s, uint64_t v, bool neg)
{
	char d[24];
	size_t i = sizeof(d);

	do {
		d[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	if (neg)
		d[--i] = '-';
	sb_addn(s, d + i, sizeof(d) - i);
}

void sb_u64(struct sb *s, uint64_t v)
{
	num(s, v, false);
}

void sb_i64(struct sb *s, int64_t v)
{
	num(s, v < 0 ? -(uint64_t)v : (uint64_t)v, v < 0);
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
