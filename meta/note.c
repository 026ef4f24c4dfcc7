/* note.c — Ed25519 signed notes and tlog checkpoints (see note.h).
 *
 * Parsing follows the reference implementation of signed notes
 * (golang.org/x/mod/sumdb/note): the note must be UTF-8 without control
 * characters but newline, and its signature lines are the lines after its
 * last blank line.  Unlike the reference, a note with two signatures by the
 * checking key needs both to verify, and base64 is parsed strictly
 * (padding required, no stray bits), so a signed value has one spelling.
 *
 * Invariant of a struct note_key: pub is the raw public half of pkey.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "meta/note.h"

#define SIG_PREFIX	"\xe2\x80\x94 "	/* U+2014 EM DASH, space */
#define SIG_PREFIX_LEN	4
#define ALG_ED25519	0x01
#define PUB_LEN		32
#define SIG_LEN		64
#define KEYHASH_LEN	4
#define MAX_SIGS	100	/* as the reference implementation */
#define TIME_EXT	"time "	/* our extension line: time <unix seconds> */
#define TIME_EXT_LEN	5

struct note_key {
	EVP_PKEY *pkey;
	uint8_t pub[PUB_LEN];
};

/* A parsed verifier key; name points into the vkey string. */
struct vkey {
	const char *name;
	size_t name_len;
	uint8_t hash[KEYHASH_LEN];
	uint8_t pub[PUB_LEN];
};

/* --- text ----------------------------------------------------------------- */

/* Decode the UTF-8 sequence at S (LEN > 0 bytes) into *CP; return its
 * length, or 0 if it is not valid UTF-8 (overlong, surrogate, > U+10FFFF). */
static size_t utf8_next(const unsigned char *s, size_t len, uint32_t *cp)
{
	static const uint32_t min[5] = { 0, 0, 0x80, 0x800, 0x10000 };
	size_t n = s[0] < 0x80 ? 1 : s[0] >> 5 == 6 ? 2 : s[0] >> 4 == 14 ? 3 :
		   s[0] >> 3 == 30 ? 4 : 0;
	uint32_t c;

	if (n == 0 || n > len)
		return 0;
	c = n == 1 ? s[0] : s[0] & (0x7f >> n);
	for (size_t i = 1; i < n; i++) {
		if (s[i] >> 6 != 2)
			return 0;
		c = c << 6 | (s[i] & 0x3f);
	}
	if (c < min[n] || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return n;
}

/* Note text: valid UTF-8 and no control characters other than newline. */
static bool text_valid(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	uint32_t c;

	for (size_t i = 0, n; i < len; i += n) {
		n = utf8_next(p + i, len - i, &c);
		if (n == 0 || (c < 0x20 && c != '\n'))
			return false;
	}
	return true;
}

/* The code points Go's unicode.IsSpace accepts. */
static bool is_space(uint32_t c)
{
	return (c >= 0x09 && c <= 0x0d) || c == 0x20 || c == 0x85 || c == 0xa0 ||
	       c == 0x1680 || (c >= 0x2000 && c <= 0x200a) || c == 0x2028 ||
	       c == 0x2029 || c == 0x202f || c == 0x205f || c == 0x3000;
}

/* A key name: non-empty note text without spaces or '+'. */
static bool name_valid(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	uint32_t c;

	if (len == 0 || !text_valid(s, len))
		return false;
	for (size_t i = 0, n; i < len; i += n) {
		n = utf8_next(p + i, len - i, &c);
		if (is_space(c) || c == '+')
			return false;
	}
	return true;
}

/* Parse the canonical decimal S[0..LEN) (no sign, no leading zero). */
static bool parse_u64(const char *s, size_t len, uint64_t *v)
{
	uint64_t x = 0;

	if (len == 0 || len > 20 || (s[0] == '0' && len > 1))
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned d = (unsigned char)s[i] - '0';

		if (d > 9 || x > (UINT64_MAX - d) / 10)
			return false;
		x = x * 10 + d;
	}
	*v = x;
	return true;
}

/* --- base64 (RFC 4648 §4, padded) ---------------------------------------- */

