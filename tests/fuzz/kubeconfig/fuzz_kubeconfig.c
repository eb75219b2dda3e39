/*
 * fuzz_kubeconfig: cluster_kubeconfig_name(), the kubeconfig source, on arbitrary files. There is
 * no buffer-level parser behind it (cluster_kube.c reads the files itself), so the harness writes
 * the input to real files in a private temporary directory and passes their list, as KUBECONFIG
 * would be. A line "#--8<--" (a YAML comment) cuts the input into up to KUBE_PARTS files, so the
 * kubectl-style merge of several files is fuzzed too; the list always ends with a file that does
 * not exist, which must be skipped.
 *
 * Besides "no crash, no leak, no hang" (libyaml shares aliased nodes, so alias bombs must stay
 * cheap), it checks the contract: 0 gives a name that passes cluster_name_check(), -EINVAL a
 * reason, -ENOENT nothing; no other result.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <garrison/cluster.h>
#include <garrison/log.h>

/* A broken contract: say which check and where, then abort() so that libFuzzer keeps the input. */
#define BROKEN(why)                                                                      \
	do {                                                                             \
		fprintf(stderr, "%s:%d: contract broken: %s\n", __FILE__, __LINE__, why); \
		abort();                                                                 \
	} while (0)
#define BROKEN_IF(cond)             \
	do {                        \
		if (cond)           \
			BROKEN(#cond); \
	} while (0)

#define KUBE_PARTS 3
#define CUT "\n#--8<--\n"

static char dir[200];
static char paths[KUBE_PARTS][240];

static void write_part(const char *path, const uint8_t *p, size_t n)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	if (fd < 0) {
		perror(path);
		abort();
	}
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w <= 0) {
			perror(path);
			abort();
		}
		p += w;
		n -= (size_t)w;
	}
	close(fd);
}

static void cleanup(void)
{
	for (int i = 0; i < KUBE_PARTS; i++)
		unlink(paths[i]);
	rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *tmp = getenv("TMPDIR");

	log_init("fuzz_kubeconfig", LOG_LVL_ERROR);
	snprintf(dir, sizeof(dir), "%.150s/gfuzz-kube.XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
	if (mkdtemp(dir) == NULL) {
		perror(dir);
		exit(1);
	}
	for (int i = 0; i < KUBE_PARTS; i++)
		snprintf(paths[i], sizeof(paths[i]), "%s/config-%d", dir, i);
	atexit(cleanup);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char list[KUBE_PARTS * 240 + 240];
	const uint8_t *p = data, *end = data + size;
	const char *why = NULL;
	char *name = (char *)"sentinel";
	size_t o = 0, cl = strlen(CUT);
	int nparts = 0, r;

	list[0] = '\0';
	while (nparts < KUBE_PARTS) {
		const uint8_t *cut = NULL, *e;

		if (nparts < KUBE_PARTS - 1)
			cut = memmem(p, (size_t)(end - p), CUT, cl);
		e = cut ? cut : end;

		write_part(paths[nparts], p, (size_t)(e - p));
		o += (size_t)snprintf(list + o, sizeof(list) - o, "%s:", paths[nparts]);
		nparts++;
		if (cut == NULL)
			break;
		p = cut + cl;
	}
	snprintf(list + o, sizeof(list) - o, "%s/absent", dir);

	r = cluster_kubeconfig_name(list, &name, &why);
	switch (r) {
	case 0:
		BROKEN_IF(name == NULL || cluster_name_check(name, strlen(name), NULL) != 0);
		break;
	case -EINVAL:
		BROKEN_IF(name != NULL || why == NULL);
		break;
	case -ENOENT:
	case -ENOMEM:
		BROKEN_IF(name != NULL);
		break;
	default:
		BROKEN("a result the contract does not list");
	}
	free(name);
	for (int i = 0; i < nparts; i++)
		unlink(paths[i]);
	return 0;
}
