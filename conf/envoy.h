/* SPDX-License-Identifier: MIT */
/*
 * envoy: read the Envoy bootstrap of the egress pod snigate replaces
 * (tls_inspector + sni_dynamic_forward_proxy + tcp_proxy, a dynamic forward
 * proxy cluster) into a struct conf, so an operator can swap the image and
 * keep the ConfigMap.
 *
 * The import is strict in the direction that matters: every key it reads is
 * one it implements or one documented as harmless (conf/CONFIG.md, "Envoy
 * bootstrap"). Anything else, another filter, another cluster type, a wrong
 * @type URL, an option that changes behaviour, is refused with the YAML path
 * of the field and its line, because an ignored filter would be a silent
 * change to what the gateway lets through.
 */
#ifndef SNIGATE_CONF_ENVOY_H
#define SNIGATE_CONF_ENVOY_H

#include <stdbool.h>
#include <stddef.h>

#include "conf/conf.h"

enum conf_format {
	CONF_FORMAT_AUTO = 0, /* decide from the file's shape: conf_envoy_detect() */
	CONF_FORMAT_NATIVE,
	CONF_FORMAT_ENVOY,
};

/* "auto", "native", "envoy"; 0 or -EINVAL. */
int conf_format_parse(const char *s, enum conf_format *out);
const char *conf_format_str(enum conf_format f);

/*
 * True when buf looks like an Envoy bootstrap: a top-level static_resources,
 * dynamic_resources or node key, or an admin whose address is a mapping
 * (snigate's own admin.address is "IP:port"). Text that is not YAML is not
 * Envoy; the native loader then reports the syntax error.
 */
bool conf_envoy_detect(const char *buf, size_t len);

/*
 * Load an Envoy bootstrap (YAML). Same contract as conf_load_file(): 0 and
 * *out with every field checked, or a negative errno-style value and *err
 * (file, line, field as the YAML path such as
 * "static_resources.listeners[0].filter_chains[0].filters[1].typed_config.@type").
 * Settings the Envoy file does not give keep snigate's defaults, except the
 * DNS lookup family (Envoy's default, AUTO) and the access log (on only when
 * the file configures one), so the gateway behaves as the Envoy pod did.
 */
int conf_load_envoy_file(const char *path, struct conf **out, struct conf_error *err);
int conf_load_envoy_buf(const char *buf, size_t len, const char *name, struct conf **out,
			struct conf_error *err);

/*
 * Load path as fmt; with CONF_FORMAT_AUTO the shape decides. *used (may be
 * NULL) gets the format that was loaded.
 */
int conf_load_file_as(const char *path, enum conf_format fmt, struct conf **out,
		      enum conf_format *used, struct conf_error *err);

/* For conf.c, which parses a file once and hands the document here. */
struct conf_yaml;
bool conf_envoy_detect_doc(struct conf_yaml *y);
int conf_envoy_load_doc(struct conf_yaml *y, const char *name, struct conf **out,
			struct conf_error *err);

#endif
