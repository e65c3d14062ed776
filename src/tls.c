/*
 * tls - server TLS context, certificate load or generation, per-session
 * helpers on bufferevent_openssl; see tls.h.
 *
 * The generated certificate is self-signed and marked CA:TRUE (critical),
 * keyUsage digitalSignature + keyCertSign, extendedKeyUsage serverAuth and a
 * subjectKeyIdentifier: that is what lets Go's crypto/tls and Java take a
 * self-signed leaf as a root (Python's ssl and Node accept it either way).
 * Validity: one day back (clock skew between containers) to ten years ahead;
 * the serial is 16 random octets. ECDSA P-256 keeps generation to about a
 * millisecond, where RSA 2048 would take tens to hundreds.
 *
 * Handshake failures are the client's doing: they end that session only and
 * are reported through tls_bev_error(); OpenSSL's error queue is emptied
 * there, so one session's failure never shows up in another's.
 */
#include <sys/stat.h>
#include <arpa/inet.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/buffer.h>

#include "config.h"
#include "log.h"
#include "tls.h"
#include "xmalloc.h"

#define TLS_DAYS_BACK  1
#define TLS_DAYS_AHEAD 3650
#define TLS_SERIAL_LEN 16

struct tls {
	SSL_CTX *ctx;
	char	*pem; /* the chain as served */
	int	 self_signed;
	double	 generate_ms;
};

/* OpenSSL's first queued error as text (or fallback), queue emptied */
static const char *
tls_err_str(char *buf, size_t len, const char *fallback)
{
	unsigned long e = ERR_peek_last_error();

	if (e == 0)
		snprintf(buf, len, "%s", fallback);
	else
		ERR_error_string_n(e, buf, len);
	ERR_clear_error();
	return buf;
}

/* The subjectAltName entry for name: an IP SAN for an IP literal, else DNS */
static GENERAL_NAME *
tls_san_entry(const char *name)
{
	GENERAL_NAME	  *gn = GENERAL_NAME_new();
	ASN1_OCTET_STRING *ip;
	ASN1_IA5STRING	  *dns;

	if ((ip = a2i_IPADDRESS(name)) != NULL) {
		GENERAL_NAME_set0_value(gn, GEN_IPADD, ip);
		return gn;
	}
	ERR_clear_error();
	dns = ASN1_IA5STRING_new();
	ASN1_STRING_set(dns, name, -1);
	GENERAL_NAME_set0_value(gn, GEN_DNS, dns);
	return gn;
}

static int
tls_add_ext(X509 *x, X509V3_CTX *v3, int nid, const char *value)
{
	X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, v3, nid, value);
	int		ok;

	if (ext == NULL)
		return -1;
	ok = X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	return ok ? 0 : -1;
}

/* The SANs, each name once (case-insensitive) */
static int
tls_add_sans(X509 *x, const char *host, char *const *sans, size_t nsans)
{
	GENERAL_NAMES *gens = sk_GENERAL_NAME_new_null();
	const char    *names[4 + CONFIG_LISTEN_MAX];
	size_t	       n = 0, i, j;
	int	       rc;

	names[n++] = host;
	names[n++] = "localhost";
	names[n++] = "127.0.0.1";
	names[n++] = "::1";
	for (i = 0; i < nsans && n < sizeof(names) / sizeof(names[0]); i++)
		names[n++] = sans[i];
	for (i = 0; i < n; i++) {
		if (names[i] == NULL || *names[i] == '\0')
			continue;
		for (j = 0; j < i; j++)
			if (names[j] != NULL && strcasecmp(names[i], names[j]) == 0)
				break;
		if (j == i)
			sk_GENERAL_NAME_push(gens, tls_san_entry(names[i]));
	}
	rc = X509_add1_ext_i2d(x, NID_subject_alt_name, gens, 0, X509V3_ADD_DEFAULT);
	GENERAL_NAMES_free(gens);
	return rc == 1 ? 0 : -1;
}

