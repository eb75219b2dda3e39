/*
 * enforce_lsm: the BPF-LSM probe (see enforce.h). Loads and attaches bpf/lsm_probe.bpf.c (an
 * lsm/file_open program that allows everything), detaches it at once, and says why when that
 * fails: the kernel without CONFIG_BPF_LSM, "bpf" missing from the active LSM list (lsm= on the
 * kernel command line), or, as on the test machines, trampolines refused (EPERM/ENOTSUPP at load).
 * It never leaves anything attached.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/libbpf.h>

#include <garrison/util.h>

#include "lsm_probe.skel.h"
#include "enforce.h"

static void say(char *why, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void say(char *why, size_t len, const char *fmt, ...)
{
	va_list ap;

	if (why == NULL || len == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(why, len, fmt, ap);
	va_end(ap);
}

/* 1: "bpf" is in the active LSM list; 0: it is not; -1: the list cannot be read (no securityfs). */
static int bpf_in_lsm_list(void)
{
	char *buf = NULL;
	size_t len = 0;
	int rc;

	if (util_read_file("/sys/kernel/security/lsm", 4096, &buf, &len) != 0)
		return -1;
	rc = 0;
	for (char *p = buf; p && *p;) {
		char *c = strchr(p, ',');
		size_t n = c ? (size_t)(c - p) : strcspn(p, "\n");
		if (n == 3 && strncmp(p, "bpf", 3) == 0)
			rc = 1;
		p = c ? c + 1 : NULL;
	}
	free(buf);
	return rc;
}

/* The probe's failure is an expected answer, said in one sentence: libbpf's own messages about it
 * (the verifier's log, "failed to load object") would read as errors in the Defender's log. */
static int quiet(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	(void)level;
	(void)fmt;
	(void)ap;
	return 0;
}

static int probe(char *why, size_t len);

int enforce_lsm_probe(char *why, size_t len)
{
	libbpf_print_fn_t old = libbpf_set_print(quiet);
	int rc = probe(why, len);

	libbpf_set_print(old);
	return rc;
}

static int probe(char *why, size_t len)
{
	struct lsm_probe_bpf *skel = lsm_probe_bpf__open();
	struct bpf_link *link;
	int rc, inlist = bpf_in_lsm_list();
	const char *hint = inlist == 0 ? "; \"bpf\" is not in /sys/kernel/security/lsm (add lsm=...,bpf)" : "";

	if (skel == NULL) {
		say(why, len, "unavailable: cannot open the probe object: %s", strerror(errno));
		return 0;
	}
	rc = lsm_probe_bpf__load(skel);
	if (rc != 0) {
		say(why, len, "unavailable: the kernel refused to load an lsm/file_open program: %s%s",
		    strerror(-rc), hint);
		lsm_probe_bpf__destroy(skel);
		return 0;
	}
	link = bpf_program__attach_lsm(skel->progs.lsm_probe_file_open);
	if (link == NULL) {
		rc = -errno;
		say(why, len, "unavailable: the lsm/file_open program loaded but did not attach: %s%s",
		    strerror(-rc), hint);
		lsm_probe_bpf__destroy(skel);
		return 0;
	}
	bpf_link__destroy(link);
	lsm_probe_bpf__destroy(skel);
	say(why, len, "available");
	return 1;
}
