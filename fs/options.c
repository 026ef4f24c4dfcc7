/* options.c — the daemon's command line (options.h): the usage text, the
 * table of -o NAME=VALUE options and the words that pass to FUSE.
 */
#include "fs/options.h"
#include "tier/log.h"
#include "tier/tier.h"

#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char usage_text[] =
	"usage: aifs STORE MOUNTPOINT [-f] [-d] [-s] [-o OPTION[,OPTION...]]\n"
	"       aifs --follow rados:POOL/NAME MOUNTPOINT [-o replica=DIR,...]\n"
	"\n"
	"Mount the aifs store STORE (made by 'aifsctl mkfs') on MOUNTPOINT; with\n"
	"--follow (or -o follow), mount read-only, on any host, the store whose data\n"
	"is in rados:POOL/NAME, following what its writer ships (see aifs(8)).\n"
	"\n"
	"  -f            stay in the foreground and log to stderr\n"
	"  -d            FUSE debug output (implies -f)\n"
	"  -s            single-threaded\n"
	"  -o OPTIONS    comma-separated mount options:\n"
	"       log_level=LEVEL    error|warning|notice|info|debug (default notice)\n"
	"       max_threads=N      worker threads (default: online CPUs, 2 to 8)\n"
	"       spin=US            microseconds a worker waits awake for the next\n"
	"                          request while a CPU is idle (default 0: none)\n"
	"       attr_timeout=S     seconds the kernel caches attributes (default 60)\n"
	"       entry_timeout=S    seconds the kernel caches names (default 60)\n"
	"       keep_versions=N    versions kept per checkpoint file (default 0: all)\n"
	"       keep_every=K       with keep_versions, also keep every K-th version\n"
	"       replica=DIR        a follower's local replica of the metadata (default\n"
	"                          /var/lib/aifs/follow/POOL.NAME)\n"
	"       forward_timeout=S  seconds a follower's write waits for the writer\n"
	"                          before it fails with EIO (default 120)\n"
	"       journal_lease=S    on the writer, seconds a follower's silent journal\n"
	"                          session lasts before its file is sealed (default 120)\n"
	"       dir_versions=auto|manual  commit directory checkpoints when a training\n"
	"                          stack's last file lands (default auto; see aifs(7))\n"
	"       audit_retention=DAYS  journal files kept at least DAYS (default 183)\n"
	"       audit_mode=governance|compliance  may root lift retention (default governance)\n"
	"       audit_admin_group=GROUP  its members (and root) place and lift legal holds\n"
	"       audit_checkpoint_records=N, audit_checkpoint_secs=S  sign the audit log\n"
	"                          every N records or S seconds (default 1000, 10)\n"
	"       audit_witness=CMD  run /bin/sh -c CMD with each new signed checkpoint on\n"
	"                          its stdin, e.g. 'logger -t aifs-witness' (no commas)\n"
	"       compress=lz4|none  compression of new hot-tier extents (default none)\n"
	"       readahead=KIB      kernel read-ahead of the mount in KiB (default 4096;\n"
	"                          0 keeps the kernel's)\n"
	"       lineage=on|off     record what jobs read for checkpoint lineage (default on)\n"
	"       cold=PATH          directory of the cold tier, or rados:POOL/NAME for a\n"
	"                          Ceph RADOS pool (default: as made by mkfs)\n"
	"       ceph_conf=PATH     ceph.conf of a RADOS tier's cluster (default: as given to\n"
	"                          mkfs, else Ceph's own search)\n"
	"       ceph_user=NAME     Ceph user of a RADOS tier (default: as given to mkfs,\n"
	"                          else Ceph's default, admin)\n"
	"       remote_sync=on|off  fsync, version commits and journal seals wait until\n"
	"                          the metadata is shipped to the pool (default off)\n"
	"       write_behind=on|off a write that fills a 4 MiB buffer returns before the\n"
	"                          buffer is stored; a failure to store it is the error\n"
	"                          of the next such write, fsync or close (default on)\n"
	"       rados_timeout=S    seconds a RADOS request waits for the cluster before\n"
	"                          failing with EIO (default 30, 0: wait forever)\n"
	"       cache_size=N[KMGT] local read cache and write buffer of a store whose data\n"
	"                          is in RADOS, in STORE/cache (default 1G, 0: none)\n"
	"       cold_compress=lz4|none  compression of cold extents (default lz4)\n"
	"       migrate_bw=MB      tier migration and gc bandwidth, MB/s (default 200, 0: no limit)\n"
	"       cold_after_versions=K  versions older than the newest K go cold (default 0: off)\n"
	"       cold_after_days=D  snapshots and sealed journal files unused D days go cold\n"
	"       tier_interval=S    seconds between runs of the tier policies (default 60)\n"
	"       reserve=MB         space kept free for metadata, deletes and gc (default 1%%\n"
	"                          of the disk, at least 8 and at most 1024)\n"
	"       allow_other, ro, rw, nosuid, nodev, noexec, noatime, fsname=, ...\n"
	"                          standard mount options, passed to FUSE\n"
	"  -h, --help    this text\n"
	"  -V, --version print the version\n"
	"\n"
	"See aifs(8).\n";

