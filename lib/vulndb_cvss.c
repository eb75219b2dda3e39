/*
 * vulndb_cvss.c: the CVSS v3.x base score from a vector string, written from the FIRST CVSS v3.1
 * specification (section 7.1 base metric equations, 7.4 metric values, Appendix A Roundup).
 * The vector is untrusted (it comes from vulnerability feeds): bounded, every metric checked
 * against its allowed values, repeats refused, nothing read past the string.
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include <garrison/cvss.h>

/* Appendix A: the smallest number with one decimal that is >= x, in integer arithmetic so that
 * 4.000000000000001 rounds to 4.0 (not 4.1). */
static double roundup(double x)
{
	int64_t i = (int64_t)llround(x * 100000.0);
	if (i % 10000 == 0)
		return (double)i / 100000.0;
	return (double)(i / 10000 + 1) / 10.0;
}

struct metric {
	const char *name;
	const char *values; /* allowed one-letter values */
	int base;           /* index into the base array, or -1 */
};

enum { M_AV, M_AC, M_PR, M_UI, M_S, M_C, M_I, M_A, M_BASE_N };

static const struct metric metrics[] = {
	{ "AV", "NALP", M_AV }, { "AC", "LH", M_AC }, { "PR", "NLH", M_PR }, { "UI", "NR", M_UI },
	{ "S", "UC", M_S },     { "C", "NLH", M_C },  { "I", "NLH", M_I },   { "A", "NLH", M_A },
	{ "E", "XUPFH", -1 },   { "RL", "XOTWU", -1 }, { "RC", "XURC", -1 }, { "CR", "XLMH", -1 },
	{ "IR", "XLMH", -1 },   { "AR", "XLMH", -1 },  { "MAV", "XNALP", -1 }, { "MAC", "XLH", -1 },
	{ "MPR", "XNLH", -1 },  { "MUI", "XNR", -1 },  { "MS", "XUC", -1 },  { "MC", "XNLH", -1 },
	{ "MI", "XNLH", -1 },   { "MA", "XNLH", -1 },
};
#define N_METRICS (sizeof(metrics) / sizeof(metrics[0]))

static double cia(char v) { return v == 'H' ? 0.56 : v == 'L' ? 0.22 : 0.0; }

int cvss3_base_score(const char *vector, double *score)
{
	char val[N_METRICS];
	if (vector == NULL || score == NULL)
		return -EINVAL;
	size_t len = strnlen(vector, CVSS_VECTOR_MAX + 1);
	if (len > CVSS_VECTOR_MAX)
		return -EINVAL;
	if (strncmp(vector, "CVSS:3.0/", 9) != 0 && strncmp(vector, "CVSS:3.1/", 9) != 0)
		return -EINVAL;
	memset(val, 0, sizeof(val));
	const char *p = vector + 9, *end = vector + len;
	while (p < end) {
		const char *slash = memchr(p, '/', (size_t)(end - p));
		const char *tok_end = slash ? slash : end;
		const char *colon = memchr(p, ':', (size_t)(tok_end - p));
		/* "NAME:V": exactly one value character after the colon */
		if (colon == NULL || colon == p || tok_end - colon != 2)
			return -EINVAL;
		size_t nlen = (size_t)(colon - p);
		char v = colon[1];
		size_t m;
		for (m = 0; m < N_METRICS; m++)
			if (strlen(metrics[m].name) == nlen && memcmp(metrics[m].name, p, nlen) == 0)
				break;
		if (m == N_METRICS || val[m] != 0 || v == '\0' || strchr(metrics[m].values, v) == NULL)
			return -EINVAL;
		val[m] = v;
		if (slash == NULL)
			break;
		p = slash + 1;
		if (p == end) /* trailing '/' */
			return -EINVAL;
	}
	for (int b = 0; b < M_BASE_N; b++)
		if (val[b] == 0)
			return -EINVAL;

	int changed = val[M_S] == 'C';
	double av = val[M_AV] == 'N' ? 0.85 : val[M_AV] == 'A' ? 0.62 : val[M_AV] == 'L' ? 0.55 : 0.2;
	double ac = val[M_AC] == 'L' ? 0.77 : 0.44;
	double pr = val[M_PR] == 'N' ? 0.85
		  : val[M_PR] == 'L' ? (changed ? 0.68 : 0.62)
				     : (changed ? 0.5 : 0.27);
	double ui = val[M_UI] == 'N' ? 0.85 : 0.62;
	double iss = 1.0 - (1.0 - cia(val[M_C])) * (1.0 - cia(val[M_I])) * (1.0 - cia(val[M_A]));
	double impact = changed ? 7.52 * (iss - 0.029) - 3.25 * pow(iss - 0.02, 15) : 6.42 * iss;
	double expl = 8.22 * av * ac * pr * ui;
	double s;
	if (impact <= 0)
		s = 0.0;
	else if (changed)
		s = roundup(fmin(1.08 * (impact + expl), 10.0));
	else
		s = roundup(fmin(impact + expl, 10.0));
	*score = s;
	return 0;
}

const char *cvss3_severity(double score)
{
	if (score >= 9.0)
		return "critical";
	if (score >= 7.0)
		return "high";
	if (score >= 4.0)
		return "medium";
	if (score > 0.0)
		return "low";
	return "none";
}
