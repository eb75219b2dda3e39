/*
 * cmd_images: the scanning commands, the twistcli equivalents.
 *   garrison images scan IMAGE   an image from the Docker engine, a `docker save` or OCI archive
 *                                (--tarball), or an OCI layout directory
 *   garrison hosts scan          this host (or --rootfs DIR)
 *   garrison feed import PATH    upload OSV records (or Alpine secdb YAML) to the Console
 * The scan is made here (lib/image*.c, lib/pkgdb*.c, lib/compliance*.c, lib/scan.c); the
 * vulnerabilities come from a local feed (--feed) or from the Console (POST images/evaluate,
 * which matches the packages against the Console's data), and the result is then recorded in the
 * Console (POST /api/v1/scans) when an address is given. Exit status of the scans: 0 passed,
 * 1 a threshold was exceeded, 2 an error (its message printed).
 */
#include "cli.h"

#include <garrison/apiclient.h>
#include <garrison/image.h>
#include <garrison/log.h>
#include <garrison/scan.h>
#include <garrison/scanreport.h>
#include <garrison/vulndb.h>

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum { SCAN_PASS = 0, SCAN_THRESHOLD = 1, SCAN_ERROR = 2 };

#define FEED_PART_BYTES (32u << 20) /* one PUT feeds/osv (the Console takes 64 MiB) */

static const char images_help[] =
	"Usage: garrison images scan [OPTIONS] IMAGE\n"
	"\n"
	"Scans an image for vulnerable packages and compliance issues (CIS Docker Benchmark section 4)\n"
	"and prints the findings and a summary. IMAGE is an image in the local Docker engine (name,\n"
	"name:tag or ID), an OCI image layout directory, or, with --tarball, a name for the archive.\n"
	"Vulnerability data comes from --feed, else from the Console at --address; with --address the\n"
	"result is also recorded in the Console (GET /api/v1/scans).\n"
	"\n"
	"Options:\n"
	"  --tarball FILE             a `docker save` archive or an OCI archive (plain or gzip)\n"
	"  --feed PATH                local vulnerability data: OSV JSON (file, directory or zip) or\n"
	"                             Alpine secdb YAML (.yaml); no Console is needed\n"
	"  --docker-address PATH      the Docker engine's socket (default: DOCKER_HOST unix://...,\n"
	"                             else /var/run/docker.sock)\n"
	"  --output-file FILE         write the results as JSON (twistcli's schema)\n"
	"  --vuln-threshold SEV       fail (exit 1) on a vulnerability of SEV or worse:\n"
	"                             low, medium, high, critical, off (default off)\n"
	"  --compliance-threshold SEV the same for compliance issues (default off)\n"
	"  --details                  print every compliance issue's cause\n"
	"  --job-name NAME            recorded with the result in the Console\n"
	"\n"
	"Exit status: 0 passed, 1 a threshold was exceeded, 2 error.\n";

static const char hosts_help[] =
	"Usage: garrison hosts scan [OPTIONS]\n"
	"\n"
	"Scans this host (or the root file system at --rootfs) for vulnerable packages and Docker\n"
	"host compliance issues (CIS Docker Benchmark sections 1-3).\n"
	"\n"
	"Options:\n"
	"  --rootfs DIR               the root file system to scan (default /)\n"
	"  --hostname NAME            the name recorded (default: this host's name)\n"
	"  --feed, --output-file, --vuln-threshold, --compliance-threshold, --details: as in\n"
	"  'garrison images scan'\n"
	"\n"
	"Exit status: 0 passed, 1 a threshold was exceeded, 2 error.\n";

static const char feed_help[] =
	"Usage: garrison feed import --address URL (--user USER | --token TOKEN) PATH...\n"
	"\n"
	"Checks vulnerability data here and uploads it to the Console, which then re-evaluates every\n"
	"stored scan against it (for air-gapped installs). PATH: OSV JSON (a file with one record or\n"
	"an array, a directory of .json files, or a zip) or Alpine secdb YAML (a .yaml file).\n";

struct scan_args {
	struct apiclient_opts conn;
	int have_conn;
	const char *tarball, *feed, *docker, *output, *job, *rootfs, *hostname;
	enum scan_sev vuln_thr, comp_thr;
	int details;
	const char *target; /* IMAGE */
};

static int is_help(const char *s)
{
	return strcmp(s, "--help") == 0 || strcmp(s, "-h") == 0;
}

static int has_suffix(const char *s, const char *suf)
{
	size_t n = strlen(s), k = strlen(suf);

	return n >= k && strcmp(s + n - k, suf) == 0;
}

