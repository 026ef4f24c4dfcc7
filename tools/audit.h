/* audit.h — what the audit commands share (tools/ only). */
#ifndef AIFS_TOOLS_AUDIT_H
#define AIFS_TOOLS_AUDIT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "meta/merkle.h"

/* What verify reads of each record once (auditverify.c). */
struct recinfo;

/* A journal's records (index = seq) and signed checkpoints. */
struct log {
	char **rec;		/* records, as hashed (NUL-terminated, in the arena) */
	size_t *len;
	uint8_t (*hash)[32];
	size_t n, cap;
	char **arena;		/* blocks holding the records */
	size_t narena, arena_used, arena_size;
	struct recinfo *info;	/* verify: the fields of each record, or NULL */
	uint64_t *ck_size;	/* checkpoints, by size */
	char **ck_note;
	size_t nck, capck;
	unsigned long problems;
	FILE *problem_out;	/* --json: problems go here, not to stdout */
};

/* The levels of the tree of the first SIZE records: level 0 the leaves,
 * each next one the hashes of pairs, an unpaired last node carried up
 * unchanged (which is RFC 6962's tree).  Proofs then cost O(log n). */
struct levels {
	uint8_t (*h[MERKLE_PROOF_MAX])[32];
	uint64_t n[MERKLE_PROOF_MAX];
	int count;
	uint64_t size;
};

#define ARENA_BLOCK	(4u << 20)
/* At most this many threads run a par_for. */
#define PAR_MAX		8

/* Threads for a par_for: the online cores, at most PAR_MAX. */
unsigned par_threads(void);
/* FN(CTX, LO, HI) over [0, N) cut into one contiguous part per thread
 * (par_threads, the caller being one); returns when all are done. */
void par_for(size_t n, void (*fn)(void *ctx, size_t lo, size_t hi), void *ctx);
/* FN(CTX, THREAD) once on each of par_threads threads (THREAD 0: the caller). */
void par_all(void (*fn)(void *ctx, unsigned thread), void *ctx);

/* One line for a problem found; counted in L. */
void problem(struct log *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* merkle_leaf_fn over L's record hashes. */
int leaf_fn(void *ctx, uint64_t index, uint8_t out[32]);

/* auditlog.c */
struct store;
/* The store mounted at PATH into STORE, if PATH is an aifs mount point. */
bool store_of_mount(const char *path, char *store, size_t len);
/* Open the store at PATH or mounted at PATH (read-only beside the daemon). */
int open_store(const char *path, struct store **s);
/* Load the records and checkpoints of store S into L. */
int load_store(struct store *s, struct log *l);
/* Free what L holds. */
void log_free(struct log *l);
/* The whole file PATH, malloc'd (caller frees); NULL with errno set. */
char *read_text(const char *path);
/* Load the log of an export directory DIR (records.jsonl, checkpoints/) into L. */
int load_export(const char *dir, struct log *l);

/* audit.c */
/* The mount point holding PATH into MNT, and PATH relative to it ("/a/b")
 * into REL; -EINVAL if PATH is on no aifs mount. */
int split_mount(const char *path, char *mnt, size_t mlen, char *rel, size_t rlen);

/* auditbundle.c */
/* aifsctl audit prove FILE --line N|--offset B [--hash-only] [-o BUNDLE]. */
int audit_prove(int argc, char **argv);
/* aifsctl audit verify --bundle PATH [--pubkey FILE]: an exit code. */
int audit_verify_bundle(const char *path, const char *pubkey, bool json);
/* aifsctl audit witness MOUNT FILE: append the newest checkpoint to FILE. */
int audit_witness(const char *mnt, const char *file);
/* Problems in L for each checkpoint witnessed in FILE (by audit witness)
 * that is not signed by VKEY or that L's records do not extend. */
void audit_check_against(struct log *l, const char *vkey, const char *file);

/* auditexport.c */
/* aifsctl audit export [--from FROM] STORE DIR; returns an exit code. */
int audit_export(const char *store, const char *dir, uint64_t from);

/* auditdel.c */
/* Say what became of the journal files INO[0..N) that are gone from the
 * store: deleted after their retention (and by whom), or against it (a
 * problem).  L->info holds each record's fields (verify_store). */
void verify_deletions(struct log *l, const uint64_t *ino, size_t n);

/* auditverify.c */
struct store;
/* The signed checkpoints of L against its records, with the key VKEY. */
void verify_tree(struct log *l, const char *vkey);
/* Everything verify checks of store S beside the tree (with TREE, the tree
 * too, while the content is read): the journaled bytes (*BYTES counts
 * them), the files gone, the cover of each journal file, its lineage. */
void verify_store(struct log *l, struct store *s, const char *vkey, bool tree,
		  unsigned long long *bytes);

/* auditproof.c */
/* The levels of the first SIZE leaves of L, each level's nodes hashed on
 * every core. */
int levels_build(struct levels *lv, struct log *l, uint64_t size);
/* merkle_range_fn over levels LV (CTX): MTH(D[START:END]) for any subtree
 * of a tree of at most LV->size leaves, in O(log n) node hashes. */
int levels_range(void *ctx, uint64_t start, uint64_t end, uint8_t out[32]);
void levels_free(struct levels *lv);
/* One JSON line: the inclusion proof of SEQ in the tree of SIZE (from LV
 * if given, else computed from the records). */
int print_inclusion(FILE *f, struct log *l, const struct levels *lv, uint64_t seq,
		    uint64_t size);
/* Consistency proofs between successive checkpoints, one JSON line each. */
int print_consistency(FILE *f, struct log *l);
/* Check an export that starts at record FROM > 0 through its proofs. */
void verify_partial(struct log *l, const char *dir, uint64_t from, const char *vkey);

#endif
