/* codec.h — the per-extent codecs of tier/ (private to tier/ and its tests).
 *
 * An extent is stored raw or compressed with one of:
 *   TIER_CODEC_LZ4   lz4 of the bytes as they are;
 *   TIER_CODEC_BG4   the bytes split into 4 byte planes (byte 0 of every
 *                    4-byte value, then byte 1, ...; a tail shorter than a
 *                    value stays last as it is), then lz4;
 *   TIER_CODEC_BG2   the same with 2-byte values.
 * Byte grouping puts the sign and exponent bytes of float tensors (fp32,
 * bf16, fp16) side by side, where lz4 finds the runs it cannot find in
 * interleaved values.
 *
 * Pure functions on caller buffers: no I/O, no allocation, thread-safe.
 */
#ifndef AIFS_TIER_CODEC_H
#define AIFS_TIER_CODEC_H

#include <stdint.h>

#define CODEC_SAMPLE	(64u << 10)	/* bytes tried by codec_choose */

/* Value width of a byte-grouping codec (4 or 2), or 1 for the others. */
unsigned codec_width(int codec);

/* Encode LEN bytes of SRC with CODEC (LZ4, BG4 or BG2) into DST, which has
 * room for CAP bytes; TMP has room for LEN bytes (the byte planes).
 * Returns the encoded length, or 0 if it would not fit in CAP. */
uint32_t codec_encode(int codec, const uint8_t *src, uint32_t len, uint8_t *dst,
		      uint32_t cap, uint8_t *tmp);

/* Decode the STORED bytes of SRC, which CODEC encoded from RAW bytes, and
 * write the decoded bytes [INNER, INNER+LEN) to DST.  TMP has room for RAW
 * bytes (LZ4 with INNER 0 does not use it).  Returns 0, or -EIO when SRC
 * does not decode to RAW bytes. */
int codec_decode(int codec, const uint8_t *src, uint32_t stored, uint32_t raw,
		 uint32_t inner, uint32_t len, uint8_t *dst, uint8_t *tmp);

/* The codec among LZ4, BG4 and BG2 that encodes a CODEC_SAMPLE-byte sample
 * from the middle of SRC (LEN bytes) smallest.  TMP and OUT have room for
 * CODEC_SAMPLE bytes and LZ4_compressBound(CODEC_SAMPLE) bytes. */
int codec_choose(const uint8_t *src, uint32_t len, uint8_t *tmp, uint8_t *out);

/* Room codec_choose needs in OUT. */
uint32_t codec_choose_room(void);

#endif