/* Mount options handed to FUSE and the kernel unchanged. */
static const char *const passthrough[] = {
	"allow_other", "allow_root", "auto_unmount", "default_permissions", "ro", "rw",
	"suid", "nosuid", "dev", "nodev", "exec", "noexec", "async", "sync", "dirsync",
	"atime", "noatime", "relatime", NULL
};
static const char *const passthrough_val[] = { "fsname=", "subtype=", NULL };
/* Words fstab and mount(8) may hand us that mean nothing to a FUSE mount. */
static const char *const ignored[] = {
	"defaults", "auto", "noauto", "nofail", "_netdev", "user", "users", "nouser", NULL
};



static int in_list(const char *const *list, const char *w, int prefix)
{
	for (; *list; list++)
		if (prefix ? !strncmp(w, *list, strlen(*list)) : !strcmp(w, *list))
			return 1;
	return 0;
}

int cmdline_add_fuse_opt(struct cmdline *c, const char *o)
{
	size_t old = c->fuse_opts ? strlen(c->fuse_opts) : 0;
	char *n = realloc(c->fuse_opts, old + strlen(o) + 2);

	if (!n)
		return -1;
	sprintf(n + old, "%s%s", old ? "," : "", o);
	c->fuse_opts = n;
	return 0;
}

/* The -o options NAME=VALUE that set one field of struct cmdline (at OFF,
 * SIZE bytes): a whole number or a number of MIN..MAX, one of two words
 * (each setting its value), or a string (not empty).  The options that
 * need more than a field are parse_special's. */
enum opt_kind { OPT_NUM, OPT_REAL, OPT_WORDS, OPT_STR };

static const struct opt {
	const char *name;
	enum opt_kind kind;
	size_t off, size;
	double min, max;
	const char *word[2];
	int value[2];
} opts[] = {
#define F(m)	offsetof(struct cmdline, m), sizeof(((struct cmdline *)0)->m)
#define NUM(n, m, lo, hi)	{ n, OPT_NUM, F(m), lo, hi, { NULL, NULL }, { 0, 0 } }
#define REAL(n, m, lo)		{ n, OPT_REAL, F(m), lo, HUGE_VAL, { NULL, NULL }, { 0, 0 } }
#define WORDS(n, m, w0, v0, w1, v1) { n, OPT_WORDS, F(m), 0, 0, { w0, w1 }, { v0, v1 } }
#define STR(n, m)		{ n, OPT_STR, F(m), 0, 0, { NULL, NULL }, { 0, 0 } }
	NUM("max_threads", opt.max_threads, 1, 256),
	NUM("spin", opt.spin_us, 0, 1000),
	REAL("attr_timeout", opt.attr_timeout, 0),
	REAL("entry_timeout", opt.entry_timeout, 0),
	NUM("keep_versions", opt.keep_versions, 0, 1000000),
	NUM("keep_every", opt.keep_every, 0, 1000000),
	REAL("audit_retention", opt.audit_retention_days, 0),
	WORDS("audit_mode", opt.audit_compliance, "governance", 0, "compliance", 1),
	NUM("audit_checkpoint_records", opt.audit_leaves, 1, 100000000),
	NUM("audit_checkpoint_secs", opt.audit_secs, 1, 86400),
	STR("audit_witness", opt.audit_witness),
	NUM("readahead", opt.readahead_kb, 0, 65536),
	WORDS("compress", opt.codec, "none", TIER_CODEC_RAW, "lz4", TIER_CODEC_AUTO),
	WORDS("cold_compress", opt.cold_codec, "none", TIER_CODEC_RAW, "lz4", TIER_CODEC_AUTO),
	WORDS("dir_versions", opt.dir_versions_manual, "auto", 0, "manual", 1),
	WORDS("lineage", opt.lineage_off, "on", 0, "off", 1),
	WORDS("remote_sync", opt.remote_sync, "off", 0, "on", 1),
	WORDS("write_behind", opt.write_behind, "off", 0, "on", 1),
	STR("cold", opt.cold),
	STR("ceph_conf", ceph_conf),
	STR("ceph_user", ceph_user),
	NUM("rados_timeout", rados_timeout, 0, 86400),
	REAL("migrate_bw", opt.migrate_bw, 0),
	NUM("cold_after_versions", opt.cold_after_versions, 0, 1000000),
	REAL("cold_after_days", opt.cold_after_days, 0),
	REAL("reserve", opt.reserve_mb, 0),
	STR("replica", replica),
	NUM("forward_timeout", opt.forward_timeout, 1, 86400),
	NUM("journal_lease", opt.journal_lease, 10, 86400),
	REAL("tier_interval", opt.tier_interval, 0.1),
#undef F
#undef NUM
#undef REAL
#undef WORDS
#undef STR
};

