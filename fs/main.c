/* main.c — the aifs daemon: store, FUSE session, start-up (options.c parses the command line).
 *
 * Without -f the daemon forks before it opens anything (RocksDB's threads
 * would not survive a later fork); the parent waits on a pipe until the
 * child has opened the store and mounted, and exits 0, or prints the
 * child's one-line reason and exits 1.  So `aifs STORE MNT`, mount(8) and
 * fstab all return only once the filesystem is usable.
 */
#include "fs/fs.h"
#include "fs/inval.h"
#include "fs/lineage.h"
#include "fs/inode.h"
#include "fs/data.h"
#include "fs/hooks.h"
#include "fs/content.h"
#include "fs/prealloc.h"
#include "fs/space.h"
#include "fs/version.h"
#include "fs/journal.h"
#include "fs/stats.h"
#include "fs/virt.h"
#include "fs/migrate.h"
#include "fs/shipping.h"
#include "fs/ops.h"
#include "fs/clone.h"
#include "fs/du.h"
#include "fs/tierctl.h"
#include "tier/failpoint.h"
#include "fs/follow.h"
#include "fs/fwd.h"
#include "fs/readahead.h"
#include "fs/snapshot.h"
#include "meta/ship.h"
#include "fs/options.h"
#include "fs/fuseio.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>


/* How to reach the cluster of a store in RADOS: the mount's options, else
 * the store's (FS NULL: before it is open). */
static struct tier_rados_opts rados_of(const struct cmdline *c, const struct fs *fs)
{
	return (struct tier_rados_opts){
		.conf = c->ceph_conf || !fs ? c->ceph_conf : fs->store->ceph_conf,
		.user = c->ceph_user || !fs ? c->ceph_user : fs->store->ceph_user,
		.timeout = c->rados_timeout >= 0 ? (unsigned)c->rados_timeout : STORE_RADOS_TIMEOUT };
}

/* A follower mounts the local replica of the store it follows (follow.c):
 * C->store becomes its path and C->follow_next the first shipped batch it
 * still needs. */
static int follow_prepare(struct cmdline *c, char *msg, size_t msglen)
{
	struct tier_rados_opts ro = rados_of(c, NULL);
	int rc;

	c->spec = c->store;
	rc = follow_replica(c->spec, &ro, &c->replica, &c->follow_next, msg, msglen);
	if (rc < 0)
		return rc;
	c->store = c->replica;
	/* writes are the writer's to make (fwd.c); names and attributes kept
	 * by the kernel one second at most */
	c->opt.store_ro = c->opt.lineage_off = true;
	if (c->opt.attr_timeout > 1)
		c->opt.attr_timeout = 1;
	if (c->opt.entry_timeout > 1)
		c->opt.entry_timeout = 1;
	return 0;
}

/* The space kept free on each tier's device (reserve=MB, by default 1% of
 * the device between 8 MiB and 1 GiB), so that metadata, deletes and gc
 * never find the disk full. */
static void set_reserve(struct fs *fs)
{
	for (int t = 0; t < TIER_COUNT; t++) {
		struct tier_space sp;
		uint64_t r = (uint64_t)(fs->opt.reserve_mb * 1e6);

		if (fs->opt.reserve_mb < 0) {
			r = tier_space(fs->tiers[t], &sp) == 0 ? sp.total / 100 : 0;
			r = r < (8ull << 20) ? 8ull << 20 : r > (1ull << 30) ? 1ull << 30 : r;
		}
		tier_set_reserve(fs->tiers[t], r);
		if (t == TIER_HOT)
			fs->reserve = r;
	}
}

/* The features' hooks into the core (hooks.h) and the subscribers to what
 * versions publish (version.h), in the order they run. */
