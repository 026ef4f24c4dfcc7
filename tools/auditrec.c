/* auditrec.c — one record of the signed audit log, read with jansson;
 * names that are not UTF-8 carried through it (auditrec.h).
 */
#include <errno.h>
#include <stdint.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/auditrec.h"

/* Bytes that are not UTF-8 ride as U+10FF80..U+10FFFF: F4 8F BE|BF xx. */
#define CARRY_FIRST	0x10FF80u

enum { F_U64, F_I64, F_STR };

static const struct field {
	const char *key;
	int type;
	size_t at, room;	/* offset in struct auditrec; a string's size */
	size_t has;		/* offset of its has_ flag, or 0 */
} fields[] = {
#define U64(k, m)	{ k, F_U64, offsetof(struct auditrec, m), 0, 0 }
#define I64(k, m, h)	{ k, F_I64, offsetof(struct auditrec, m), 0, h }
#define STR(k, m)	{ k, F_STR, offsetof(struct auditrec, m), \
			  sizeof(((struct auditrec *)0)->m), 0 }
	U64("seq", seq), U64("inode", ino), U64("offset", off), U64("length", len),
	U64("uid", uid), U64("pid", pid), I64("time", time, 0),
	I64("retention", retention, offsetof(struct auditrec, has_retention)),
	I64("age", age, offsetof(struct auditrec, has_age)),
	STR("op", op), STR("lock", lock), STR("sha256", sha256), STR("comm", comm),
	STR("tag", tag), STR("path", path),
#undef U64
#undef I64
#undef STR
};

/* The length of the UTF-8 character at P (N > 0 bytes left) as jansson
 * accepts one, its code point in *CP; 0 if P starts none. */
static size_t utf8_char(const unsigned char *p, size_t n, uint32_t *cp)
{
	uint32_t v, min;
	size_t k;

	if (p[0] < 0x80) {
		*cp = p[0];
		return 1;
	}
	if (p[0] < 0xc2 || p[0] > 0xf4)
		return 0;
	k = p[0] < 0xe0 ? 2 : p[0] < 0xf0 ? 3 : 4;
	v = p[0] & (0x7f >> k);
	min = k == 2 ? 0x80 : k == 3 ? 0x800 : 0x10000;
	if (n < k)
		return 0;
	for (size_t i = 1; i < k; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		v = v << 6 | (p[i] & 0x3f);
	}
	if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
		return 0;
	*cp = v;
	return k;
}

/* TEXT with every byte that is not part of a UTF-8 character below
 * CARRY_FIRST carried as CARRY_FIRST + byte - 0x80 (malloc'd; NULL if out
 * of memory).  Such bytes are all >= 0x80. */
static char *carry(const char *text, size_t len, size_t *olen)
{
	const unsigned char *p = (const unsigned char *)text;
	unsigned char *out = malloc(4 * len + 1), *o = out;
	uint32_t cp;

	if (!out)
		return NULL;
	for (size_t i = 0, k; i < len; i += k) {
		k = utf8_char(p + i, len - i, &cp);
		if (k && cp < CARRY_FIRST) {
			memcpy(o, p + i, k);
			o += k;
			continue;
		}
		if (!k)
			k = 1;
		for (size_t j = 0; j < k; j++) {
			*o++ = 0xf4;
			*o++ = 0x8f;
			*o++ = (unsigned char)(0xbe | (p[i + j] >> 6 & 1));
			*o++ = (unsigned char)(0x80 | (p[i + j] & 0x3f));
		}
	}
	*olen = (size_t)(o - out);
	return (char *)out;
}

/* String S (N bytes) into OUT of ROOM bytes, carried bytes put back if
 * CARRIED; -EBADMSG if it does not fit. */
static int str_copy(char *out, size_t room, const char *s, size_t n, bool carried)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t o = 0;

	for (size_t i = 0; i < n; o++) {
		if (o + 1 >= room)
			return -EBADMSG;
		if (carried && i + 3 < n && p[i] == 0xf4 && p[i + 1] == 0x8f &&
		    (p[i + 2] & 0xfe) == 0xbe) {
			out[o] = (char)(0x80 | (p[i + 2] & 1) << 6 | (p[i + 3] & 0x3f));
			i += 4;
		} else {
			out[o] = s[i++];
		}
	}
	out[o] = 0;
	return 0;
}

