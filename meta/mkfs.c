/* mkfs.c — making a new store (see store.h): its directory, aifs.conf, the
 * root and area directories, the audit key, and the tiers, local or in
 * RADOS.  A store is made whole or not at all: a failure leaves nothing
 * that store_open would take for a store.
 */
#include "meta/store.h"
#include "meta/store_priv.h"
#include "meta/spacecp.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "meta/note.h"
#include "tier/log.h"


/* The directories every new store starts with, and their policies. */
static const struct {
	const char *name;
	uint8_t policy;
} areas[] = {
	{ "datasets", META_AREA_DATASET },
	{ "checkpoints", META_AREA_CHECKPOINT },
	{ "audit", META_AREA_JOURNAL },
};

/* Create the root directory inode and the area directories, owned by the
 * caller, the format, and the (empty) kept reference counts of the store
 * at PATH. */
static int root_create(const char *path, const char *mdir)
{
	struct meta *m;
	struct meta_batch *b;
	struct meta_inode root = { .ino = META_ROOT_INO, .mode = S_IFDIR | 0755,
				   .nlink = 2, .uid = getuid(), .gid = getgid() };
	struct timespec now;
	int rc;

	rc = meta_open(mdir, true, &m);
	if (rc < 0)
		return rc;
	clock_gettime(CLOCK_REALTIME, &now);
	root.atime = root.mtime = root.ctime = root.btime =
		(int64_t)now.tv_sec * 1000000000 + now.tv_nsec;
	b = meta_batch_new();
	if (!b) {
		meta_close(m);
		return -ENOMEM;
	}
	meta_format_put(b, STORE_FORMAT);
	for (size_t i = 0; i < sizeof(areas) / sizeof(areas[0]); i++) {
		struct meta_inode d = root;

		d.nlink = 2;
		d.ino = META_ROOT_INO + 1 + i;
		d.policy = areas[i].policy;
		meta_inode_put(b, &d);
		meta_dentry_put(b, META_ROOT_INO, areas[i].name, strlen(areas[i].name), d.ino,
				S_IFDIR);
		root.nlink++;
	}
	meta_inode_put(b, &root);
	rc = meta_batch_commit(m, b, true);
	meta_batch_free(b);
	if (rc == 0)
		rc = space_checkpoint_write(path, m, NULL, 0, 0);
	meta_close(m);
	return rc;
}

/* STORE/audit.key (Ed25519, 0600) signs the journal's checkpoints;
 * STORE/audit.pub holds its verifier key for anyone to check them. */
static int audit_key_create(const char *path, const char *uuid)
{
	char *kp = store_path_join(path, "audit.key"), *vkey = NULL, name[64];
	struct note_key *k = NULL;
	int rc = kp ? note_key_generate(kp) : -ENOMEM;

	snprintf(name, sizeof(name), "aifs-%.8s", uuid);
	if (rc == 0)
		rc = note_key_load(kp, &k);
	if (rc == 0)
		rc = note_vkey(k, name, &vkey);
	if (rc == 0) {
		char line[512];

		snprintf(line, sizeof(line), "%s\n", vkey);
		rc = store_write_durable(path, "audit.pub", line);
	}
	free(vkey);
	note_key_free(k);
	free(kp);
	return rc;
}

int store_mkfs(const char *path, const char *cold, char *err, size_t errlen)
{
	return store_mkfs_seg(path, cold, 0, err, errlen);
}

int store_mkfs_seg(const char *path, const char *cold, uint64_t segment_size, char *err,
		   size_t errlen)
{
	struct store_opts o = { .cold = cold, .segment_size = segment_size, .rados_timeout = -1 };

	return store_mkfs_opts(path, &o, err, errlen);
}

/* Make the RADOS tier WANT of the new store UUID; its full name
 * ("rados:POOL/NAME") into SPEC, and the ceph lines of aifs.conf into
 * CEPH. */
static int mkfs_rados(const char *uuid, const char *want, const struct store_opts *o,
		      char *spec, size_t speclen, char *ceph, size_t cephlen, char *err,
		      size_t errlen)
{
	struct tier_rados_opts ro = { .conf = o->ceph_conf, .user = o->ceph_user,
				      .timeout = o->rados_timeout >= 0 ?
						 (unsigned)o->rados_timeout : STORE_RADOS_TIMEOUT,
				      .uuid = uuid, .err = err, .errlen = errlen };
	char real[PATH_MAX];
	int rc, n = 0;

	if (o->ceph_conf && !realpath(o->ceph_conf, real))
		return store_fail(err, errlen, -errno, "cannot read Ceph configuration %s: %s",
			    o->ceph_conf, strerror(errno));
	if (o->ceph_conf)
		ro.conf = real;
	err[0] = 0;
	rc = tier_rados_create(want, &ro, spec, speclen);
	if (rc < 0)
		return err[0] ? rc : store_fail(err, errlen, rc, "cannot create %s: %s", want,
					   strerror(-rc));
	ceph[0] = 0;
	if (o->ceph_conf)
		n = snprintf(ceph, cephlen, "ceph_conf = %s\n", real);
	if (o->ceph_user)
		snprintf(ceph + n, cephlen - (size_t)n, "ceph_user = %s\n", o->ceph_user);
	return 0;
}

