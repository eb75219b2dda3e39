/*
 * vercmp: batch front end to version_compare() for tests/unit/version_oracle.sh. Reads lines
 * "KIND A B" (KIND dpkg, rpm or apk; fields separated by one space or tab) on stdin and prints one
 * line per input: -1, 0 or 1, or "invalid" when version_compare() refuses the pair. Exits 2 on a
 * malformed or over-long line, 0 otherwise.
 */
#include <stdio.h>
#include <string.h>

#include <garrison/version.h>

int main(void)
{
	char line[4 * VERSION_MAX];
	unsigned long lineno = 0;

	while (fgets(line, sizeof(line), stdin) != NULL) {
		char *save = NULL, *kind, *a, *b;
		enum version_kind k;
		int r;

		lineno++;
		if (strchr(line, '\n') == NULL && !feof(stdin)) {
			fprintf(stderr, "vercmp: line %lu too long\n", lineno);
			return 2;
		}
		kind = strtok_r(line, " \t\r\n", &save);
		a = strtok_r(NULL, " \t\r\n", &save);
		b = strtok_r(NULL, " \t\r\n", &save);
		if (kind == NULL || a == NULL || b == NULL || strtok_r(NULL, " \t\r\n", &save) != NULL) {
			fprintf(stderr, "vercmp: line %lu: expected KIND A B\n", lineno);
			return 2;
		}
		if (strcmp(kind, "dpkg") == 0)
			k = VERSION_DPKG;
		else if (strcmp(kind, "rpm") == 0)
			k = VERSION_RPM;
		else if (strcmp(kind, "apk") == 0)
			k = VERSION_APK;
		else {
			fprintf(stderr, "vercmp: line %lu: unknown kind %s\n", lineno, kind);
			return 2;
		}
		if (version_compare(k, a, b, &r) < 0)
			puts("invalid");
		else
			printf("%d\n", r);
	}
	return 0;
}
