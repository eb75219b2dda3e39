/*
 * test_cvss.c: the CVSS v3 base score (lib/vulndb_cvss.c) against published scores, the
 * qualitative ratings and the refusal of malformed vectors.
 * Expected scores: the example vectors of the FIRST CVSS v3.1 specification / calculator, as
 * also listed (vector - base score) in RedHatProductSecurity/cvss tests/vectors_simple31 and
 * vectors_simple3 (read, not copied; each value below was checked against those lists).
 */
#include <errno.h>
#include <math.h>

#include <garrison/cvss.h>

#include "t.h"

static const struct {
	const char *v;
	double score;
} known[] = {
	{ "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", 9.8 },
	{ "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H", 10.0 },
	{ "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:L/A:L", 9.9 },
	{ "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:L/A:N", 9.3 },
	{ "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:L/I:N/A:N", 5.8 },
	{ "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N", 7.5 },
	{ "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:L/I:L/A:L", 7.3 },
	{ "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:L/I:N/A:N", 5.3 },
	{ "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:N", 0.0 },
	{ "CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:H/I:H/A:H", 9.6 },
	{ "CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N", 6.1 },
	{ "CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:N/A:N", 4.7 },
	{ "CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:U/C:H/I:H/A:H", 8.8 },
	{ "CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:U/C:L/I:N/A:N", 4.3 },
	{ "CVSS:3.1/AV:N/AC:L/PR:L/UI:N/S:C/C:H/I:H/A:H", 9.9 },
	{ "CVSS:3.1/AV:N/AC:L/PR:L/UI:N/S:C/C:L/I:L/A:N", 6.4 },
	{ "CVSS:3.1/AV:N/AC:L/PR:L/UI:N/S:C/C:H/I:N/A:N", 7.7 },
	{ "CVSS:3.1/AV:N/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H", 8.8 },
	{ "CVSS:3.1/AV:N/AC:L/PR:L/UI:R/S:C/C:H/I:H/A:H", 9.0 },
	{ "CVSS:3.1/AV:N/AC:L/PR:L/UI:R/S:C/C:L/I:N/A:N", 4.1 },
	{ "CVSS:3.1/AV:N/AC:L/PR:L/UI:R/S:U/C:L/I:N/A:N", 3.5 },
	{ "CVSS:3.1/AV:N/AC:L/PR:H/UI:N/S:C/C:H/I:H/A:H", 9.1 },
	{ "CVSS:3.1/AV:N/AC:L/PR:H/UI:N/S:U/C:H/I:H/A:H", 7.2 },
	{ "CVSS:3.1/AV:N/AC:L/PR:H/UI:N/S:U/C:H/I:N/A:N", 4.9 },
	{ "CVSS:3.1/AV:L/AC:H/PR:H/UI:R/S:C/C:L/I:N/A:N", 2.3 },
	{ "CVSS:3.1/AV:L/AC:H/PR:H/UI:R/S:C/C:N/I:H/A:H", 6.9 },
	{ "CVSS:3.1/AV:L/AC:H/PR:H/UI:R/S:U/C:H/I:H/A:H", 6.3 },
	{ "CVSS:3.1/AV:L/AC:H/PR:H/UI:R/S:U/C:L/I:L/A:L", 3.8 },
	{ "CVSS:3.1/AV:L/AC:H/PR:H/UI:R/S:U/C:L/I:N/A:N", 1.8 },
	{ "CVSS:3.1/AV:P/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H", 7.6 },
	{ "CVSS:3.1/AV:P/AC:L/PR:N/UI:N/S:C/C:L/I:N/A:N", 2.6 },
	{ "CVSS:3.1/AV:P/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", 6.8 },
	{ "CVSS:3.1/AV:P/AC:L/PR:N/UI:R/S:C/C:H/I:H/A:H", 7.3 },
	{ "CVSS:3.1/AV:P/AC:L/PR:N/UI:R/S:U/C:L/I:N/A:N", 2.1 },
	{ "CVSS:3.1/AV:P/AC:L/PR:L/UI:N/S:C/C:H/I:H/A:H", 7.4 },
	{ "CVSS:3.1/AV:P/AC:L/PR:L/UI:N/S:C/C:H/I:H/A:N", 7.1 },
	{ "CVSS:3.1/AV:P/AC:L/PR:L/UI:R/S:C/C:L/I:L/A:N", 3.6 },
	{ "CVSS:3.1/AV:P/AC:L/PR:L/UI:R/S:U/C:L/I:N/A:N", 1.9 },
	/* the FIRST specification's worked examples (section 3.x / calculator) */
	{ "CVSS:3.1/AV:N/AC:H/PR:N/UI:R/S:U/C:L/I:N/A:N", 3.1 }, /* CVE-2014-3566 POODLE */
	{ "CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:H/A:N", 7.4 }, /* CVE-2014-0224 */
	{ "CVSS:3.1/AV:L/AC:L/PR:H/UI:N/S:U/C:L/I:L/A:L", 4.2 }, /* CVE-2009-0783 */
	{ "CVSS:3.1/AV:L/AC:L/PR:N/UI:R/S:U/C:H/I:H/A:H", 7.8 }, /* CVE-2015-1098 */
	{ "CVSS:3.1/AV:L/AC:H/PR:L/UI:N/S:U/C:H/I:N/A:N", 4.7 }, /* CVE-2018-5407 (OSV example) */
	/* 3.0 vectors and temporal/environmental metrics, which do not change the base score */
	{ "CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", 9.8 },
	{ "CVSS:3.0/AV:N/AC:L/PR:L/UI:N/S:C/C:H/I:H/A:H", 9.9 },
	{ "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/E:P/RL:O/RC:C", 9.8 },
	{ "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/E:X/CR:H/MAV:L/MS:C", 9.8 },
	/* metric order is free */
	{ "CVSS:3.1/S:U/AV:N/C:H/AC:L/PR:N/I:H/UI:N/A:H", 9.8 },
};

