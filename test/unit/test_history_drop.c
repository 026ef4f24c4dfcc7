/* test_history_drop.c — dropping the epoch snapshots of meta/history.c on
 * a real RocksDB: three epochs made between changes and dropped in turn or
 * newest first, what a drop deletes while later epochs live and what it
 * leaves for an earlier one, meta_epoch_foreach over the live epochs, and
 * the views of a dropped epoch.  The fixture is history_fixture.h.
 */
#include "test/unit/history_fixture.h"

static int hist_ext_cb(void *ctx, uint64_t ino, const struct tier_ref *r)
{
	struct refs *x = ctx;

	(void)ino;
	ck_assert_uint_lt(x->n, 64);
	x->v[x->n++] = *r;
	return 0;
}

static void history_refs(struct refs *x)
{
	x->n = 0;
	ck_assert_int_eq(meta_history_extent_foreach(m, hist_ext_cb, x), 0);
}


/* --- three epochs, dropped in turn ---------------------------------- */

struct state {
	uint64_t size;		/* of inode 3 */
	const char *xa;		/* user.a of 3 */
	const char *only2;	/* user.o of 3: changed only between e2 and e3 */
	int k;			/* 8/k -> 0: absent, else that ino */
	uint32_t e0;		/* stored extent of 3 at 0 */
	uint32_t e1;		/* stored extent of 3 at 4096 (changed between e1 and e2) */
};

static const struct state st[4] = {
	{ 100, "v0", "p", 0, 10, 20 },	/* at e1 */
	{ 101, "v1", "p", 3, 11, 21 },	/* at e2 */
	{ 102, "v2", "q", 0, 12, 21 },	/* at e3 */
	{ 103, "v3", "q", 4, 13, 21 },	/* live */
};

static void set_state(int i, struct refs *kept)
{
	struct meta_batch *b = meta_batch_new();

	put_inode(b, 3, 0100644, st[i].size);
	meta_xattr_put(b, 3, "user.a", st[i].xa, strlen(st[i].xa));
	if (i == 0 || strcmp(st[i].only2, st[i - 1].only2))
		meta_xattr_put(b, 3, "user.o", st[i].only2, 1);
	if (st[i].k)
		meta_dentry_put(b, 8, "k", 1, (uint64_t)st[i].k, DT_REG);
	else if (i)
		meta_dentry_del(b, 8, "k", 1);
	if (i) {
		ext_del(b, 3, 0, st[i - 1].e0);
	} else {		/* populate's extents go */
		ext_del(b, 3, 0, 1);
		ext_del(b, 3, 4096, 2);
		ext_del(b, 3, 8192, 3);
	}
	ext_put(b, 3, 0, 4096, 0, st[i].e0);
	if (i == 0 || st[i].e1 != st[i - 1].e1) {
		if (i)
			ext_del(b, 3, 4096, st[i - 1].e1);
		ext_put(b, 3, 4096, 4096, 0, st[i].e1);
	}
	commit_kept(b, kept);
}

/* Epochs E[0..2] made at st[0..2], then st[3] live; what each change kept
 * into KEPT[0..3]. */
static void make_three_epochs(uint64_t e[3], struct refs kept[4])
{
	for (int i = 0; i < 3; i++) {
		set_state(i, &kept[i]);
		e[i] = make_epoch(D, HWM);
	}
	set_state(3, &kept[3]);
}

static void assert_state(uint64_t ino3, uint64_t d, const struct state *s, uint64_t e)
{
	char want[256];

	assert_size(ino3, s->size);
	assert_xattr(ino3, "user.a", s->xa);
	assert_xattr(ino3, "user.o", s->only2);
	snprintf(want, sizeof(want), "0+4096@%u:0 4096+4096@%u:0 ", s->e0, s->e1);
	assert_extents(ino3, want);
	if (s->k) {
		uint64_t ino = e ? S(e, (uint64_t)s->k) : (uint64_t)s->k;

		assert_dentry(d, "k", 0, ino);
		snprintf(want, sizeof(want), "k=%#llx ", (unsigned long long)ino);
	} else {
		assert_dentry(d, "k", -ENOENT, 0);
		want[0] = 0;
	}
	assert_listing(d, NULL, want);
	ck_assert_int_eq(meta_dir_empty(m, d), !s->k);
}