/* Store V into the int, unsigned or bool field at P of SIZE bytes. */
static void set_int(void *p, size_t size, long v)
{
	if (size == sizeof(bool))
		*(bool *)p = v != 0;
	else
		*(int *)p = (int)v;	/* int and unsigned alike */
}

/* Set O from VALUE; 0, or -1 if VALUE is not one O takes. */
static int opt_set(struct cmdline *c, const struct opt *o, const char *value)
{
	char *p = (char *)c + o->off, *end;
	double d;

	switch (o->kind) {
	case OPT_NUM: {
		unsigned long n;

		errno = 0;
		n = strtoul(value, &end, 10);
		if (errno || !*value || *end || *value == '-' || n < o->min || n > o->max)
			return -1;
		set_int(p, o->size, (long)n);
		return 0;
	}
	case OPT_REAL:
		errno = 0;
		d = strtod(value, &end);
		if (errno || end == value || *end || !(d >= o->min))
			return -1;
		*(double *)p = d;
		return 0;
	case OPT_WORDS:
		for (int i = 0; i < 2; i++)
			if (!strcmp(value, o->word[i])) {
				set_int(p, o->size, o->value[i]);
				return 0;
			}
		return -1;
	case OPT_STR: {
		char *dup = *value ? strdup(value) : NULL;

		if (!dup)
			return -1;
		free(*(char **)p);
		*(char **)p = dup;
		return 0;
	}
	}
	return -1;
}

/* The options that are more than a field: 1 if W is one and was taken,
 * -1 if its VALUE is bad, -2 if refused after printing why; 0 if W is not
 * one of them. */
static int parse_special(struct cmdline *c, const char *w, const char *value)
{
	char *end;

	if (!strcmp(w, "follow")) {
		c->follow = true;
	} else if (!strncmp(w, "log_level=", 10)) {
		c->opt.log_level = log_level_parse(value);
		if (c->opt.log_level < 0)
			return -1;
	} else if (!strncmp(w, "audit_admin_group=", 18)) {
		struct group *g = getgrnam(value);
		unsigned long n = strtoul(value, &end, 10);

		if (g) {
			c->opt.audit_admin_gid = (long)g->gr_gid;
		} else if (*value && !*end && n < 0xffffffffUL) {
			c->opt.audit_admin_gid = (long)n;
		} else {
			fprintf(stderr, "aifs: audit_admin_group: no group '%s'\n", value);
			return -2;
		}
	} else if (!strncmp(w, "cache_size=", 11)) {
		unsigned long long n = strtoull(value, &end, 10);
		int shift = !*end ? 0 : strchr("kK", *end) ? 10 : strchr("mM", *end) ? 20 :
			    strchr("gG", *end) ? 30 : strchr("tT", *end) ? 40 : -1;

		if (!*value || shift < 0 || (*end && end[1]) || n > (1ull << (62 - shift)))
			return -1;
		c->cache_size = n ? (int64_t)(n << shift) : -1;
	} else {
		return 0;
	}
	return 1;
}

