/*
 * replay - the main() of fuzz_<target>_replay: feeds files to the target's
 * LLVMFuzzerTestOneInput() without libFuzzer, so any compiler (the default
 * gcc build, the gcc ASan+UBSan build) replays the committed corpus and
 * regressions under ctest (label fuzz).
 *
 * Usage: fuzz_<target>_replay PATH...; a PATH is a file (one input) or a
 * directory (each regular file in it, in name order, not recursive). Each
 * input is handed over in a buffer of exactly its size, as libFuzzer does,
 * so ASan sees a read past its end. A finding aborts the process; with
 * FUZZ_REPLAY_VERBOSE set, each file is named on stderr before it runs.
 * Exits 0 after the last input, 2 when a path cannot be read or no input
 * was found at all.
 */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "xmalloc.h"

/* Defined by the targets that want it (libFuzzer calls it likewise). */
#pragma weak LLVMFuzzerInitialize

static int replay_verbose;

/* Runs one file; -1 if it cannot be read. */
static int
replay_file(const char *path)
{
	FILE	*f;
	uint8_t *buf = NULL, *exact;
	size_t	 len = 0, cap = 0, n;
	int	 bad;

	if ((f = fopen(path, "rb")) == NULL) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		return -1;
	}
	do {
		if (cap - len < 4096) {
			cap = cap ? cap * 2 : 65536;
			buf = xreallocarray(buf, cap, 1);
		}
		n = fread(buf + len, 1, cap - len, f);
		len += n;
	} while (n > 0);
	bad = ferror(f);
	fclose(f);
	if (bad) {
		fprintf(stderr, "replay: %s: read error\n", path);
		free(buf);
		return -1;
	}
	if (replay_verbose)
		fprintf(stderr, "replay %s (%zu bytes)\n", path, len);
	exact = xmalloc(len > 0 ? len : 1);
	memcpy(exact, buf, len);
	free(buf);
	LLVMFuzzerTestOneInput(exact, len);
	free(exact);
	return 0;
}

static int
replay_name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Runs every regular file of a directory in name order; -1 on an error. */
static int
replay_dir(const char *dir, size_t *count)
{
	DIR	      *d;
	struct dirent *e;
	char	     **names = NULL, *path;
	size_t	       n = 0, cap = 0, i;
	int	       rc = 0;

	if ((d = opendir(dir)) == NULL) {
		fprintf(stderr, "replay: %s: %s\n", dir, strerror(errno));
		return -1;
	}
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			names = xreallocarray(names, cap, sizeof(*names));
		}
		names[n++] = xstrdup(e->d_name);
	}
	closedir(d);
	if (n > 0)
		qsort(names, n, sizeof(*names), replay_name_cmp);
	for (i = 0; i < n; i++) {
		if (asprintf(&path, "%s/%s", dir, names[i]) == -1)
			abort();
		if (rc == 0 && replay_file(path) == -1)
			rc = -1;
		else if (rc == 0)
			(*count)++;
		free(path);
		free(names[i]);
	}
	free(names);
	return rc;
}

int
main(int argc, char **argv)
{
	DIR   *d;
	size_t count = 0;
	int    i;

	replay_verbose = getenv("FUZZ_REPLAY_VERBOSE") != NULL;
	if (argc < 2) {
		fprintf(stderr, "usage: %s file-or-directory...\n", argv[0]);
		return 2;
	}
	if (LLVMFuzzerInitialize != NULL)
		LLVMFuzzerInitialize(&argc, &argv);
	for (i = 1; i < argc; i++) {
		if ((d = opendir(argv[i])) != NULL) {
			closedir(d);
			if (replay_dir(argv[i], &count) == -1)
				return 2;
		} else if (replay_file(argv[i]) == -1)
			return 2;
		else
			count++;
	}
	if (count == 0) {
		fprintf(stderr, "replay: no input in the paths given\n");
		return 2;
	}
	printf("%s: replayed %zu inputs\n", argv[0], count);
	return 0;
}