static void assert_epoch(uint64_t e, int i)
{
	assert_state(S(e, 3), S(e, 8), &st[i], e);
}

static void assert_gone(uint64_t e)
{
	struct meta_inode in;
	struct listing l = { .len = 0 };
	uint64_t ino;
	uint32_t type;
	void *v;
	char *t;
	size_t len;
	uint8_t k[8];
	struct meta_epoch ep;

	ck_assert_int_eq(meta_epoch_get(m, e, &ep), -ENOENT);
	ck_assert_int_eq(meta_inode_get(m, S(e, 3), &in), -ENOENT);
	ck_assert_int_eq(meta_inode_get(m, S(e, D), &in), -ENOENT);
	ck_assert_int_eq(meta_dentry_get(m, S(e, D), "a", 1, &ino, &type), -ENOENT);
	ck_assert_int_eq(meta_dentry_get(m, S(e, 8), "k", 1, &ino, &type), -ENOENT);
	ck_assert_int_eq(meta_dentry_foreach(m, S(e, D), NULL, 0, list_cb, &l), -ENOENT);
	ck_assert_int_eq(meta_dir_empty(m, S(e, D)), -ENOENT);
	ck_assert_int_eq(meta_extent_foreach(m, S(e, 3), ext_list_cb, &l), -ENOENT);
	ck_assert_int_eq(meta_xattr_foreach(m, S(e, 3), xattr_list_cb, &l), -ENOENT);
	/* meta_xattr_get answers an absent name -ENODATA: a dropped epoch too */
	ck_assert_int_eq(meta_xattr_get(m, S(e, 3), "user.a", &v, &len), -ENODATA);
	ck_assert_int_eq(meta_symlink_get(m, S(e, 6), &t, &len), -ENOENT);
	ck_assert_int_eq(meta_inline_get(m, S(e, 7), &v, &len), -ENOENT);
	key_put_u64(k, S(e, 3));
	ck_assert_int_eq(meta_rec_get(m, META_REC_CONTENT_HASH, k, 8, &v, &len), -ENOENT);
}

/* Drop epoch E as drop_expect does; the history's extents lose just those
 * its commit dropped. */
static void drop_from_history(uint64_t e, const uint32_t *want, size_t nw, const char *what)
{
	struct refs before, after;
	struct tier_ref *dr;
	size_t nd;

	history_refs(&before);
	nd = drop_epoch(e, &dr);
	history_refs(&after);
	assert_refs(dr, nd, want, nw, what);
	ck_assert_uint_eq(before.n - after.n, nd);
	for (size_t i = 0; i < nd; i++)
		ck_assert_uint_eq(ref_count(before.v, before.n, dr[i].seg) -
				  ref_count(after.v, after.n, dr[i].seg),
				  ref_count(dr, nd, dr[i].seg));
	free(dr);
}

START_TEST(three_epochs_interleaved_then_dropped)
{
	struct refs kept[4];
	uint64_t e[3];

	make_three_epochs(e, kept);
	ck_assert(e[0] < e[1] && e[1] < e[2]);

	/* 3: each commit reports the extents it kept */
	assert_refs(kept[0].v, kept[0].n, NULL, 0, "kept before e1");
	assert_refs(kept[1].v, kept[1].n, (const uint32_t[]){ 10, 20 }, 2, "kept after e1");
	assert_refs(kept[2].v, kept[2].n, (const uint32_t[]){ 11 }, 1, "kept after e2");
	assert_refs(kept[3].v, kept[3].n, (const uint32_t[]){ 12 }, 1, "kept after e3");
	for (uint32_t r = 10; r <= 21; r++)
		ck_assert_msg(space_net(r) == live_refs(r) +
			      (long)ref_count((struct tier_ref[]){ ref(10), ref(20), ref(11),
							   ref(12) }, 4, r),
			      "stored extent %u: net %ld", r, space_net(r));

	for (int i = 0; i < 3; i++)
		assert_epoch(e[i], i);
	assert_state(3, 8, &st[3], 0);

	/* the middle one */
	drop_from_history(e[1], (const uint32_t[]){ 11 }, 1, "dropped with e2");
	assert_gone(e[1]);
	assert_epoch(e[0], 0);
	assert_epoch(e[2], 2);
	assert_state(3, 8, &st[3], 0);

	/* the first */
	drop_from_history(e[0], (const uint32_t[]){ 10, 20 }, 2, "dropped with e1");
	assert_gone(e[0]);
	assert_epoch(e[2], 2);
	assert_state(3, 8, &st[3], 0);

	/* the last */
	drop_expect(e[2], (const uint32_t[]){ 12 }, 1, "dropped with e3");
	assert_gone(e[2]);
	ck_assert_uint_eq(count_kind(META_REC_EPOCH), 0);
	assert_nothing_kept(10, 21);
	assert_state(3, 8, &st[3], 0);
	ck_assert(!meta_history_covers(m, 3));
}
END_TEST

