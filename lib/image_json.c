/*
 * image_json: an image scan result as one JSON document (jansson), for tools, tests and the
 * Defender's report. Strings from the image go in as jansson strings (a value that is not valid
 * UTF-8 becomes null); file contents only on request, as text when valid UTF-8
 * without NUL, else base64. Secrets carry path, layer and reason, never content.
 */
#include <stdlib.h>
#include <string.h>

#include "garrison/image.h"
#include "garrison/util.h"

/* A string, or null when absent or not valid UTF-8 (jansson refuses those). */
static json_t *jstr(const char *s)
{
	json_t *j = s ? json_string(s) : NULL;
	return j ? j : json_null();
}

static json_t *jarr(char **v, size_t n)
{
	json_t *a = json_array();
	for (size_t i = 0; a && i < n; i++)
		json_array_append_new(a, jstr(v[i]));
	return a;
}

static json_t *jborrow(json_t *j)
{
	return j ? json_incref(j) : json_null();
}

json_t *image_scan_result_json(const struct image_scan_result *r, int with_data)
{
	json_t *o = json_object(), *a;
	const struct image_config *c = &r->cfg;

	if (!o)
		return NULL;
	json_object_set_new(o, "format", jstr(r->format));
	json_object_set_new(o, "config_digest", jstr(r->config_digest));
	json_object_set_new(o, "repo_tags", jarr(r->repo_tags, r->n_repo_tags));
	json_object_set_new(o, "config", json_pack("{s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:I,s:I}",
		"os", jstr(c->os), "architecture", jstr(c->architecture), "variant", jstr(c->variant),
		"user", jstr(c->user), "working_dir", jstr(c->working_dir), "created", jstr(c->created),
		"env", jarr(c->env, c->n_env), "cmd", jarr(c->cmd, c->n_cmd),
		"entrypoint", jarr(c->entrypoint, c->n_entrypoint), "labels", jborrow(c->labels),
		"healthcheck", jborrow(c->healthcheck), "exposed_ports", jborrow(c->exposed_ports),
		"history", (json_int_t)c->n_history, "history_empty", (json_int_t)c->n_history_empty));
	a = json_array();
	for (size_t i = 0; a && i < r->n_layers; i++) {
		const struct image_layer *l = &r->layers[i];
		json_array_append_new(a, json_pack("{s:o,s:o,s:o,s:I,s:I,s:I}", "digest", jstr(l->digest),
			"media_type", jstr(l->media_type), "compression", jstr(l->compression),
			"size", (json_int_t)l->size, "tar_bytes", (json_int_t)l->tar_bytes,
			"entries", (json_int_t)l->entries));
	}
	json_object_set_new(o, "layers", a);
	a = json_array();
	for (size_t i = 0; a && i < r->n_files; i++) {
		const struct image_file *f = &r->files[i];
		json_t *fo = json_pack("{s:o,s:o,s:I,s:I}", "path", jstr(f->path), "resolved",
				       jstr(f->resolved), "layer", (json_int_t)f->layer, "size",
				       (json_int_t)f->len);
		if (fo && with_data) {
			json_t *t = memchr(f->data, 0, f->len) ? NULL
							       : json_stringn((const char *)f->data, f->len);
			if (t) {
				json_object_set_new(fo, "data", t);
			} else {
				char *b = util_b64_encode(f->data, f->len);
				json_object_set_new(fo, "data_base64", jstr(b));
				free(b);
			}
		}
		json_array_append_new(a, fo);
	}
	json_object_set_new(o, "files", a);
	a = json_array();
	for (size_t i = 0; a && i < r->n_secrets; i++)
		json_array_append_new(a, json_pack("{s:o,s:I,s:o}", "path", jstr(r->secrets[i].path),
			"layer", (json_int_t)r->secrets[i].layer, "reason", jstr(r->secrets[i].reason)));
	json_object_set_new(o, "secrets", a);
	json_object_set_new(o, "secrets_truncated", json_boolean(r->secrets_truncated));
	a = json_array();
	for (size_t i = 0; a && i < r->pkgs.n; i++) {
		const struct pkg *p = &r->pkgs.v[i];
		json_array_append_new(a, json_pack("{s:o,s:o,s:o,s:o,s:o}", "name", jstr(p->name),
			"version", jstr(p->version), "source", jstr(p->source),
			"source_version", jstr(p->source_version), "arch", jstr(p->arch)));
	}
	json_object_set_new(o, "packages", a);
	static const char *const kinds[] = { "none", "dpkg", "apk", "rpm" };
	json_object_set_new(o, "package_db", json_string(kinds[r->pkgs.kind <= PKGDB_RPM ? r->pkgs.kind : 0]));
	json_object_set_new(o, "os", json_pack("{s:o,s:o}", "id", jstr(r->pkgs.os_id), "version_id",
					       jstr(r->pkgs.os_version_id)));
	json_object_set_new(o, "pkg_error", jstr(r->pkg_error));
	json_object_set_new(o, "warnings", jarr(r->warnings, r->n_warnings));
	json_object_set_new(o, "size_stored", json_integer((json_int_t)r->size_stored));
	json_object_set_new(o, "size_tar", json_integer((json_int_t)r->size_tar));
	return o;
}