static int
tls_serial(X509 *x)
{
	unsigned char r[TLS_SERIAL_LEN];
	BIGNUM	     *bn;
	int	      ok;

	if (RAND_bytes(r, sizeof(r)) != 1)
		return -1;
	r[0] &= 0x7f; /* positive */
	r[0] |= 0x40; /* and full length */
	bn = BN_bin2bn(r, sizeof(r), NULL);
	ok = bn != NULL && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) != NULL;
	BN_free(bn);
	return ok ? 0 : -1;
}

/* The self-signed certificate and its key; -1 with err */
static int
tls_generate(const char *host, char *const *sans, size_t nsans, X509 **xp, EVP_PKEY **kp, char *err,
    size_t errlen)
{
	EVP_PKEY   *key;
	X509	   *x;
	X509_NAME  *name;
	X509V3_CTX  v3;
	char	    ebuf[256];
	const char *cn = host != NULL && *host != '\0' && strlen(host) <= 64 ? host : "smtpsink";

	if ((key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256")) == NULL) {
		snprintf(err, errlen, "tls: key generation failed: %s",
		    tls_err_str(ebuf, sizeof(ebuf), "unknown error"));
		return -1;
	}
	x = X509_new();
	name = X509_get_subject_name(x);
	if (!X509_set_version(x, X509_VERSION_3) || tls_serial(x) == -1 ||
	    X509_gmtime_adj(X509_getm_notBefore(x), -86400L * TLS_DAYS_BACK) == NULL ||
	    X509_time_adj_ex(X509_getm_notAfter(x), TLS_DAYS_AHEAD, 0, NULL) == NULL ||
	    !X509_set_pubkey(x, key) ||
	    !X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8, (const unsigned char *)"smtpsink",
		-1, -1, 0) ||
	    !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1,
		-1, 0) ||
	    !X509_set_issuer_name(x, name))
		goto fail;
	X509V3_set_ctx_nodb(&v3);
	X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
	if (tls_add_ext(x, &v3, NID_basic_constraints, "critical,CA:TRUE") == -1 ||
	    tls_add_ext(x, &v3, NID_key_usage, "critical,digitalSignature,keyCertSign") == -1 ||
	    tls_add_ext(x, &v3, NID_ext_key_usage, "serverAuth") == -1 ||
	    tls_add_ext(x, &v3, NID_subject_key_identifier, "hash") == -1 ||
	    tls_add_sans(x, host, sans, nsans) == -1 || X509_sign(x, key, EVP_sha256()) == 0)
		goto fail;
	*xp = x;
	*kp = key;
	return 0;
fail:
	snprintf(err, errlen, "tls: certificate generation failed: %s",
	    tls_err_str(ebuf, sizeof(ebuf), "unknown error"));
	X509_free(x);
	EVP_PKEY_free(key);
	return -1;
}

/* The BIO's contents as a malloc'd string */
static char *
tls_bio_string(BIO *bio)
{
	char *p, *s;
	long  n = BIO_get_mem_data(bio, &p);

	s = xmalloc(n + 1);
	memcpy(s, p, n);
	s[n] = '\0';
	return s;
}

int
tls_generate_pem(const char *host, char *const *sans, size_t nsans, char **cert_pem, char **key_pem,
    char *err, size_t errlen)
{
	X509	 *x;
	EVP_PKEY *key;
	BIO	 *bc, *bk;

	if (tls_generate(host, sans, nsans, &x, &key, err, errlen) == -1)
		return -1;
	bc = BIO_new(BIO_s_mem());
	bk = BIO_new(BIO_s_mem());
	PEM_write_bio_X509(bc, x);
	PEM_write_bio_PrivateKey(bk, key, NULL, NULL, 0, NULL, NULL);
	*cert_pem = tls_bio_string(bc);
	*key_pem = tls_bio_string(bk);
	BIO_free(bc);
	BIO_free(bk);
	X509_free(x);
	EVP_PKEY_free(key);
	return 0;
}

