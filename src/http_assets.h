/*
 * http_assets - the web UI's files, embedded at build time: the table is
 * generated from web/ by cmake/embed_assets.cmake into the build tree
 * (gen/http_assets.c, never committed); each file also gzip'd when that is
 * smaller. The C build needs no Node: web/ holds the built files.
 */
#ifndef SMTPSINK_HTTP_ASSETS_H
#define SMTPSINK_HTTP_ASSETS_H
#include <stddef.h>

struct http_asset {
	const char	    *path; /* "/", "/ui/app.js" */
	const char	    *type; /* Content-Type */
	const unsigned char *data;
	size_t		     len;
	const unsigned char *gz; /* NULL: not compressed */
	size_t		     gzlen;
};

/* The asset served at path ("/" is web/index.html), or NULL. */
const struct http_asset *http_assets_find(const char *path);

#endif
