/* linjob.c — which job a process belongs to.
 *
 * The rule, in this order (aifs(7), LINEAGE):
 *  1. A process whose initial environment holds AIFS_JOB=NAME (printable,
 *     at most 128 bytes, in the first 256 KiB of /proc/PID/environ) belongs
 *     to the job NAME of its user: that is read once per process, when the
 *     process is first seen.
 *  2. A process whose session leader is not a shell or a login daemon
 *     (`setsid CMD`, a service started by systemd) belongs to the job of its
 *     session, identified by the session id, the leader's start time and
 *     the boot, so that two sessions never merge.
 *  3. Otherwise the job is the process tree below the nearest shell: walking
 *     up the parents from the process, the job's root is the child of the
 *     first ancestor that is a shell, an init or a login daemon (sh, bash,
 *     sshd, tmux, ... by the name of its executable: a script run as
 *     ./train.sh is its interpreter), or the session leader, whichever
 *     comes first.  So each command of an interactive shell or a shell
 *     script is a job of its own, and the processes a command starts
 *     (DataLoader workers, the workers of a launcher such as torchrun) are
 *     in its job.  Identified by the root's pid, start time and the boot.
 * Jobs are per user either way, the user being the one the kernel puts in
 * the request (not the owner of /proc/PID, which is root for a process that
 * is not dumpable): no user's reads ever join another user's job.
 *
 * Processes are remembered by pid with a pidfd: while the pidfd's process
 * has not exited, the pid is still that process, so an open costs one
 * poll(2) and a getsid(2) (a process that moved to another session is
 * looked at again).  Without a pidfd (threads, or PIDFD_MAX reached) the start time
 * (field 22 of /proc/PID/stat) is re-read at every open instead.  Either
 * way a reused pid is a new process.  A process first seen whose parent is
 * remembered in a tree job (a DataLoader worker) joins it without walking
 * further.  A job's command line and start time are its session leader's or
 * root's (a named job's: its first process seen).
 *
 * Each job with a stored source has a 'j' record (lineage.c writes it with
 * the source), from which a later mount tells whether the job has ended:
 *   'j' job-id(16) -> 1 | kind u8 ('s' session, 't' tree, 'n' named) |
 *                     sid or root pid u32 | its start u64 (clock ticks
 *                     after boot) | boot id[40]
 */
#include "fs/lineage_priv.h"
#include "fs/lineage.h"
#include "fs/inode.h"
#include "meta/keys.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define PCACHE		4096		/* processes remembered */
#define JOB_BUCKETS	1024
#define JOBS_MAX	65536
#define ENV_MAX		(256u << 10)	/* AIFS_JOB is looked for in this much */
#define PIDFD_MAX	256		/* pidfds kept, of the descriptors the daemon has */
#define WALK_MAX	64		/* ancestors looked at for a job's root */

struct pslot {
	uint32_t pid;
	uint32_t uid;
	uint64_t start;
	uint32_t sid;
	struct ljob *job;
	int pidfd;		/* on PID's process, or -1 */
	bool boundary;		/* a shell, init or login daemon: no job below it joins */
};

pthread_mutex_t lin_lock = PTHREAD_MUTEX_INITIALIZER;

static struct {
	struct ljob *jobs[JOB_BUCKETS];
	size_t njobs;
	struct pslot pcache[PCACHE];
	unsigned npidfd;		/* pidfds open in pcache */
	int64_t btime;			/* boot time, s since the epoch */
	long hz;
	char boot[40];
} J;

/* --- processes ----------------------------------------------------------- */

/* Read file PATH into BUF (NUL-terminated); bytes read or -errno. */
static ssize_t read_text(const char *path, char *buf, size_t len)
{
	size_t got = 0;
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	while (got < len - 1 && (n = read(fd, buf + got, len - 1 - got)) > 0)
		got += (size_t)n;
	close(fd);
	buf[got] = 0;
	return (ssize_t)got;
}

