/*
 * image_dump: reads one container image with the image reader (include/garrison/image.h) and
 * prints the result as one JSON document on standard output (image_scan_result_json()).
 *
 *   image_dump [--data] [--keep PATH]... --docker-archive FILE | --oci-dir DIR | --oci-archive FILE |
 *              --fd-stdin | --engine SOCKET NAME
 *
 * --data adds the kept files' contents; each --keep adds a path to the default keep list. Exit status 0, or 1 with the reader's message on
 * standard error ("image_dump: <reason>"), 2 for a usage error.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <garrison/image.h>
#include <garrison/log.h>

static int usage(void)
{
	fprintf(stderr, "usage: image_dump [--data] [--keep PATH]... --docker-archive FILE | --oci-dir DIR | "
			"--oci-archive FILE | --fd-stdin | --engine SOCKET NAME\n");
	return 2;
}

int main(int argc, char **argv)
{
	struct image_scan_result *r = NULL;
	char err[512] = "";
	int data = 0, i = 1, rc;

	log_init("image_dump", LOG_LVL_WARN);
	const char *keep[64];
	size_t nk = 0;
	for (const char *const *k = image_keep_default; *k; k++)
		keep[nk++] = *k;
	for (;;) {
		if (i < argc && strcmp(argv[i], "--data") == 0) {
			data = 1;
			i++;
		} else if (i + 1 < argc && strcmp(argv[i], "--keep") == 0 && nk + 1 < 64) {
			keep[nk++] = argv[i + 1];
			i += 2;
		} else {
			break;
		}
	}
	keep[nk] = NULL;
	struct image_opts opts = { .keep = keep }, *o = &opts;
	if (i >= argc)
		return usage();
	const char *m = argv[i++];
	if (strcmp(m, "--docker-archive") == 0 && i + 1 == argc)
		rc = image_open_docker_archive(argv[i], o, &r, err, sizeof(err));
	else if (strcmp(m, "--oci-dir") == 0 && i + 1 == argc)
		rc = image_open_oci_layout(argv[i], o, &r, err, sizeof(err));
	else if (strcmp(m, "--oci-archive") == 0 && i + 1 == argc)
		rc = image_open_oci_archive(argv[i], o, &r, err, sizeof(err));
	else if (strcmp(m, "--fd-stdin") == 0 && i == argc)
		rc = image_read_fd(0, "stdin", o, &r, err, sizeof(err));
	else if (strcmp(m, "--engine") == 0 && i + 2 == argc)
		rc = image_from_engine(argv[i], argv[i + 1], o, &r, err, sizeof(err));
	else
		return usage();
	if (rc < 0) {
		fprintf(stderr, "image_dump: %s\n", err[0] ? err : "failed");
		return 1;
	}
	json_t *j = image_scan_result_json(r, data);
	image_scan_result_free(r);
	if (!j || json_dumpf(j, stdout, JSON_INDENT(1) | JSON_SORT_KEYS) != 0) {
		json_decref(j);
		fprintf(stderr, "image_dump: cannot print the result\n");
		return 1;
	}
	putchar('\n');
	json_decref(j);
	return 0;
}