struct epoch_list {
	uint64_t v[4];
	size_t n, stop;		/* return 1 at the STOP-th (0: never) */
};

static int list_epoch(void *ctx, const struct meta_epoch *ep)
{
	struct epoch_list *l = ctx;

	ck_assert_uint_lt(l->n, 4);
	l->v[l->n++] = ep->epoch;
	return l->n == l->stop;
}

/* meta_epoch_foreach lists the live epochs oldest first and stops where
 * its callback says. */
START_TEST(epoch_foreach_lists_the_live_epochs_oldest_first)
{
	struct epoch_list l = { .n = 0 };
	struct refs kept[4];
	uint64_t e[3];

	make_three_epochs(e, kept);
	ck_assert_int_eq(meta_epoch_foreach(m, list_epoch, &l), 0);
	ck_assert_uint_eq(l.n, 3);
	for (int i = 0; i < 3; i++)
		ck_assert_uint_eq(l.v[i], e[i]);
	l = (struct epoch_list){ .stop = 2 };
	ck_assert_int_eq(meta_epoch_foreach(m, list_epoch, &l), 1);
	ck_assert_uint_eq(l.n, 2);
	drop_from_history(e[1], (const uint32_t[]){ 11 }, 1, "dropped with e2");
	l = (struct epoch_list){ .n = 0 };
	ck_assert_int_eq(meta_epoch_foreach(m, list_epoch, &l), 0);
	ck_assert_uint_eq(l.n, 2);
	ck_assert_uint_eq(l.v[0], e[0]);
	ck_assert_uint_eq(l.v[1], e[2]);
}
END_TEST

/* Dropping in creation order and in reverse leaves the same: nothing. */
START_TEST(three_epochs_dropped_newest_first)
{
	struct refs kept[4];
	struct tier_ref *dr;
	uint64_t e[3];
	size_t total = 0;

	make_three_epochs(e, kept);
	for (int i = 2; i >= 0; i--) {
		total += drop_epoch(e[i], &dr);
		free(dr);
		assert_gone(e[i]);
		for (int j = 0; j < i; j++)
			assert_epoch(e[j], j);
	}
	ck_assert_uint_eq(total, 4);
	assert_nothing_kept(10, 21);
}
END_TEST

/* The deaths of the history entries of KIND's records of INO, in key order
 * (name, then death), are WANT[0..N). */
static void assert_deaths(uint8_t kind, uint64_t ino, const uint64_t *want, size_t n,
			  const char *what)
{
	uint8_t p[10] = { META_REC_HISTORY, kind };
	struct db_cursor c;
	size_t i = 0;

	key_put_u64(p + 2, ino);
	ck_assert_int_eq(db_cur_open(&c, m, p, sizeof(p), p, sizeof(p)), 0);
	while (db_cur_next(&c)) {
		uint64_t death = key_get_u64(c.k + c.klen - 8);

		ck_assert_msg(i < n, "%s: entry %zu died at %llu, expected only %zu entries",
			      what, i, (unsigned long long)death, n);
		ck_assert_msg(death == want[i], "%s: entry %zu died at %llu, expected %llu", what,
			      i, (unsigned long long)death, (unsigned long long)want[i]);
		i++;
	}
	ck_assert_int_eq(db_cur_close(&c, 0), 0);
	ck_assert_msg(i == n, "%s: %zu entries, expected %zu", what, i, n);
}