static int register_features(struct fs *fs)
{
	static const struct fs_feature_ops *const features[] = {
		&version_feature, &content_feature, &lineage_feature, &journal_feature,
		&shipping_feature,
	};
	static const struct version_events *const version_subs[] = {
		&lineage_version_events, &migrate_version_events, &virt_version_events,
	};
	static const struct fs_xattr *const xattrs[] = {	/* the journal's first: xattr.h */
		journal_xattrs, version_xattrs, clone_xattrs, promote_xattrs, lineage_xattrs,
		tierctl_xattrs, du_xattrs,
	};
	int rc = 0;

	for (size_t i = 0; rc == 0 && i < sizeof(features) / sizeof(features[0]); i++)
		rc = fs_feature_register(fs, features[i]);
	for (size_t i = 0; rc == 0 && i < sizeof(version_subs) / sizeof(version_subs[0]); i++)
		rc = version_subscribe(fs, version_subs[i]);
	for (size_t i = 0; rc == 0 && i < sizeof(xattrs) / sizeof(xattrs[0]); i++)
		rc = fs_xattr_register(fs, xattrs[i]);
	return rc;
}

static int start(struct cmdline *c, struct fs *fs, struct fuse_session **out, char *msg,
		 size_t msglen)
{
	char *argv[5] = { "aifs", "-o", NULL, NULL, NULL };
	struct store_opts so = { .cold = c->opt.cold, .ceph_conf = c->ceph_conf,
				 .ceph_user = c->ceph_user, .rados_timeout = c->rados_timeout,
				 .cache_size = c->cache_size, .mnt = c->mnt,
				 .follower = c->follow };
	struct fuse_args args;
	struct fuse_session *se;
	char *o = NULL;
	int rc;

	rc = store_open_opts(c->store, &so, &fs->store, msg, msglen);
	if (rc == -ENOSPC) {
		/* a full disk: mount read-only rather than not at all */
		log_warn("%s: mounting it read-only", msg);
		if (!c->opt.ro && cmdline_add_fuse_opt(c, "ro") < 0)
			return -ENOMEM;
		c->opt.ro = true;
		rc = -EROFS;
	}
	if (rc == -EROFS && c->opt.ro) {
		/* read-only media: serve what is there, write nothing */
		c->opt.store_ro = true;
		c->opt.lineage_off = true;
		rc = store_open_ro(c->store, c->opt.cold, &fs->store, msg, msglen);
		if (rc == 0)
			log_notice("store %s is opened read-only: mounted without writing to "
				   "it (what a crash left is undone at the next read-write mount)",
				   c->store);
	} else if (rc == -EROFS) {
		size_t n = strlen(msg);

		snprintf(msg + n, msglen - n, " (a store on read-only media mounts with -o ro)");
	}
	if (rc < 0)
		return rc;
	fs->meta = fs->store->meta;
	fs->tiers = fs->store->tiers;
	fs->opt = c->opt;
	set_reserve(fs);
	pthread_rwlock_init(&fs->ns, NULL);
	lk_name(&fs->ns, "the namespace lock");
	virt_init();
	rc = register_features(fs);
	if (rc == 0)
		rc = fs_itab_init(fs);
	if (rc == 0)
		rc = space_init(fs);
	if (rc == 0)
		rc = prealloc_init(fs);
	if (rc == 0 && !c->opt.store_ro)
		rc = fs_orphans_reap(fs);
	if (rc == 0 && !c->opt.store_ro)
		rc = version_recover(fs);
	if (rc == 0)
		rc = journal_init(fs);
	if (rc == 0)
		rc = migrate_init(fs);
	if (rc == 0 && !c->opt.lineage_off)
		lineage_prune(fs);
	if (rc < 0) {
		snprintf(msg, msglen, "cannot load store %s: %s", c->store, strerror(-rc));
		return rc;
	}
	if (asprintf(&o, "default_permissions%s%s%s%s%s", c->has_fsname ? "" : ",fsname=",
		     c->has_fsname ? "" : c->store, c->has_subtype ? "" : ",subtype=aifs",
		     c->fuse_opts ? "," : "", c->fuse_opts ? c->fuse_opts : "") < 0)
		return -ENOMEM;
	argv[2] = o;
	if (c->opt.debug)
		argv[3] = "-d";
	args = (struct fuse_args)FUSE_ARGS_INIT(c->opt.debug ? 4 : 3, argv);
	se = fuse_session_new(&args, stats_wrap(c->follow ? fwd_ops(fs_ops_table()) : fs_ops_table()),
			      sizeof(struct fuse_lowlevel_ops), fs);
	fuse_opt_free_args(&args);	/* what libfuse added to them */
	free(o);
	if (!se) {
		snprintf(msg, msglen, "cannot start FUSE session (bad mount option?)");
		return -EINVAL;
	}
	if (fuse_set_signal_handlers(se) != 0 || fuse_session_mount(se, c->mnt) != 0) {
		snprintf(msg, msglen, "cannot mount on %s (does it exist and is it a "
			 "directory? is /dev/fuse usable?)", c->mnt);
		fuse_session_destroy(se);
		return -EIO;
	}
	fs->se = se;
	*out = se;
	fuseio_start(se, c->opt.spin_us);	/* no spin if it fails (logged) */
	rc = store_lock_mounted(fs->store, c->mnt);
	if (rc < 0)
		log_warn("cannot record the mount point in %s/lock: %s (a mount right after "
			 "the unmount will not wait for this daemon)", c->store, strerror(-rc));
	readahead_set(c->mnt, c->opt.readahead_kb);
	return 0;
}