/* Read /proc/PID/WHAT into BUF (NUL-terminated); bytes read or -errno. */
static ssize_t proc_read(uint32_t pid, const char *what, char *buf, size_t len)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/%u/%s", pid, what);
	return read_text(path, buf, len);
}

void lin_boot_init(void)
{
	char buf[8192], *p;

	for (size_t i = 0; i < PCACHE; i++)
		J.pcache[i].pidfd = -1;
	J.hz = sysconf(_SC_CLK_TCK);
	if (J.hz <= 0)
		J.hz = 100;
	if (read_text("/proc/stat", buf, sizeof(buf)) > 0 && (p = strstr(buf, "\nbtime ")))
		J.btime = strtoll(p + 7, NULL, 10);
	if (read_text("/proc/sys/kernel/random/boot_id", J.boot, sizeof(J.boot)) > 0)
		J.boot[strcspn(J.boot, "\n")] = 0;
}

struct pinfo {
	uint32_t sid;
	uint32_t ppid;
	uint64_t start;		/* clock ticks after boot */
	uint32_t uid;
	char comm[16];
};

/* Command name (field 2), parent (field 4), session id (field 6) and start
 * time (field 22) of PID. */
static int proc_stat(uint32_t pid, struct pinfo *pi)
{
	char buf[1024], *p, *save = NULL, *tok, *c;
	ssize_t n = proc_read(pid, "stat", buf, sizeof(buf));
	int field = 2;

	if (n < 0)
		return (int)n;
	p = strrchr(buf, ')');
	c = strchr(buf, '(');
	if (!p || !c || c > p)
		return -EINVAL;
	snprintf(pi->comm, sizeof(pi->comm), "%.*s", (int)(p - c - 1), c + 1);
	for (tok = strtok_r(p + 1, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
		field++;
		if (field == 4)
			pi->ppid = (uint32_t)strtoul(tok, NULL, 10);
		if (field == 6)
			pi->sid = (uint32_t)strtoul(tok, NULL, 10);
		if (field == 22) {
			pi->start = strtoull(tok, NULL, 10);
			return 0;
		}
	}
	return -EINVAL;
}

static int64_t ticks_ns(uint64_t ticks)
{
	return (J.btime + (int64_t)(ticks / (uint64_t)J.hz)) * 1000000000 +
	       (int64_t)(ticks % (uint64_t)J.hz) * (1000000000 / J.hz);
}

static bool remote_get(uint32_t pid, char *name, size_t nlen, char *cmd, size_t clen);

void lin_cmdline(uint32_t pid, char *buf, size_t len)
{
	ssize_t n;

	if (remote_get(pid, NULL, 0, buf, len))
		return;		/* a thread acting for a process of another host */
	n = proc_read(pid, "cmdline", buf, len);

	for (ssize_t i = 0; i < n; i++)
		if (!buf[i])
			buf[i] = ' ';
	while (n > 0 && buf[n - 1] == ' ')
		buf[--n] = 0;
	if (n < 0)
		buf[0] = 0;
}

/* Whether PID (command name COMM) is a shell, an init or a login daemon:
 * the commands it starts are jobs of their own.  Told by the name of its
 * executable (a script's comm is the script's name; its exe is the
 * interpreter), or by COMM when the executable cannot be read. */
static bool proc_boundary(uint32_t pid, const char *comm)
{
	static const char *const names[] = {
		"sh", "bash", "dash", "zsh", "fish", "ksh", "ksh93", "mksh", "pdksh", "ash",
		"yash", "posh", "tcsh", "csh", "busybox", "init", "systemd", "sshd",
		"sshd-session", "login", "cron", "crond", "atd", "su", "sudo", "tmux",
		"tmux: server", "screen", "SCREEN", "agetty",
	};
	char path[64], exe[4096], *base = exe;
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%u/exe", pid);
	n = readlink(path, exe, sizeof(exe) - 1);
	if (n > 0) {
		exe[n] = 0;
		if (n > 10 && !strcmp(exe + n - 10, " (deleted)"))
			exe[n - 10] = 0;
		base = strrchr(exe, '/') ? strrchr(exe, '/') + 1 : exe;
	} else {
		snprintf(exe, sizeof(exe), "%s", comm);
	}
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (!strcmp(base, names[i]))
			return true;
	return false;
}

/* AIFS_JOB=NAME from PID's initial environment into NAME; true if set to
 * a printable name. */
static bool proc_job_name(uint32_t pid, char *name, size_t len)
{
	char *env = malloc(ENV_MAX);
	ssize_t n = env ? proc_read(pid, "environ", env, ENV_MAX) : -ENOMEM;
	bool found = false;

	for (ssize_t i = 0; i < n && !found; i += (ssize_t)strlen(env + i) + 1) {
		const char *v = env + i + 9;

		if (strncmp(env + i, "AIFS_JOB=", 9) || !*v || strlen(v) >= len)
			continue;
		found = true;
		for (const char *c = v; *c; c++)
			found &= *c >= 0x20 && *c < 0x7f;
		if (found)
			strcpy(name, v);
	}
	free(env);
	return found;
}

bool lin_job_name(uint32_t pid, char *name, size_t len)
{
	return proc_job_name(pid, name, len);
}

/* --- threads acting for processes of other hosts ------------------------- */

#define REMOTE_MAX	32

/* Under lin_lock: the daemon's threads that make the changes a follower
 * forwarded (fwdserve.c), each for the job NAME ("" if the process had no
 * AIFS_JOB) of a process whose command line was CMD. */
static struct {
	uint32_t tid;
	char name[129];
	char cmd[1024];
} R[REMOTE_MAX];

void lin_remote_begin(uint32_t tid, const char *name, const char *cmdline)
{
	pthread_mutex_lock(&lin_lock);
	for (size_t i = 0; i < REMOTE_MAX; i++) {
		if (R[i].tid && R[i].tid != tid)
			continue;
		R[i].tid = tid;
		snprintf(R[i].name, sizeof(R[i].name), "%s", name ? name : "");
		snprintf(R[i].cmd, sizeof(R[i].cmd), "%s", cmdline ? cmdline : "");
		break;
	}
	pthread_mutex_unlock(&lin_lock);
}

void lin_remote_end(uint32_t tid)
{
	pthread_mutex_lock(&lin_lock);
	for (size_t i = 0; i < REMOTE_MAX; i++)
		if (R[i].tid == tid)
			R[i].tid = 0;
	pthread_mutex_unlock(&lin_lock);
}

/* Is PID a thread acting for another host?  Its job's name and the
 * command line into NAME and CMD (either may be NULL). */
static bool remote_get(uint32_t pid, char *name, size_t nlen, char *cmd, size_t clen)
{
	bool found = false;

	if (!pid)
		return false;
	pthread_mutex_lock(&lin_lock);
	for (size_t i = 0; i < REMOTE_MAX && !found; i++) {
		if (R[i].tid != pid)
			continue;
		found = true;
		if (name)
			snprintf(name, nlen, "%s", R[i].name);
		if (cmd)
			snprintf(cmd, clen, "%s", R[i].cmd);
	}
	pthread_mutex_unlock(&lin_lock);
	return found;
}

bool lin_is_remote(uint32_t pid)
{
	return remote_get(pid, NULL, 0, NULL, 0);
}

void lineage_remote_begin(uint32_t tid, const char *job, const char *cmdline)
{
	lin_remote_begin(tid, job, cmdline);
}

void lineage_remote_end(uint32_t tid)
{
	lin_remote_end(tid);
}

bool lineage_job_name(uint32_t pid, char *name, size_t len)
{
	return lin_job_name(pid, name, len);
}

/* --- jobs -------------------------------------------------------------- */

static struct ljob *job_find(const uint8_t id[LIN_JOB_ID])
{
	struct ljob *j = J.jobs[(id[0] << 8 | id[1]) % JOB_BUCKETS];

	while (j && memcmp(j->id, id, LIN_JOB_ID))
		j = j->next;
	return j;
}

bool lin_job_ended(const uint8_t *val, size_t vlen)
{
	struct pinfo lead;
	uint32_t sid;
	char boot[sizeof(J.boot)];

	if (vlen != LIN_JOB_REC || val[0] != 1 || (val[1] != 's' && val[1] != 't'))
		return false;		/* named, or a format this mount does not know */
	sid = key_get_u32(val + 2);	/* a tree job's: its root's pid */
	memcpy(boot, val + 14, sizeof(boot));
	boot[sizeof(boot) - 1] = 0;
	if (!J.boot[0] || strcmp(boot, J.boot))
		return J.boot[0] != 0;	/* an earlier boot's jobs are over */
	return proc_stat(sid, &lead) < 0 || (val[1] == 's' && lead.sid != sid) ||
	       lead.start != key_get_u64(val + 6);
}

/* The process (thread group) that thread PID is of: PID itself, or 0. */
static uint32_t proc_tgid(uint32_t pid)
{
	char buf[1024], *p;

	if (proc_read(pid, "status", buf, sizeof(buf)) < 0 || !(p = strstr(buf, "\nTgid:")))
		return 0;
	return (uint32_t)strtoul(p + 6, NULL, 10);
}

/* The root of the tree job of PID (described by PI), rule 3: walking up,
 * the last process before a boundary ancestor, a parent in another
 * session, init, or the session leader itself; into *ROOTPID and *ROOT. */
static void tree_root(uint32_t pid, const struct pinfo *pi, uint32_t *rootpid, struct pinfo *root)
{
	struct pinfo up;

	*rootpid = pid;
	*root = *pi;
	for (int i = 0; i < WALK_MAX && *rootpid != root->sid && root->ppid > 1; i++) {
		if (proc_stat(root->ppid, &up) < 0 || up.sid != root->sid ||
		    proc_boundary(root->ppid, up.comm))
			return;
		*rootpid = root->ppid;
		*root = up;
	}
}

/* The tree job of PID's parent, if the parent is remembered alive in one,
 * is not a boundary and shares PI's session: PID's job too (rule 3). */
static struct ljob *parent_job(const struct pinfo *pi)
{
	struct pslot *slot = &J.pcache[pi->ppid % PCACHE];
	struct pollfd p = { .fd = slot->pidfd, .events = POLLIN };
	struct ljob *j = NULL;

	pthread_mutex_lock(&lin_lock);
	if (slot->pid == pi->ppid && slot->uid == pi->uid && slot->pidfd >= 0 && slot->job &&
	    !slot->boundary && slot->sid == pi->sid && slot->job->rec[1] == 't' &&
	    poll(&p, 1, 0) == 0)
		j = slot->job;
	pthread_mutex_unlock(&lin_lock);
	return j;
}

/* Find job J's twin by id or insert J; the job to use (J is freed if it
 * had a twin), or NULL. */
static struct ljob *job_insert(struct ljob *j)
{
	struct ljob *old;

	pthread_mutex_lock(&lin_lock);
	old = job_find(j->id);
	if (!old && J.njobs < JOBS_MAX) {
		size_t b = (j->id[0] << 8 | j->id[1]) % JOB_BUCKETS;

		j->next = J.jobs[b];
		J.jobs[b] = j;
		J.njobs++;
		old = j;
	} else if (!old) {
		log_warn("lineage: %d jobs known; reads of new jobs are not recorded until "
			 "the next mount", JOBS_MAX);
	}
	pthread_mutex_unlock(&lin_lock);
	if (old != j) {
		free(j->desc);
		free(j);
	}
	return old;
}

/* The job of process PID (alive, described by PI): found or made, by the
 * rule at the top of this file. */
static struct ljob *job_make(uint32_t pid, const struct pinfo *pi)
{
	static const char *const rules[] = { "name", "session", "tree" };
	char name[129], ident[300], cmd[2048], when[40];
	uint8_t md[32];
	struct pinfo root = *pi, lead;
	struct ljob *j;
	struct sb s = { 0 };
	uint32_t rootpid = pid;
	int rule = proc_job_name(pid, name, sizeof(name)) ? 0 : 2;
	uint32_t tgid = rule ? proc_tgid(pid) : pid;

	if (rule == 0) {
		snprintf(ident, sizeof(ident), "name:%u:%s", pi->uid, name);
	} else if (tgid && tgid != pid) {
		return lin_job_of(tgid, pi->uid, false);	/* a thread: its process's */
	} else if ((j = parent_job(pi))) {
		return j;
	} else if (pi->sid && proc_stat(pi->sid, &lead) == 0 && lead.sid == pi->sid &&
		   !proc_boundary(pi->sid, lead.comm)) {
		rule = 1;
		rootpid = pi->sid;
		root = lead;
		snprintf(ident, sizeof(ident), "sid:%s:%u:%llu:%u", J.boot, pi->sid,
			 (unsigned long long)lead.start, pi->uid);
	} else {
		tree_root(pid, pi, &rootpid, &root);
		snprintf(ident, sizeof(ident), "tree:%s:%u:%llu:%u", J.boot, rootpid,
			 (unsigned long long)root.start, pi->uid);
	}
	if (EVP_Digest(ident, strlen(ident), md, NULL, EVP_sha256(), NULL) != 1)
		return NULL;
	j = calloc(1, sizeof(*j));
	if (!j)
		return NULL;
	memcpy(j->id, md, LIN_JOB_ID);
	lin_cmdline(rootpid, cmd, sizeof(cmd));
	lin_iso(ticks_ns(root.start), when, sizeof(when));
	sb_add(&s, "{\"id\": \"");
	sb_hex(&s, j->id, LIN_JOB_ID);
	sb_add(&s, "\"");
	if (rule == 0) {
		sb_add(&s, ", \"name\": ");
		sb_str(&s, name);
	}
	sb_printf(&s, ", \"rule\": \"%s\"", rules[rule]);
	if (rule == 2)
		sb_printf(&s, ", \"root_pid\": %u", rootpid);
	sb_printf(&s, ", \"sid\": %u, \"uid\": %u, \"cmdline\": ", pi->sid, pi->uid);
	sb_str(&s, cmd);
	sb_printf(&s, ", \"start\": \"%s\"}", when);
	j->desc = sb_take(&s);
	j->rec[0] = 1;
	j->rec[1] = "nst"[rule];
	key_put_u32(j->rec + 2, rule == 2 ? rootpid : pi->sid);
	key_put_u64(j->rec + 6, rule == 0 ? 0 : root.start);
	memcpy(j->rec + 14, J.boot, sizeof(J.boot));
	if (!j->desc) {
		free(j);
		return NULL;
	}
	return job_insert(j);
}

/* Job of SLOT if it still describes PID's process without reading /proc:
 * its pidfd says the process it was opened on has not exited, so PID is
 * still that process (a pid is not reused before its process is gone),
 * and that process has not moved to another session. */
static struct ljob *slot_fast(struct pslot *slot, uint32_t pid, uint32_t uid)
{
	struct pollfd p = { .fd = slot->pidfd, .events = POLLIN };

	if (slot->pid != pid || slot->uid != uid || slot->pidfd < 0 || !slot->job)
		return NULL;
	if (poll(&p, 1, 0) != 0 || getsid((pid_t)pid) != (pid_t)slot->sid)
		return NULL;
	return slot->job;
}

/* Close the pidfds of processes that have exited (lin_lock held). */
static void pidfd_reap(void)
{
	for (size_t i = 0; i < PCACHE; i++) {
		struct pollfd p = { .fd = J.pcache[i].pidfd, .events = POLLIN };

		if (p.fd >= 0 && poll(&p, 1, 0) != 0) {
			close(p.fd);
			J.pcache[i].pidfd = -1;
			J.npidfd--;
		}
	}
}

/* Remember that PID (described by PI; a shell, init or login daemon if
 * BOUNDARY) is of job J; a pidfd makes the next look-ups cheap (not for
 * threads: pidfd_open takes processes). */
static void slot_set(struct pslot *slot, uint32_t pid, const struct pinfo *pi, struct ljob *j,
		     bool boundary)
{
	int fd;

	pthread_mutex_lock(&lin_lock);
	if (J.npidfd >= PIDFD_MAX)
		pidfd_reap();
	fd = J.npidfd < PIDFD_MAX ? (int)syscall(SYS_pidfd_open, pid, 0) : -1;
	if (slot->pidfd >= 0) {
		close(slot->pidfd);
		J.npidfd--;
	}
	slot->pid = pid;
	slot->uid = pi->uid;
	slot->start = pi->start;
	slot->sid = pi->sid;
	slot->job = j;
	slot->boundary = boundary;
	slot->pidfd = fd;
	if (fd >= 0)
		J.npidfd++;
	pthread_mutex_unlock(&lin_lock);
}

struct ljob *lin_named_job(uint32_t uid, const char *name, const char *cmdline)
{
	char ident[300], when[40];
	uint8_t md[32];
	struct ljob *j;
	struct sb s = { 0 };

	snprintf(ident, sizeof(ident), "name:%u:%s", uid, name);
	if (EVP_Digest(ident, strlen(ident), md, NULL, EVP_sha256(), NULL) != 1)
		return NULL;
	pthread_mutex_lock(&lin_lock);
	j = job_find(md);
	pthread_mutex_unlock(&lin_lock);
	if (j)
		return j;
	j = calloc(1, sizeof(*j));
	if (!j)
		return NULL;
	memcpy(j->id, md, LIN_JOB_ID);
	lin_iso(fs_now(), when, sizeof(when));
	sb_add(&s, "{\"id\": \"");
	sb_hex(&s, j->id, LIN_JOB_ID);
	sb_add(&s, "\", \"name\": ");
	sb_str(&s, name);
	sb_printf(&s, ", \"rule\": \"name\", \"sid\": 0, \"uid\": %u, \"cmdline\": ", uid);
	sb_str(&s, cmdline ? cmdline : "");
	sb_printf(&s, ", \"start\": \"%s\"}", when);
	j->desc = sb_take(&s);
	j->rec[0] = 1;
	j->rec[1] = 'n';
	memcpy(j->rec + 14, J.boot, sizeof(J.boot));
	if (!j->desc) {
		free(j);
		return NULL;
	}
	return job_insert(j);
}

struct ljob *lin_job_of(uint32_t pid, uint32_t uid, bool gone_ok)
{
	struct pslot *slot = &J.pcache[pid % PCACHE];
	struct pinfo pi = { 0 };
	struct ljob *j = NULL;
	char name[129], cmd[1024];
	bool alive;

	/* a thread making a follower's change: the job of the process there,
	 * known only by its name (other jobs do not span hosts) */
	if (remote_get(pid, name, sizeof(name), cmd, sizeof(cmd)))
		return name[0] ? lin_named_job(uid, name, cmd) : NULL;
	pthread_mutex_lock(&lin_lock);
	j = slot_fast(slot, pid, uid);
	pthread_mutex_unlock(&lin_lock);
	if (j)
		return j;
	alive = proc_stat(pid, &pi) == 0;
	pthread_mutex_lock(&lin_lock);
	if (slot->pid == pid && slot->uid == uid && slot->job &&
	    (alive ? slot->start == pi.start && slot->sid == pi.sid : gone_ok))
		j = slot->job;
	pthread_mutex_unlock(&lin_lock);
	if (j || !alive)
		return j;
	pi.uid = uid;
	j = job_make(pid, &pi);
	if (j)
		slot_set(slot, pid, &pi, j, proc_boundary(pid, pi.comm));
	return j;
}