/* Dropping an epoch while two later ones live deletes only what died up to
 * the nearest of them: what died before the farther one is what the nearer
 * one reads.  E[3] is made at st[3], the live state, after the changes that
 * died at it; a change made after E[i] dies at E[i + 1]. */
START_TEST(drop_with_two_later_epochs_stops_at_the_nearest)
{
	struct refs kept[4];
	uint64_t e[4];

	make_three_epochs(e, kept);
	e[3] = make_epoch(D, HWM);
	for (int i = 0; i < 3; i++)
		ck_assert_uint_eq(e[i + 1], e[i] + 1);
	/* I3 and E3@0 changed in every span, E3@4096 only before e2, user.o
	 * only before e3, 8/k was made, deleted and made again */
	assert_history(14);
	for (int i = 0; i < 4; i++)
		assert_epoch(e[i], i);

	/* the middle one, e1 before it, e3 and e4 after: what changed before e3
	 * goes, but user.o, which e1 reads from the entry that died at e3 */
	drop_from_history(e[1], (const uint32_t[]){ 11 }, 1, "dropped with e2");
	assert_gone(e[1]);
	assert_history(10);
	assert_deaths(META_REC_INODE, 3, (const uint64_t[]){ e[1], e[3] }, 2, "I3 after e2");
	assert_deaths(META_REC_EXTENT, 3, (const uint64_t[]){ e[1], e[3], e[1] }, 3,
		      "E3 (at 0, then 4096) after e2");
	assert_deaths(META_REC_XATTR, 3, (const uint64_t[]){ e[1], e[3], e[2] }, 3,
		      "X3 (user.a, then user.o) after e2");
	assert_deaths(META_REC_DENTRY, 8, (const uint64_t[]){ e[1], e[3] }, 2, "D8 after e2");
	assert_epoch(e[0], 0);
	assert_epoch(e[2], 2);
	assert_epoch(e[3], 3);
	assert_state(3, 8, &st[3], 0);

	/* the first, e3 and e4 after it: all that died up to e3 goes */
	drop_from_history(e[0], (const uint32_t[]){ 10, 20 }, 2, "dropped with e1");
	assert_gone(e[0]);
	assert_history(4);
	assert_deaths(META_REC_INODE, 3, (const uint64_t[]){ e[3] }, 1, "I3 after e1");
	assert_deaths(META_REC_EXTENT, 3, (const uint64_t[]){ e[3] }, 1, "E3 after e1");
	assert_deaths(META_REC_XATTR, 3, (const uint64_t[]){ e[3] }, 1, "X3 after e1");
	assert_deaths(META_REC_DENTRY, 8, (const uint64_t[]){ e[3] }, 1, "D8 after e1");
	assert_epoch(e[2], 2);
	assert_epoch(e[3], 3);
	assert_state(3, 8, &st[3], 0);

	/* the newest reads the live records: its drop deletes nothing */
	drop_expect(e[3], NULL, 0, "dropped with e4");
	assert_history(4);
	assert_epoch(e[2], 2);
	drop_expect(e[2], (const uint32_t[]){ 12 }, 1, "dropped with e3");
	assert_nothing_kept(10, 21);
	assert_state(3, 8, &st[3], 0);
}
END_TEST

/* An entry that an earlier live epoch still reads survives the drop of a
 * later one: e2 and e3 read the value kept when it changed after e3. */
static void set_e0(uint32_t from, uint32_t to, const char *xa)
{
	struct meta_batch *b = meta_batch_new();

	ext_repoint(b, from, to);
	meta_xattr_put(b, 3, "user.a", xa, strlen(xa));
	commit(b);
}

static void assert_e0(uint64_t ino, uint32_t n, const char *xa)
{
	char want[64];

	snprintf(want, sizeof(want), "0+4096@%u:0 4096+4096@2:0 8192+4096@3:0 ", n);
	assert_extents(ino, want);
	assert_xattr(ino, "user.a", xa);
}

