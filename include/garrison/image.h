/*
 * image: reads a container image as a stream of layers and keeps only what the scanners need:
 * the image config, the package databases and os-release (through pkgdb), and a record of files
 * that look like private keys or credentials. An image is never extracted to disk: every layer is
 * read once, in the order it arrives, with libarchive (tar, gzip, zstd), and only small bounded
 * records are kept per layer (a 64-bit keyed hash per entry, the kept files, the secret
 * findings). Whiteouts (.wh.<name>, .wh..wh..opq) and overlay semantics (a file or link in an
 * upper layer hides a lower directory) are applied when the manifest has said in which order the
 * layers stack, so the order of the layers in the stream does not matter (`docker save` writes
 * manifest.json after the layers).
 *
 * Sources: a docker-archive (`docker save`, Docker 20.10 and the OCI-in-docker-archive of
 * Docker 25+), an OCI image layout directory or a tar of one, any of those read from a file
 * descriptor (a pipe works), and the Docker Engine API (GET /images/{name}/get over the unix
 * socket, streamed with libcurl: nothing of it is stored).
 *
 * Every byte is untrusted: sizes are bounded (struct image_limits), decompression is bounded per
 * layer, in total and in ratio (gzip/zstd bombs), layer entry paths must stay inside the image
 * (absolute paths and '..' are errors), digests of blobs are checked against the manifest and
 * config, links are resolved only lexically inside the image view with a bounded number of hops.
 * A failure returns a negative errno and a one-line reason in err naming the file and layer; the
 * contents of secret files are never copied into a result. Memory does not grow with the size of
 * the image, only with its number of entries (8 bytes each, bounded) and the kept files (bounded).
 * Functions are thread-safe, except that package listing through librpm is serialised by pkgdb.
 * Full description: docs/image-reader.md.
 */
#ifndef GARRISON_IMAGE_H
#define GARRISON_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "garrison/pkgdb.h"

/* Bounds. A field left 0 takes the default shown. */
struct image_limits {
	uint64_t layer_tar_max;    /* decompressed bytes of one layer (8 GiB) */
	uint64_t total_tar_max;    /* decompressed bytes of all layers (32 GiB) */
	uint64_t ratio_after;      /* the ratio bound applies past this many bytes of a layer (64 MiB) */
	unsigned ratio_max;        /* decompressed / compressed bytes of a layer (200) */
	uint64_t kept_file_max;    /* one kept file (64 MiB, PKGDB_FILE_MAX); larger: warning, not kept */
	uint64_t kept_total_max;   /* all kept file versions of all layers (256 MiB) */
	size_t entries_max;        /* tar entries of all layers (4,000,000) */
	unsigned layers_max;       /* layers of the image, and layer-like blobs in an archive (512) */
	unsigned secrets_max;      /* secret findings recorded; more set secrets_truncated (1000) */
	unsigned link_hops_max;    /* links followed when resolving one kept path (16) */
	size_t json_max;           /* config, manifest, index (8 MiB) */
	size_t secret_prefix;      /* bytes of a file looked at for a PEM private key (1024) */
};

/* Options; NULL (or a zeroed struct) means the defaults. Lists are NULL-terminated; NULL means
 * the default list. The strings are not copied: they must live until the call returns.
 * keep: paths relative to the image root (no leading '/'), exact ("etc/os-release") or a
 *   directory's regular files (the directory, "/" and "*": "var/lib/dpkg/status.d/" "*", one level). Default: image_keep_default.
 * secret_paths: fnmatch(3) patterns; without '/' matched against the base name ("*.pem",
 *   "id_rsa"), with '/' against the end of the path at a component boundary (".aws/credentials").
 *   Default: image_secret_paths_default.
 * tmpdir: where the private directory for rpmdb.sqlite is made ($TMPDIR, else /tmp). */
struct image_opts {
	const char *const *keep;
	const char *const *secret_paths;
	const char *tmpdir;
	struct image_limits limits;
	int no_packages; /* 1: keep the files but do not run the pkgdb parsers */
};

extern const char *const image_keep_default[];
extern const char *const image_secret_paths_default[];

/* A file of the final view that matched the keep list. path is the kept path (as in the list,
 * or the file name under a directory entry); when it was a link, resolved is the path of the file
 * it led to (else NULL). data is the content (len bytes, followed by a NUL not counted), owned. */
struct image_file {
	char *path, *resolved;
	unsigned layer; /* index in layers[] of the layer that provided the content */
	unsigned char *data;
	size_t len;
};

/* A file of the final view that looks like a secret: path, the layer that provided it and why
 * ("path:<pattern>" or "content:PEM private key"). Never its content. */
struct image_secret {
	char *path, *reason;
	unsigned layer;
};

/* One layer, in stacking order (bottom first). digest: "sha256:<hex>" of the bytes as stored
 * (for a docker-archive layer.tar, which is uncompressed, that is its diff_id). compression:
 * "none", "gzip" or "zstd". media_type: from an OCI manifest, else NULL. */
