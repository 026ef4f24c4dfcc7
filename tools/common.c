/* common.c — helpers shared by the aifsctl commands and lsaifs. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "tools/common.h"

/* Length of the well-formed UTF-8 sequence of 2 to 4 bytes at S (no
 * overlong forms, no surrogates, nothing above U+10FFFF), 0 if none. */
static size_t utf8_seq(const unsigned char *s)
{
	unsigned char lo = 0x80, hi = 0xbf;
	size_t n;

	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		n = 2;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		n = 3;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		n = 4;
	else
		return 0;
	if (s[0] == 0xe0)
		lo = 0xa0;
	else if (s[0] == 0xed)
		hi = 0x9f;
	else if (s[0] == 0xf0)
		lo = 0x90;
	else if (s[0] == 0xf4)
		hi = 0x8f;
	if (s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < n; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	return n;
}

void json_fstr(FILE *f, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	putc('"', f);
	while (*p) {
		size_t n = *p >= 0x80 ? utf8_seq(p) : 1;

		if (*p >= 0x80 && !n) {
			/* a byte outside UTF-8: U+DC80..U+DCFF, as Python's
			 * surrogateescape (PEP 383) decodes it */
			fprintf(f, "\\u%04x", 0xdc00 + *p++);
			continue;
		}
		if (*p == '"' || *p == '\\')
			putc('\\', f);
		if (*p < 0x20)
			fprintf(f, "\\u%04x", *p);
		else
			fwrite(p, 1, n, f);
		p += n;
	}
	putc('"', f);
}

json_t *json_at(json_t *doc, const char *path)
{
	char key[64];

	while (doc && *path) {
		size_t n = strcspn(path, ".");

		if (n >= sizeof(key))
			return NULL;
		memcpy(key, path, n);
		key[n] = 0;
		doc = json_object_get(doc, key);
		path += n + (path[n] == '.');
	}
	return doc;
}

unsigned long long json_u64_at(json_t *doc, const char *path)
{
	json_t *v = json_at(doc, path);

	return json_is_integer(v) ? (unsigned long long)json_integer_value(v) :
	       (unsigned long long)json_number_value(v);
}

double json_num_at(json_t *doc, const char *path)
{
	return json_number_value(json_at(doc, path));
}

void json_str(const char *s)
{
	json_fstr(stdout, s);
}

/* Length of the UTF-8 sequence of printable characters at S, 0 if none
 * (C1 controls U+0080..U+009F count as not printable). */
static size_t utf8_len(const unsigned char *s)
{
	size_t n = s[0] >= 0xf0 && s[0] <= 0xf4 ? 4 : s[0] >= 0xe0 ? 3 :
		   s[0] >= 0xc2 && s[0] < 0xe0 ? 2 : 0;

	if (!n || s[0] > 0xf4 || (n == 2 && s[0] == 0xc2 && s[1] < 0xa0))
		return 0;
	for (size_t i = 1; i < n; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	return n;
}

const char *tty_quote(const char *s, char *out, size_t len)
{
	static const char esc[] = "abtnvfr";	/* \a for 7 ... \r for 13 */
	const unsigned char *p = (const unsigned char *)s;
	size_t o = 0;

	while (*p && o + 5 < len) {
		size_t n = *p >= 0x80 ? utf8_len(p) : 0;

		if (n) {
			memcpy(out + o, p, n);
			o += n;
			p += n;
		} else if (*p == '\\') {
			out[o++] = '\\';
			out[o++] = '\\';
			p++;
		} else if (*p >= 7 && *p <= 13) {
			out[o++] = '\\';
			out[o++] = esc[*p++ - 7];
		} else if (*p < 0x20 || *p >= 0x7f) {
			o += (size_t)snprintf(out + o, len - o, "\\%03o", *p++);
		} else {
			out[o++] = (char)*p++;
		}
	}
	out[o < len ? o : len - 1] = 0;
	return out;
}

/* The mount root of the file system holding PATH (realpath'd): the highest
 * directory above it on the same device. */
int mount_root(const char *path, char *root, size_t len)
{
	char cur[PATH_MAX], up[PATH_MAX];
	struct stat a, b;
	char *slash;

	if (!realpath(path, cur) || stat(cur, &a) < 0)
		return -errno;
	while (strcmp(cur, "/")) {
		memcpy(up, cur, sizeof(up));
		slash = strrchr(up, '/');
		if (!slash)
			break;
		slash[slash == up] = 0;		/* "/a" -> "/", "/a/b" -> "/a" */
		if (stat(up, &b) < 0 || b.st_dev != a.st_dev)
			break;
		memcpy(cur, up, sizeof(cur));
	}
	if ((size_t)snprintf(root, len, "%s", cur) >= len)
		return -ENAMETOOLONG;
	return 0;
}

/* The value of attribute NAME of PATH (malloc'd, NUL-terminated), or NULL
 * with errno set. */
char *xattr_str(const char *path, const char *name)
{
	for (int tries = 0; tries < 5; tries++) {
		ssize_t n = getxattr(path, name, NULL, 0);
		char *buf;

		if (n < 0)
			return NULL;
		buf = malloc((size_t)n + 4096);
		if (!buf)
			return NULL;
		/* the value may grow between the two calls (status documents) */
		n = getxattr(path, name, buf, (size_t)n + 4095);
		if (n >= 0) {
			buf[n] = 0;
			return buf;
		}
		free(buf);
		if (errno != ERANGE)
			return NULL;
	}
	return NULL;
}

/* Is VERB the word at W (up to a space), or one of its a|b alternatives? */
static bool usage_word_is(const char *w, const char *verb)
{
	size_t n = strlen(verb);

	for (;;) {
		if (!strncmp(w, verb, n) && (w[n] == '|' || w[n] == ' ' || w[n] == '\n' || !w[n]))
			return true;
		w += strcspn(w, "| \n");
		if (*w != '|')
			return false;
		w++;
	}
}

void usage_of(FILE *f, const char *text, const char *verb, bool help)
{
	const char *line = text, *desc = strstr(text, "\n\n"), *cmd, *second;
	bool matched = false, any = false;

	if (!desc || !verb || !*verb)
		goto all;
	for (; line < desc; line = strchr(line, '\n') + 1) {
		size_t len = strcspn(line, "\n");

		cmd = strstr(line, "aifsctl ");
		if (cmd && cmd < line + len) {
			cmd += 8;
			second = cmd + strcspn(cmd, " \n");
			second += *second == ' ';
			matched = usage_word_is(cmd, verb) || usage_word_is(second, verb);
			if (matched)
				fprintf(f, "%s%.*s\n", any ? "       aifsctl " : "usage: aifsctl ",
					(int)(line + len - cmd), cmd);
			any |= matched;
		} else if (matched) {
			fprintf(f, "%.*s\n", (int)len, line);
		}
	}
	if (!any)
		goto all;
	if (help)
		fputs(desc + 1, f);
	return;
all:
	if (help || !desc)
		fputs(text, f);
	else
		fprintf(f, "%.*s", (int)(desc + 1 - text), text);
}
