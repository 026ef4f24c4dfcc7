/* fwdwire.c — the encoding of forwarded requests and their answers
 * (fwdwire.h).
 */
#include "fs/fwdwire.h"
#include "meta/keys.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum {
	T_OP = 1, T_WRITER, T_HOST, T_ID, T_EXPIRES, T_UID, T_GID, T_UMASK, T_PID, T_MODE,
	T_FLAGS, T_GROUPS, T_SIZE, T_SID, T_PATH, T_PATH2, T_OBJ, T_JOB, T_CMDLINE, T_COMM,
	T_NAME2, T_VALUE,
};

struct buf {
	uint8_t *p;
	size_t len, cap;
	bool err;
};

static void put(struct buf *b, uint8_t tag, const void *v, size_t len)
{
	if (b->err)
		return;
	if (b->len + 5 + len > b->cap) {
		size_t cap = (b->cap ? b->cap * 2 : 512) + 5 + len;
		uint8_t *p = realloc(b->p, cap);

		if (!p) {
			b->err = true;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	b->p[b->len] = tag;
	key_put_u32(b->p + b->len + 1, (uint32_t)len);
	if (len)
		memcpy(b->p + b->len + 5, v, len);
	b->len += 5 + len;
}

static void put32(struct buf *b, uint8_t tag, uint32_t v)
{
	uint8_t x[4];

	key_put_u32(x, v);
	put(b, tag, x, 4);
}

static void put64(struct buf *b, uint8_t tag, uint64_t v)
{
	uint8_t x[8];

	key_put_u64(x, v);
	put(b, tag, x, 8);
}

static void putstr(struct buf *b, uint8_t tag, const char *s)
{
	if (s)
		put(b, tag, s, strlen(s) + 1);
}

int fwd_req_encode(const struct fwd_req *r, void **out, size_t *len)
{
	struct buf b = { 0 };
	uint8_t groups[4 * FWD_GROUPS_MAX], op = r->op;
	uint32_t ng = r->ngroups < FWD_GROUPS_MAX ? r->ngroups : FWD_GROUPS_MAX;

	b.p = malloc(512);
	if (!b.p)
		return -ENOMEM;
	b.cap = 512;
	memcpy(b.p, "AIFW", 4);
	b.p[4] = FWD_VERSION;
	b.len = 9;		/* the length goes in at the end */
	put(&b, T_OP, &op, 1);
	putstr(&b, T_WRITER, r->writer);
	putstr(&b, T_HOST, r->host);
	put64(&b, T_ID, r->id);
	put64(&b, T_EXPIRES, (uint64_t)r->expires);
	put32(&b, T_UID, r->uid);
	put32(&b, T_GID, r->gid);
	put32(&b, T_UMASK, r->umask);
	put32(&b, T_PID, r->pid);
	put32(&b, T_MODE, r->mode);
	put32(&b, T_FLAGS, r->flags);
	for (uint32_t i = 0; i < ng; i++)
		key_put_u32(groups + 4 * i, r->groups[i]);
	put(&b, T_GROUPS, groups, 4 * ng);
	put64(&b, T_SIZE, r->size);
	put64(&b, T_SID, r->sid);
	putstr(&b, T_PATH, r->path);
	putstr(&b, T_PATH2, r->path2);
	putstr(&b, T_OBJ, r->obj);
	putstr(&b, T_JOB, r->job);
	putstr(&b, T_CMDLINE, r->cmdline);
	putstr(&b, T_COMM, r->comm);
	putstr(&b, T_NAME2, r->name2);
	if (r->value)
		put(&b, T_VALUE, r->value, r->vlen);
	if (b.err) {
		free(b.p);
		return -ENOMEM;
	}
	key_put_u32(b.p + 5, (uint32_t)b.len);
	*out = b.p;
	*len = b.len;
	return 0;
}

/* A string field: its bytes end with their NUL and hold no other. */
static const char *str(const uint8_t *v, uint32_t len)
{
	return len && v[len - 1] == 0 && strlen((const char *)v) == len - 1 ? (const char *)v : NULL;
}

int fwd_req_decode(const void *buf, size_t len, struct fwd_req *r)
{
	const uint8_t *p = buf;
	size_t pos = 9;
	bool have_op = false, bad = false;

	memset(r, 0, sizeof(*r));
	if (len < 9 || memcmp(p, "AIFW", 4) || p[4] != FWD_VERSION || key_get_u32(p + 5) != len)
		return -EINVAL;
	while (pos + 5 <= len && !bad) {
		uint8_t tag = p[pos];
		uint32_t l = key_get_u32(p + pos + 1);
		const uint8_t *v = p + pos + 5;
		const char *s;

		if (l > len - pos - 5)
			return -EINVAL;
		pos += 5 + (size_t)l;
		s = str(v, l);
		switch (tag) {
		case T_OP: have_op = l == 1; r->op = v[0]; break;
		case T_WRITER:
			bad = !s || l != FWD_ID_LEN + 1;
			if (!bad)
				memcpy(r->writer, s, FWD_ID_LEN + 1);
			break;
		case T_HOST: r->host = s; bad = !s; break;
		case T_ID: bad = l != 8; r->id = bad ? 0 : key_get_u64(v); break;
		case T_EXPIRES: bad = l != 8; r->expires = bad ? 0 : (int64_t)key_get_u64(v); break;
		case T_UID: bad = l != 4; r->uid = bad ? 0 : key_get_u32(v); break;
		case T_GID: bad = l != 4; r->gid = bad ? 0 : key_get_u32(v); break;
		case T_UMASK: bad = l != 4; r->umask = bad ? 0 : key_get_u32(v); break;
		case T_PID: bad = l != 4; r->pid = bad ? 0 : key_get_u32(v); break;
		case T_MODE: bad = l != 4; r->mode = bad ? 0 : key_get_u32(v); break;
		case T_FLAGS: bad = l != 4; r->flags = bad ? 0 : key_get_u32(v); break;
		case T_GROUPS:
			bad = l % 4 || l / 4 > FWD_GROUPS_MAX;
			r->ngroups = bad ? 0 : l / 4;
			for (uint32_t i = 0; i < r->ngroups; i++)
				r->groups[i] = key_get_u32(v + 4 * i);
			break;
		case T_SIZE: bad = l != 8; r->size = bad ? 0 : key_get_u64(v); break;
		case T_SID: bad = l != 8; r->sid = bad ? 0 : key_get_u64(v); break;
		case T_PATH: r->path = s; bad = !s; break;
		case T_PATH2: r->path2 = s; bad = !s; break;
		case T_OBJ: r->obj = s; bad = !s; break;
		case T_JOB: r->job = s; bad = !s; break;
		case T_CMDLINE: r->cmdline = s; bad = !s; break;
		case T_COMM: r->comm = s; bad = !s; break;
		case T_NAME2: r->name2 = s; bad = !s; break;
		case T_VALUE: r->value = v; r->vlen = l; break;
		default: break;		/* a newer follower's field */
		}
	}
	return have_op && !bad && pos == len && r->op && r->op < FWD_OPS ? 0 : -EINVAL;
}

void fwd_answer_encode(const struct fwd_answer *a, uint8_t out[FWD_ANSWER_LEN])
{
	memcpy(out, "AIFR", 4);
	out[4] = FWD_VERSION;
	key_put_u32(out + 5, (uint32_t)a->err);
	key_put_u64(out + 9, a->seq);
	memset(out + 17, '0', FWD_ID_LEN);
	memcpy(out + 17, a->writer, strnlen(a->writer, FWD_ID_LEN));
}

int fwd_answer_decode(const void *buf, size_t len, struct fwd_answer *a)
{
	const uint8_t *p = buf;

	if (len < FWD_ANSWER_LEN || memcmp(p, "AIFR", 4) || p[4] != FWD_VERSION)
		return -EINVAL;
	a->err = (int)key_get_u32(p + 5);
	a->seq = key_get_u64(p + 9);
	memcpy(a->writer, p + 17, FWD_ID_LEN);
	a->writer[FWD_ID_LEN] = 0;
	return a->err >= 0 && a->err < 4096 ? 0 : -EINVAL;
}

bool fwd_path_ok(const char *p)
{
	size_t n = strlen(p);

	if (!n || n >= PATH_MAX || p[0] == '/')
		return false;
	for (const char *c = p; *c; ) {
		size_t l = strcspn(c, "/");

		if (!l || (l == 1 && c[0] == '.') || (l == 2 && c[0] == '.' && c[1] == '.'))
			return false;
		c += l;
		if (*c == '/' && !*++c)
			return false;	/* a trailing slash */
	}
	return true;
}

int fwd_writer_id(const char *dir, char id[FWD_ID_LEN + 1])
{
	char path[4200];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/writer.id", dir);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, id, FWD_ID_LEN);
	close(fd);
	if (n != FWD_ID_LEN)
		return -EINVAL;
	id[FWD_ID_LEN] = 0;
	return 0;
}
