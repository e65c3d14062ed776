/*
 * fixture - test helpers: load files from tests/fixtures (FIXTURES_DIR) and
 * build a struct message from raw bytes, as if it had been received.
 *
 * Everything returned is owned by the caller. A failure to read a fixture
 * is a broken test tree: it prints the reason and aborts the test program.
 */
#ifndef SMTPSINK_TEST_FIXTURE_H
#define SMTPSINK_TEST_FIXTURE_H
#include <stddef.h>

struct message;

/*
 * Reads FIXTURES_DIR/name into a malloc'd buffer with a NUL after the last
 * byte (not counted in *len). Aborts if the file cannot be read.
 */
char *fixture_read(const char *name, size_t *len);

/*
 * A message whose raw data is a copy of data[0..len) (NUL-terminated, not
 * counted in size). mail_from may be NULL (stored as ""); rcpts is a
 * NULL-terminated list, or NULL for none. peer "127.0.0.1:2525", helo
 * "fixture.test", received = now. No id is assigned (that is store_put's).
 */
struct message *fixture_message_new(const char *data, size_t len, const char *mail_from,
    const char *const *rcpts);
/* fixture_message_new() on the bytes of FIXTURES_DIR/name */
struct message *fixture_message_load(const char *name, const char *mail_from,
    const char *const *rcpts);
/*
 * Frees the message and its cached MIME view (message_free() does both);
 * NULL is a no-op.
 */
void		fixture_message_free(struct message *);

#endif