/* Encode N bytes into OUT (room for 4 * ceil(N / 3) + 1 bytes). */
static void b64_encode(const uint8_t *in, size_t n, char *out)
{
	EVP_EncodeBlock((unsigned char *)out, in, (int)n);
}

static int b64_value(char c)
{
	static const char alphabet[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const char *p = c ? strchr(alphabet, c) : NULL;

	return p ? (int)(p - alphabet) : -1;
}

/* Decode S[0..LEN) into OUT (room for CAP bytes); return the decoded
 * length, or -1 unless S is canonical padded base64 that fits. */
static long b64_decode(const char *s, size_t len, uint8_t *out, size_t cap)
{
	size_t pad, n = 0;

	if (len == 0 || len % 4 != 0)
		return len == 0 ? 0 : -1;
	pad = s[len - 1] == '=' ? (s[len - 2] == '=' ? 2 : 1) : 0;
	if (len / 4 * 3 - pad > cap)
		return -1;
	for (size_t i = 0; i < len; i += 4) {
		uint32_t q = 0;
		size_t have = i + 4 == len ? 4 - pad : 4;

		for (size_t j = 0; j < 4; j++) {
			int v = j < have ? b64_value(s[i + j]) : 0;

			if (v < 0 || (j >= have && s[i + j] != '='))
				return -1;
			q = q << 6 | (uint32_t)v;
		}
		/* Bits below the last whole byte must be zero. */
		if ((have == 2 && (q & 0xffff)) || (have == 3 && (q & 0xff)))
			return -1;
		for (size_t j = 0; j + 1 < have; j++)
			out[n++] = (uint8_t)(q >> (16 - 8 * j));
	}
	return (long)n;
}

/* --- keys ----------------------------------------------------------------- */

/* OUT = SHA-256(NAME || '\n' || 0x01 || PUB)[0..4). */
static int key_hash(const char *name, size_t name_len, const uint8_t pub[PUB_LEN],
		    uint8_t out[KEYHASH_LEN])
{
	static const uint8_t sep[2] = { '\n', ALG_ED25519 };
	uint8_t digest[EVP_MAX_MD_SIZE];
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int ok;

	ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) &&
	     EVP_DigestUpdate(ctx, name, name_len) &&
	     EVP_DigestUpdate(ctx, sep, sizeof(sep)) &&
	     EVP_DigestUpdate(ctx, pub, PUB_LEN) &&
	     EVP_DigestFinal_ex(ctx, digest, NULL);
	EVP_MD_CTX_free(ctx);
	if (!ok)
		return -ENOMEM;
	memcpy(out, digest, KEYHASH_LEN);
	return 0;
}

/* Parse "name+hhhhhhhh+base64(0x01 || pub)" and check its key hash. */
static int vkey_parse(const char *s, struct vkey *v)
{
	const char *plus1 = strchr(s, '+');
	const char *plus2 = plus1 ? strchr(plus1 + 1, '+') : NULL;
	uint8_t key[1 + PUB_LEN], want[KEYHASH_LEN];
	int rc;

	if (!plus2 || plus2 - plus1 != 9 || !name_valid(s, (size_t)(plus1 - s)))
		return -EINVAL;
	v->name = s;
	v->name_len = (size_t)(plus1 - s);
	for (int i = 0; i < 2 * KEYHASH_LEN; i++) {
		char c = plus1[1 + i];
		int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 :
			c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;

		if (d < 0)
			return -EINVAL;
		v->hash[i / 2] = (uint8_t)(i % 2 ? v->hash[i / 2] | d : d << 4);
	}
	if (b64_decode(plus2 + 1, strlen(plus2 + 1), key, sizeof(key)) != sizeof(key) ||
	    key[0] != ALG_ED25519)
		return -EINVAL;
	memcpy(v->pub, key + 1, PUB_LEN);
	rc = key_hash(v->name, v->name_len, v->pub, want);
	if (rc)
		return rc;
	return memcmp(want, v->hash, KEYHASH_LEN) == 0 ? 0 : -EINVAL;
}

