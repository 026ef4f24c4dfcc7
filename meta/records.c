/* records.c — the registry of record kinds as a table (records.h). */
#include "meta/records.h"

const struct meta_rec_kind meta_rec_kinds[] = {
#define META_REC_ENTRY(name, byte, owner, key, value) { (byte), #name, (owner), (key), (value) },
	META_RECORDS(META_REC_ENTRY)
#undef META_REC_ENTRY
};

const size_t meta_rec_nkinds = sizeof(meta_rec_kinds) / sizeof(meta_rec_kinds[0]);

const struct meta_rec_kind *meta_rec_kind_of(uint8_t byte)
{
	for (size_t i = 0; i < meta_rec_nkinds; i++)
		if (meta_rec_kinds[i].byte == byte)
			return &meta_rec_kinds[i];
	return NULL;
}
