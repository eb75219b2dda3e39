/*
 * vuln_match: the vulnerability database's import and matching speed. It prints figures; it
 * never passes or fails.
 *
 *   build/bench/vuln_match [-f FEED] [-s STATUS] [-n IMPORTS] [-m MATCHES] [-t THREADS]
 *
 * FEED (default tests/data/vuln/debian12-buildhost-changelog-cves.osv.json, 14,017 OSV records)
 * is imported IMPORTS times (default 3) into a fresh database, each timed: records per second,
 * including JSON parsing, validation, version checks and event sorting, indexing and the data
 * version (SHA-256 of the canonical export). The dpkg status file STATUS (default the Debian 12
 * build host's, tests/data/pkgdb/debian-bookworm-buildhost/var/lib/dpkg/status, 869 packages,
 * matched as Debian 12) is then matched MATCHES times (default 200) on 1 thread and on THREADS
 * threads (default 2) sharing the read-only database, in two cases:
 *   installed  the real versions: every record is fixed, zero findings (the lookup cost);
 *   vulnerable every source version rewritten to "0~": every record applies (the cost of
 *              building every finding as JSON).
 * Reports packages (binary) per second and source packages per second; run it from the top of
 * the source tree.
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <garrison/log.h>
#include <garrison/pkgdb.h>
#include <garrison/util.h>
#include <garrison/vulndb.h>

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct job {
	const struct vulndb *db;
	const struct pkglist *l;
	int n;
	size_t findings, groups;
	int failed;
};

static void *run(void *arg)
{
	struct job *j = arg;
	for (int i = 0; i < j->n; i++) {
		struct vulndb_match_result res;
		if (vulndb_match(j->db, j->l, NULL, &res) != 0) {
			j->failed = 1;
			return NULL;
		}
		j->findings = json_array_size(res.vulnerabilities);
		j->groups = res.packages;
		vulndb_match_result_clear(&res);
	}
	return NULL;
}

static void bench_match(const char *label, const struct vulndb *db, const struct pkglist *l,
			int matches, int threads)
{
	int counts[2] = { 1, threads };
	for (int k = 0; k < (threads > 1 ? 2 : 1); k++) {
		int t = counts[k];
		pthread_t th[64];
		struct job jobs[64];
		int per = matches / t > 0 ? matches / t : 1;
		double t0 = now_s();
		for (int i = 0; i < t; i++) {
			jobs[i] = (struct job){ db, l, per, 0, 0, 0 };
			pthread_create(&th[i], NULL, run, &jobs[i]);
		}
		for (int i = 0; i < t; i++)
			pthread_join(th[i], NULL);
		double dt = now_s() - t0;
		double total = (double)per * t;
		printf("match %-10s threads=%d matches=%.0f findings/match=%zu  %.2f ms/match  "
		       "%.0f packages/s  %.0f source packages/s%s\n",
		       label, t, total, jobs[0].findings, dt / total * 1000.0,
		       total * (double)l->n / dt, total * (double)jobs[0].groups / dt,
		       jobs[0].failed ? "  (a match FAILED)" : "");
	}
}

int main(int argc, char **argv)
{
	const char *feed = "tests/data/vuln/debian12-buildhost-changelog-cves.osv.json";
	const char *status = "tests/data/pkgdb/debian-bookworm-buildhost/var/lib/dpkg/status";
	int imports = 3, matches = 200, threads = 2, c;
	char err[512] = "";

	log_init("vuln_match", LOG_LVL_ERROR);
	while ((c = getopt(argc, argv, "f:s:n:m:t:")) != -1) {
		switch (c) {
		case 'f': feed = optarg; break;
		case 's': status = optarg; break;
		case 'n': imports = (int)strtol(optarg, NULL, 10); break;
		case 'm': matches = (int)strtol(optarg, NULL, 10); break;
		case 't': threads = (int)strtol(optarg, NULL, 10); break;
		default:
			fprintf(stderr, "usage: %s [-f FEED] [-s STATUS] [-n IMPORTS] [-m MATCHES] "
					"[-t THREADS]\n", argv[0]);
			return 2;
		}
	}
	if (imports < 1 || matches < 1 || threads < 1 || threads > 64) {
		fprintf(stderr, "bad counts\n");
		return 2;
	}

	struct vulndb *db = NULL;
	struct vulndb_import_stats st;
	for (int i = 0; i < imports; i++) {
		vulndb_free(db);
		db = vulndb_new();
		double t0 = now_s();
		int rc = vulndb_import_osv_path(db, feed, &st, err, sizeof(err));
		double dt = now_s() - t0;
		if (rc != 0) {
			fprintf(stderr, "import %s: %s\n", feed, err);
			vulndb_free(db);
			return 1;
		}
		printf("import %d: %zu records (%zu rejected, %zu affected indexed) in %.3f s: "
		       "%.0f records/s\n", i + 1, st.records, st.rejected, st.affected_indexed, dt,
		       (double)st.records / dt);
	}
	struct vulndb_info info;
	vulndb_info(db, &info);
	printf("database: %zu records, %zu affected entries, %zu (ecosystem, package) keys, data "
	       "version %.16s...\n", info.records, info.affected, info.keys, info.data_version);

	char *text = NULL;
	size_t len = 0;
	struct pkglist l = { 0 };
	if (util_read_file(status, PKGDB_FILE_MAX, &text, &len) != 0 ||
	    pkgdb_read_dpkg(text, len, status, &l, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s: cannot read: %s\n", status, err);
		free(text);
		vulndb_free(db);
		return 1;
	}
	free(text);
	l.os_id = strdup("debian");
	l.os_version_id = strdup("12");
	printf("package list: %zu packages from %s, matched as Debian 12\n", l.n, status);
	bench_match("installed", db, &l, matches, threads);
	for (size_t i = 0; i < l.n; i++) {
		free(l.v[i].source_version);
		l.v[i].source_version = strdup("0~");
	}
	bench_match("vulnerable", db, &l, matches / 10 > 0 ? matches / 10 : 1, threads);
	pkglist_clear(&l);
	vulndb_free(db);
	return 0;
}
