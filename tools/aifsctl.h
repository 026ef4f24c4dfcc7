/* aifsctl.h — shared pieces of the aifsctl commands. */
#ifndef AIFS_AIFSCTL_H
#define AIFS_AIFSCTL_H

/* Exit codes of every aifsctl command (documented in aifsctl(8)). */
#define EXIT_OK		0
#define EXIT_PROBLEM	1
#define EXIT_USAGE	2

/* aifsctl fsck [--repair] STORE */
int cmd_fsck(int argc, char **argv);
/* aifsctl versions [--json] FILE (through the mount) */
int cmd_versions(int argc, char **argv);
/* aifsctl snapshot create|delete|list|manifest|diff (through the mount) */
int cmd_snapshot(int argc, char **argv);
/* aifsctl audit verify|export|pubkey|head|hold|unhold|release */
int cmd_audit(int argc, char **argv);
/* aifsctl policy get|set DIR [POLICY] (through the mount) */
int cmd_policy(int argc, char **argv);

#endif
