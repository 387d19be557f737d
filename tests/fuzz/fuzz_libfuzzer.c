/*
 * fuzz_libfuzzer.c — libFuzzer start-up: writes the harness's seeds
 * (fuzz_seed) into the corpus directory given on the command line, so every
 * run starts from valid inputs.
 */
#include <stdio.h>
#include <sys/stat.h>

#include "fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	for (int a = 1; a < *argc; a++) {
		struct stat st;
		const char *dir = (*argv)[a];
		const uint8_t *data;
		size_t len;

		if (dir[0] == '-' || stat(dir, &st) < 0 || !S_ISDIR(st.st_mode))
			continue;
		for (size_t i = 0; (len = fuzz_seed(i, &data)) > 0; i++) {
			char path[4096];
			FILE *f;
			snprintf(path, sizeof(path), "%s/seed-%zu", dir, i);
			f = fopen(path, "wb");
			if (f) {
				fwrite(data, 1, len, f);
				fclose(f);
			}
		}
	}
	return 0;
}
