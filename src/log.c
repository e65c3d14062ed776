/*
 * log - one line per event on stderr (OpenSMTPD's API, Postfix's meanings).
 * Text: "time level event key=value ...". JSON: the same keys as an object;
 * the message's leading word is the event, each key=value becomes a member.
 * Values must already be free of spaces and quotes (log_sanitize()).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "json.h"
#include "log.h"

static enum log_format log_fmt = LOG_FORMAT_TEXT;
static enum log_level  log_lvl = LOG_LEVEL_INFO;

/* the formatted second, cached per thread (gRPC's threads log too) */
static __thread time_t ts_sec = -1;
static __thread char   ts_cache[32];
static __thread size_t ts_len;

static const char *const log_level_names[] = { "error", "warn", "info", "debug" };

static void log_vwrite(enum log_level, const char *, va_list, const char *);

void
log_init(enum log_format fmt, enum log_level lvl)
{
	log_fmt = fmt;
	log_lvl = lvl;
}

int
log_enabled(enum log_level lvl)
{
	return lvl <= log_lvl;
}

/*
 * JSON lines are built in a buffer of dstsz bytes whose last LOG_JSON_TAIL
 * are kept for the closing "}" and NUL: a member is written only if its key
 * and punctuation fit, and its value is cut (at a whole escape) to what
 * fits, so even a cut line is one valid JSON object.
 */
#define LOG_JSON_TAIL 2

/* Appends literal s if it fits before lim; -1 if not. */
static int
log_json_lit(char *dst, size_t lim, size_t *off, const char *s)
{
	size_t n = strlen(s);

	if (*off + n > lim)
		return -1;
	memcpy(dst + *off, s, n);
	*off += n;
	return 0;
}

/*
 * Appends ,"key":"value" (with its leading comma unless first). Returns -1,
 * having written nothing, when not even the key and an empty value fit.
 */
static int
log_json_member(char *dst, size_t lim, size_t *off, int first, const char *k, size_t klen,
    const char *v, size_t vlen)
{
	size_t need = (first ? 1 : 2) + json_escaped_len(k, klen) + 4;

	if (*off + need > lim)
		return -1;
	log_json_lit(dst, lim, off, first ? "\"" : ",\"");
	json_escape(dst, lim + 1, off, k, klen);
	log_json_lit(dst, lim, off, "\":\"");
	/* The value may be cut; its closing quote always fits. */
	json_escape(dst, lim, off, v, vlen);
	log_json_lit(dst, lim, off, "\"");
	return 0;
}

/*
 * "event words k=v k=\"quoted v\" ..." ->
 * {"time":..,"level":..,"event":"event words","k":"v","k":"quoted v"}.
 * The event is every leading word without '='; a later word without '='
 * starts free text, kept as "msg".
 */
static void
log_to_json(char *dst, size_t dstsz, const char *ts, const char *lvl, const char *msg)
{
	const char *p = msg, *end, *eq, *ev_end = msg;
	size_t	    off = 0, lim = dstsz - LOG_JSON_TAIL;

	while (*p != '\0') { /* find the end of the event words */
		end = strchrnul(p, ' ');
		if (memchr(p, '=', end - p) != NULL)
			break;
		ev_end = end;
		p = *end ? end + 1 : end;
	}
	log_json_lit(dst, lim, &off, "{");
	if (log_json_member(dst, lim, &off, 1, "time", 4, ts, strlen(ts)) == -1 ||
	    log_json_member(dst, lim, &off, 0, "level", 5, lvl, strlen(lvl)) == -1 ||
	    log_json_member(dst, lim, &off, 0, "event", 5, msg, ev_end - msg) == -1)
		p = "";
	while (*p != '\0') {
		while (*p == ' ')
			p++;
		if (*p == '\0')
			break;
		end = strchrnul(p, ' ');
		eq = memchr(p, '=', end - p);
		if (eq == NULL) { /* free text to the end of the line */
			end = p + strlen(p);
			if (log_json_member(dst, lim, &off, 0, "msg", 3, p, end - p) == -1)
				break;
		} else if (eq[1] == '"' && (end = strchr(eq + 2, '"')) != NULL) {
			if (log_json_member(dst, lim, &off, 0, p, eq - p, eq + 2, end - eq - 2) ==
			    -1)
				break;
			end++;
		} else {
			end = strchrnul(eq, ' ');
			if (log_json_member(dst, lim, &off, 0, p, eq - p, eq + 1, end - eq - 1) ==
			    -1)
				break;
		}
		p = end;
	}
	dst[off++] = '}';
	dst[off] = '\0';
}

