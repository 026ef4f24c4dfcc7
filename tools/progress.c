/* progress.c — a one-line progress bar on a terminal, nothing otherwise. */
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "tools/common.h"

void progress(const char *what, unsigned long long done, unsigned long long total)
{
	static time_t last;
	time_t now = time(NULL);
	int width = 30, fill;

	if (!isatty(STDERR_FILENO) || (now == last && done < total))
		return;
	last = now;
	fill = total ? (int)(width * done / total) : width;
	fprintf(stderr, "\r%s [%.*s%*s] %llu/%llu", what, fill,
		"##############################", width - fill, "", done, total);
	if (done >= total)
		fputc('\n', stderr);
}
