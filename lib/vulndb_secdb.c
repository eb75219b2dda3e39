/*
 * vulndb_secdb.c: Alpine secdb (secdb.alpinelinux.org/<branch>/<repo>.yaml) to OSV records.
 * Parsed with libyaml's document API after a first pass over the event stream that refuses
 * aliases (a few bytes of aliases could otherwise expand into millions of records). The
 * document is untrusted: size bounded, every node's type checked, odd entries skipped with a
 * warning rather than guessed at.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include <garrison/log.h>
#include <garrison/util.h>
#include <garrison/version.h>

#include "vulndb_int.h"

static yaml_node_t *map_get(yaml_document_t *d, yaml_node_t *map, const char *key)
{
	size_t kl = strlen(key);
	if (map == NULL || map->type != YAML_MAPPING_NODE)
		return NULL;
	for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
	     p++) {
		yaml_node_t *k = yaml_document_get_node(d, p->key);
		if (k != NULL && k->type == YAML_SCALAR_NODE && k->data.scalar.length == kl &&
		    memcmp(k->data.scalar.value, key, kl) == 0)
			return yaml_document_get_node(d, p->value);
	}
	return NULL;
}

/* A scalar's text copied into buf (NUL-terminated); NULL when not a scalar, too long, or with a
 * NUL or control byte. */
static const char *scalar(yaml_node_t *n, char *buf, size_t len)
{
	if (n == NULL || n->type != YAML_SCALAR_NODE || n->data.scalar.length >= len)
		return NULL;
	for (size_t i = 0; i < n->data.scalar.length; i++)
		if (n->data.scalar.value[i] < 0x20 && n->data.scalar.value[i] != '\t')
			return NULL;
	memcpy(buf, n->data.scalar.value, n->data.scalar.length);
	buf[n->data.scalar.length] = '\0';
	return buf;
}

static int is_dig(char c) { return c >= '0' && c <= '9'; }
static int is_up(char c) { return c >= 'A' && c <= 'Z'; }

/*
 * The vulnerability id of one secfixes item into out: the first word that is a CVE id
 * ("CVE-YYYY-N{4,}", whatever follows the digits dropped) or an ID-NNN word (letters, '-',
 * digits: XSA-207). 0, or -1 when the item has none.
 */
static int item_id(const char *item, char *out, size_t len)
{
	const char *p = item;
	while (*p) {
		while (*p == ' ' || *p == '\t')
			p++;
		const char *w = p;
		while (*p && *p != ' ' && *p != '\t')
			p++;
		size_t wl = (size_t)(p - w);
		if (wl > 9 && strncmp(w, "CVE-", 4) == 0 && is_dig(w[4]) && is_dig(w[5]) &&
		    is_dig(w[6]) && is_dig(w[7]) && w[8] == '-') {
			size_t d = 9;
			while (d < wl && is_dig(w[d]))
				d++;
			if (d - 9 >= 4 && d < len) {
				memcpy(out, w, d);
				out[d] = '\0';
				return 0;
			}
			continue;
		}
		size_t u = 0;
		while (u < wl && is_up(w[u]))
			u++;
		if (u >= 2 && u + 1 < wl && w[u] == '-' && is_dig(w[u + 1])) {
			size_t d = u + 1;
			while (d < wl && (is_dig(w[d]) || w[d] == '-'))
				d++;
			if (d == wl && wl < len && w[wl - 1] != '-') {
				memcpy(out, w, wl);
				out[wl] = '\0';
				return 0;
			}
		}
	}
	return -1;
}

