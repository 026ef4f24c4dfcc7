/* witness.c — the audit witness thread: runs -o audit_witness=CMD once per
 * new signed checkpoint, with the checkpoint on its stdin (see witness.h).
 *
 * Invariants: only the witness thread starts and waits for commands, one at
 * a time; the queue holds at most WITNESS_QUEUE lines, in increasing size;
 * w->lock is taken for a few instructions and nothing is called under it
 * that may block.
 */
#include "fs/witness.h"
#include "tier/log.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

struct item {
	uint64_t size;
	char *line;		/* {"checkpoint":"..."}\n */
};

struct witness {
	char *cmd;
	pthread_t thread;
	int wake;			/* eventfd, readable once stop is asked */
	pthread_mutex_t lock;		/* what follows */
	pthread_cond_t cond;
	struct item q[WITNESS_QUEUE];	/* ring: q[head] is the oldest */
	size_t head, n;
	uint64_t posted;		/* size of the newest checkpoint posted */
	unsigned long dropped;		/* in the current run of drops */
	bool stop;
	int64_t deadline;		/* once stop: end of delivery (ms, monotonic) */
};

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The unmount deadline, or -1 while mounted. */
static int64_t deadline_of(struct witness *w)
{
	int64_t d;

	pthread_mutex_lock(&w->lock);
	d = w->stop ? w->deadline : -1;
	pthread_mutex_unlock(&w->lock);
	return d;
}

/* Wait for command PID (PIDFD, or -1 if there is none); kill its process
 * group once the unmount deadline passes.  Its wait status, or -1 if it
 * was killed at unmount. */
static int wait_command(struct witness *w, pid_t pid, int pidfd, uint64_t size)
{
	int64_t slow = now_ms() + WITNESS_SLOW_SECS * 1000, d, t;
	bool said_slow = false;
	int st, timeout;

	while (pidfd >= 0) {
		struct pollfd pf[2] = { { .fd = pidfd, .events = POLLIN },
					{ .fd = w->wake, .events = POLLIN } };

		d = deadline_of(w);
		t = now_ms();
		if (d >= 0 && t >= d) {
			kill(-pid, SIGKILL);
			waitpid(pid, &st, 0);
			log_warn("audit witness: '%s' still ran on the checkpoint at %llu records "
				 "%d s after the unmount: killed", w->cmd,
				 (unsigned long long)size, WITNESS_STOP_SECS);
			return -1;
		}
		timeout = said_slow ? -1 : (int)(slow - t > 0 ? slow - t : 0);
		if (d >= 0) {
			pf[1].fd = -1;		/* stays readable: poll ignores it now */
			if (timeout < 0 || d - t < timeout)
				timeout = (int)(d - t);
		}
		if (poll(pf, 2, timeout) < 0 && errno != EINTR)
			break;
		if (pf[0].revents)
			break;
		if (!said_slow && now_ms() >= slow) {
			log_warn("audit witness: '%s' has run %d s on the checkpoint at %llu "
				 "records; later checkpoints wait for it", w->cmd,
				 WITNESS_SLOW_SECS, (unsigned long long)size);
			said_slow = true;
		}
	}
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return 0;
	return st;
}

/* Run the command once with IT on its stdin; log one line if it fails. */
static void deliver(struct witness *w, const struct item *it)
{
	char *argv[] = { "sh", "-c", w->cmd, NULL };
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	sigset_t none, dfl;
	size_t len = strlen(it->line);
	bool short_write;
	int p[2], pidfd, rc, st;
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) < 0) {
		log_warn("audit witness: pipe: %s: the checkpoint at %llu records is not "
			 "delivered", strerror(errno), (unsigned long long)it->size);
		return;
	}
	sigemptyset(&none);
	sigemptyset(&dfl);
	sigaddset(&dfl, SIGPIPE);	/* the daemon ignores it; commands expect it */
	sigaddset(&dfl, SIGINT);
	sigaddset(&dfl, SIGTERM);
	sigaddset(&dfl, SIGHUP);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, p[0], 0);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_addclosefrom_np(&fa, 3);
	posix_spawnattr_init(&at);
	posix_spawnattr_setsigmask(&at, &none);
	posix_spawnattr_setsigdefault(&at, &dfl);
	posix_spawnattr_setpgroup(&at, 0);
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF |
				      POSIX_SPAWN_SETPGROUP);
	rc = posix_spawn(&pid, "/bin/sh", &fa, &at, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	close(p[0]);
	if (rc) {
		close(p[1]);
		log_warn("audit witness: cannot run '%s': %s: the checkpoint at %llu records is "
			 "not delivered", w->cmd, strerror(rc), (unsigned long long)it->size);
		return;
	}
	/* A line is far below a pipe's buffer: this never waits for the command.
	 * A command gone already gives EPIPE; its SIGPIPE, blocked in this
	 * thread, is taken back so that it stays pending nowhere. */
	short_write = write(p[1], it->line, len) != (ssize_t)len;
	if (short_write && errno == EPIPE) {
		sigset_t pipe_set;
		struct timespec zero = { 0, 0 };

		sigemptyset(&pipe_set);
		sigaddset(&pipe_set, SIGPIPE);
		sigtimedwait(&pipe_set, NULL, &zero);
	}
	close(p[1]);
	pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	st = wait_command(w, pid, pidfd, it->size);
	if (pidfd >= 0)
		close(pidfd);
	if (st < 0)
		return;
	if (WIFSIGNALED(st))
		log_warn("audit witness: '%s' was killed by signal %d on the checkpoint at %llu "
			 "records", w->cmd, WTERMSIG(st), (unsigned long long)it->size);
	else if (WEXITSTATUS(st))
		log_warn("audit witness: '%s' exited with status %d on the checkpoint at %llu "
			 "records", w->cmd, WEXITSTATUS(st), (unsigned long long)it->size);
	else if (short_write)
		log_info("audit witness: '%s' did not read the checkpoint at %llu records",
			 w->cmd, (unsigned long long)it->size);
}