static void start_threads(struct fs *fs, const struct cmdline *c)
{
	struct tier_rados_opts ro = rados_of(c, fs);
	int rc;

	if (journal_start(fs) < 0)
		log_warn("audit checkpoint thread not started: checkpoints are signed at unmount "
			 "and when read");
	rc = space_reclaimer_start(fs);
	if (rc < 0)
		log_warn("space reclaim thread not started (%s): deleted data keeps its "
			 "space until the next mount", strerror(-rc));
	rc = migrate_start(fs);
	if (rc < 0)
		log_warn("tier thread not started (%s): no migration, policies or online gc",
			 strerror(-rc));
	if (!c->follow && !fs->opt.ro && (rc = snapshot_census_start(fs)) < 0)
		log_warn("snapshot census thread not started (%s): snapshots are counted when "
			 "lineage first names them", strerror(-rc));
	rc = shipping_start(fs);
	if (rc < 0)
		log_err("metadata shipping not started (%s): aifsctl recover will not find this "
			"mount's changes", strerror(-rc));
	else if ((rc = fwd_serve_start(fs, c->mnt, &ro)) < 0)
		log_err("followers' writes are not served (%s): they fail with EIO", strerror(-rc));
}

static int serve(struct cmdline *c, struct fs *fs, struct fuse_session *se)
{
	bool stuck;
	int rc;

	if (c->opt.single) {
		rc = fuse_session_loop(se);
	} else {
		struct fuse_loop_config *cfg = fuse_loop_cfg_create();

		fuse_loop_cfg_set_max_threads(cfg, c->opt.max_threads);
		fuse_loop_cfg_set_idle_threads(cfg, c->opt.max_threads);
		rc = fuse_session_loop_mt(se, cfg);
		fuse_loop_cfg_destroy(cfg);
	}
	if (rc > 0) {		/* libfuse: the number of the signal that ended it */
		log_notice("signal %d: unmounting", rc);
		rc = 0;
	}
	/* Ended by a signal, the loop may leave releases unread: bytes that
	 * writers buffered (their close() has returned) are stored now. */
	if (!fs->opt.store_ro && !c->follow) {
		int r = inode_flush_buffered(fs);

		if (r == 0)
			r = fs_sync(fs, NULL);
		if (r < 0) {
			log_err("storing what open files buffered at exit failed: %s",
				strerror(-r));
			rc = r;
		}
	}
	/* The invalidation thread sends to the session: it ends first.  If it
	 * is stuck in the kernel, the session stays (the process exits). */
	stuck = inval_stop(fs) < 0;
	fuse_session_unmount(se);
	fuse_remove_signal_handlers(se);
	if (!stuck)
		fuse_session_destroy(se);
	fs->se = NULL;
	return rc;
}

/* Become a daemon: returns in the child with *REPORT the pipe to write
 * the outcome to; the parent never returns. */
static void daemonize(int *report)
{
	int p[2];
	pid_t pid;
	char buf[1024];
	ssize_t n;

	if (pipe(p) < 0 || (pid = fork()) < 0) {
		perror("aifs: cannot start daemon");
		exit(1);
	}
	if (pid > 0) {
		close(p[1]);
		n = read(p[0], buf, sizeof(buf) - 1);
		if (n == 1 && buf[0] == 0)
			exit(0);
		buf[n > 0 ? n : 0] = 0;
		fprintf(stderr, "aifs: %s\n", n > 0 ? buf : "daemon died while starting");
		exit(1);
	}
	close(p[0]);
	setsid();
	*report = p[1];
}