/* Refuse to prompt on a terminal for the passphrase of an encrypted key. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
	(void)buf, (void)size, (void)rwflag, (void)u;
	return -1;
}

/* fsync the directory that holds PATH, so a new name in it is durable. */
static int sync_parent(const char *path)
{
	const char *slash = strrchr(path, '/');
	char *dir = slash ? strndup(path, slash == path ? 1 : (size_t)(slash - path))
			  : strdup(".");
	int fd, rc = 0;

	if (!dir)
		return -ENOMEM;
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || fsync(fd) < 0)
		rc = -errno;
	if (fd >= 0)
		close(fd);
	free(dir);
	return rc;
}

/* Write PKEY as PEM to the new file open as FD (mode exactly 0600, whatever
 * the umask), durably; closes FD. */
static int key_write(int fd, EVP_PKEY *pkey)
{
	FILE *f;
	int rc = 0;

	if (fchmod(fd, 0600) < 0) {
		rc = -errno;
		close(fd);
		return rc;
	}
	f = fdopen(fd, "w");
	if (!f) {
		rc = -errno;
		close(fd);
		return rc;
	}
	if (!PEM_write_PrivateKey(f, pkey, NULL, NULL, 0, NULL, NULL))
		rc = -EIO;
	if (fflush(f) != 0 || fsync(fileno(f)) < 0)
		rc = rc ? rc : -errno;
	if (fclose(f) != 0)
		rc = rc ? rc : -errno;
	return rc;
}

int note_key_generate(const char *path)
{
	EVP_PKEY *pkey = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	char *tmp = NULL;
	int fd, rc;

	if (!pkey) {
		ERR_clear_error();
		return -ENOMEM;
	}
	if (asprintf(&tmp, "%s.XXXXXX", path) < 0) {
		tmp = NULL;
		rc = -ENOMEM;
		goto out;
	}
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		rc = -errno;
		goto out;
	}
	rc = key_write(fd, pkey);
	/* link, unlike rename, fails rather than replace an existing key. */
	if (rc == 0 && link(tmp, path) < 0)
		rc = -errno;
	unlink(tmp);
	if (rc == 0)
		rc = sync_parent(path);
out:
	free(tmp);
	EVP_PKEY_free(pkey);
	return rc;
}

int note_key_load(const char *path, struct note_key **out)
{
	FILE *f = fopen(path, "re");
	struct note_key *k;
	EVP_PKEY *pkey;
	size_t len = PUB_LEN;

	if (!f)
		return -errno;
	pkey = PEM_read_PrivateKey(f, NULL, no_passphrase, NULL);
	fclose(f);
	if (!pkey || EVP_PKEY_get_base_id(pkey) != EVP_PKEY_ED25519 ||
	    !EVP_PKEY_get_raw_public_key(pkey, NULL, &len) || len != PUB_LEN) {
		ERR_clear_error();
		EVP_PKEY_free(pkey);
		return -EBADMSG;
	}
	k = calloc(1, sizeof(*k));
	if (!k || !EVP_PKEY_get_raw_public_key(pkey, k->pub, &len)) {
		free(k);
		EVP_PKEY_free(pkey);
		return -ENOMEM;
	}
	k->pkey = pkey;
	*out = k;
	return 0;
}

void note_key_free(struct note_key *k)
{
	if (!k)
		return;
	EVP_PKEY_free(k->pkey);
	free(k);
}

int note_vkey(const struct note_key *k, const char *name, char **out)
{
	uint8_t hash[KEYHASH_LEN], key[1 + PUB_LEN] = { ALG_ED25519 };
	char b64[4 * ((sizeof(key) + 2) / 3) + 1];
	int rc;

	if (!name_valid(name, strlen(name)))
		return -EINVAL;
	rc = key_hash(name, strlen(name), k->pub, hash);
	if (rc)
		return rc;
	memcpy(key + 1, k->pub, PUB_LEN);
	b64_encode(key, sizeof(key), b64);
	if (asprintf(out, "%s+%02x%02x%02x%02x+%s", name, hash[0], hash[1], hash[2], hash[3],
		     b64) < 0)
		return -ENOMEM;
	return 0;
}