static void *witness_main(void *arg)
{
	struct witness *w = arg;
	struct item it;
	size_t lost;
	sigset_t pipe_set;

	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe_set, NULL);	/* a write to a gone command: EPIPE */

	for (;;) {
		pthread_mutex_lock(&w->lock);
		while (!w->n && !w->stop)
			pthread_cond_wait(&w->cond, &w->lock);
		if (!w->n) {
			pthread_mutex_unlock(&w->lock);
			break;
		}
		if (w->stop && now_ms() >= w->deadline) {
			lost = w->n;
			it = w->q[(w->head + w->n - 1) % WITNESS_QUEUE];
			for (; w->n; w->n--, w->head = (w->head + 1) % WITNESS_QUEUE)
				free(w->q[w->head].line);
			pthread_mutex_unlock(&w->lock);
			log_warn("audit witness: %zu checkpoint%s up to the one at %llu records not "
				 "delivered at unmount", lost, lost == 1 ? "" : "s",
				 (unsigned long long)it.size);
			break;
		}
		it = w->q[w->head];
		w->head = (w->head + 1) % WITNESS_QUEUE;
		if (!--w->n)
			w->dropped = 0;
		pthread_mutex_unlock(&w->lock);
		deliver(w, &it);
		free(it.line);
	}
	return NULL;
}

int witness_start(const char *cmd, struct witness **out)
{
	struct witness *w = calloc(1, sizeof(*w));
	int rc;

	if (!w || !(w->cmd = strdup(cmd))) {
		free(w);
		return -ENOMEM;
	}
	w->wake = eventfd(0, EFD_CLOEXEC);
	if (w->wake < 0) {
		rc = -errno;
		goto fail;
	}
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->cond, NULL);
	rc = -pthread_create(&w->thread, NULL, witness_main, w);
	if (rc == 0) {
		*out = w;
		return 0;
	}
	close(w->wake);
fail:
	free(w->cmd);
	free(w);
	return rc;
}

void witness_post(struct witness *w, uint64_t size, const char *note)
{
	json_t *j;
	char *s, *line = NULL;
	bool first_drop = false;

	if (!w)
		return;
	j = json_pack("{s:s}", "checkpoint", note);
	s = j ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	if (s && (line = malloc(strlen(s) + 2)))
		sprintf(line, "%s\n", s);
	free(s);
	if (!line) {
		log_err("audit witness: out of memory: the checkpoint at %llu records is not "
			"delivered", (unsigned long long)size);
		return;
	}
	pthread_mutex_lock(&w->lock);
	if (size <= w->posted) {	/* a concurrent signer posted a later one */
		pthread_mutex_unlock(&w->lock);
		free(line);
		return;
	}
	w->posted = size;
	if (w->n == WITNESS_QUEUE) {
		free(w->q[w->head].line);
		w->head = (w->head + 1) % WITNESS_QUEUE;
		w->n--;
		first_drop = !w->dropped++;
	}
	w->q[(w->head + w->n++) % WITNESS_QUEUE] = (struct item){ size, line };
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
	if (first_drop)
		log_warn("audit witness: %d checkpoints wait for '%s': the oldest are dropped "
			 "(each later checkpoint signs their records too)", WITNESS_QUEUE, w->cmd);
}

void witness_stop(struct witness *w)
{
	uint64_t one = 1;

	if (!w)
		return;
	pthread_mutex_lock(&w->lock);
	w->stop = true;
	w->deadline = now_ms() + WITNESS_STOP_SECS * 1000;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
	if (write(w->wake, &one, sizeof(one)) != sizeof(one))
		log_warn("audit witness: cannot wake the witness thread: %s", strerror(errno));
	pthread_join(w->thread, NULL);
	close(w->wake);
	pthread_mutex_destroy(&w->lock);
	pthread_cond_destroy(&w->cond);
	free(w->cmd);
	free(w);
}
