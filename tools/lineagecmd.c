/* lineagecmd.c — `aifsctl lineage PATH [--json | --openlineage]`, through
 * the mount: the lineage of a checkpoint version is its user.aifs.lineage
 * attribute (JSON, with the lineage of every checkpoint version it read
 * nested as "upstream"), so walking backwards needs no other call.  This
 * file prints it as a tree, as it is, or as OpenLineage RunEvents.
 */
#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "tools/aifsctl.h"
#include "tools/common.h"

#define OL_SCHEMA	"https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"
#define OL_PRODUCER	"urn:aifs:aifsctl:" AIFS_VERSION
#define OL_FACET	"urn:aifs:facet"		/* + ":NAME:1", see aifsctl(8) */

/* --- a small JSON reader -------------------------------------------------- */

enum jtype { J_NULL, J_BOOL, J_NUM, J_STR, J_ARR, J_OBJ };

struct jv {
	enum jtype t;
	char *s;		/* J_STR; J_NUM and J_BOOL: their text */
	size_t n;		/* J_ARR, J_OBJ: members */
	struct jv *v;
	char **k;		/* J_OBJ: names */
};

static const char *ws(const char *p)
{
	while (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r')
		p++;
	return p;
}

/* A JSON string at P (after its quote) into a malloc'd *OUT. */
static const char *jstring(const char *p, char **out)
{
	size_t cap = strlen(p) + 1, n = 0;
	char *s = malloc(cap);

	if (!s)
		return NULL;
	for (; *p && *p != '"'; p++) {
		if (*p != '\\') {
			s[n++] = *p;
			continue;
		}
		p++;
		if (*p == 'u') {
			unsigned c;

			if (sscanf(p + 1, "%4x", &c) != 1)
				break;
			s[n++] = c < 0x80 ? (char)c : '?';	/* aifs escapes controls only */
			p += 4;
		} else {
			s[n++] = *p == 'n' ? '\n' : *p == 't' ? '\t' : *p == 'r' ? '\r' :
				 *p == 'b' ? '\b' : *p == 'f' ? '\f' : *p;
		}
	}
	s[n] = 0;
	if (*p != '"') {
		free(s);
		return NULL;
	}
	*out = s;
	return p + 1;
}

static const char *jparse(const char *p, struct jv *out, int depth)
{
	memset(out, 0, sizeof(*out));
	p = ws(p);
	if (depth > 64)
		return NULL;
	if (*p == '"') {
		out->t = J_STR;
		return jstring(p + 1, &out->s);
	}
	if (*p == '{' || *p == '[') {
		bool obj = *p == '{';
		char close = obj ? '}' : ']';

		out->t = obj ? J_OBJ : J_ARR;
		p = ws(p + 1);
		while (p && *p != close) {
			struct jv *v = realloc(out->v, (out->n + 1) * sizeof(*v));
			char **k = obj ? realloc(out->k, (out->n + 1) * sizeof(*k)) : NULL;

			if (!v || (obj && !k))
				return NULL;
			out->v = v;
			if (obj) {
				out->k = k;
				p = ws(p);
				if (*p != '"' || !(p = jstring(p + 1, &k[out->n])))
					return NULL;
				p = ws(p);
				if (*p++ != ':')
					return NULL;
			}
			p = jparse(p, &v[out->n], depth + 1);
			if (!p)
				return NULL;
			out->n++;
			p = ws(p);
			if (*p == ',')
				p = ws(p + 1);
			else if (*p != close)
				return NULL;
		}
		return p ? p + 1 : NULL;
	}
	{
		size_t n = strspn(p, "0123456789+-.eEtruefalsn");

		if (!n)
			return NULL;
		out->t = !strncmp(p, "null", 4) ? J_NULL : (*p == 't' || *p == 'f') ? J_BOOL : J_NUM;
		out->s = strndup(p, n);
		return out->s ? p + n : NULL;
	}
}

static void jfree(struct jv *v)
{
	for (size_t i = 0; i < v->n; i++) {
		jfree(&v->v[i]);
		if (v->k)
			free(v->k[i]);
	}
	free(v->v);
	free(v->k);
	free(v->s);
}

static const struct jv *jget(const struct jv *o, const char *key)
{
	for (size_t i = 0; o && o->t == J_OBJ && i < o->n; i++)
		if (!strcmp(o->k[i], key))
			return &o->v[i];
	return NULL;
}

/* Text of member KEY of O (a string, number or boolean), or DEF. */
static const char *jtext(const struct jv *o, const char *key, const char *def)
{
	const struct jv *v = jget(o, key);

	return v && v->s && v->t != J_NULL ? v->s : def;
}

/* --- reading ------------------------------------------------------------- */

/* The mount-relative name of the file or directory PATH designates (a
 * version alias FILE@vN or DIR/.aifs/versions/FILE/N names FILE) into
 * NAME, and the mount root into ROOT. */
static int path_name(const char *path, char *root, size_t rlen, char *name, size_t nlen)
{
	char buf[PATH_MAX], dir[PATH_MAX], real[PATH_MAX], *at, *v;
	size_t rl;

	snprintf(buf, sizeof(buf), "%s", path);
	snprintf(dir, sizeof(dir), "%s", dirname(buf));
	snprintf(buf, sizeof(buf), "%s", path);
	if (mount_root(dir, root, rlen) < 0 || !realpath(dir, real))
		return -1;
	rl = strlen(root);
	/* "/" + the mount-relative path, so that every name starts with "/" */
	snprintf(name, nlen, "%s/%s", real + rl, basename(buf));
	v = strstr(name, "/.aifs/versions/");
	if (v) {	/* DIR/.aifs/versions/FILE/N -> DIR/FILE */
		char *file = v + 16, *slash = strrchr(file, '/');

		if (slash)
			*slash = 0;
		memmove(v + 1, file, strlen(file) + 1);
	} else if ((at = strrchr(name, '@')) && at[1] == 'v' && at[2] &&
		   strspn(at + 2, "0123456789") == strlen(at + 2)) {
		*at = 0;
	}
	memmove(name, name + 1, strlen(name));
	return 0;
}

/* --- the tree -------------------------------------------------------------- */

static void short_sha(const char *sha, char out[17])
{
	snprintf(out, 17, "%s", sha ? sha : "-");
}

static void print_job(const struct jv *l, int ind)
{
	const struct jv *job = jget(l, "job");
	char q[TTY_QUOTE_MAX];

	printf("%*sjob %s", ind, "", tty_quote(jtext(job, "name", jtext(job, "id", "?")), q,
					      sizeof(q)));
	printf("  sid %s  uid %s  started %s\n", jtext(job, "sid", "?"), jtext(job, "uid", "?"),
	       jtext(job, "start", "?"));
	printf("%*s  %s\n", ind, "", tty_quote(jtext(job, "cmdline", ""), q, sizeof(q)));
}

static void print_tree(const struct jv *l, int ind)
{
	const struct jv *src = jget(l, "sources");
	char sha[17];

	print_job(l, ind);
	if (!src || !src->n)
		printf("%*s<- (nothing read from a dataset or checkpoint version)\n", ind, "");
	for (size_t i = 0; src && i < src->n; i++) {
		const struct jv *s = &src->v[i], *st = jget(s, "state"), *up = jget(s, "upstream");
		const char *kind = jtext(s, "kind", "?");

		if (!strcmp(kind, "snapshot")) {
			printf("%*s<- dataset %s snapshot %s (%s files, %s bytes, taken %s)\n", ind, "",
			       jtext(s, "dataset", "?"), jtext(s, "snapshot", "?"),
			       jtext(s, "files", "?"), jtext(s, "bytes", "?"),
			       jtext(s, "taken", "?"));
		} else if (!strcmp(kind, "live")) {
			printf("%*s<- dataset %s live tree (%s files read, sha256 sum %s%s)\n", ind,
			       "", jtext(s, "dataset", "?"), jtext(st, "files", "?"),
			       jtext(st, "sha256_sum", "?"),
			       !strcmp(jtext(st, "complete", "true"), "true") ? "" : ", partial");
		} else {
			short_sha(jtext(s, "sha256", NULL), sha);
			printf("%*s<- checkpoint %s@v%s (%s, sha256 %s, committed %s)\n", ind, "",
			       jtext(s, "path", "?"), jtext(s, "version", "?"),
			       jtext(s, "type", "file"), sha, jtext(s, "committed", "?"));
			if (up)
				print_tree(up, ind + 5);
			else if (!strcmp(jtext(s, "upstream_omitted", "false"), "true"))
				printf("%*s(its lineage is too long to nest: aifsctl lineage "
				       "on that version)\n", ind + 5, "");
		}
	}
}

/* --- OpenLineage ----------------------------------------------------------- */

/* A run id (UUID) from a job id (32 hex digits): version 8, RFC 4122 variant. */
static void run_id(const char *id, char out[37])
{
	char h[33];

	snprintf(h, sizeof(h), "%-32s", id);
	for (int i = 0; i < 32; i++)
		if (h[i] == ' ')
			h[i] = '0';
	h[12] = '8';
	h[16] = "89ab"[strtol((char[]){ h[16], 0 }, NULL, 16) & 3];
	snprintf(out, 37, "%.8s-%.4s-%.4s-%.4s-%.12s", h, h + 8, h + 12, h + 16, h + 20);
}

static void facet_head(const char *name)
{
	printf("\"%s\": {\"_producer\": \"%s\", \"_schemaURL\": \"%s:%s:1\"", name, OL_PRODUCER,
	       OL_FACET, name);
}

static void ol_input(const struct jv *s, const char *ns, const char *root)
{
	const char *kind = jtext(s, "kind", "?");
	char name[8192], ds[8192], digest[65];
	const struct jv *st = jget(s, "state");

	if (!strcmp(kind, "version"))
		snprintf(name, sizeof(name), "%s@v%s", jtext(s, "path", "?"),
			 jtext(s, "version", "?"));
	else if (!strcmp(kind, "snapshot"))
		snprintf(name, sizeof(name), "%s@%s", jtext(s, "dataset", "?"),
			 jtext(s, "snapshot", "?"));
	else
		snprintf(name, sizeof(name), "%s", jtext(s, "dataset", "?"));
	printf("{\"namespace\": ");
	json_str(ns);
	printf(", \"name\": ");
	json_str(name);
	printf(", \"facets\": {\"version\": {\"_producer\": \"%s\", \"_schemaURL\": "
	       "\"https://openlineage.io/spec/facets/1-0-1/DatasetVersionDatasetFacet.json\", "
	       "\"datasetVersion\": ", OL_PRODUCER);
	json_str(!strcmp(kind, "version") ? jtext(s, "version", "?") :
		 jtext(s, "snapshot", "live"));
	printf("}, ");
	facet_head("aifs_source");
	printf(", \"kind\": \"%s\"", kind);
	if (!strcmp(kind, "snapshot")) {
		snprintf(ds, sizeof(ds), "%s/%s", root, jtext(s, "dataset", ""));
		if (snap_manifest_digest(ds, jtext(s, "snapshot", ""), digest) == 0)
			printf(", \"manifest_digest\": \"sha256:%s\"", digest);
		else
			printf(", \"manifest_digest\": null");
	} else if (!strcmp(kind, "version")) {
		printf(", \"sha256\": ");
		json_str(jtext(s, "sha256", ""));
	} else {
		printf(", \"files_read\": %s, \"sha256_sum\": \"%s\"", jtext(st, "files", "0"),
		       jtext(st, "sha256_sum", ""));
	}
	printf(", \"first_read\": \"%s\"}}}", jtext(s, "first_read", ""));
}

/* One RunEvent for version L of NAME, then one for each upstream version. */
static void ol_events(const struct jv *l, const char *name, const char *ns, const char *root,
		      int depth)
{
	const struct jv *job = jget(l, "job"), *ver = jget(l, "version"), *src = jget(l, "sources");
	char rid[37], out[8192];

	run_id(jtext(job, "id", ""), rid);
	snprintf(out, sizeof(out), "%s@v%s", name, jtext(ver, "number", "?"));
	printf("{\"eventType\": \"COMPLETE\", \"eventTime\": \"%s\", \"producer\": \"%s\", "
	       "\"schemaURL\": \"%s\", \"run\": {\"runId\": \"%s\", \"facets\": {",
	       jtext(ver, "committed", jtext(l, "attached", "")), OL_PRODUCER, OL_SCHEMA, rid);
	facet_head("aifs_job");
	printf(", \"job_id\": \"%s\", \"sid\": %s, \"uid\": %s, \"cmdline\": ", jtext(job, "id", ""),
	       jtext(job, "sid", "0"), jtext(job, "uid", "0"));
	json_str(jtext(job, "cmdline", ""));
	printf(", \"start\": \"%s\"}}}, \"job\": {\"namespace\": ", jtext(job, "start", ""));
	json_str(ns);
	printf(", \"name\": ");
	json_str(jtext(job, "name", jtext(job, "cmdline", "")));
	printf(", \"facets\": {}}, \"inputs\": [");
	for (size_t i = 0; src && i < src->n; i++) {
		if (i)
			printf(", ");
		ol_input(&src->v[i], ns, root);
	}
	printf("], \"outputs\": [{\"namespace\": ");
	json_str(ns);
	printf(", \"name\": ");
	json_str(out);
	printf(", \"facets\": {\"version\": {\"_producer\": \"%s\", \"_schemaURL\": "
	       "\"https://openlineage.io/spec/facets/1-0-1/DatasetVersionDatasetFacet.json\", "
	       "\"datasetVersion\": \"%s\"}, ", OL_PRODUCER, jtext(ver, "number", "?"));
	facet_head("aifs_version");
	printf(", \"type\": \"%s\", \"sha256\": ", jtext(ver, "type", "file"));
	json_str(jtext(ver, "sha256", ""));
	printf(", \"size\": %s}}}]}\n", jtext(ver, "size", "0"));
	for (size_t i = 0; src && depth < 16 && i < src->n; i++) {
		const struct jv *up = jget(&src->v[i], "upstream");

		if (up)
			ol_events(up, jtext(&src->v[i], "path", "?"), ns, root, depth + 1);
	}
}

/* --- the command --------------------------------------------------------- */

static const char lineage_usage[] =
	"usage: aifsctl lineage [--json | --openlineage] PATH\n"
	"\n"
	"What the checkpoint version PATH was made from: the job that committed it\n"
	"(command line, start time) and the dataset snapshots, live dataset trees and\n"
	"checkpoint versions that job read, walking back through those versions.\n"
	"PATH is a checkpoint file (its newest complete version), FILE@vN,\n"
	"DIR/.aifs/versions/FILE/N, or a checkpoint directory with versions.\n"
	"  --json         the user.aifs.lineage attribute as it is (JSON)\n"
	"  --openlineage  OpenLineage RunEvents, one JSON object a line: this version\n"
	"                 first, then each version it was made from\n";

int cmd_lineage(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "openlineage", no_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	char root[PATH_MAX], name[PATH_MAX], ns[PATH_MAX + 300], host[256] = "localhost";
	struct jv l;
	char *text;
	int ch, mode = 0, rc = EXIT_OK;

	while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'j': mode = mode ? -1 : 'j'; break;
		case 'o': mode = mode ? -1 : 'o'; break;
		case 'h': fputs(lineage_usage, stdout); return EXIT_OK;
		default: usage_of(stderr, lineage_usage, NULL, false); return EXIT_USAGE;
		}
	}
	if (argc - optind != 1 || mode < 0) {
		usage_of(stderr, lineage_usage, NULL, false);
		return EXIT_USAGE;
	}
	text = xattr_str(argv[optind], "user.aifs.lineage");
	if (!text) {
		fprintf(stderr, "aifsctl lineage: %s: %s\n", argv[optind],
			errno == ENODATA ? "no lineage (not a checkpoint version of a mounted aifs, "
					   "or committed with lineage off)" : strerror(errno));
		return EXIT_PROBLEM;
	}
	if (mode == 'j') {
		printf("%s\n", text);
		free(text);
		return EXIT_OK;
	}
	if (!jparse(text, &l, 0) || l.t != J_OBJ ||
	    path_name(argv[optind], root, sizeof(root), name, sizeof(name)) < 0) {
		fprintf(stderr, "aifsctl lineage: %s: its lineage cannot be read (malformed "
			"JSON, or no mount above it)\n", argv[optind]);
		jfree(&l);
		free(text);
		return EXIT_PROBLEM;
	}
	if (mode == 'o') {
		gethostname(host, sizeof(host) - 1);
		snprintf(ns, sizeof(ns), "aifs://%s%s", host, root);
		ol_events(&l, name, ns, root, 0);
	} else {
		const struct jv *ver = jget(&l, "version");
		char sha[17];

		short_sha(jtext(ver, "sha256", NULL), sha);
		printf("%s@v%s (%s, sha256 %s, committed %s)\n", name, jtext(ver, "number", "?"),
		       jtext(ver, "type", "file"), sha, jtext(ver, "committed", "?"));
		print_tree(&l, 2);
	}
	jfree(&l);
	free(text);
	return rc;
}