/* --- signing and verifying ----------------------------------------------- */

int note_sign_text(const struct note_key *k, const char *name, const char *text, char **out)
{
	size_t len = strlen(text), siglen = SIG_LEN;
	uint8_t blob[KEYHASH_LEN + SIG_LEN];
	char b64[4 * ((sizeof(blob) + 2) / 3) + 1];
	EVP_MD_CTX *ctx;
	int ok, rc;

	if (!name_valid(name, strlen(name)) || len == 0 || text[len - 1] != '\n' ||
	    !text_valid(text, len))
		return -EINVAL;
	rc = key_hash(name, strlen(name), k->pub, blob);
	if (rc)
		return rc;
	ctx = EVP_MD_CTX_new();
	ok = ctx && EVP_DigestSignInit(ctx, NULL, NULL, NULL, k->pkey) &&
	     EVP_DigestSign(ctx, blob + KEYHASH_LEN, &siglen, (const uint8_t *)text, len) &&
	     siglen == SIG_LEN;
	EVP_MD_CTX_free(ctx);
	if (!ok) {
		ERR_clear_error();
		return -ENOMEM;
	}
	b64_encode(blob, sizeof(blob), b64);
	if (asprintf(out, "%s\n" SIG_PREFIX "%s %s\n", text, name, b64) < 0)
		return -ENOMEM;
	return 0;
}

/* 0 if SIG is PUB's Ed25519 signature of MSG[0..LEN), else -EBADMSG. */
static int ed25519_verify(const uint8_t pub[PUB_LEN], const uint8_t sig[SIG_LEN],
			  const char *msg, size_t len)
{
	EVP_PKEY *pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pub, PUB_LEN);
	EVP_MD_CTX *ctx = pkey ? EVP_MD_CTX_new() : NULL;
	int rc = -ENOMEM;

	if (ctx && EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, pkey))
		rc = EVP_DigestVerify(ctx, sig, SIG_LEN, (const uint8_t *)msg, len) == 1 ?
		     0 : -EBADMSG;
	ERR_clear_error();
	EVP_MD_CTX_free(ctx);
	EVP_PKEY_free(pkey);
	return rc;
}

/* Check one signature line LINE[0..LEN) (no newline) of the note whose
 * text is TEXT[0..TEXT_LEN).  Returns 1 if it is V's and verifies, 0 if it
 * is another key's, or a negative errno. */
static int sig_line(const struct vkey *v, const char *text, size_t text_len,
		    const char *line, size_t len)
{
	const char *name, *b64, *sp;
	size_t name_len, b64_len;
	uint8_t *blob;
	long n;
	int rc;

	if (len < SIG_PREFIX_LEN || memcmp(line, SIG_PREFIX, SIG_PREFIX_LEN) != 0)
		return -EBADMSG;
	name = line + SIG_PREFIX_LEN;
	sp = memchr(name, ' ', len - SIG_PREFIX_LEN);
	if (!sp)
		return -EBADMSG;
	name_len = (size_t)(sp - name);
	b64 = sp + 1;
	b64_len = (size_t)(line + len - b64);
	if (!name_valid(name, name_len) || b64_len == 0)
		return -EBADMSG;
	blob = malloc(b64_len / 4 * 3 + 1);
	if (!blob)
		return -ENOMEM;
	n = b64_decode(b64, b64_len, blob, b64_len / 4 * 3 + 1);
	if (n < KEYHASH_LEN + 1)
		rc = -EBADMSG;
	else if (name_len != v->name_len || memcmp(name, v->name, name_len) != 0 ||
		 memcmp(blob, v->hash, KEYHASH_LEN) != 0)
		rc = 0;
	else if (n != KEYHASH_LEN + SIG_LEN)
		rc = -EBADMSG;
	else if ((rc = ed25519_verify(v->pub, blob + KEYHASH_LEN, text, text_len)) == 0)
		rc = 1;
	free(blob);
	return rc;
}