/* "--tls-cert FILE: No such file or directory" before OpenSSL's vaguer words */
static int
tls_readable(const char *flag, const char *path, char *err, size_t errlen)
{
	FILE *fp = fopen(path, "r");

	if (fp == NULL) {
		snprintf(err, errlen, "%s %s: %s", flag, path, strerror(errno));
		return -1;
	}
	fclose(fp);
	return 0;
}

static int
tls_load(SSL_CTX *ctx, const struct config *cfg, char *err, size_t errlen)
{
	char ebuf[256];

	if (tls_readable("--tls-cert", cfg->tls_cert, err, errlen) == -1 ||
	    tls_readable("--tls-key", cfg->tls_key, err, errlen) == -1)
		return -1;
	if (SSL_CTX_use_certificate_chain_file(ctx, cfg->tls_cert) != 1) {
		snprintf(err, errlen, "--tls-cert %s: no PEM certificate: %s", cfg->tls_cert,
		    tls_err_str(ebuf, sizeof(ebuf), "unreadable"));
		return -1;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, cfg->tls_key, SSL_FILETYPE_PEM) != 1) {
		snprintf(err, errlen, "--tls-key %s: no PEM private key matching --tls-cert: %s",
		    cfg->tls_key, tls_err_str(ebuf, sizeof(ebuf), "unreadable"));
		return -1;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		snprintf(err, errlen, "--tls-key %s does not match --tls-cert %s: %s", cfg->tls_key,
		    cfg->tls_cert, tls_err_str(ebuf, sizeof(ebuf), "mismatch"));
		return -1;
	}
	return 0;
}

/* The leaf and its chain, as the handshake sends them */
static char *
tls_ctx_pem(SSL_CTX *ctx)
{
	STACK_OF(X509) *chain = NULL;
	BIO  *bio = BIO_new(BIO_s_mem());
	char *pem;
	int   i;

	PEM_write_bio_X509(bio, SSL_CTX_get0_certificate(ctx));
	if (SSL_CTX_get0_chain_certs(ctx, &chain) == 1 && chain != NULL)
		for (i = 0; i < sk_X509_num(chain); i++)
			PEM_write_bio_X509(bio, sk_X509_value(chain, i));
	pem = tls_bio_string(bio);
	BIO_free(bio);
	return pem;
}

static double
tls_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000.0 + ts.tv_nsec / 1e6;
}

