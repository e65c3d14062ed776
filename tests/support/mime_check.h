/*
 * mime_check - what tests/unit/test_mime.c and tests/fuzz/fuzz_mime.c both
 * check on the MIME module's results: a view or a body is sane (every string
 * valid UTF-8 and never NULL, attachment contents present exactly when
 * asked, no unknown flag), and the fast paths and GMime gave the same body.
 * Each returns 0, or -1 with the first problem in err (the caller fails
 * the test its own way).
 */
#ifndef SMTPSINK_TEST_MIME_CHECK_H
#define SMTPSINK_TEST_MIME_CHECK_H
#include <stddef.h>

struct mime_body;
struct mime_view;

int mime_check_view(const struct mime_view *, char *err, size_t errlen);
int mime_check_body(const struct mime_body *, int with_content, char *err, size_t errlen);
/* fast: through the fast paths; gmime: through GMime alone */
int mime_check_same(const struct mime_body *fast, const struct mime_body *gmime, char *err,
    size_t errlen);

#endif