/* Loads one feed path into db: secdb YAML by its name, else OSV. 0, or a negative errno with the
 * reason printed. */
static int feed_load(struct vulndb *db, const char *path)
{
	struct vulndb_import_stats st = { 0 };
	char err[512] = "";
	int r;

	if (has_suffix(path, ".yaml") || has_suffix(path, ".yml"))
		r = vulndb_import_secdb_path(db, path, &st, err, sizeof(err));
	else
		r = vulndb_import_osv_path(db, path, &st, err, sizeof(err));
	if (r < 0) {
		log_error("cannot read vulnerability data %.200s: %s", path, err[0] ? err : strerror(-r));
		return r;
	}
	if (st.rejected)
		log_warn("%.200s: %zu malformed records skipped (first: %s)", path, st.rejected,
			 st.first_error);
	return 0;
}

/* Parses the options the scan commands share; 1 when argv[*i] was one, 0 when not, or
 * SCAN_ERROR + 100 for a bad value (the message printed). */
static int scan_opt(struct scan_args *a, int argc, char **argv, int *i, const char *help_cmd)
{
	const char *v;
	int r;

	if ((r = apiclient_opt_parse(&a->conn, argc, argv, i)) != 0) {
		if (r < 0) {
			cli_usage_error(help_cmd, "%s needs a value", argv[*i]);
			return SCAN_ERROR + 100;
		}
		a->have_conn = 1;
		return 1;
	}
	static const struct {
		const char *name;
		size_t off;
	} strs[] = {
		{ "--tarball", offsetof(struct scan_args, tarball) },
		{ "--feed", offsetof(struct scan_args, feed) },
		{ "--docker-address", offsetof(struct scan_args, docker) },
		{ "--output-file", offsetof(struct scan_args, output) },
		{ "--job-name", offsetof(struct scan_args, job) },
		{ "--rootfs", offsetof(struct scan_args, rootfs) },
		{ "--hostname", offsetof(struct scan_args, hostname) },
	};
	for (size_t k = 0; k < sizeof(strs) / sizeof(strs[0]); k++) {
		r = apiclient_opt_value(argc, argv, i, strs[k].name, &v);
		if (r < 0 || (r == 1 && v[0] == '\0')) {
			cli_usage_error(help_cmd, "%s needs a value", strs[k].name);
			return SCAN_ERROR + 100;
		}
		if (r == 1) {
			*(const char **)((char *)a + strs[k].off) = v;
			return 1;
		}
	}
	static const char *const thr[] = { "--vuln-threshold", "--compliance-threshold" };
	for (int k = 0; k < 2; k++) {
		r = apiclient_opt_value(argc, argv, i, thr[k], &v);
		if (r == 0)
			continue;
		if (r < 0 || scanreport_parse_threshold(v, k == 0 ? &a->vuln_thr : &a->comp_thr) < 0) {
			cli_usage_error(help_cmd, "%s takes low, medium, high, critical or off", thr[k]);
			return SCAN_ERROR + 100;
		}
		return 1;
	}
	if (strcmp(argv[*i], "--details") == 0) {
		a->details = 1;
		return 1;
	}
	return 0;
}

/* The Docker socket path: --docker-address, DOCKER_HOST (unix://), else the default. */
static const char *docker_socket(const struct scan_args *a)
{
	const char *h = a->docker ? a->docker : getenv("DOCKER_HOST");

	if (h == NULL || h[0] == '\0')
		return "/var/run/docker.sock";
	if (strncmp(h, "unix://", 7) == 0)
		return h + 7;
	return h;
}

static int read_image(const struct scan_args *a, struct image_scan_result **out)
{
	char err[512] = "";
	struct stat st;
	int r, fd;

	if (a->tarball) {
		fd = open(a->tarball, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			log_error("cannot open %.200s: %s", a->tarball, strerror(errno));
			return -errno;
		}
		r = image_read_fd(fd, a->tarball, NULL, out, err, sizeof(err));
		close(fd);
	} else if (stat(a->target, &st) == 0 && S_ISDIR(st.st_mode)) {
		r = image_open_oci_layout(a->target, NULL, out, err, sizeof(err));
	} else {
		r = image_from_engine(docker_socket(a), a->target, NULL, out, err, sizeof(err));
	}
	if (r < 0)
		log_error("cannot read image %.200s: %s", a->tarball ? a->tarball : a->target,
			  err[0] ? err : strerror(-r));
	return r;
}

