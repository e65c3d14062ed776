/* test_buf - the bounded buffer: growth, the cap, steal. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "buf.h"

static void
test_buf_append_grows_and_terminates(void **state)
{
	struct buf b;
	char	   chunk[300];
	int	   i;

	memset(chunk, 'x', sizeof(chunk));
	buf_init(&b, 10000);
	for (i = 0; i < 10; i++)
		assert_int_equal(buf_append(&b, chunk, sizeof(chunk)), 0);
	assert_int_equal(b.len, 3000);
	assert_true(b.cap > b.len);
	assert_int_equal(b.data[b.len], '\0');
	assert_int_equal(b.data[2999], 'x');
	buf_release(&b);
	assert_null(b.data);
}

static void
test_buf_append_refuses_past_max(void **state)
{
	struct buf b;

	buf_init(&b, 10);
	assert_int_equal(buf_append(&b, "0123456789", 10), 0);
	assert_int_equal(buf_append(&b, "x", 1), -1);
	assert_int_equal(b.len, 10);
	assert_memory_equal(b.data, "0123456789", 10);
	buf_reset(&b);
	assert_int_equal(b.len, 0);
	assert_int_equal(buf_append(&b, "abc", 3), 0);
	buf_release(&b);
}

static void
test_buf_append_huge_request_no_overflow(void **state)
{
	struct buf b;

	buf_init(&b, 100);
	assert_int_equal(buf_append(&b, "ab", 2), 0);
	/* len + n would wrap: must be refused, not allocated */
	assert_int_equal(buf_append(&b, "x", SIZE_MAX - 1), -1);
	buf_release(&b);
}

static void
test_buf_steal_shrinks_and_empties(void **state)
{
	struct buf b;
	size_t	   len = 0;
	char	  *p;

	buf_init(&b, 1 << 20);
	assert_int_equal(buf_append(&b, "hello\r\n", 7), 0);
	p = buf_steal(&b, &len);
	assert_non_null(p);
	assert_int_equal(len, 7);
	assert_string_equal(p, "hello\r\n");
	assert_null(b.data);
	assert_int_equal(b.len, 0);
	free(p);
	/* stealing an empty buffer gives an empty string, not NULL */
	p = buf_steal(&b, &len);
	assert_non_null(p);
	assert_int_equal(len, 0);
	assert_string_equal(p, "");
	free(p);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_buf_append_grows_and_terminates),
		cmocka_unit_test(test_buf_append_refuses_past_max),
		cmocka_unit_test(test_buf_append_huge_request_no_overflow),
		cmocka_unit_test(test_buf_steal_shrinks_and_empties),
	};
	return cmocka_run_group_tests_name("buf", tests, NULL, NULL);
}
