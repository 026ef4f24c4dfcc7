/* records.h — the registry of record kinds: every byte that starts a key of
 * the metadata store, the module that owns the records of that kind, and
 * their key and value layout.  A kind is defined here and nowhere else;
 * other modules name it by its META_REC_* constant (a private alias such as
 * fs/version_priv.h's REC_V is defined as that constant).  A module that
 * only reads another's records (tiering walks the keys of versions and
 * snapshots) uses the owner's constant.
 *
 * Keys are the kind byte followed by fixed-width big-endian fields
 * (keys.h); values of the kinds with a record version start with it.  The
 * unit test test_kinds checks that no two entries share a byte.
 *
 * Layer: meta/; included by every layer that names a record kind.
 */
#ifndef AIFS_META_RECORDS_H
#define AIFS_META_RECORDS_H

#include <stddef.h>
#include <stdint.h>

/* X(NAME, byte, owner, key, value) */
#define META_RECORDS(X)								\
	X(SUPER,	'S', "meta/meta.c",	"\"format\", \"space\" or \"epochs\"",	\
	  "format version u32; space: v1 | epoch u64 | log end u64; "		\
	  "epochs: the current epoch u64 (meta/history.c)")			\
	X(INODE,	'I', "meta/meta.c",	"ino",				\
	  "v1 struct meta_inode (86 bytes)")					\
	X(DENTRY,	'D', "meta/meta.c",	"parent ino | name",		\
	  "v1 child ino u64, type u32")						\
	X(EXTENT,	'E', "meta/meta.c",	"ino | file offset",		\
	  "v1 struct meta_extent with its checksums")				\
	X(XATTR,	'X', "meta/meta.c",	"ino | name",			\
	  "the attribute value")						\
	X(SYMLINK,	'L', "meta/meta.c",	"ino",				\
	  "the symlink target")							\
	X(INLINE,	'N', "meta/meta.c",	"ino",				\
	  "the inline data of a small file")					\
	X(ORPHAN,	'O', "meta/meta.c",	"ino",				\
	  "empty: unlinked while open")						\
	X(EPOCH,	'e', "meta/history.c",	"epoch u64",			\
	  "v1 | hwm u64 | dataset ino u64 | time i64: a live epoch snapshot") \
	X(HISTORY,	'h', "meta/history.c",	"kind u8 | key | death u64",	\
	  "0 (the record did not exist) or 1 | the value it had before "	\
	  "epoch death")							\
	X(HISTORY_BY_DEATH, 'g', "meta/history.c", "death u64 | kind u8 | key", \
	  "empty: the index of 'h' by death")					\
	X(HISTORY_MARK,	'f', "meta/history.c",	"kind u8 | key",		\
	  "empty: the record has 'h' entries (a point read finds that, "	\
	  "where the entries need a seek)")					\
	X(SPACE_LOG,	'y', "meta/meta.c",	"id u64",			\
	  "v1 | (tier u8, seg u32, off u64, stored_len u32, delta i8)...: "	\
	  "changes of stored extents' reference counts (meta/spacecp.c)")	\
	X(VERSION,	'V', "fs/version.c",	"ino | n u32",			\
	  "struct vrec (84 bytes)")						\
	X(VERSION_OF,	'B', "fs/version.c",	"version ino",			\
	  "ino u64 | n u32 of the file it is a version of")			\
	X(CONTENT_HASH,	'H', "fs/content.c",	"ino",				\
	  "generation u64 | sha256 of the content at it")			\
	X(SESSION,	'W', "fs/vsession.c",	"ino",				\
	  "empty: a write session is open (undone at the next mount)")	\
	X(RETAIN,	'Q', "fs/vadmin.c",	"dir ino",			\
	  "keep u32 | every u32: retention of its checkpoints")		\
	X(VERSION_HOLD,	'G', "fs/vadmin.c",	"version ino | tag",		\
	  "a hold on a version")						\
	X(SNAPSHOT,	'P', "fs/snapshot.c",	"dataset ino | tag",		\
	  "struct snaprec")							\
	X(SNAPSHOT_USE,	'a', "fs/snapshot.c",	"root ino",			\
	  "i64 ns: a file of the snapshot was last opened")			\
	X(JOURNAL_LEAF,	'J', "fs/journal.c",	"seq u64",			\
	  "the leaf (JSON) as hashed into the Merkle log")			\
	X(JOURNAL_CHECKPOINT, 'K', "fs/journal.c", "tree size u64",		\
	  "the signed checkpoint (note)")					\
	X(JOURNAL_SEAL,	'A', "fs/journal.c",	"ino",				\
	  "seal time (monotonic ns) | path")					\
	X(JOURNAL_CLOCK, 'C', "fs/journal.c",	"\"clock\" or \"tree\"",		\
	  "monotonic ns elapsed in the store's life; tree: the Merkle "	\
	  "state (merkle_serialize) at the newest signed checkpoint")		\
	X(LEGAL_HOLD,	'Y', "fs/jretain.c",	"ino | tag",			\
	  "a legal hold on a journal file")					\
	X(RELEASED,	'R', "fs/jretain.c",	"ino",				\
	  "retention released (governance mode)")				\
	X(RETENTION,	'T', "fs/jretain.c",	"ino",				\
	  "retention (ns) of a journal directory or file")			\
	X(LINEAGE_SOURCE, 'U', "fs/lineage.c",	"job id(16) | source(17)",	\
	  "1 | flags u8 | files u64 | sum[32] | JSON")				\
	X(LINEAGE,	'Z', "fs/lineage.c",	"version ino",			\
	  "1 | header-len u32 | header JSON | sources")			\
	X(LINEAGE_JOB,	'j', "fs/linjob.c",	"job id(16)",			\
	  "1 | kind u8 | ... (linjob.c)")					\
	X(PREALLOC,	'r', "fs/prealloc.c",	"ino",				\
	  "reserved bytes u64 (little-endian)")					\
	X(MIGRATE,	'm', "fs/migrate.c",	"ino",				\
	  "target tier u8: a migrate request not yet done")			\
	X(PIN,		'p', "fs/migrate.c",	"ino",				\
	  "tier u8: kept in that tier by the policies")

enum {
#define META_REC_ENUM(name, byte, owner, key, value) META_REC_##name = (byte),
	META_RECORDS(META_REC_ENUM)
#undef META_REC_ENUM
};

/* One entry of the registry. */
struct meta_rec_kind {
	uint8_t byte;
	const char *name;	/* "VERSION" */
	const char *owner;	/* the file that writes these records */
	const char *key;	/* the fields after the kind byte */
	const char *value;
};

/* The registry, in the order above; meta_rec_nkinds entries. */
extern const struct meta_rec_kind meta_rec_kinds[];
extern const size_t meta_rec_nkinds;
/* The entry of kind BYTE, or NULL if no module owns it. */
const struct meta_rec_kind *meta_rec_kind_of(uint8_t byte);

#endif