int store_mkfs_opts(const char *path, const struct store_opts *o, char *err, size_t errlen)
{
	const char *cold = o->cold, *data = NULL;
	uint64_t segment_size = o->segment_size;
	char uuid[40], conf[8192], seg[64] = "", *mdir, rspec[1024], dspec[1024], hot[1100] = "";
	char ceph[2 * PATH_MAX] = "";
	bool rados = tier_spec_is_rados(cold);
	int rc, n;

	if (o->data && !tier_spec_is_rados(o->data))
		return store_fail(err, errlen, -EINVAL, "--data takes rados:POOL[/NAME], not %s", o->data);

	if (segment_size && (segment_size < TIER_SEG_MIN || segment_size > TIER_SEG_MAX))
		return store_fail(err, errlen, -EINVAL, "segment size %llu is outside [%llu, %llu]",
			    (unsigned long long)segment_size, (unsigned long long)TIER_SEG_MIN,
			    (unsigned long long)TIER_SEG_MAX);
	if (segment_size)
		snprintf(seg, sizeof(seg), "segment_size = %llu\n",
			 (unsigned long long)segment_size);

	if (mkdir(path, 0700) < 0 && errno != EEXIST)
		return store_fail(err, errlen, -errno, "cannot create %s: %s", path, strerror(errno));
	rc = store_dir_is_empty(path);
	if (rc < 0)
		return store_fail(err, errlen, rc, "cannot read %s: %s", path, strerror(-rc));
	if (rc == 0)
		return store_fail(err, errlen, -ENOTEMPTY, "%s is not empty; mkfs needs an empty "
			    "or absent directory", path);
	rc = store_dir_private(path, "store", err, errlen);
	if (rc < 0)
		return rc;
	rc = store_uuid_make(uuid);
	if (rc < 0)
		return store_fail(err, errlen, rc, "cannot make uuid: %s", strerror(-rc));
	if (o->data) {
		rc = mkfs_rados(uuid, o->data, o, dspec, sizeof(dspec), ceph, sizeof(ceph), err,
				errlen);
		if (rc < 0)
			return rc;
		data = dspec;
		snprintf(hot, sizeof(hot), "hot = %s\n", data);
		if (!cold) {	/* the cold tier shares the namespace */
			cold = data;
			rados = true;
		}
	}
	if (rados && cold != data) {
		rc = mkfs_rados(uuid, cold, o, rspec, sizeof(rspec), ceph, sizeof(ceph), err,
				errlen);
		if (rc < 0)
			return rc;
		cold = rspec;
	}
	if (cold && !rados && mkdir(cold, 0700) < 0 && errno != EEXIST)
		return store_fail(err, errlen, -errno, "cannot create cold tier %s: %s", cold,
			    strerror(errno));
	if (cold && !rados && (rc = store_dir_private(cold, "cold tier", err, errlen)) < 0)
		return rc;
	rc = store_mkdir_in(path, "meta");
	if (!rc && !data)
		rc = store_mkdir_in(path, "hot");
	if (!rc && !cold)
		rc = store_mkdir_in(path, "cold");
	if (rc < 0)
		return store_fail(err, errlen, rc, "cannot create directories in %s: %s", path,
			    strerror(-rc));
	mdir = store_path_join(path, "meta");
	rc = mdir ? root_create(path, mdir) : -ENOMEM;
	free(mdir);
	if (rc < 0)
		return store_fail(err, errlen, rc, "cannot create metadata database: %s", strerror(-rc));
	rc = audit_key_create(path, uuid);
	if (rc < 0)
		return store_fail(err, errlen, rc, "cannot create the audit signing key in %s: %s", path,
			    strerror(-rc));
	/* aifs.conf is written last: its presence marks a complete store. */
	n = snprintf(conf, sizeof(conf),
		     "# aifs store; written by aifsctl mkfs, do not edit\n"
		     "format = %u\nuuid = %s\ncreated = %lld\n%s%s%s%s%s%s",
		     STORE_FORMAT, uuid, (long long)time(NULL), hot, cold ? "cold = " : "",
		     cold ? cold : "", cold ? "\n" : "", seg, ceph);
	if (n < 0 || (size_t)n >= sizeof(conf))
		return store_fail(err, errlen, -ENAMETOOLONG, "the cold tier's name %s is too long",
			    cold ? cold : "");
	rc = store_write_durable(path, "aifs.conf", conf);
	if (rc < 0)
		return store_fail(err, errlen, rc, "cannot write %s/aifs.conf: %s", path, strerror(-rc));
	return 0;
}
