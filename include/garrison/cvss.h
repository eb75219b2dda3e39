/*
 * cvss.h: the CVSS v3.0 / v3.1 base score, computed from a vector string with the formulas of the
 * FIRST specification (CVSS v3.1 Specification Document, section 7.1 and Appendix A "Roundup").
 * Used by the vulnerability database to give every finding a score and a severity when its
 * record carries a CVSS v3 vector. Pure functions: no allocation, no global state, any thread.
 */
#ifndef GARRISON_CVSS_H
#define GARRISON_CVSS_H

#include <stddef.h>

/* Longest vector accepted, in bytes (a full vector with every environmental metric is ~150). */
#define CVSS_VECTOR_MAX 256

/*
 * Parses a CVSS v3 vector ("CVSS:3.0/..." or "CVSS:3.1/...") and stores its base score (0.0 ..
 * 10.0, one decimal) in *score. The eight base metrics AV AC PR UI S C I A must each appear
 * exactly once with a valid value; temporal and environmental metrics (E RL RC CR IR AR MAV MAC
 * MPR MUI MS MC MI MA) are checked for a valid value and otherwise ignored (they do not change
 * the base score). Both versions use the v3.1 Roundup (integer arithmetic), which removes the
 * floating-point artefacts of v3.0's plain round-up; FIRST published it as the fix for those.
 * Returns 0, or -EINVAL (NULL argument, unknown prefix, unknown or repeated metric, bad value,
 * missing base metric, over CVSS_VECTOR_MAX) with *score untouched.
 */
int cvss3_base_score(const char *vector, double *score);

/*
 * The qualitative rating of a CVSS v3 score (specification section 5): "none" (0.0), "low"
 * (0.1-3.9), "medium" (4.0-6.9), "high" (7.0-8.9), "critical" (9.0-10.0). A static string.
 */
const char *cvss3_severity(double score);

#endif