static int fields_get(struct auditrec *r, json_t *o, bool carried)
{
	char *base = (char *)r;

	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		const struct field *f = &fields[i];
		json_t *v = json_object_get(o, f->key);
		json_int_t n;

		if (!v)
			continue;
		if (f->type == F_STR) {
			if (!json_is_string(v) ||
			    str_copy(base + f->at, f->room, json_string_value(v),
				     json_string_length(v), carried) < 0)
				return -EBADMSG;
			continue;
		}
		if (!json_is_integer(v))
			return -EBADMSG;
		n = json_integer_value(v);
		if (f->type == F_U64) {
			if (n < 0)
				return -EBADMSG;
			*(uint64_t *)(base + f->at) = (uint64_t)n;
		} else {
			*(int64_t *)(base + f->at) = (int64_t)n;
			if (f->has)
				*(bool *)(base + f->has) = true;
		}
	}
	return 0;
}

/* --- The daemon's own layout, read without building a JSON tree.
 *
 * fs/jlog.c writes every record in one layout: the keys in one order,
 * numbers in plain decimal, strings with only \" \\ and \u00XX escaped.
 * canon_parse reads a record that is exactly that, byte by byte, and
 * gives up (1) on anything else, which jansson then reads: a record of
 * another layout is never misread, only read the slow way.  It is five
 * to ten times as fast as jansson's tree of objects, which made audit
 * verify half as fast as it was with strstr (test_auditrec compares the
 * two on random records). */

struct cur {
	const char *p, *end;
};

static bool lit(struct cur *c, const char *s)
{
	size_t n = strlen(s);

	if ((size_t)(c->end - c->p) < n || memcmp(c->p, s, n))
		return false;
	c->p += n;
	return true;
}

static int hexval(char ch)
{
	return ch >= '0' && ch <= '9' ? ch - '0' : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
}

/* A decimal without leading zeros (and a minus sign if NEG may be). */
static bool num(struct cur *c, bool neg_ok, uint64_t *u, bool *neg)
{
	uint64_t v = 0;
	const char *s;

	*neg = false;
	if (neg_ok && c->p < c->end && *c->p == '-') {
		*neg = true;
		c->p++;
	}
	s = c->p;
	while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
		unsigned d = (unsigned)(*c->p - '0');

		if (v > (UINT64_MAX - d) / 10)
			return false;
		v = v * 10 + d;
		c->p++;
	}
	if (c->p == s || (c->p - s > 1 && *s == '0'))
		return false;
	if (*neg && (v == 0 || v > (uint64_t)INT64_MAX + 1))
		return false;
	if (!neg_ok && v > (uint64_t)INT64_MAX)
		return false;	/* jansson's integers are signed */
	*u = v;
	return true;
}

static bool u64_of(struct cur *c, uint64_t *out)
{
	bool neg;

	return num(c, false, out, &neg);
}

static bool i64_of(struct cur *c, int64_t *out)
{
	uint64_t v;
	bool neg;

	if (!num(c, true, &v, &neg))
		return false;
	*out = neg ? (int64_t)(0 - v) : (int64_t)v;
	return true;
}

/* A string of the daemon's escapes into OUT of ROOM bytes.  A \u00XX of a
 * byte of 0x80 or above, or a NUL, is not the daemon's: give up. */
static bool str_of(struct cur *c, char *out, size_t room)
{
	size_t o = 0;

	if (c->p >= c->end || *c->p++ != '"')
		return false;
	while (c->p < c->end) {
		unsigned char ch = (unsigned char)*c->p++;

		if (ch == '"') {
			out[o] = 0;
			return true;
		}
		if (ch < 0x20 || o + 1 >= room)
			return false;
		if (ch == '\\') {
			int h, l;

			if (c->p >= c->end)
				return false;
			ch = (unsigned char)*c->p++;
			if (ch == 'u') {
				if (c->end - c->p < 4 || c->p[0] != '0' || c->p[1] != '0')
					return false;
				h = hexval(c->p[2]);
				l = hexval(c->p[3]);
				if (h < 0 || l < 0 || h > 7 || (h == 0 && l == 0))
					return false;
				ch = (unsigned char)(h << 4 | l);
				c->p += 4;
			} else if (ch != '"' && ch != '\\') {
				return false;
			}
		}
		out[o++] = (char)ch;
	}
	return false;
}