/* Take one -o word; returns 0, or -1 after printing why. */
static int parse_word(struct cmdline *c, const char *w)
{
	const char *eq = strchr(w, '='), *value = eq ? eq + 1 : "";
	size_t len = eq ? (size_t)(eq - w) : strlen(w);
	int rc;

	if (!*w || in_list(ignored, w, 0))
		return 0;
	for (size_t i = 0; eq && i < sizeof(opts) / sizeof(opts[0]); i++) {
		if (strlen(opts[i].name) != len || strncmp(w, opts[i].name, len))
			continue;
		if (opt_set(c, &opts[i], value) < 0)
			goto bad_value;
		return 0;
	}
	rc = parse_special(c, w, value);
	if (rc == -1)
		goto bad_value;
	if (rc)
		return rc < 0 ? -1 : 0;
	if (in_list(passthrough, w, 0) || in_list(passthrough_val, w, 1)) {
		if (!strcmp(w, "ro") || !strcmp(w, "rw"))
			c->opt.ro = w[0] == 'r' && w[1] == 'o';
		c->has_fsname |= !strncmp(w, "fsname=", 7);
		c->has_subtype |= !strncmp(w, "subtype=", 8);
		return cmdline_add_fuse_opt(c, w);
	}
	fprintf(stderr, "aifs: unknown mount option '%s' (see aifs(8))\n", w);
	return -1;
bad_value:
	fprintf(stderr, "aifs: bad value in mount option '%s' (see aifs(8))\n", w);
	return -1;
}

static int parse_list(struct cmdline *c, const char *list)
{
	char *copy = strdup(list), *save = NULL, *w;
	int rc = 0;

	if (!copy)
		return -1;
	for (w = strtok_r(copy, ",", &save); w && rc == 0; w = strtok_r(NULL, ",", &save))
		rc = parse_word(c, w);
	free(copy);
	return rc;
}

/* Worker threads by default: one per online CPU, 2 to 8.  Idle workers
 * wait in turn (the kernel wakes the one that waited longest), so more of
 * them than cores only spreads requests over threads whose caches are
 * cold: on 2 cores, 2 workers served create, unlink and cold stat 10-40%
 * faster than 8. */
static unsigned default_threads(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	return n < 2 ? 2 : n > 8 ? 8 : (unsigned)n;
}

/* 0 to go on, 1 to exit 0 (help/version), 2 on a usage error. */
int parse_cmdline(int argc, char **argv, struct cmdline *c)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ "follow", no_argument, NULL, 'F' },
		{ NULL, 0, NULL, 0 }
	};
	int ch;

	c->opt = (struct fs_opts){ .log_level = LOG_NOTICE, .max_threads = default_threads(),
				   .attr_timeout = 60.0, .entry_timeout = 60.0,
				   .readahead_kb = 4096,
				   .codec = TIER_CODEC_RAW, .audit_retention_days = 183,
				   .cold_codec = TIER_CODEC_AUTO, .migrate_bw = 200,
				   .tier_interval = 60, .reserve_mb = -1,
				   .audit_leaves = 1000, .audit_secs = 10,
				   .audit_admin_gid = -1, .forward_timeout = 120,
				   .journal_lease = 120, .write_behind = true };
	/* '+' is not used: mount.fuse3 puts -o after the operands. */
	while ((ch = getopt_long(argc, argv, "fdso:hV", longopts, NULL)) != -1) {
		switch (ch) {
		case 'f': c->opt.foreground = 1; break;
		case 'd': c->opt.debug = c->opt.foreground = 1; break;
		case 's': c->opt.single = 1; break;
		case 'o':
			if (parse_list(c, optarg) < 0)
				return 2;
			break;
		case 'h': fputs(usage_text, stdout); return 1;
		case 'V': printf("aifs %s\n", AIFS_VERSION); return 1;
		case 'F': c->follow = true; break;
		default: fputs(usage_text, stderr); return 2;
		}
	}
	if (argc - optind != 2) {
		fprintf(stderr, "aifs: expected STORE and MOUNTPOINT\n%s", usage_text);
		return 2;
	}
	c->store = argv[optind];
	c->mnt = argv[optind + 1];
	return 0;
}

/* Free the option strings of C: parse_cmdline's, and follow_prepare's replica. */
void cmdline_free(struct cmdline *c)
{
	free(c->fuse_opts);
	free(c->opt.cold);
	free(c->opt.audit_witness);
	free(c->ceph_conf);
	free(c->ceph_user);
	free(c->replica);
}
