/* aifsctl.h — shared pieces of the aifsctl commands. */
#ifndef AIFS_AIFSCTL_H
#define AIFS_AIFSCTL_H

#include "meta/store.h"

/* Exit codes of every aifsctl command (documented in aifsctl(8)). */
#define EXIT_OK		0
#define EXIT_PROBLEM	1
#define EXIT_USAGE	2

struct store;

/* Open the store at PATH for command CMD, waiting up to 5 s for one that is
 * still being unmounted; on failure prints the reason. */
int tool_store_open(const char *path, struct store **s, const char *cmd);
/* The same, but a store on read-only media is opened read-only (*RO set,
 * with a note on stderr): for commands that only read it. */
int tool_store_open_ro_ok(const char *path, struct store **s, const char *cmd, bool *ro);

/* aifsctl fsck [--repair] STORE */
int cmd_fsck(int argc, char **argv);
/* aifsctl versions [--json] FILE (through the mount) */
int cmd_versions(int argc, char **argv);
/* aifsctl snapshot create|delete|list|manifest|diff (through the mount) */
int cmd_snapshot(int argc, char **argv);
/* aifsctl audit verify|export|pubkey|head|hold|unhold|release */
int cmd_audit(int argc, char **argv);
/* aifsctl restore|promote|hold|unhold|retain (through the mount) */
int cmd_checkpoint(int argc, char **argv);
int cmd_du(int argc, char **argv);
int cmd_promote_primary(int argc, char **argv);
/* aifsctl status|stats [--json] MOUNT */
int cmd_status(int argc, char **argv);
/* aifsctl policy get|set DIR [POLICY] (through the mount) */
int cmd_policy(int argc, char **argv);
/* aifsctl lineage [--json|--openlineage] PATH (through the mount) */
int cmd_lineage(int argc, char **argv);
/* SHA-256 (hex) of the text `aifsctl snapshot manifest DS TAG` prints;
 * 0, or -1 after printing why not. */
int snap_manifest_digest(const char *ds, const char *tag, char hex[65]);
/* aifsctl tier status|migrate|pin (through the mount) */
int cmd_tier(int argc, char **argv);
/* aifsctl gc [--threshold F] MOUNT|STORE */
int cmd_gc(int argc, char **argv);
/* aifsctl rados unlock [--ceph-conf FILE] [--ceph-user NAME] STORE */
int cmd_rados(int argc, char **argv);
/* aifsctl recover [--ceph-conf FILE] [--ceph-user NAME] rados:POOL/NAME DIR */
int cmd_recover(int argc, char **argv);
/* Offline gc of the unmounted store at PATH (gccmd.c); an exit code. */
int gc_offline(const char *path, double threshold);

#endif