/* Adds the vulnerabilities to rec: from the local feed, else from the Console. */
static int resolve_vulns(const struct scan_args *a, struct apiclient *c, json_t **rec)
{
	char err[512] = "";
	int r;

	if (a->feed) {
		struct vulndb *db = vulndb_new();
		struct vulndb_info info;

		if (db == NULL)
			return -ENOMEM;
		r = feed_load(db, a->feed);
		if (r == 0) {
			vulndb_info(db, &info);
			r = scan_record_apply_vulndb(*rec, db, info.data_version, err, sizeof(err));
			if (r < 0)
				log_error("cannot match packages: %s", err[0] ? err : strerror(-r));
		}
		vulndb_free(db);
		return r;
	}
	json_t *body = json_pack("{s[O]}", "images", *rec), *ans = NULL, *img;

	if (body == NULL)
		return -ENOMEM;
	r = apiclient_call_json(c, "POST", "/api/v1/images/evaluate", body, &ans, NULL);
	json_decref(body);
	if (r < 0) {
		log_error("the Console could not evaluate the image: %s", apiclient_errmsg(c));
		return r;
	}
	img = json_array_get(json_object_get(ans, "images"), 0);
	if (!json_is_object(img) || !json_is_array(json_object_get(img, "vulnerabilities"))) {
		log_error("the Console's answer to images/evaluate has no image with vulnerabilities");
		json_decref(ans);
		return -EPROTO;
	}
	json_decref(*rec);
	*rec = json_incref(img);
	json_decref(ans);
	return 0;
}

static void print_findings(const json_t *rec, const char *what, const char *name, int details)
{
	static const char *const vh[] = { "CVE", "SEVERITY", "CVSS", "PACKAGE", "VERSION", "STATUS" };
	static const char *const vk[] = { "cve", "severity", "cvss", "packageName", "packageVersion", "status" };
	static const char *const ch[] = { "ID", "SEVERITY", "TITLE", "CAUSE" };
	static const char *const ck[] = { "id", "severity", "title", "cause" };
	const json_t *vulns = json_object_get(rec, "vulnerabilities");
	const json_t *comp = json_object_get(rec, "complianceIssues");
	json_t *vd = scanreport_distribution(vulns), *cd = scanreport_distribution(comp);

	if (json_array_size(vulns) > 0) {
		cli_print_table(stdout, vulns, 6, vh, vk);
		putchar('\n');
	}
	if (json_array_size(comp) > 0) {
		cli_print_table(stdout, comp, details ? 4 : 3, ch, ck);
		putchar('\n');
	}
#define D(d, k) (long long)json_integer_value(json_object_get(d, k))
	printf("Vulnerabilities found for %s %s: total %lld, critical %lld, high %lld, medium %lld, low %lld\n",
	       what, name, D(vd, "total"), D(vd, "critical"), D(vd, "high"), D(vd, "medium"), D(vd, "low"));
	printf("Compliance found for %s %s: total %lld, critical %lld, high %lld, medium %lld, low %lld\n",
	       what, name, D(cd, "total"), D(cd, "critical"), D(cd, "high"), D(cd, "medium"), D(cd, "low"));
#undef D
	json_decref(vd);
	json_decref(cd);
}

/* Records the result in the Console: POST /api/v1/scans with a CLIScanResult. */
static int record_scan(struct apiclient *c, const struct scan_args *a, const json_t *rec, int pass)
{
	struct apiclient_resp resp = { 0 };
	json_t *body = json_pack("{sO sb ss}", "entityInfo", rec, "pass", pass, "version", GARRISON_VERSION);
	int r;

	if (body == NULL)
		return -ENOMEM;
	if (a->job)
		json_object_set_new(body, "jobName", json_string(a->job));
	r = apiclient_call(c, "POST", "/api/v1/scans", body, &resp);
	json_decref(body);
	apiclient_resp_clear(&resp);
	if (r < 0)
		log_error("the result could not be recorded in the Console: %s", apiclient_errmsg(c));
	return r;
}

/* Thresholds, output, printing and recording, common to images and hosts. */
static int finish_scan(const struct scan_args *a, struct apiclient *c, json_t *rec, const char *what,
		       const char *name)
{
	int vpass = !scanreport_exceeds(json_object_get(rec, "vulnerabilities"), a->vuln_thr);
	int cpass = !scanreport_exceeds(json_object_get(rec, "complianceIssues"), a->comp_thr);
	int rc = vpass && cpass ? SCAN_PASS : SCAN_THRESHOLD;

	print_findings(rec, what, name, a->details);
	printf("Vulnerability threshold check results: %s\n", vpass ? "PASS" : "FAIL");
	printf("Compliance threshold check results: %s\n", cpass ? "PASS" : "FAIL");
	if (a->output) {
		json_t *doc = scanreport_twistcli(rec, name, vpass, cpass, a->have_conn ? a->conn.address : NULL);
		char *text = doc ? json_dumps(doc, JSON_INDENT(2)) : NULL;

		json_decref(doc);
		if (text == NULL || cli_write_output(a->output, text, strlen(text)) != CLI_OK) {
			free(text);
			log_error("cannot write the results to %.200s", a->output);
			return SCAN_ERROR;
		}
		free(text);
	}
	if (c != NULL && record_scan(c, a, rec, rc == SCAN_PASS) < 0)
		return SCAN_ERROR;
	return rc;
}

