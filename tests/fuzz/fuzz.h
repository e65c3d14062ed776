/*
 * fuzz - what the fuzz targets in tests/fuzz share.
 *
 * Each tests/fuzz/fuzz_<target>.c defines LLVMFuzzerTestOneInput() (and may
 * define LLVMFuzzerInitialize()) and is linked twice: with libFuzzer as
 * fuzz_<target> (clang, -DSMTPSINK_FUZZ=ON, .ci/fuzz.sh) and with replay.c
 * as fuzz_<target>_replay (any compiler; ctest replays the committed corpus
 * and regressions with it). A target reports a bug by aborting: a sanitizer
 * report, or fuzz_fail() for a property that does not hold.
 *
 * Inputs are arbitrary bytes; a target that needs several values takes them
 * from the front with struct fuzz_in, so that an input shorter than
 * expected still runs (missing bytes read as 0).
 */
#ifndef SMTPSINK_FUZZ_H
#define SMTPSINK_FUZZ_H
#include <stddef.h>
#include <stdint.h>

/* The libFuzzer entry points (also called by replay.c). */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* Prints "fuzz: <message>" on stderr and aborts (a finding). */
void fuzz_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

struct fuzz_in {
	const uint8_t *p;
	size_t	       len;
};

/* The next byte, 0 once the input is used up. */
unsigned fuzz_byte(struct fuzz_in *);
/*
 * A malloc'd copy of the next n bytes (fewer if the input is shorter; *got
 * says how many) with a NUL after them. Caller frees.
 */
char	*fuzz_take(struct fuzz_in *, size_t n, size_t *got);

#endif
