/*
 * pki: the Console's certificate authority and the certificates of the Defender channel.
 *
 * One key type everywhere: ECDSA on P-256 with SHA-256 signatures. Keys and certificates cross this
 * interface as OpenSSL objects (EVP_PKEY, X509) or as PEM text; PEM text returned by this module is
 * a malloc()ed NUL-terminated string the caller frees with free() (PEM of a private key: cleanse it
 * with OPENSSL_cleanse() before free()). PEM given to this module is untrusted: it is bounded to
 * PKI_PEM_MAX bytes and must be exactly one block of the expected kind, surrounded by whitespace
 * at most.
 *
 * Errors: 0 on success, -EINVAL for bad input (malformed PEM, wrong key type, out-of-range
 * argument), -EACCES when a signature or a chain does not verify, -ENOMEM when memory or OpenSSL
 * fails, other -errno from the file helpers. On failure every output is set to NULL. Functions
 * leave the calling thread's OpenSSL error queue as they found it (details go to the debug log).
 * No global state: every function may be called from any thread.
 */
#ifndef GARRISON_PKI_H
#define GARRISON_PKI_H

#include <stddef.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

/* Largest PEM text accepted by any parser here (a P-256 certificate is about 800 bytes). */
#define PKI_PEM_MAX (64 * 1024)
/* Longest common name accepted (RFC 5280 ub-common-name). */
#define PKI_CN_MAX 64
/* Most subjectAltName entries in one certificate. */
#define PKI_SANS_MAX 64
/* Longest validity accepted, in days. */
#define PKI_DAYS_MAX 36500

enum pki_usage { PKI_USAGE_SERVER, PKI_USAGE_CLIENT };

/* A fresh EC P-256 key pair. *out is freed with EVP_PKEY_free(). */
int pki_key_new(EVP_PKEY **out);

/* A fresh self-signed CA: new P-256 key, random 128-bit serial, subject = issuer = CN cn,
 * valid from now-5min for `days` (1..PKI_DAYS_MAX) days. Extensions: basicConstraints
 * CA:TRUE,pathlen:0 (critical), keyUsage keyCertSign,cRLSign (critical), subjectKeyIdentifier.
 * cn: 1..PKI_CN_MAX printable ASCII characters. */
int pki_ca_new(const char *cn, int days, EVP_PKEY **key_out, X509 **cert_out);

/* Issues a leaf certificate for the P-256 public key `pubkey`, signed by ca/ca_key (which must
 * match, and ca must be a CA with a subjectKeyIdentifier, as every pki_ca_new() CA is).
 * Random 128-bit serial, subject CN cn, issuer = ca's subject, notBefore = now-5min,
 * notAfter = now+days but never later than the CA's notAfter.
 * days: -PKI_DAYS_MAX..PKI_DAYS_MAX except 0; a negative value gives a certificate whose one day
 * of validity ended -days days ago (for tests of expiry handling). Extensions: basicConstraints CA:FALSE (critical),
 * keyUsage digitalSignature (critical), extendedKeyUsage serverAuth or clientAuth,
 * subjectKeyIdentifier, authorityKeyIdentifier and, when nsans > 0, subjectAltName where each
 * entry that is an IPv4 or IPv6 literal becomes an iPAddress and any other a dNSName (letters,
 * digits, '-', '.', optional leading "*."; at most 253 characters). nsans <= PKI_SANS_MAX. */
int pki_issue(X509 *ca, EVP_PKEY *ca_key, EVP_PKEY *pubkey, const char *cn,
	      const char *const *sans, size_t nsans, int days, enum pki_usage usage, X509 **out);

/* A PKCS#10 request for the P-256 key `key` with subject CN cn, signed with key (SHA-256).
 * *csr_pem is malloc()ed PEM ("CERTIFICATE REQUEST"). */
int pki_csr_new(EVP_PKEY *key, const char *cn, char **csr_pem);

/* Signs a request from a Defender: parses csr_pem (untrusted), requires an EC P-256 public key
 * (-EINVAL otherwise) and a valid self-signature (-EACCES otherwise), then issues a CLIENT
 * certificate for that key whose CN is cn. The request's own subject and extensions are
 * ignored: the Console decides the name. */
int pki_csr_sign(X509 *ca, EVP_PKEY *ca_key, const char *csr_pem, const char *cn, int days,
		 X509 **out);
/* As pki_csr_sign(), and also -EACCES when the request's key equals old_key (when not NULL).
 * Enrollment must pass the public key of the bundle certificate the Defender connected with
 * (X509_get0_pubkey(peer)): that key is shared by every Defender deployed from the bundle, so a
 * certificate for it would let any of them, or anyone holding the bundle, pose as this one. */
int pki_csr_sign_fresh(X509 *ca, EVP_PKEY *ca_key, const char *csr_pem, const char *cn, int days,
		       EVP_PKEY *old_key, X509 **out);

/* PEM conversion. Private keys are written as unencrypted PKCS#8 ("PRIVATE KEY"); reading accepts
 * "PRIVATE KEY" and "EC PRIVATE KEY" (never encrypted keys; there is no passphrase prompt) and only
 * EC P-256 keys. Outputs are malloc()ed PEM or new objects the caller frees. */
int pki_key_to_pem(EVP_PKEY *k, char **pem);
int pki_key_from_pem(const char *pem, EVP_PKEY **k);
int pki_cert_to_pem(X509 *c, char **pem);
int pki_cert_from_pem(const char *pem, X509 **c);

/* Reads the first subject CN (malloc()ed UTF-8; -EINVAL when absent or holding a NUL), the serial
 * as lowercase hex without leading zeros (malloc()ed) and notAfter. Any output may be NULL. */
int pki_cert_info(X509 *c, char **cn, char **serial_hex, time_t *not_after);

/* 0 when key is the private key of cert's public key, -EACCES otherwise. */
int pki_key_matches_cert(EVP_PKEY *key, X509 *cert);

/* Verifies that cert chains directly to the trust anchor ca (signatures, validity periods now,
 * X.509 strict checks) and that it is a leaf whose extendedKeyUsage includes clientAuth
 * (PKI_USAGE_CLIENT) or serverAuth (PKI_USAGE_SERVER). 0 or -EACCES; -EINVAL for NULL arguments.
 * Revocation is not checked here: the Console checks serials and bundle IDs in its store.
 * pki_verify_why() also sets *why (when not NULL) to a static English reason on failure. */
int pki_verify(X509 *ca, X509 *cert, enum pki_usage usage);
int pki_verify_why(X509 *ca, X509 *cert, enum pki_usage usage, const char **why);

/* Files. Keys are written with mode 0600, certificates with 0644, both atomically
 * (util_write_file). Loading reads at most PKI_PEM_MAX bytes and parses as above; a key file that
 * group or others may read is loaded with a warning in the log. */
int pki_key_save(const char *path, EVP_PKEY *k);
int pki_key_load(const char *path, EVP_PKEY **k);
int pki_cert_save(const char *path, X509 *c);
int pki_cert_load(const char *path, X509 **c);

#endif
