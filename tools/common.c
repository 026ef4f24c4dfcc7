/* common.c — helpers shared by the aifsctl commands and lsaifs. */
#include <errno.h>
#include <stdio.h>
#include <unistd.h>

#include "tools/common.h"

void json_str(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			putchar('\\');
		if ((unsigned char)*s < 0x20)
			printf("\\u%04x", *s);
		else
			putchar(*s);
	}
	putchar('"');
}