struct tls *
tls_new(const struct config *cfg, char *err, size_t errlen)
{
	struct tls *t = xcalloc(1, sizeof(*t));
	X509	   *x;
	EVP_PKEY   *key;
	double	    t0;
	char	    ebuf[256];

	ERR_clear_error();
	if ((t->ctx = SSL_CTX_new(TLS_server_method())) == NULL) {
		snprintf(err, errlen, "tls: SSL_CTX_new failed: %s",
		    tls_err_str(ebuf, sizeof(ebuf), "unknown error"));
		goto fail;
	}
	SSL_CTX_set_min_proto_version(t->ctx,
	    cfg->tls_min_version == CONFIG_TLS_1_3 ? TLS1_3_VERSION : TLS1_2_VERSION);
	SSL_CTX_set_mode(t->ctx, SSL_MODE_RELEASE_BUFFERS);
	SSL_CTX_set_options(t->ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_TICKET);
	SSL_CTX_set_session_cache_mode(t->ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_num_tickets(t->ctx, 0);
	if (cfg->tls_cert != NULL) {
		if (tls_load(t->ctx, cfg, err, errlen) == -1)
			goto fail;
	} else {
		t0 = tls_now_ms();
		if (tls_generate(cfg->hostname, cfg->tls_san, cfg->tls_san_n, &x, &key, err,
			errlen) == -1)
			goto fail;
		t->generate_ms = tls_now_ms() - t0;
		SSL_CTX_use_certificate(t->ctx, x);
		SSL_CTX_use_PrivateKey(t->ctx, key);
		X509_free(x);
		EVP_PKEY_free(key);
		t->self_signed = 1;
		log_info("tls certificate generated in %.2f ms", t->generate_ms);
	}
	t->pem = tls_ctx_pem(t->ctx);
	log_info("tls ready certificate=%s min_version=%s", t->self_signed ? "generated" : "file",
	    cfg->tls_min_version == CONFIG_TLS_1_3 ? "TLSv1.3" : "TLSv1.2");
	return t;
fail:
	tls_free(t);
	return NULL;
}

void
tls_free(struct tls *t)
{
	if (t == NULL)
		return;
	SSL_CTX_free(t->ctx);
	free(t->pem);
	free(t);
}

const char *
tls_cert_pem(const struct tls *t)
{
	return t->pem;
}

int
tls_self_signed(const struct tls *t)
{
	return t->self_signed;
}

double
tls_generate_ms(const struct tls *t)
{
	return t->generate_ms;
}

int
tls_write_cert(const struct tls *t, const char *path, char *err, size_t errlen)
{
	char  *tmp;
	FILE  *fp;
	int    rc = -1;
	size_t n = strlen(t->pem);

	xasprintf(&tmp, "%s.tmp.%ld", path, (long)getpid());
	if ((fp = fopen(tmp, "w")) == NULL) {
		snprintf(err, errlen, "--tls-cert-out %s: %s", path, strerror(errno));
		free(tmp);
		return -1;
	}
	if (fwrite(t->pem, 1, n, fp) == n && fchmod(fileno(fp), 0644) == 0 && fclose(fp) == 0) {
		if (rename(tmp, path) == 0)
			rc = 0;
	} else
		(void)fclose(fp);
	if (rc == -1) {
		snprintf(err, errlen, "--tls-cert-out %s: %s", path, strerror(errno));
		unlink(tmp);
	}
	free(tmp);
	return rc;
}

struct bufferevent *
tls_bev_new(struct tls *t, struct event_base *base, evutil_socket_t fd)
{
	struct bufferevent *bev;
	SSL		   *ssl;

	if ((ssl = SSL_new(t->ctx)) == NULL) {
		ERR_clear_error();
		return NULL;
	}
	/* Fails only when out of memory; fd stays open then */
	bev = bufferevent_openssl_socket_new(base, fd, ssl, BUFFEREVENT_SSL_ACCEPTING,
	    BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL) {
		ERR_clear_error();
		return NULL;
	}
	bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	return bev;
}

void
tls_bev_info(struct bufferevent *bev, const char **version, const char **cipher)
{
	SSL		 *ssl = bufferevent_openssl_get_ssl(bev);
	const SSL_CIPHER *c;

	*version = *cipher = "";
	if (ssl == NULL || !SSL_is_init_finished(ssl))
		return;
	*version = SSL_get_version(ssl);
	if ((c = SSL_get_current_cipher(ssl)) != NULL)
		*cipher = SSL_CIPHER_get_name(c);
}

const char *
tls_bev_error(struct bufferevent *bev, char *buf, size_t len)
{
	unsigned long e, last = 0;

	while ((e = bufferevent_get_openssl_error(bev)) != 0)
		last = e;
	if (last != 0)
		ERR_error_string_n(last, buf, len);
	else if (EVUTIL_SOCKET_ERROR() != 0)
		snprintf(buf, len, "%s", evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
	else
		snprintf(buf, len, "connection error");
	ERR_clear_error();
	return buf;
}

void
tls_bev_close_notify(struct bufferevent *bev)
{
	SSL *ssl = bufferevent_openssl_get_ssl(bev);

	if (ssl != NULL && SSL_is_init_finished(ssl))
		(void)SSL_shutdown(ssl);
	ERR_clear_error();
}

void
tls_bev_flush_now(struct bufferevent *bev)
{
	SSL		     *ssl = bufferevent_openssl_get_ssl(bev);
	struct evbuffer_iovec v[4];
	int		      i, nv;

	if (ssl == NULL || !SSL_is_init_finished(ssl))
		return;
	nv = evbuffer_peek(bufferevent_get_output(bev), -1, NULL, v, 4);
	for (i = 0; i < nv && i < 4; i++)
		if (v[i].iov_len > 0 && SSL_write(ssl, v[i].iov_base, (int)v[i].iov_len) <= 0)
			break;
	tls_bev_close_notify(bev);
}

struct tls_client {
	SSL_CTX *ctx;
	int	 insecure;
};

struct tls_client *
tls_client_new(const char *ca_file, int insecure, char *err, size_t errlen)
{
	struct tls_client *tc = xcalloc(1, sizeof(*tc));
	char		   ebuf[256];

	ERR_clear_error();
	if ((tc->ctx = SSL_CTX_new(TLS_client_method())) == NULL) {
		snprintf(err, errlen, "relay tls: SSL_CTX_new failed");
		goto fail;
	}
	SSL_CTX_set_min_proto_version(tc->ctx, TLS1_2_VERSION);
	SSL_CTX_set_mode(tc->ctx, SSL_MODE_RELEASE_BUFFERS);
	tc->insecure = insecure;
	if (insecure)
		SSL_CTX_set_verify(tc->ctx, SSL_VERIFY_NONE, NULL);
	else {
		SSL_CTX_set_verify(tc->ctx, SSL_VERIFY_PEER, NULL);
		if (ca_file != NULL && *ca_file != '\0') {
			if (SSL_CTX_load_verify_locations(tc->ctx, ca_file, NULL) != 1) {
				snprintf(err, errlen, "--relay-ca %s: %s", ca_file,
				    tls_err_str(ebuf, sizeof(ebuf), "cannot load"));
				goto fail;
			}
		} else
			SSL_CTX_set_default_verify_paths(tc->ctx);
	}
	ERR_clear_error();
	return tc;
fail:
	ERR_clear_error();
	tls_client_free(tc);
	return NULL;
}

void
tls_client_free(struct tls_client *tc)
{
	if (tc == NULL)
		return;
	SSL_CTX_free(tc->ctx);
	free(tc);
}

struct bufferevent *
tls_client_bev(struct tls_client *tc, struct event_base *base, struct bufferevent *under,
    const char *host)
{
	struct bufferevent *bev;
	unsigned char	    ip[16];
	SSL		   *ssl;
	int		    is_ip;

	if ((ssl = SSL_new(tc->ctx)) == NULL) {
		ERR_clear_error();
		return NULL;
	}
	is_ip = inet_pton(AF_INET, host, ip) == 1 || inet_pton(AF_INET6, host, ip) == 1;
	if (!is_ip)
		SSL_set_tlsext_host_name(ssl, host);
	if (!tc->insecure) {
		if (is_ip)
			X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host);
		else
			SSL_set1_host(ssl, host);
	}
	bev = bufferevent_openssl_filter_new(base, under, ssl, BUFFEREVENT_SSL_CONNECTING,
	    BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL) {
		SSL_free(ssl);
		ERR_clear_error();
		return NULL;
	}
	bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	return bev;
}

const char *
tls_client_error(struct bufferevent *bev, char *buf, size_t len)
{
	SSL *ssl = bufferevent_openssl_get_ssl(bev);
	long v = ssl != NULL ? SSL_get_verify_result(ssl) : X509_V_OK;

	if (v != X509_V_OK) {
		snprintf(buf, len, "certificate verify failed: %s",
		    X509_verify_cert_error_string(v));
		ERR_clear_error();
		while (bufferevent_get_openssl_error(bev) != 0)
			;
		return buf;
	}
	return tls_bev_error(bev, buf, len);
}