T_TEST(known_vectors)
{
	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
		double s = -1;
		int rc = cvss3_base_score(known[i].v, &s);
		if (rc != 0 || fabs(s - known[i].score) > 1e-9)
			fprintf(stderr, "  %s: got %.1f (rc %d), want %.1f\n", known[i].v, s, rc,
				known[i].score);
		T_CHECK_INT(rc, 0);
		T_CHECK(fabs(s - known[i].score) < 1e-9);
	}
}

T_TEST(severity_bands)
{
	T_CHECK_STR(cvss3_severity(0.0), "none");
	T_CHECK_STR(cvss3_severity(0.1), "low");
	T_CHECK_STR(cvss3_severity(3.9), "low");
	T_CHECK_STR(cvss3_severity(4.0), "medium");
	T_CHECK_STR(cvss3_severity(6.9), "medium");
	T_CHECK_STR(cvss3_severity(7.0), "high");
	T_CHECK_STR(cvss3_severity(8.9), "high");
	T_CHECK_STR(cvss3_severity(9.0), "critical");
	T_CHECK_STR(cvss3_severity(10.0), "critical");
}

T_TEST(malformed_vectors)
{
	static const char *const bad[] = {
		"",
		"CVSS:3.1",
		"CVSS:3.1/",
		"CVSS:2.0/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
		"AV:N/AC:L/Au:N/C:P/I:P/A:P",                          /* v2 */
		"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H",            /* A missing */
		"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/",       /* trailing slash */
		"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/A:H",    /* repeated */
		"CVSS:3.1/AV:X/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",        /* bad value */
		"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:HH",       /* two letters */
		"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:",         /* no value */
		"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/XX:Y",   /* unknown metric */
		"CVSS:3.1/AV:N//AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",       /* empty token */
		"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/E:Z",    /* bad temporal value */
		"CVSS:3.1/AV=N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		double s = 42;
		int rc = cvss3_base_score(bad[i], &s);
		if (rc != -EINVAL)
			fprintf(stderr, "  accepted: \"%s\"\n", bad[i]);
		T_CHECK_INT(rc, -EINVAL);
		T_CHECK(s == 42);
	}
	double s;
	T_CHECK_INT(cvss3_base_score(NULL, &s), -EINVAL);
	char longv[400];
	memset(longv, 'A', sizeof(longv) - 1);
	longv[sizeof(longv) - 1] = '\0';
	memcpy(longv, "CVSS:3.1/", 9);
	T_CHECK_INT(cvss3_base_score(longv, &s), -EINVAL);
}

T_MAIN(T_CASE(known_vectors), T_CASE(severity_bands), T_CASE(malformed_vectors))
