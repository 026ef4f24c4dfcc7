/* note.h — Ed25519 signed notes and tlog checkpoints (C2SP).
 *
 * A signed note (https://c2sp.org/signed-note) is UTF-8 text ending in a
 * newline, a blank line, and one line per signature:
 *
 *   <text lines>\n
 *   \n
 *   — <key name> <base64(key hash[4] || Ed25519 signature[64])>\n
 *
 * where the key hash is the first 4 bytes of SHA-256(name || 0x0A || 0x01
 * || public key) and the signature covers the text bytes exactly.  A
 * verifier key ("vkey") is the string "<name>+<hex key hash>+<base64(0x01
 * || public key)>", all a third party needs to check a note.
 *
 * A checkpoint (https://c2sp.org/tlog-checkpoint) is a signed note whose
 * text is the tree head of a log:
 *
 *   <origin>\n
 *   <tree size, decimal>\n
 *   <base64 root hash>\n
 *   time <unix seconds>\n      (optional extension line, aifs's own)
 *
 * The journal signs its Merkle tree heads (merkle.h) as checkpoints with
 * the private key mkfs stores in STORE/audit.key.
 *
 * Functions return 0 or a negative errno: -EINVAL for arguments that are
 * not well-formed (key names, vkeys, origins, note text to sign), -EBADMSG
 * for a note or key file that is malformed or whose signature does not
 * verify, -ENOMEM, or the errno of a failed file operation.  Strings
 * returned through char ** are malloc'd and the caller frees them.
 * Thread-safe; a struct note_key may be shared by threads.
 */
#ifndef AIFS_META_NOTE_H
#define AIFS_META_NOTE_H

#include <stdint.h>

#include "meta/merkle.h"

struct note_key;	/* an Ed25519 private key */

/* Make a new Ed25519 key and store it at PATH as unencrypted PKCS#8 PEM
 * with mode 0600, atomically and durably.  Never replaces a file:
 * -EEXIST if PATH exists. */
int note_key_generate(const char *path);

/* Load the Ed25519 private key in PEM file PATH into *OUT (free with
 * note_key_free).  -EBADMSG if PATH holds no unencrypted Ed25519 key. */
int note_key_load(const char *path, struct note_key **out);
void note_key_free(struct note_key *k);

/* *OUT = the verifier key of K under key name NAME.  A name is non-empty
 * UTF-8 without spaces or '+'. */
int note_vkey(const struct note_key *k, const char *name, char **out);

/* *OUT = TEXT signed by K as NAME.  TEXT must be non-empty UTF-8 without
 * control characters other than newline, and end in a newline. */
int note_sign_text(const struct note_key *k, const char *name, const char *text, char **out);

/* Check NOTE against verifier key VKEY and set *TEXT to its text.  Needs at
 * least one signature by VKEY's key, and every signature by it must
 * verify; signatures by other keys are ignored (at most 100 in all).
 * -EINVAL if VKEY is malformed; -EBADMSG if NOTE is malformed or not
 * signed by VKEY's key. */
int note_open(const char *vkey, const char *note, char **text);

/* *OUT = the checkpoint "ORIGIN, SIZE, ROOT" signed by K as NAME, with a
 * "time TIME" extension line when TIME >= 0.  ORIGIN must be a non-empty
 * line of note text. */
int note_sign(const struct note_key *k, const char *name, const char *origin, uint64_t size,
	      const uint8_t root[MERKLE_HASH_LEN], int64_t time, char **out);

/* Check checkpoint NOTE against VKEY (as note_open does) and parse it:
 * *ORIGIN (if ORIGIN is not NULL), *SIZE, ROOT, and *TIME (if TIME is not
 * NULL; -1 without a time line).  Other extension lines are ignored, as
 * the checkpoint format requires.  -EBADMSG if the signature does not
 * verify or the text is not a checkpoint. */
int note_verify(const char *vkey, const char *note, char **origin, uint64_t *size,
		uint8_t root[MERKLE_HASH_LEN], int64_t *time);

#endif
