/* fwdnotes.c — what processes of named jobs read on a follower, noted for
 * the writer (fwd.h): a job named by AIFS_JOB is one job on every host, so
 * the sources it reads here (lineage_source_of) go into its lineage there.
 * A note is sent once per (job, source), and once per (file, content) of a
 * live dataset tree (the writer keeps its content state); notes go in
 * batches from the forwarding thread, and before any change a follower
 * sends, so that a save's lineage holds the reads before it.  A note that
 * cannot be sent is dropped: lineage is never worth a failed read.
 */
#include "fs/fs.h"
#include "fs/fwd.h"
#include "fs/fwd_priv.h"
#include "fs/follow.h"
#include "fs/inode.h"
#include "fs/inval.h"
#include "fs/data.h"
#include "fs/extmap.h"
#include "fs/lineage.h"
#include "fs/path.h"
#include "fs/virt.h"
#include "fs/ops.h"
#include "meta/keys.h"
#include "tier/radosmsg.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ---- lineage notes --------------------------------------------------------- */

static uint64_t hash64(uint64_t h, const void *p, size_t n)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 1099511628211ull;
	return h;
}

/* The set of notes sent (FW.lock held). */
static bool seen_has(uint64_t h)
{
	size_t cap = SEEN_MAX;

	h |= 1;
	for (size_t i = FW.seen ? h & (cap - 1) : 0; FW.seen && FW.seen[i]; i = (i + 1) & (cap - 1))
		if (FW.seen[i] == h)
			return true;
	return false;
}

static void seen_add(uint64_t h)
{
	size_t cap = SEEN_MAX, i;

	if (!FW.seen && !(FW.seen = calloc(cap, sizeof(*FW.seen))))
		return;
	if (FW.nseen * 2 >= cap)
		return;		/* full: later notes are sent again, which is harmless */
	h |= 1;
	for (i = h & (cap - 1); FW.seen[i]; i = (i + 1) & (cap - 1))
		if (FW.seen[i] == h)
			return;
	FW.seen[i] = h;
	FW.nseen++;
}

#define JCACHE		256
#define JCACHE_NS	2000000000	/* a process's job is read again after this */

/* The AIFS_JOB of process PID into JOB ("" if none), read again at most
 * every JCACHE_NS (a pid is not reused that soon). */
bool fwd_job_of(uint32_t pid, char *job, size_t len)
{
	static struct {
		uint32_t pid;
		int64_t at;
		char job[129];
	} jc[JCACHE];
	size_t i = pid % JCACHE;
	int64_t now = fwd_real_ns();
	char name[129] = "";
	bool hit;

	pthread_mutex_lock(&FW.lock);
	hit = jc[i].pid == pid && now - jc[i].at < JCACHE_NS;
	if (hit)
		snprintf(job, len, "%s", jc[i].job);
	pthread_mutex_unlock(&FW.lock);
	if (hit)
		return job[0] != 0;
	if (!lineage_job_name(pid, name, sizeof(name)))
		name[0] = 0;
	pthread_mutex_lock(&FW.lock);
	jc[i].pid = pid;
	jc[i].at = now;
	snprintf(jc[i].job, sizeof(jc[i].job), "%s", name);
	pthread_mutex_unlock(&FW.lock);
	snprintf(job, len, "%s", name);
	return name[0] != 0;
}

/* A process of a named job read IN (referenced): a note for the writer,
 * once per (job, source), and once per (file, content) of a live tree. */
