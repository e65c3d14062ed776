/*
 * log - one line per event on stderr, key=value or JSON (OpenSMTPD API).
 * log_warn appends strerror(errno); log_warnx does not. fatal/fatalx exit(1)
 * and are for startup errors and impossible states only.
 * Client text must go through log_sanitize() first.
 */
#ifndef SMTPSINK_LOG_H
#define SMTPSINK_LOG_H
#include <stddef.h>

enum log_format { LOG_FORMAT_TEXT, LOG_FORMAT_JSON };
enum log_level { LOG_LEVEL_ERROR, LOG_LEVEL_WARN, LOG_LEVEL_INFO, LOG_LEVEL_DEBUG };

void  log_init(enum log_format, enum log_level);
int   log_enabled(enum log_level);
/*
 * The message is "event key=value key=value ..."; in JSON mode it is turned
 * into {"time":..,"level":..,"event":..,"key":"value",...}.
 */
void  log_info(const char *, ...) __attribute__((format(printf, 1, 2)));
void  log_debug(const char *, ...) __attribute__((format(printf, 1, 2)));
void  log_warn(const char *, ...) __attribute__((format(printf, 1, 2)));
void  log_warnx(const char *, ...) __attribute__((format(printf, 1, 2)));
/* An error the program reports and survives (a failed start-up, before exit 1) */
void  log_errorx(const char *, ...) __attribute__((format(printf, 1, 2)));
void  fatal(const char *, ...) __attribute__((format(printf, 1, 2), noreturn));
void  fatalx(const char *, ...) __attribute__((format(printf, 1, 2), noreturn));
/*
 * Escapes client bytes (C-style, no spaces, quotes or '=' left raw) into dst
 * and truncates to at most 100 input bytes. Returns dst.
 */
char *log_sanitize(char *dst, size_t dstsz, const char *src, size_t len);
#define LOG_SANITIZE_MAX (100 * 4 + 8)

#endif
