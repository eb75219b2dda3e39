/*
 * bundle: the install bundle a Defender is deployed with (the INSTALL_BUNDLE environment variable).
 *
 * It is standard base64 (with padding) of one JSON object:
 *   {"v":1, "caCert":"<PEM>", "bundleID":"<hex>", "enrollCert":"<PEM>", "enrollKey":"<PEM>",
 *    "issued":"2026-11-27T03:26:57Z"}
 * caCert is the Console CA (the only trust anchor the Defender uses for the Console's server
 * certificate); enrollCert/enrollKey are a CLIENT certificate with CN "garrison-enroll:<bundleID>"
 * issued by that CA and its key, which the Defender presents on its first connection only, to
 * obtain its own certificate through a CSR. The bundle holds a private key: it is a secret.
 * docs/pki-and-enrollment.md describes the whole flow.
 */
#ifndef GARRISON_BUNDLE_H
#define GARRISON_BUNDLE_H

#include <openssl/evp.h>
#include <openssl/x509.h>

/* Largest encoded bundle accepted (base64 text, surrounding whitespace included). */
#define BUNDLE_MAX (64 * 1024)
#define BUNDLE_VERSION 1
/* Common-name prefix of enrollment certificates; the bundle ID follows it. */
#define BUNDLE_CN_PREFIX "garrison-enroll:"
/* A bundle ID is lowercase hex of this many characters (bundle_create makes 32: 128 bits). */
#define BUNDLE_ID_MIN 16
#define BUNDLE_ID_MAX 48

/* Every member is a malloc()ed NUL-terminated string (or NULL in a cleared bundle). */
struct bundle {
	char *ca_cert_pem;     /* "caCert" */
	char *bundle_id;       /* "bundleID" */
	char *enroll_cert_pem; /* "enrollCert" */
	char *enroll_key_pem;  /* "enrollKey", secret */
	char *issued;	       /* "issued", RFC 3339 UTC, seconds, 'Z' */
};

/* Encodes b (all members set; bundle_id well formed) into *b64_out, malloc()ed.
 * 0, -EINVAL or -ENOMEM. The members are not checked further: encode what bundle_create() made. */
int bundle_encode(const struct bundle *b, char **b64_out);

/* Decodes and checks an untrusted bundle. Surrounding ASCII whitespace is ignored (a trailing
 * newline from a file or a Secret); anything else must be exact: at most BUNDLE_MAX bytes, base64,
 * a JSON object with no duplicate keys, "v" the integer 1, the five string members present with
 * the right types (unknown members are ignored), bundleID BUNDLE_ID_MIN..BUNDLE_ID_MAX lowercase
 * hex, issued as above, caCert a self-signed CA, enrollCert unexpired and verifying against caCert
 * as a client certificate, its CN BUNDLE_CN_PREFIX + bundleID, enrollKey an EC P-256 key matching
 * enrollCert.
 * On success returns 0 and fills *out (free with bundle_clear()). On failure returns -EINVAL (or
 * -ENOMEM), leaves *out cleared and, when err is not NULL, sets *err to a static English sentence
 * saying what is wrong (never freed; never contains bundle content). */
int bundle_decode(const char *b64, struct bundle *out, const char **err);

/* Frees the members (cleansing the key) and zeroes *b. NULL is a no-op. */
void bundle_clear(struct bundle *b);

/* Console side: a new bundle from the CA: a random 128-bit bundle ID, a fresh P-256 key and its
 * enrollment certificate valid for `days` (1..PKI_DAYS_MAX, capped at the CA's own expiry),
 * issued now. 0 or -errno; *out is cleared on failure. */
int bundle_create(X509 *ca, EVP_PKEY *ca_key, int days, struct bundle *out);

/* When cn is BUNDLE_CN_PREFIX followed by a well-formed bundle ID, returns a pointer to the ID
 * inside cn; otherwise NULL. For the Console to map an enrollment certificate to its bundle. */
const char *bundle_cn_to_id(const char *cn);

#endif