struct image_layer {
	char *digest, *media_type, *compression;
	uint64_t size;      /* bytes as stored */
	uint64_t tar_bytes; /* decompressed tar bytes */
	size_t entries;     /* tar entries */
};

/* The parts of the config the compliance checks use (all owned by the result; arrays may be
 * NULL with n = 0; strings NULL when absent). labels / healthcheck / exposed_ports: borrowed
 * from config (JSON objects or NULL). */
struct image_config {
	char *os, *architecture, *variant, *user, *working_dir, *created;
	char **env, **cmd, **entrypoint;
	size_t n_env, n_cmd, n_entrypoint;
	json_t *labels, *healthcheck, *exposed_ports;
	size_t n_history, n_history_empty; /* history entries, of which empty_layer */
};

struct image_scan_result {
	const char *format;  /* "docker-archive" or "oci" (static string) */
	char *config_digest; /* "sha256:<hex>" */
	json_t *config;      /* the whole config document, owned */
	struct image_config cfg;
	char **repo_tags;    /* docker-archive RepoTags / OCI org.opencontainers.image.ref.name */
	size_t n_repo_tags;
	struct image_layer *layers;
	size_t n_layers;
	struct image_file *files; /* sorted by path */
	size_t n_files;
	struct image_secret *secrets; /* sorted by path */
	size_t n_secrets;
	int secrets_truncated;
	struct pkglist pkgs; /* from the kept files; see pkg_error */
	char *pkg_error;     /* a package database was there but malformed (pkgs then empty), else NULL */
	char **warnings;     /* things that did not stop the scan (unresolved links, oversized kept
			      * files, extra images in an archive); bounded */
	size_t n_warnings;
	uint64_t size_stored; /* sum of layers[].size */
	uint64_t size_tar;    /* sum of layers[].tar_bytes */
};

/* Frees the result and everything it owns; r may be NULL. */
void image_scan_result_free(struct image_scan_result *r);

/* Each reader below returns 0 and sets *out (free with image_scan_result_free()), or a negative
 * errno with *out NULL and a one-line reason in err (errlen bytes; err may be NULL):
 *  -EINVAL  malformed input (bad tar, bad JSON, a path with '..' or a leading '/', a duplicate
 *           entry, a digest that does not match, a manifest naming a missing or non-layer blob)
 *  -EFBIG   a bound of struct image_limits was passed (sizes, ratio)
 *  -E2BIG   too many entries, layers, or blobs
 *  -ENOTSUP a digest algorithm other than sha256, an encrypted layer, no gzip/zstd in libarchive
 *  -ENOENT / -EACCES / ... opening the path; -EIO / -ECONNREFUSED / -EPROTO for the engine
 *  -ENOMEM
 * The origin in messages is the path given (or origin for image_read_fd()). */

/* A `docker save` archive (a plain or gzip-compressed tar). It may also be read by
 * image_read_fd(); this one requires the docker-archive format (manifest.json). */
int image_open_docker_archive(const char *path, const struct image_opts *o,
			      struct image_scan_result **out, char *err, size_t errlen);

/* An OCI image layout directory (oci-layout, index.json, blobs/sha256/...). Blobs are opened
 * with O_NOFOLLOW inside the directory; only those the chosen manifest names are read. When the
 * index lists several manifests, the first for linux/amd64 (else the first) is read. */
int image_open_oci_layout(const char *dir, const struct image_opts *o,
			  struct image_scan_result **out, char *err, size_t errlen);

/* A tar of an OCI image layout (skopeo oci-archive:, `tar -C dir -c .`). */
int image_open_oci_archive(const char *path, const struct image_opts *o,
			   struct image_scan_result **out, char *err, size_t errlen);

/* Any image archive (docker-archive or OCI layout tar, plain or gzip/zstd) read from fd until end
 * of archive. fd may be a pipe or socket; it is not closed. origin names it in messages. */
int image_read_fd(int fd, const char *origin, const struct image_opts *o,
		  struct image_scan_result **out, char *err, size_t errlen);

/* The same on a buffer in memory (fuzzing, tests). */
int image_read_buffer(const void *buf, size_t len, const char *origin, const struct image_opts *o,
		      struct image_scan_result **out, char *err, size_t errlen);

/* Image name (a reference "repo:tag", "repo@sha256:..." or an ID) read from a Docker engine at
 * the unix socket path: GET /images/{name}/get, streamed through a socket pair into
 * image_read_fd() while a thread runs the transfer; nothing of the archive is stored. The engine
 * must connect within 5 s and not stall for 300 s (it may export a large image before the first
 * byte); an error answer's message is in err. */
int image_from_engine(const char *socket_path, const char *name, const struct image_opts *o,
		      struct image_scan_result **out, char *err, size_t errlen);

/* The result as a JSON object (new reference, NULL on ENOMEM): format, config_digest, config
 * (the extracted fields), repo_tags, layers, files (path, layer, size, resolved; with
 * with_data also the content as "data", UTF-8 text only, else "data_base64"), secrets,
 * packages, os, pkg_error, warnings, sizes. */
json_t *image_scan_result_json(const struct image_scan_result *r, int with_data);

#endif