/* Refuses documents with aliases (and counts nothing else). 0, -EINVAL, -ENOMEM. */
static int no_aliases(const char *yaml, size_t len, const char *origin, char *err, size_t errlen)
{
	yaml_parser_t p;
	yaml_event_t ev;
	int rc = 0;
	if (!yaml_parser_initialize(&p))
		return -ENOMEM;
	yaml_parser_set_input_string(&p, (const unsigned char *)yaml, len);
	for (;;) {
		if (!yaml_parser_parse(&p, &ev)) {
			vulndb_seterr(err, errlen, "%s: not YAML: line %zu: %s", origin,
				      p.problem_mark.line + 1, p.problem ? p.problem : "error");
			rc = -EINVAL;
			break;
		}
		int type = ev.type;
		yaml_event_delete(&ev);
		if (type == YAML_ALIAS_EVENT) {
			vulndb_seterr(err, errlen, "%s: YAML aliases are not accepted in secdb", origin);
			rc = -EINVAL;
			break;
		}
		if (type == YAML_STREAM_END_EVENT)
			break;
	}
	yaml_parser_delete(&p);
	return rc;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Adds (package, fixed) to the record of id in recs (an object id → record). */
static int add_fix(json_t *recs, const char *id, const char *vid, const char *eco,
		   const char *pkg, const char *fixed)
{
	json_t *rec = json_object_get(recs, id);
	if (rec == NULL) {
		rec = json_pack("{s:s, s:s, s:s, s:[s], s:s, s:[], s:{s:b}}", "schema_version",
				"1.7.5", "id", id, "modified", "1970-01-01T00:00:00Z", "aliases", vid,
				"summary", vid, "affected", "database_specific",
				"converted_from_alpine_secdb", 1);
		if (rec == NULL || json_object_set_new(recs, id, rec) != 0)
			return -ENOMEM;
	}
	json_t *aff = json_object_get(rec, "affected"), *a;
	size_t i;
	json_array_foreach(aff, i, a) {
		json_t *p = json_object_get(a, "package");
		if (strcmp(json_string_value(json_object_get(p, "name")), pkg) != 0)
			continue;
		/* listed under two fixed versions of one package (a fix backported to an older
		 * line, then again): keep the highest, which never misses an affected version */
		json_t *evs = json_object_get(json_array_get(json_object_get(a, "ranges"), 0), "events");
		json_t *fx = json_array_get(evs, 1);
		const char *cur = json_string_value(json_object_get(fx, "fixed"));
		int r;
		if (cur != NULL && version_compare(VERSION_APK, fixed, cur, &r) == 0 && r > 0)
			json_object_set_new(fx, "fixed", json_string(fixed));
		return 0;
	}
	char purl[512];
	snprintf(purl, sizeof(purl), "pkg:apk/alpine/%s?arch=source", pkg);
	a = json_pack("{s:{s:s, s:s, s:s}, s:[{s:s, s:[{s:s}, {s:s}]}]}", "package", "ecosystem",
		      eco, "name", pkg, "purl", purl, "ranges", "type", "ECOSYSTEM", "events",
		      "introduced", "0", "fixed", fixed);
	if (a == NULL || json_array_append_new(aff, a) != 0)
		return -ENOMEM;
	return 0;
}

int vulndb_secdb_to_osv(const char *yaml, size_t len, const char *origin, json_t **records,
			char *err, size_t errlen)
{
	yaml_parser_t p;
	yaml_document_t doc;
	int rc, loaded = 0;
	json_t *recs = NULL, *out = NULL;
	char dv[64], repo[64], eco[VULNDB_ECOSYSTEM_MAX], name[VULNDB_ID_MAX + 1];
	char ver[VERSION_MAX + 1], item[1024], vid[VULNDB_ID_MAX], id[VULNDB_ID_MAX + 160];
	size_t skipped = 0;

	*records = NULL;
	origin = origin ? origin : "secdb";
	if (yaml == NULL)
		return -EINVAL;
	if (len > VULNDB_FILE_MAX) {
		vulndb_seterr(err, errlen, "%s: larger than %lu bytes", origin, VULNDB_FILE_MAX);
		return -EFBIG;
	}
	if ((rc = no_aliases(yaml, len, origin, err, errlen)) != 0)
		return rc;
	if (!yaml_parser_initialize(&p))
		return -ENOMEM;
	yaml_parser_set_input_string(&p, (const unsigned char *)yaml, len);
	loaded = yaml_parser_load(&p, &doc);
	yaml_parser_delete(&p);
	if (!loaded) {
		vulndb_seterr(err, errlen, "%s: not YAML", origin);
		return -EINVAL;
	}
	rc = -EINVAL;
	yaml_node_t *root = yaml_document_get_root_node(&doc);
	if (root == NULL || root->type != YAML_MAPPING_NODE) {
		vulndb_seterr(err, errlen, "%s: not a secdb document (no top-level mapping)", origin);
		goto fail;
	}
	if (scalar(map_get(&doc, root, "distroversion"), dv, sizeof(dv)) == NULL ||
	    !(dv[0] == 'v' && is_dig(dv[1])) || strspn(dv + 1, "0123456789.") != strlen(dv + 1)) {
		vulndb_seterr(err, errlen, "%s: distroversion is missing or not v<major>.<minor>",
			      origin);
		goto fail;
	}
	if (scalar(map_get(&doc, root, "reponame"), repo, sizeof(repo)) == NULL ||
	    strspn(repo, "abcdefghijklmnopqrstuvwxyz0123456789-_") != strlen(repo) || repo[0] == '\0')
		snprintf(repo, sizeof(repo), "%s", "main");
	snprintf(eco, sizeof(eco), "Alpine:%s", dv);
	yaml_node_t *pkgs = map_get(&doc, root, "packages");
	if (pkgs == NULL || pkgs->type != YAML_SEQUENCE_NODE) {
		vulndb_seterr(err, errlen, "%s: packages is missing or not a list", origin);
		goto fail;
	}
	rc = -ENOMEM;
	if ((recs = json_object()) == NULL)
		goto fail;
	for (yaml_node_item_t *it = pkgs->data.sequence.items.start;
	     it < pkgs->data.sequence.items.top; it++) {
		yaml_node_t *pkg = map_get(&doc, yaml_document_get_node(&doc, *it), "pkg");
		yaml_node_t *fixes = map_get(&doc, pkg, "secfixes");
		if (scalar(map_get(&doc, pkg, "name"), name, sizeof(name)) == NULL || name[0] == '\0' ||
		    strpbrk(name, " \t\n") != NULL) {
			log_warn("%s: packages[%zu]: no usable pkg.name; skipped", origin,
				 (size_t)(it - pkgs->data.sequence.items.start));
			continue;
		}
		if (fixes == NULL || fixes->type != YAML_MAPPING_NODE)
			continue; /* no secfixes (or null): nothing fixed */
		for (yaml_node_pair_t *fp = fixes->data.mapping.pairs.start;
		     fp < fixes->data.mapping.pairs.top; fp++) {
			yaml_node_t *list = yaml_document_get_node(&doc, fp->value);
			const char *why = NULL;
			if (scalar(yaml_document_get_node(&doc, fp->key), ver, sizeof(ver)) == NULL) {
				log_warn("%s: %s: a secfixes key is not a version; skipped", origin, name);
				continue;
			}
			if (strcmp(ver, "0") == 0)
				continue; /* "0": never affected in this branch */
			if (version_valid(VERSION_APK, ver, &why) != 0) {
				log_warn("%s: %s: fixed version \"%.64s\" is not an apk version (%s); "
					 "skipped", origin, name, ver, why);
				skipped++;
				continue;
			}
			if (list == NULL || list->type != YAML_SEQUENCE_NODE)
				continue;
			for (yaml_node_item_t *li = list->data.sequence.items.start;
			     li < list->data.sequence.items.top; li++) {
				if (scalar(yaml_document_get_node(&doc, *li), item, sizeof(item)) == NULL ||
				    item_id(item, vid, sizeof(vid)) != 0) {
					log_warn("%s: %s %s: an entry without a vulnerability id; "
						 "skipped", origin, name, ver);
					skipped++;
					continue;
				}
				if (snprintf(id, sizeof(id), "x_ALPINE-%s-%s-%s", dv, repo, vid) >
				    VULNDB_ID_MAX) {
					log_warn("%s: %s %s: id of %.40s... too long; skipped", origin,
						 name, ver, vid);
					skipped++;
					continue;
				}
				if (add_fix(recs, id, vid, eco, name, ver) != 0)
					goto fail;
			}
		}
	}
	/* the records in id order (json_object iteration order is not defined) */
	const char **ids = malloc((json_object_size(recs) + 1) * sizeof(*ids));
	if (ids == NULL)
		goto fail;
	size_t n = 0;
	const char *k;
	json_t *v;
	json_object_foreach(recs, k, v)
		ids[n++] = k;
	qsort(ids, n, sizeof(*ids), cmp_str);
	if (skipped > 0)
		log_warn("%s: %zu secfixes entries skipped (see above)", origin, skipped);
	out = json_array();
	for (size_t i = 0; out != NULL && i < n; i++)
		if (json_array_append(out, json_object_get(recs, ids[i])) != 0) {
			json_decref(out);
			out = NULL;
		}
	free(ids);
	if (out == NULL)
		goto fail;
	*records = out;
	rc = 0;
fail:
	json_decref(recs);
	yaml_document_delete(&doc);
	return rc;
}

int vulndb_import_secdb_mem(struct vulndb *db, const char *yaml, size_t len, const char *origin,
			    struct vulndb_import_stats *st, char *err, size_t errlen)
{
	struct vulndb_import_stats local;
	struct vstage sg = { .st = st ? st : &local };
	json_t *recs = NULL;
	if (db == NULL)
		return -EINVAL;
	memset(sg.st, 0, sizeof(*sg.st));
	origin = origin ? origin : "secdb";
	int rc = vulndb_secdb_to_osv(yaml, len, origin, &recs, err, errlen);
	if (rc != 0)
		return rc;
	rc = vulndb_stage_json(&sg, recs, origin, err, errlen);
	json_decref(recs);
	sg.st->files = 1;
	if (rc != 0) {
		vulndb_stage_clear(&sg);
		return rc;
	}
	return vulndb_commit(db, &sg);
}

int vulndb_import_secdb_path(struct vulndb *db, const char *path, struct vulndb_import_stats *st,
			     char *err, size_t errlen)
{
	char *text = NULL;
	size_t len = 0;
	if (db == NULL || path == NULL)
		return -EINVAL;
	int rc = util_read_file(path, VULNDB_FILE_MAX, &text, &len);
	if (rc != 0) {
		vulndb_seterr(err, errlen, "%s: %s", path, strerror(-rc));
		return rc;
	}
	rc = vulndb_import_secdb_mem(db, text, len, path, st, err, errlen);
	free(text);
	return rc;
}