static void detach_stdio(void)
{
	int fd = open("/dev/null", O_RDWR);

	if (fd >= 0) {
		dup2(fd, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		if (fd > 2)
			close(fd);
	}
}

int main(int argc, char **argv)
{
	struct cmdline c = { .rados_timeout = -1 };
	struct fs *fs;
	struct fuse_session *se = NULL;
	char msg[3 * PATH_MAX] = "", store[PATH_MAX], mnt[PATH_MAX];
	struct stat st;
	int rc, report = -1;

	rc = parse_cmdline(argc, argv, &c);
	if (rc) {
		cmdline_free(&c);
		return rc == 1 ? 0 : 2;
	}
	if (c.follow && (rc = follow_prepare(&c, msg, sizeof(msg))) < 0) {
		fprintf(stderr, "aifs: %s\n", msg);
		cmdline_free(&c);
		return 1;
	}
	if (!realpath(c.store, store)) {
		fprintf(stderr, "aifs: no store at %s: %s\n", c.store, strerror(errno));
		cmdline_free(&c);
		return 1;
	}
	if (!realpath(c.mnt, mnt)) {
		fprintf(stderr, "aifs: bad mount point %s: %s\n", c.mnt, strerror(errno));
		cmdline_free(&c);
		return 1;
	}
	rc = stat(mnt, &st) < 0 ? -errno : S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
	if (rc < 0) {
		fprintf(stderr, "aifs: bad mount point %s: %s\n", c.mnt, strerror(-rc));
		cmdline_free(&c);
		return 1;
	}
	c.store = store;
	c.mnt = mnt;
	log_init("aifs", c.opt.foreground, c.opt.log_level);
	rc = getenv("AIFS_FAILPOINTS") ? failpoint_arm(getenv("AIFS_FAILPOINTS")) : 0;
	if (rc < 0) {
		fprintf(stderr, "aifs: AIFS_FAILPOINTS=%s: %s\n", getenv("AIFS_FAILPOINTS"),
			rc == -ENOTSUP ? "this build has no fail points" :
					 "expected NAME:N[+][=ERR],...");
		cmdline_free(&c);
		return 2;
	}
	if (!c.opt.foreground)
		daemonize(&report);
	fs = calloc(1, sizeof(*fs));
	rc = fs ? start(&c, fs, &se, msg, sizeof(msg)) : -ENOMEM;
	if (rc < 0) {
		if (report >= 0 && write(report, msg, strlen(msg)) < 0)
			rc = -EIO;
		if (report < 0)
			fprintf(stderr, "aifs: %s\n", msg);
		if (fs && fs->store) {
			store_close(fs->store);
		} else {
			free(fs);	/* nothing was started: nothing uses FS or C */
			cmdline_free(&c);
		}
		return 1;
	}
	if (!fs->opt.store_ro)
		start_threads(fs, &c);
	rc = inval_start(fs);
	if (rc < 0)
		log_warn("invalidation thread not started (%s): the kernel drops cached pages and "
			 "names only when they time out", strerror(-rc));
	if (c.follow) {
		struct tier_rados_opts ro = rados_of(&c, fs);

		if (follow_start(fs, c.spec, &ro, c.follow_next) == 0)	/* says what it does */
			fwd_start(fs, c.spec, &ro);			/* the same */
	}
	log_msg(LOG_NOTICE, "mounted %s on %s", store, mnt);
	if (report >= 0) {
		char ok = 0;

		if (write(report, &ok, 1) != 1)
			log_warn("cannot report start-up to the parent: %s", strerror(errno));
		close(report);
		if (chdir("/") < 0)
			log_warn("chdir /: %s", strerror(errno));
		detach_stdio();
	}
	rc = serve(&c, fs, se);
	fwd_stop(fs);
	follow_stop(fs);
	fwd_serve_stop(fs);
	migrate_stop(fs);
	snapshot_census_stop();
	journal_stop(fs);
	space_reclaimer_stop(fs);
	shipping_stop(fs);
	fs_itab_destroy(fs);
	store_close(fs->store);
	log_msg(LOG_NOTICE, "unmounted %s", mnt);
	cmdline_free(&c);
	free(fs);
	return rc ? 1 : 0;
}