/* Connects when connection options were given; needs one of --feed or a Console. */
static int scan_connect(struct scan_args *a, const char *help_cmd, struct apiclient **c)
{
	*c = NULL;
	if (!a->have_conn && a->feed == NULL) {
		cli_usage_error(help_cmd, "vulnerability data is needed: give --feed PATH or --address URL");
		return SCAN_ERROR;
	}
	if (!a->have_conn)
		return SCAN_PASS;
	return cli_connect(&a->conn, help_cmd, c) == CLI_OK ? SCAN_PASS : SCAN_ERROR;
}

static int images_scan(int argc, char **argv)
{
	struct scan_args a = { 0 };
	struct image_scan_result *img = NULL;
	struct apiclient *c = NULL;
	json_t *rec = NULL;
	int rc = SCAN_ERROR, r;

	for (int i = 1; i < argc; i++) {
		if (is_help(argv[i])) {
			fputs(images_help, stdout);
			return SCAN_PASS;
		}
		r = scan_opt(&a, argc, argv, &i, "images scan ");
		if (r == 1)
			continue;
		if (r != 0)
			return SCAN_ERROR;
		if (argv[i][0] == '-' || a.target != NULL) {
			cli_usage_error("images scan ", "unexpected argument \"%.64s\"", argv[i]);
			return SCAN_ERROR;
		}
		a.target = argv[i];
	}
	if (a.rootfs || a.hostname) {
		cli_usage_error("images scan ", "--rootfs and --hostname belong to 'hosts scan'");
		return SCAN_ERROR;
	}
	if (a.target == NULL && a.tarball == NULL) {
		cli_usage_error("images scan ", "an IMAGE (or --tarball FILE) is required");
		return SCAN_ERROR;
	}
	if (scan_connect(&a, "images scan ", &c) != SCAN_PASS)
		return SCAN_ERROR;
	if (read_image(&a, &img) < 0)
		goto out;
	if (img->pkg_error)
		log_warn("the package database of the image is malformed: %s", img->pkg_error);
	if (scan_image_record(img, &rec) < 0 || resolve_vulns(&a, c, &rec) < 0)
		goto out;
	const char *name = a.target ? a.target : (img->n_repo_tags ? img->repo_tags[0] : a.tarball);
	if (json_object_set_new(rec, "repoTag", json_pack("{ss}", "repo", name)) != 0)
		goto out;
	rc = finish_scan(&a, c, rec, "image", name);
out:
	json_decref(rec);
	image_scan_result_free(img);
	apiclient_free(c);
	return rc;
}

static int hosts_scan(int argc, char **argv)
{
	struct scan_args a = { 0 };
	struct apiclient *c = NULL;
	char host[256], err[512] = "";
	json_t *rec = NULL;
	int rc = SCAN_ERROR, r;

	for (int i = 1; i < argc; i++) {
		if (is_help(argv[i])) {
			fputs(hosts_help, stdout);
			return SCAN_PASS;
		}
		r = scan_opt(&a, argc, argv, &i, "hosts scan ");
		if (r == 1)
			continue;
		if (r != 0)
			return SCAN_ERROR;
		cli_usage_error("hosts scan ", "unexpected argument \"%.64s\"", argv[i]);
		return SCAN_ERROR;
	}
	if (a.tarball) {
		cli_usage_error("hosts scan ", "--tarball belongs to 'images scan'");
		return SCAN_ERROR;
	}
	if (a.hostname == NULL) {
		if (gethostname(host, sizeof(host)) != 0)
			snprintf(host, sizeof(host), "localhost");
		host[sizeof(host) - 1] = '\0';
		a.hostname = host;
	}
	if (scan_connect(&a, "hosts scan ", &c) != SCAN_PASS)
		return SCAN_ERROR;
	r = scan_host_record(a.rootfs ? a.rootfs : "/", a.hostname, NULL, &rec, err, sizeof(err));
	if (r < 0) {
		log_error("cannot scan %.200s: %s", a.rootfs ? a.rootfs : "/", err[0] ? err : strerror(-r));
		goto out;
	}
	if (resolve_vulns(&a, c, &rec) < 0)
		goto out;
	rc = finish_scan(&a, c, rec, "host", a.hostname);
out:
	json_decref(rec);
	apiclient_free(c);
	return rc;
}