START_TEST(drop_keeps_what_an_earlier_epoch_reads)
{
	uint64_t e[4];

	e[0] = make_epoch(D, HWM);
	set_e0(1, 11, "v1");
	e[1] = make_epoch(D, HWM);
	e[2] = make_epoch(D, HWM);	/* nothing changed since e2 */
	set_e0(11, 12, "v2");
	e[3] = make_epoch(D, HWM);
	set_e0(12, 13, "v3");
	assert_e0(S(e[0], 3), 1, "1");
	assert_e0(S(e[1], 3), 11, "v1");
	assert_e0(S(e[2], 3), 11, "v1");
	assert_e0(S(e[3], 3), 12, "v2");

	drop_expect(e[2], NULL, 0, "dropped with e3");	/* e2 reads what e3 read */
	assert_e0(S(e[0], 3), 1, "1");
	assert_e0(S(e[1], 3), 11, "v1");
	assert_e0(S(e[3], 3), 12, "v2");

	drop_expect(e[1], (const uint32_t[]){ 11 }, 1, "dropped with e2");
	assert_e0(S(e[0], 3), 1, "1");
	assert_e0(S(e[3], 3), 12, "v2");

	drop_expect(e[3], (const uint32_t[]){ 12 }, 1, "dropped with e4");
	assert_e0(S(e[0], 3), 1, "1");

	drop_expect(e[0], (const uint32_t[]){ 1 }, 1, "dropped with e1");
	assert_nothing_kept(1, 13);
}
END_TEST

/* A batch that drops the last live epoch and changes a record it saw: once
 * it commits, no epoch lives, and nothing may stay kept for one. */
START_TEST(drop_of_the_last_epoch_with_a_change_keeps_nothing)
{
	struct meta_batch *b = meta_batch_new();

	ck_assert_int_eq(meta_epoch_drop(m, b, e1), 0);
	ext_repoint(b, 1, 4);
	put_inode(b, 3, 0100644, 777);
	commit(b);
	ck_assert(!meta_history_covers(m, 3));
	assert_nothing_kept(1, 4);
}
END_TEST

/* --- a dropped epoch ------------------------------------------------------- */

START_TEST(view_of_a_dropped_epoch_is_enoent)
{
	struct meta_batch *b;
	struct refs kept;

	change_all(&kept);
	drop_expect(e1, (const uint32_t[]){ 1, 2, 3 }, 3, "dropped");
	assert_gone(e1);
	assert_history(0);
	ck_assert_int_eq(space_net(1), 0);
	ck_assert_int_eq(space_net(2), 2);
	ck_assert_int_eq(space_net(3), 0);
	ck_assert_int_eq(space_net(4), 1);
	/* dropping it again: not live */
	b = meta_batch_new();
	ck_assert_int_eq(meta_epoch_drop(m, b, e1), -ENOENT);
	meta_batch_free(b);
	reopen();
	assert_gone(e1);
	assert_new_live();
}
END_TEST
/* --- suite ------------------------------------------------------------------ */

/* Two test cases by what the store holds when a test starts: populate's
 * records, or those and the epoch e1 over them. */
static Suite *history_drop_suite(void)
{
	Suite *s = suite_create("history_drop");
	TCase *populated = tcase_create("populated");
	TCase *epoch = tcase_create("epoch");

	tcase_add_checked_fixture(populated, setup_populated, teardown);
	tcase_add_checked_fixture(epoch, setup_epoch, teardown);
	tcase_add_test(populated, three_epochs_interleaved_then_dropped);
	tcase_add_test(populated, three_epochs_dropped_newest_first);
	tcase_add_test(populated, epoch_foreach_lists_the_live_epochs_oldest_first);
	tcase_add_test(populated, drop_keeps_what_an_earlier_epoch_reads);
	tcase_add_test(populated, drop_with_two_later_epochs_stops_at_the_nearest);
	tcase_add_test(epoch, drop_of_the_last_epoch_with_a_change_keeps_nothing);
	tcase_add_test(epoch, view_of_a_dropped_epoch_is_enoent);
	suite_add_tcase(s, populated);
	suite_add_tcase(s, epoch);
	return s;
}

int main(void)
{
	return history_fixture_main(history_drop_suite());
}
