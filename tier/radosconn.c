/* radosconn.c — connecting to the cluster of a RADOS tier (rados_priv.h):
 * rados specs, the client handle with aifs's settings, the check that a
 * namespace holds a store, and a handle's address as the cluster knows it.
 * Shared by the tier (rados.c) and the messages between hosts (radosmsg.c).
 */
#include "tier/tier.h"
#include "tier/log.h"
#include "tier/rados_priv.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int rtier_user_fail(const struct tier_rados_opts *ro, int rc, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	log_err("%s", msg);
	if (ro && ro->err && ro->errlen)
		snprintf(ro->err, ro->errlen, "%s", msg);
	return rc;
}

int tier_spec_is_rados(const char *spec)
{
	return spec && !strncmp(spec, "rados:", 6);
}

/* Split SPEC into pool and namespace (default: UUID). */
int rtier_spec_parse(const char *spec, const char *uuid, char **pool, char **ns)
{
	const char *p = spec + 6, *slash = strchr(p, '/');
	size_t plen = slash ? (size_t)(slash - p) : strlen(p);
	const char *n = slash ? slash + 1 : uuid;

	*pool = *ns = NULL;
	if (!tier_spec_is_rados(spec) || plen == 0 || !n || !*n || strchr(n, '/'))
		return -EINVAL;
	*pool = strndup(p, plen);
	*ns = strdup(n);
	if (!*pool || !*ns) {
		free(*pool);
		free(*ns);
		*pool = *ns = NULL;
		return -ENOMEM;
	}
	return 0;
}

static int conf_set(rados_t c, const char *key, unsigned v)
{
	char buf[16];

	snprintf(buf, sizeof buf, "%u", v);
	return rados_conf_set(c, key, buf);
}

/* Connect to the cluster and open POOL with namespace NS. */
int rtier_cluster_connect(const char *spec, const char *pool, const char *ns,
		   const struct tier_rados_opts *ro, rados_t *cluster, rados_ioctx_t *io)
{
	const char *user = ro ? ro->user : NULL;
	int rc;

	*cluster = NULL;
	*io = NULL;
	if (user && !strncmp(user, "client.", 7))
		rc = rados_create2(cluster, "ceph", user, 0);
	else
		rc = rados_create(cluster, user);
	if (rc < 0)
		return rtier_user_fail(ro, rc, "%s: cannot create a Ceph client (user %s): %s", spec,
				 user ? user : "default", strerror(-rc));
	rc = rados_conf_read_file(*cluster, ro ? ro->conf : NULL);
	if (rc < 0) {
		rc = rtier_user_fail(ro, rc, "%s: cannot read the Ceph configuration %s: %s", spec,
			       ro && ro->conf ? ro->conf : "(default search)", strerror(-rc));
		goto fail;
	}
	rados_conf_parse_env(*cluster, NULL);
	if (ro && ro->timeout) {
		conf_set(*cluster, "rados_osd_op_timeout", ro->timeout);
		conf_set(*cluster, "rados_mon_op_timeout", ro->timeout);
		conf_set(*cluster, "client_mount_timeout", ro->timeout);
	}
	rc = rados_connect(*cluster);
	if (rc < 0) {
		rc = rtier_user_fail(ro, rc, "%s: cannot connect to the Ceph cluster: %s", spec,
			       strerror(-rc));
		goto fail;
	}
	rc = rados_ioctx_create(*cluster, pool, io);
	if (rc < 0) {
		rc = rtier_user_fail(ro, rc, "%s: cannot open pool %s: %s", spec, pool, strerror(-rc));
		goto fail;
	}
	rados_ioctx_set_namespace(*io, ns);
	return 0;
fail:
	if (*io)
		rados_ioctx_destroy(*io);
	rados_shutdown(*cluster);
	*cluster = NULL;
	*io = NULL;
	return rc;
}

/* Read aifs.store and check that it names the store RO->uuid. */
int rtier_store_check(const char *spec, rados_ioctx_t io, const struct tier_rados_opts *ro)
{
	char buf[128] = "", uuid[64] = "";
	int n = rados_read(io, RADOS_STORE_OBJ, buf, sizeof buf - 1, 0);

	if (n == -ENOENT)
		return rtier_user_fail(ro, -ENOENT, "%s holds no aifs tier (no %s object): was it made by "
				 "aifsctl mkfs --cold %s?", spec, RADOS_STORE_OBJ, spec);
	if (n < 0)
		return rtier_user_fail(ro, n, "%s: cannot read %s: %s", spec, RADOS_STORE_OBJ,
				 strerror(-n));
	buf[n] = 0;
	if (sscanf(buf, "uuid = %63s", uuid) != 1)
		return rtier_user_fail(ro, -EINVAL, "%s: %s is damaged", spec, RADOS_STORE_OBJ);
	if (ro && ro->uuid && strcmp(uuid, ro->uuid))
		return rtier_user_fail(ro, -EINVAL, "%s belongs to the store with uuid %s, not to this "
				 "store (uuid %s)", spec, uuid, ro->uuid);
	return 0;
}

int rtier_addr(rados_t cluster, char *buf, size_t len)
{
	char *addrs = NULL, *p;
	int rc = rados_getaddrs(cluster, &addrs);

	if (rc < 0)
		return rc;
	/* "[v2:IP:PORT/NONCE,v1:...]" or "IP:PORT/NONCE": the first, bare */
	p = addrs + strspn(addrs, "[");
	if (!strncmp(p, "v2:", 3) || !strncmp(p, "v1:", 3))
		p += 3;
	snprintf(buf, len, "%.*s", (int)strcspn(p, ",]"), p);
	free(addrs);
	return 0;
}