/* 0 if TEXT is a record of the daemon's layout (R filled), 1 if not. */
static int canon_parse(struct auditrec *r, const char *text, size_t len)
{
	struct cur c = { text, text + len };

	if (!lit(&c, "{\"seq\":") || !u64_of(&c, &r->seq) ||
	    !lit(&c, ",\"op\":") || !str_of(&c, r->op, sizeof(r->op)) ||
	    !lit(&c, ",\"time\":") || !i64_of(&c, &r->time) ||
	    !lit(&c, ",\"uid\":") || !u64_of(&c, &r->uid) ||
	    !lit(&c, ",\"pid\":") || !u64_of(&c, &r->pid) ||
	    !lit(&c, ",\"comm\":") || !str_of(&c, r->comm, sizeof(r->comm)) ||
	    !lit(&c, ",\"path\":") || !str_of(&c, r->path, sizeof(r->path)) ||
	    !lit(&c, ",\"inode\":") || !u64_of(&c, &r->ino) ||
	    !lit(&c, ",\"offset\":") || !u64_of(&c, &r->off) ||
	    !lit(&c, ",\"length\":") || !u64_of(&c, &r->len) ||
	    !lit(&c, ",\"sha256\":") || !str_of(&c, r->sha256, sizeof(r->sha256)))
		return 1;
	if (lit(&c, ",\"tag\":") && !str_of(&c, r->tag, sizeof(r->tag)))
		return 1;
	if (lit(&c, ",\"retention\":")) {
		if (!i64_of(&c, &r->retention))
			return 1;
		r->has_retention = true;
	}
	if (lit(&c, ",\"lock\":") && !str_of(&c, r->lock, sizeof(r->lock)))
		return 1;
	if (lit(&c, ",\"age\":")) {
		if (!i64_of(&c, &r->age))
			return 1;
		r->has_age = true;
	}
	return lit(&c, "}") && c.p == c.end ? 0 : 1;
}

static void clear(struct auditrec *r)
{
	/* the strings' room is large: clear only their first bytes */
	memset(r, 0, offsetof(struct auditrec, op));
	r->op[0] = r->lock[0] = r->sha256[0] = r->comm[0] = r->tag[0] = r->path[0] = 0;
}

int auditrec_parse(struct auditrec *r, const char *text, size_t len, char *err)
{
	clear(r);
	if (canon_parse(r, text, len) == 0)
		return 0;
	return auditrec_parse_json(r, text, len, err);
}

int auditrec_parse_json(struct auditrec *r, const char *text, size_t len, char *err)
{
	json_error_t je;
	char *carried = NULL;
	size_t clen;
	json_t *o;
	int rc;

	clear(r);
	o = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
	if (!o && json_error_code(&je) == json_error_invalid_utf8) {
		carried = carry(text, len, &clen);
		if (!carried)
			return -ENOMEM;
		o = json_loadb(carried, clen, JSON_REJECT_DUPLICATES, &je);
	}
	if (!o) {
		rc = json_error_code(&je) == json_error_out_of_memory ? -ENOMEM : -EBADMSG;
		if (err)
			snprintf(err, JSON_ERROR_TEXT_LENGTH, "%s", je.text);
	} else if (!json_is_object(o)) {
		rc = -EBADMSG;
		if (err)
			snprintf(err, JSON_ERROR_TEXT_LENGTH, "not a JSON object");
	} else {
		rc = fields_get(r, o, carried != NULL);
		if (rc < 0 && err)
			snprintf(err, JSON_ERROR_TEXT_LENGTH, "a field of the wrong type or size");
	}
	json_decref(o);
	free(carried);
	return rc;
}
