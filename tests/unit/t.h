/*
 * t.h: the unit-test harness. Each test file defines test functions with T_TEST and lists them in
 * T_MAIN. Prints "ok"/"not ok" per test and the closing line "N passed, N failed"; exits 1 on
 * any failure. A check failure records the file, line and expression and the test goes on.
 */
#ifndef GARRISON_T_H
#define GARRISON_T_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int t_failed_checks;

#define T_CHECK(cond)                                                                   \
	do {                                                                            \
		if (!(cond)) {                                                          \
			fprintf(stderr, "  %s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
			t_failed_checks++;                                              \
		}                                                                       \
	} while (0)

#define T_CHECK_STR(a, b)                                                               \
	do {                                                                            \
		const char *t_a_ = (a), *t_b_ = (b);                                    \
		if (t_a_ == NULL || t_b_ == NULL || strcmp(t_a_, t_b_) != 0) {          \
			fprintf(stderr, "  %s:%d: %s == %s: \"%s\" != \"%s\"\n", __FILE__, __LINE__, \
				#a, #b, t_a_ ? t_a_ : "(null)", t_b_ ? t_b_ : "(null)");  \
			t_failed_checks++;                                              \
		}                                                                       \
	} while (0)

#define T_CHECK_INT(a, b)                                                               \
	do {                                                                            \
		long long t_a_ = (long long)(a), t_b_ = (long long)(b);                 \
		if (t_a_ != t_b_) {                                                     \
			fprintf(stderr, "  %s:%d: %s == %s: %lld != %lld\n", __FILE__, __LINE__, \
				#a, #b, t_a_, t_b_);                                    \
			t_failed_checks++;                                              \
		}                                                                       \
	} while (0)

#define T_TEST(name) static void name(void)

struct t_case {
	const char *name;
	void (*fn)(void);
};

#define T_CASE(fn) { #fn, fn }

/* Runs the cases; argv[1], when given, runs only the case of that name. */
static inline int t_run(const struct t_case *cases, size_t n, int argc, char **argv)
{
	int passed = 0, failed = 0;

	for (size_t i = 0; i < n; i++) {
		if (argc > 1 && strcmp(argv[1], cases[i].name) != 0)
			continue;
		int before = t_failed_checks;
		cases[i].fn();
		if (t_failed_checks == before) {
			printf("ok - %s\n", cases[i].name);
			passed++;
		} else {
			printf("not ok - %s\n", cases[i].name);
			failed++;
		}
		fflush(stdout);
	}
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}

#define T_MAIN(...)                                                                     \
	int main(int argc, char **argv)                                                 \
	{                                                                               \
		static const struct t_case t_cases_[] = { __VA_ARGS__ };               \
		return t_run(t_cases_, sizeof(t_cases_) / sizeof(t_cases_[0]), argc, argv); \
	}

#endif