void fwd_note_read(fuse_req_t req, struct inode *in)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	uint8_t key[LINEAGE_SRC_KEY];
	char job[129], cmd[1024] = "", *json = NULL;
	const char *s[3];
	uint64_t h, fh = 0, file = 0, gen;
	uint32_t uid = ctx->uid;
	size_t need;
	bool src_new;

	if (!fwd_job_of(ctx->pid, job, sizeof(job)) || lineage_source_of(FW.fs, in, key, NULL) < 0)
		return;
	pthread_rwlock_rdlock(&in->lock);
	gen = in->attr.generation;
	pthread_rwlock_unlock(&in->lock);
	h = hash64(hash64(1469598103934665603ull, &uid, 4), job, strlen(job));
	h = hash64(h, key, sizeof(key));
	if (key[0] == 'd')	/* a live tree: each (file, content) read counts */
		fh = hash64(hash64(h, &in->ino, 8), &gen, 8);
	pthread_mutex_lock(&FW.lock);
	src_new = !seen_has(h);
	if (fh && !seen_has(fh))
		file = in->ino;
	pthread_mutex_unlock(&FW.lock);
	if (!src_new && !file)
		return;
	if (src_new && lineage_source_of(FW.fs, in, key, &json) < 0)
		return;
	if (src_new)
		fwd_proc_text(ctx->pid, "cmdline", cmd, sizeof(cmd));
	s[0] = job;
	s[1] = cmd;
	s[2] = json ? json : "";
	need = 4 + 12 + strlen(s[0]) + strlen(s[1]) + strlen(s[2]) + LINEAGE_SRC_KEY + 8;
	pthread_mutex_lock(&FW.lock);
	if (FW.nlen + need > FW.ncap) {
		size_t cap = (FW.ncap ? FW.ncap * 2 : 65536) + need;
		uint8_t *p = realloc(FW.notes, cap);

		if (!p) {
			pthread_mutex_unlock(&FW.lock);
			free(json);
			return;
		}
		FW.notes = p;
		FW.ncap = cap;
	}
	if (src_new)
		seen_add(h);
	if (file)
		seen_add(fh);
	key_put_u32(FW.notes + FW.nlen, uid);
	FW.nlen += 4;
	for (int i = 0; i < 3; i++) {
		size_t l = strlen(s[i]);

		key_put_u32(FW.notes + FW.nlen, (uint32_t)l);
		memcpy(FW.notes + FW.nlen + 4, s[i], l);
		FW.nlen += 4 + l;
	}
	memcpy(FW.notes + FW.nlen, key, LINEAGE_SRC_KEY);
	key_put_u64(FW.notes + FW.nlen + LINEAGE_SRC_KEY, file);
	FW.nlen += LINEAGE_SRC_KEY + 8;
	pthread_cond_signal(&FW.cond);
	pthread_mutex_unlock(&FW.lock);
	free(json);
}

/* Send the notes gathered so far (a failure drops them: lineage is never
 * worth a failed read or write). */
void fwd_notes_send(void)
{
	static int64_t last_log = -60;
	struct fwd_req r = { .op = FWD_LINEAGE };
	uint8_t *buf;
	size_t len;

	pthread_mutex_lock(&FW.send_lock);
	pthread_mutex_lock(&FW.lock);
	buf = FW.notes;
	len = FW.nlen;
	FW.notes = NULL;
	FW.nlen = FW.ncap = 0;
	pthread_mutex_unlock(&FW.lock);
	for (size_t off = 0; off < len; ) {
		size_t n = 0;

		/* whole notes, NOTES_MAX bytes at most per request */
		while (off + n < len) {
			const uint8_t *p = buf + off + n + 4;
			size_t l = 4;

			for (int i = 0; i < 3; i++) {
				l += 4 + key_get_u32(p);
				p += 4 + key_get_u32(p);
			}
			l += LINEAGE_SRC_KEY + 8;
			if (n && n + l > NOTES_MAX)
				break;
			n += l;
		}
		r.value = buf + off;
		r.vlen = n;
		if (fwd_call(&r, NULL) < 0 && fwd_mono_s() - last_log >= 60) {
			last_log = fwd_mono_s();
			log_warn("follower: the writer did not take what named jobs (AIFS_JOB) read "
				 "here: their lineage misses it");
		}
		off += n;
	}
	free(buf);
	pthread_mutex_unlock(&FW.send_lock);
}