int note_open(const char *vkey, const char *note, char **text)
{
	size_t len = strlen(note), text_len, nsig = 0;
	const char *p, *end = note + len;
	struct vkey v;
	int rc, good = 0;

	rc = vkey_parse(vkey, &v);
	if (rc)
		return rc;
	if (!text_valid(note, len))
		return -EBADMSG;
	/* The text ends at the last blank line; the signatures follow it. */
	for (text_len = len; text_len >= 2; text_len--)
		if (note[text_len - 2] == '\n' && note[text_len - 1] == '\n')
			break;
	if (text_len < 2 || text_len == len || note[len - 1] != '\n')
		return -EBADMSG;
	text_len--;
	for (p = note + text_len + 1; p < end; nsig++) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));

		if (nsig == MAX_SIGS)
			return -EBADMSG;
		rc = sig_line(&v, note, text_len, p, (size_t)(nl - p));
		if (rc < 0)
			return rc;
		good += rc;
		p = nl + 1;
	}
	if (!good)
		return -EBADMSG;
	*text = strndup(note, text_len);
	return *text ? 0 : -ENOMEM;
}

/* --- checkpoints ---------------------------------------------------------- */

int note_sign(const struct note_key *k, const char *name, const char *origin, uint64_t size,
	      const uint8_t root[MERKLE_HASH_LEN], int64_t time, char **out)
{
	char b64[4 * ((MERKLE_HASH_LEN + 2) / 3) + 1], ext[32] = "";
	char *body;
	int rc;

	if (origin[0] == '\0' || strchr(origin, '\n'))
		return -EINVAL;
	b64_encode(root, MERKLE_HASH_LEN, b64);
	if (time >= 0)
		snprintf(ext, sizeof(ext), TIME_EXT "%" PRId64 "\n", time);
	if (asprintf(&body, "%s\n%" PRIu64 "\n%s\n%s", origin, size, b64, ext) < 0)
		return -ENOMEM;
	rc = note_sign_text(k, name, body, out);
	free(body);
	return rc;
}

/* Parse checkpoint TEXT (every line ends in a newline). */
static int checkpoint_parse(const char *text, char **origin, uint64_t *size,
			    uint8_t root[MERKLE_HASH_LEN], int64_t *time)
{
	const char *line[3], *p = text;
	size_t len[3];
	uint8_t hash[MERKLE_HASH_LEN];
	uint64_t n, t;
	int64_t when = -1;

	for (int i = 0; i < 3; i++) {
		const char *nl = strchr(p, '\n');

		if (!nl || nl == p)
			return -EBADMSG;
		line[i] = p;
		len[i] = (size_t)(nl - p);
		p = nl + 1;
	}
	if (!parse_u64(line[1], len[1], &n) ||
	    b64_decode(line[2], len[2], hash, MERKLE_HASH_LEN) != MERKLE_HASH_LEN)
		return -EBADMSG;
	/* Extension lines: ours is the time; others are ignored. */
	for (const char *nl; *p; p = nl + 1) {
		nl = strchr(p, '\n');
		if ((size_t)(nl - p) > TIME_EXT_LEN && !strncmp(p, TIME_EXT, TIME_EXT_LEN)) {
			const char *v = p + TIME_EXT_LEN;

			if (when >= 0 || !parse_u64(v, (size_t)(nl - v), &t) || t > INT64_MAX)
				return -EBADMSG;
			when = (int64_t)t;
		} else if (nl == p) {
			return -EBADMSG;
		}
	}
	if (origin) {
		*origin = strndup(line[0], len[0]);
		if (!*origin)
			return -ENOMEM;
	}
	*size = n;
	memcpy(root, hash, MERKLE_HASH_LEN);
	if (time)
		*time = when;
	return 0;
}

int note_verify(const char *vkey, const char *note, char **origin, uint64_t *size,
		uint8_t root[MERKLE_HASH_LEN], int64_t *time)
{
	char *text;
	int rc;

	rc = note_open(vkey, note, &text);
	if (rc)
		return rc;
	rc = checkpoint_parse(text, origin, size, root, time);
	free(text);
	return rc;
}
