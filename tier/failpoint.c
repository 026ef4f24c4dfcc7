/* failpoint.c — named fail points (see failpoint.h). */
#include "tier/failpoint.h"

#ifdef AIFS_FAILPOINTS
#include "tier/log.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FP_MAX 16
#define FP_KILL	(-1)	/* "=KILL": the process is killed at the hit */

struct fpoint {
	char name[32];
	unsigned long nth;	/* the hit that fails (1-based) */
	bool on;		/* and every later one */
	int err;		/* 0: the point's own errno; FP_KILL: die */
	unsigned long hits;
};

static pthread_mutex_t fp_lock = PTHREAD_MUTEX_INITIALIZER;
static struct fpoint fp[FP_MAX];
static unsigned fp_n;
static atomic_bool fp_armed;

static const struct { const char *name; int err; } errs[] = {
	{ "EIO", EIO }, { "ENOSPC", ENOSPC }, { "EINTR", EINTR },
	{ "ENOMEM", ENOMEM }, { "EROFS", EROFS }, { "KILL", FP_KILL },
};

static int parse_err(const char *s)
{
	for (size_t i = 0; i < sizeof(errs) / sizeof(errs[0]); i++)
		if (!strcmp(s, errs[i].name))
			return errs[i].err;
	return 0;
}

/* One "NAME:N[+][=ERR]" into P: 0, or -EINVAL. */
static int parse_one(char *w, struct fpoint *p)
{
	char *colon = strchr(w, ':'), *eq, *end;

	if (!colon || colon == w || (size_t)(colon - w) >= sizeof(p->name))
		return -EINVAL;
	*p = (struct fpoint){ 0 };
	memcpy(p->name, w, colon - w);
	eq = strchr(colon, '=');
	if (eq) {
		*eq = 0;
		p->err = parse_err(eq + 1);
		if (!p->err)
			return -EINVAL;
	}
	p->nth = strtoul(colon + 1, &end, 10);
	if (end == colon + 1 || p->nth == 0)
		return -EINVAL;
	if (*end == '+') {
		p->on = true;
		end++;
	}
	return *end ? -EINVAL : 0;
}

int failpoint_arm(const char *spec)
{
	struct fpoint v[FP_MAX];
	unsigned n = 0;
	char *s = strdup(spec), *save = NULL, *w;
	int rc = s ? 0 : -ENOMEM;

	for (w = s ? strtok_r(s, ",", &save) : NULL; w && rc == 0; w = strtok_r(NULL, ",", &save))
		rc = n < FP_MAX ? parse_one(w, &v[n++]) : -EINVAL;
	free(s);
	if (rc < 0)
		return rc;
	pthread_mutex_lock(&fp_lock);
	memcpy(fp, v, n * sizeof(v[0]));
	fp_n = n;
	atomic_store(&fp_armed, n > 0);
	pthread_mutex_unlock(&fp_lock);
	log_notice("fail points armed: %s", *spec ? spec : "(none)");
	return 0;
}

int failpoint_hit(const char *name, int err)
{
	unsigned long hit = 0;
	int rc = 0;

	if (!atomic_load(&fp_armed))
		return 0;
	pthread_mutex_lock(&fp_lock);
	for (unsigned i = 0; i < fp_n; i++) {
		struct fpoint *p = &fp[i];

		if (strcmp(p->name, name))
			continue;
		hit = ++p->hits;
		if (hit == p->nth || (p->on && hit > p->nth))
			rc = p->err == FP_KILL ? FP_KILL : -(p->err ? p->err : err);
		break;
	}
	pthread_mutex_unlock(&fp_lock);
	if (rc == FP_KILL) {	/* a crash at this very point, as kill -9 makes it */
		log_warn("fail point %s: hit %lu kills the process", name, hit);
		raise(SIGKILL);
	}
	if (rc < 0)
		log_warn("fail point %s: hit %lu fails: %s", name, hit, strerror(-rc));
	return rc;
}
#endif
