/* fuseio.c — the workers' reads of /dev/fuse, with a short spin (fuseio.h).
 *
 * libfuse reads the device through fuse_session_custom_io's read: the
 * device is made non-blocking, and read_request below returns one request
 * as a blocking read would, or -1 with errno (EINTR, ENODEV at unmount)
 * for libfuse to handle as it does its own.  Replies are written as
 * libfuse writes them.
 */
#include "fs/fs.h"
#include "fs/fuseio.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define LOAD_EVERY_NS	20000000L	/* how often the runnable tasks are read */
#define PAUSES		40		/* about 2 us between reads of the device */

static struct {
	long spin_ns;
	long cpus;
	int loadavg;			/* /proc/loadavg, or -1 */
	atomic_bool spinning;		/* a worker spins (one at a time) */
	atomic_bool idle_cpu;		/* a CPU had no work at the last reading */
	_Atomic long next_reading;	/* CLOCK_MONOTONIC ns */
} sp = { .loadavg = -1 };

static inline void cpu_pause(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ volatile("yield");
#endif
}

static long now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1000000000L + t.tv_nsec;
}

/* Is a CPU free for a spin?  Read from the runnable tasks of /proc/loadavg
 * ("0.50 0.40 0.30 R/T PID") at most every LOAD_EVERY_NS; NOW is the time.
 * R counts the worker that reads it and, most often, the program whose
 * request it just answered: a CPU is free if the others are fewer than the
 * CPUs.  (Leaving out the reader alone, the spin was left out too often:
 * appends were 9% slower than with no spin at all.) */
static bool cpu_idle(long now)
{
	long next = atomic_load(&sp.next_reading);
	char buf[128];
	ssize_t n;
	long running;

	if (now < next || !atomic_compare_exchange_strong(&sp.next_reading, &next,
							  now + LOAD_EVERY_NS))
		return atomic_load(&sp.idle_cpu);
	n = pread(sp.loadavg, buf, sizeof(buf) - 1, 0);
	if (n <= 0)
		return atomic_load(&sp.idle_cpu);
	buf[n] = 0;
	if (sscanf(buf, "%*s %*s %*s %ld/", &running) == 1)
		atomic_store(&sp.idle_cpu, running - 2 < sp.cpus);
	return atomic_load(&sp.idle_cpu);
}

/* Spin for a request: non-blocking reads of FD until one comes or the
 * spin is over.  Its length, or -1 with errno (EAGAIN: none came). */
static ssize_t spin(int fd, void *buf, size_t len, long start)
{
	for (;;) {
		ssize_t n = read(fd, buf, len);

		if (n >= 0 || errno != EAGAIN || now_ns() - start > sp.spin_ns)
			return n;
		for (int i = 0; i < PAUSES; i++)
			cpu_pause();
	}
}

static ssize_t read_request(int fd, void *buf, size_t len, void *userdata)
{
	(void)userdata;
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		long start = now_ns();
		ssize_t n;

		if (cpu_idle(start) && !atomic_exchange(&sp.spinning, true)) {
			n = spin(fd, buf, len, start);
			atomic_store(&sp.spinning, false);
			if (n >= 0 || errno != EAGAIN)
				return n;
		}
		if (poll(&p, 1, -1) < 0)
			return -1;	/* EINTR: libfuse looks whether to exit */
		n = read(fd, buf, len);
		if (n >= 0 || errno != EAGAIN)
			return n;	/* else another worker took it */
	}
}

static ssize_t write_reply(int fd, struct iovec *iov, int count, void *userdata)
{
	(void)userdata;
	return writev(fd, iov, count);
}

int fuseio_start(struct fuse_session *se, unsigned spin_us)
{
	static const struct fuse_custom_io io = { .read = read_request,
						  .writev = write_reply };
	int fd = fuse_session_fd(se), fl;

	if (spin_us == 0)
		return 0;
	sp.spin_ns = (long)spin_us * 1000L;
	sp.cpus = sysconf(_SC_NPROCESSORS_ONLN);
	sp.loadavg = open("/proc/loadavg", O_RDONLY | O_CLOEXEC);
	atomic_store(&sp.idle_cpu, sp.loadavg >= 0);	/* no reading: no spin */
	fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) {
		log_err("spin on /dev/fuse: cannot make it non-blocking: %s (no spin)",
			strerror(errno));
		return -errno;
	}
	if (fuse_session_custom_io(se, &io, fd) != 0) {
		fcntl(fd, F_SETFL, fl);
		log_err("spin on /dev/fuse: libfuse refused the reader (no spin)");
		return -EINVAL;
	}
	return 0;
}