/*
 * Text lines are built in place ("time level " then the message) and go
 * out with one fwrite: every stored message and every relayed one logs a
 * line, so no printf pass beyond the caller's own format.
 */
static void
log_vwrite(enum log_level lvl, const char *fmt, va_list ap, const char *err)
{
	char		msg[2048], line[4096], ts[40];
	struct timespec now;
	struct tm	tm;
	size_t		n, ln;
	int		r;

	if (!log_enabled(lvl))
		return;
	clock_gettime(CLOCK_REALTIME, &now);
	if (now.tv_sec != ts_sec) { /* strftime once a second, per thread */
		gmtime_r(&now.tv_sec, &tm);
		ts_len = strftime(ts_cache, sizeof(ts_cache), "%Y-%m-%dT%H:%M:%S", &tm);
		ts_sec = now.tv_sec;
	}
	memcpy(ts, ts_cache, ts_len);
	n = ts_len;
	ts[n++] = '.';
	ts[n++] = '0' + now.tv_nsec / 100000000;
	ts[n++] = '0' + now.tv_nsec / 10000000 % 10;
	ts[n++] = '0' + now.tv_nsec / 1000000 % 10;
	ts[n++] = 'Z';
	ts[n] = '\0';
	if (log_fmt == LOG_FORMAT_JSON) {
		vsnprintf(msg, sizeof(msg), fmt, ap);
		if (err != NULL) {
			n = strlen(msg);
			snprintf(msg + n, sizeof(msg) - n, " error=\"%s\"", err);
		}
		log_to_json(line, sizeof(line), ts, log_level_names[lvl], msg);
		ln = strlen(line);
	} else {
		/* "ts level msg": msg cut where the old msg[2048] cut it */
		ln = strlen(log_level_names[lvl]);
		memcpy(line, ts, n);
		line[n++] = ' ';
		memcpy(line + n, log_level_names[lvl], ln);
		n += ln;
		line[n++] = ' ';
		r = vsnprintf(line + n, sizeof(msg), fmt, ap);
		ln = r < 0 ? n : r < (int)sizeof(msg) ? n + r : n + sizeof(msg) - 1;
		if (err != NULL && ln < n + sizeof(msg) - 1) {
			r = snprintf(line + ln, n + sizeof(msg) - ln, " error=\"%s\"", err);
			if (r > 0)
				ln = (size_t)r < n + sizeof(msg) - ln ? ln + r :
									n + sizeof(msg) - 1;
		}
	}
	line[ln++] = '\n';
	fwrite(line, 1, ln, stderr);
}

#define LOG_FN(name, lvl, witherr) \
	void name(const char *fmt, ...) \
	{ \
		va_list ap; \
		int	saved = errno; \
\
		va_start(ap, fmt); \
		log_vwrite(lvl, fmt, ap, witherr ? strerror(saved) : NULL); \
		va_end(ap); \
		errno = saved; \
	}

LOG_FN(log_info, LOG_LEVEL_INFO, 0)
LOG_FN(log_debug, LOG_LEVEL_DEBUG, 0)
LOG_FN(log_warn, LOG_LEVEL_WARN, 1)
LOG_FN(log_warnx, LOG_LEVEL_WARN, 0)
LOG_FN(log_errorx, LOG_LEVEL_ERROR, 0)

void
fatal(const char *fmt, ...)
{
	va_list ap;
	int	saved = errno;

	va_start(ap, fmt);
	log_vwrite(LOG_LEVEL_ERROR, fmt, ap, strerror(saved));
	va_end(ap);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vwrite(LOG_LEVEL_ERROR, fmt, ap, NULL);
	va_end(ap);
	exit(1);
}

char *
log_sanitize(char *dst, size_t dstsz, const char *src, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	size_t		  i, o = 0, lim = len > 100 ? 100 : len;

	for (i = 0; i < lim && o + 5 < dstsz; i++) {
		unsigned char c = (unsigned char)src[i];
		if (c > 0x20 && c < 0x7f && c != '"' && c != '\\' && c != '=') {
			dst[o++] = (char)c;
		} else {
			dst[o++] = '\\';
			dst[o++] = 'x';
			dst[o++] = hex[c >> 4];
			dst[o++] = hex[c & 15];
		}
	}
	if (len > lim && o + 4 < dstsz) {
		memcpy(dst + o, "...", 3);
		o += 3;
	}
	if (dstsz > 0)
		dst[o < dstsz ? o : dstsz - 1] = '\0';
	return dst;
}
