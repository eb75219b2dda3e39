/*
 * cluster_kube: the kubeconfig source. KUBECONFIG is a ':'-separated list of files merged the way
 * kubectl merges them: the first file that sets a non-empty current-context decides it, and the
 * first file that defines a context of that name decides the context. The answer is the
 * context's "cluster" (the kubeconfig's name for the cluster). Files are parsed with libyaml's
 * document loader, which shares aliased nodes instead of copying them, and are at most 1 MiB.
 * A file that cannot be parsed makes the whole source unusable, as it does for kubectl.
 */
#include "cluster_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include <garrison/log.h>
#include <garrison/util.h>

#define KUBE_FILES_MAX 16
#define KUBE_FILE_MAX (1 << 20)
#define KUBE_LIST_MAX 8192

static yaml_node_t *kube_get(yaml_document_t *d, yaml_node_t *map, const char *key)
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

static int kube_is_scalar(yaml_node_t *n)
{
	return n != NULL && n->type == YAML_SCALAR_NODE;
}

/* Loads one file into doc. 1 loaded, 0 skipped (missing or empty), -EINVAL (*why), -ENOMEM. */
static int kube_load(const char *path, yaml_document_t *doc, const char **why)
{
	yaml_parser_t parser;
	yaml_node_t *root;
	char *text = NULL;
	size_t len = 0;
	int r, ok;

	r = util_read_file(path, KUBE_FILE_MAX, &text, &len);
	if (r == -ENOENT || r == -ENOTDIR)
		return 0;
	if (r == -ENOMEM)
		return r;
	if (r < 0) {
		*why = r == -EFBIG ? "a file is larger than 1 MiB" : "a file cannot be read";
		return -EINVAL;
	}
	if (!yaml_parser_initialize(&parser)) {
		free(text);
		return -ENOMEM;
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	ok = yaml_parser_load(&parser, doc);
	yaml_parser_delete(&parser);
	free(text);
	if (!ok) {
		*why = "a file is not valid YAML";
		return -EINVAL;
	}
	root = yaml_document_get_root_node(doc);
	if (root == NULL) {
		yaml_document_delete(doc);
		return 0;
	}
	if (root->type != YAML_MAPPING_NODE) {
		yaml_document_delete(doc);
		*why = "a file is not a YAML mapping";
		return -EINVAL;
	}
	return 1;
}

int cluster_kubeconfig_name(const char *list, char **name, const char **why)
{
	yaml_document_t docs[KUBE_FILES_MAX];
	yaml_node_t *cur = NULL, *ctx = NULL, *cl;
	char buf[KUBE_LIST_MAX + 1], *save = NULL, *path;
	size_t n = list ? strlen(list) : 0;
	int ndocs = 0, nfiles = 0, r;

	*name = NULL;
	if (n == 0)
		return -ENOENT;
	if (n > KUBE_LIST_MAX) {
		*why = "KUBECONFIG is longer than 8192 bytes";
		return -EINVAL;
	}
	memcpy(buf, list, n + 1);
	for (path = strtok_r(buf, ":", &save); path != NULL; path = strtok_r(NULL, ":", &save)) {
		if (++nfiles > KUBE_FILES_MAX) {
			*why = "KUBECONFIG names more than 16 files";
			r = -EINVAL;
			goto fail;
		}
		r = kube_load(path, &docs[ndocs], why);
		if (r < 0)
			goto fail;
		ndocs += r;
	}
	if (ndocs == 0) {
		r = -ENOENT;
		goto fail;
	}
	r = -EINVAL;
	for (int i = 0; i < ndocs && cur == NULL; i++) {
		yaml_node_t *c = kube_get(&docs[i], yaml_document_get_root_node(&docs[i]),
					  "current-context");
		if (c == NULL)
			continue;
		if (!kube_is_scalar(c)) {
			*why = "current-context is not a string";
			goto fail;
		}
		if (c->data.scalar.length > 0)
			cur = c;
	}
	if (cur == NULL) {
		*why = "no current-context is set";
		goto fail;
	}
	for (int i = 0; i < ndocs && ctx == NULL; i++) {
		yaml_node_t *seq = kube_get(&docs[i], yaml_document_get_root_node(&docs[i]),
					    "contexts");
		if (seq == NULL || (seq->type == YAML_SCALAR_NODE && seq->data.scalar.length == 0))
			continue; /* "contexts:" with nothing after it is null */
		if (seq->type != YAML_SEQUENCE_NODE) {
			*why = "contexts is not a list";
			goto fail;
		}
		for (yaml_node_item_t *it = seq->data.sequence.items.start;
		     it < seq->data.sequence.items.top && ctx == NULL; it++) {
			yaml_node_t *item = yaml_document_get_node(&docs[i], *it);
			yaml_node_t *nm = kube_get(&docs[i], item, "name");
			if (kube_is_scalar(nm) && nm->data.scalar.length == cur->data.scalar.length &&
			    memcmp(nm->data.scalar.value, cur->data.scalar.value,
				   cur->data.scalar.length) == 0) {
				ctx = kube_get(&docs[i], item, "context");
				if (ctx == NULL || ctx->type != YAML_MAPPING_NODE) {
					*why = "the current context has no context mapping";
					goto fail;
				}
				cl = kube_get(&docs[i], ctx, "cluster");
				if (!kube_is_scalar(cl) || cl->data.scalar.length == 0) {
					*why = "the current context names no cluster";
					goto fail;
				}
				if (cluster_name_check((const char *)cl->data.scalar.value,
						       cl->data.scalar.length, why) < 0)
					goto fail;
				*name = strndup((const char *)cl->data.scalar.value,
						cl->data.scalar.length);
				if (*name == NULL) {
					r = -ENOMEM;
					goto fail;
				}
			}
		}
	}
	if (ctx == NULL) {
		*why = "current-context names no defined context";
		goto fail;
	}
	r = 0;
fail:
	for (int i = 0; i < ndocs; i++)
		yaml_document_delete(&docs[i]);
	return r;
}

int cl_src_kubeconfig(struct cl_ctx *c, struct cl_answer *a)
{
	const char *list = getenv("KUBECONFIG"), *why = NULL;
	char esc[300];
	int r;

	(void)c;
	if (list == NULL || list[0] == '\0') {
		log_debug("cluster: kubeconfig: KUBECONFIG not set");
		return 0;
	}
	r = cluster_kubeconfig_name(list, &a->name, &why);
	if (r == -ENOENT) {
		log_debug("cluster: kubeconfig: no file of KUBECONFIG can be read");
		return 0;
	}
	if (r == -EINVAL) {
		cl_reject("kubeconfig", "KUBECONFIG=%s: %s",
			  cl_escape(list, strlen(list), esc, sizeof(esc)), why);
		return 0;
	}
	return r < 0 ? r : 1;
}
