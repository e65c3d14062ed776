/*
 * globs - test helpers that build long glob patterns and texts for the
 * matcher's and the rules' tests.
 *
 * Everything returned is malloc'd and owned by the caller.
 */
#ifndef SMTPSINK_TEST_GLOBS_H
#define SMTPSINK_TEST_GLOBS_H
#include <stddef.h>

/* head, then n copies of byte c, then tail */
char *globs_repeat(const char *head, int c, size_t n, const char *tail);
/*
 * A valid glob of exactly len bytes (len >= 300) that names every byte but
 * NUL, one class per case-folded byte ('\' before the metacharacters), and
 * pads with 'q': the largest compiled form a glob of that length can have.
 */
char *globs_widest(size_t len);

#endif
