/*
 * mime_internal - test hooks of mime.c, for tests/unit/test_mime.c only.
 */
#ifndef SMTPSINK_MIME_INTERNAL_H
#define SMTPSINK_MIME_INTERNAL_H

/*
 * on = 0: every message goes through the full GMime parser (no single-part
 * or structural fast path), so tests can check both give the same result.
 * Process-wide; not for use while other threads parse.
 */
void		mime_set_fast_paths(int on);
/* How many messages went through the full GMime parser (all threads) */
unsigned long	mime_stat_gmime_parses(void);

#endif
