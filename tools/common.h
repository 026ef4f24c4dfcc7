/* common.h — helpers shared by the aifsctl commands and lsaifs. */
#ifndef AIFS_TOOLS_COMMON_H
#define AIFS_TOOLS_COMMON_H

/* Print S to stdout as a JSON string (quotes, backslashes and control
 * characters escaped; other bytes as they are). */
void json_str(const char *s);

#endif