int cmd_images(int argc, char **argv)
{
	if (argc < 2 || is_help(argv[1])) {
		fputs(images_help, stdout);
		return argc < 2 ? CLI_USAGE : CLI_OK;
	}
	if (strcmp(argv[1], "scan") == 0)
		return images_scan(argc - 1, argv + 1);
	return cli_usage_error("images ", "unknown subcommand \"%.64s\"", argv[1]);
}

int cmd_hosts(int argc, char **argv)
{
	if (argc < 2 || is_help(argv[1])) {
		fputs(hosts_help, stdout);
		return argc < 2 ? CLI_USAGE : CLI_OK;
	}
	if (strcmp(argv[1], "scan") == 0)
		return hosts_scan(argc - 1, argv + 1);
	return cli_usage_error("hosts ", "unknown subcommand \"%.64s\"", argv[1]);
}

static int feed_import(int argc, char **argv)
{
	struct apiclient_opts conn = { 0 };
	struct apiclient *c = NULL;
	struct vulndb *db = NULL;
	struct vulndb_info info;
	const char *paths[64];
	size_t npaths = 0;
	json_t *body = NULL, *ans = NULL;
	int rc = CLI_FAIL, r;

	for (int i = 1; i < argc; i++) {
		if (is_help(argv[i])) {
			fputs(feed_help, stdout);
			return CLI_OK;
		}
		r = apiclient_opt_parse(&conn, argc, argv, &i);
		if (r < 0)
			return cli_usage_error("feed import ", "%s needs a value", argv[i]);
		if (r == 1)
			continue;
		if (argv[i][0] == '-' || npaths == sizeof(paths) / sizeof(paths[0]))
			return cli_usage_error("feed import ", "unexpected argument \"%.64s\"", argv[i]);
		paths[npaths++] = argv[i];
	}
	if (npaths == 0)
		return cli_usage_error("feed import ", "a PATH is required");
	if ((db = vulndb_new()) == NULL)
		goto out;
	for (size_t k = 0; k < npaths; k++)
		if (feed_load(db, paths[k]) < 0)
			goto out;
	vulndb_info(db, &info);
	if (info.records == 0) {
		log_error("no vulnerability records in the given data");
		goto out;
	}
	r = vulndb_export_json(db, &body);
	if (r < 0) {
		log_error("cannot prepare the upload: %s", strerror(-r));
		goto out;
	}
	if ((rc = cli_connect(&conn, "feed import ", &c)) != CLI_OK)
		goto out;
	rc = CLI_FAIL;
	/* The Console takes at most 64 MiB per request and merges imports: send parts. */
	size_t total = json_array_size(body), parts = 1, per;
	char *all = json_dumps(body, JSON_COMPACT);
	if (all != NULL)
		parts = 1 + strlen(all) / FEED_PART_BYTES;
	free(all);
	per = (total + parts - 1) / parts;
	for (size_t k = 0; k < total; k += per) {
		json_t *part = json_array();

		for (size_t j = k; j < k + per && j < total && part; j++)
			json_array_append(part, json_array_get(body, j));
		json_decref(ans);
		ans = NULL;
		r = part ? apiclient_call_json(c, "PUT", "/api/v1/feeds/osv", part, &ans, NULL) : -ENOMEM;
		json_decref(part);
		if (r < 0) {
			log_error("the Console refused the data (records %zu to %zu): %s", k + 1,
				  k + per < total ? k + per : total, apiclient_errmsg(c));
			goto out;
		}
	}
	printf("Imported %zu records (data version %.16s); the Console now holds %lld records, "
	       "version %.16s\n", info.records, info.data_version,
	       (long long)json_integer_value(json_object_get(ans, "records")),
	       json_string_value(json_object_get(ans, "dataVersion")) ?
		       json_string_value(json_object_get(ans, "dataVersion")) : "?");
	rc = CLI_OK;
out:
	json_decref(ans);
	json_decref(body);
	vulndb_free(db);
	apiclient_free(c);
	return rc;
}

int cmd_feed(int argc, char **argv)
{
	if (argc < 2 || is_help(argv[1])) {
		fputs(feed_help, stdout);
		return argc < 2 ? CLI_USAGE : CLI_OK;
	}
	if (strcmp(argv[1], "import") == 0)
		return feed_import(argc - 1, argv + 1);
	return cli_usage_error("feed ", "unknown subcommand \"%.64s\"", argv[1]);
}
