/*
 * test_tls - the certificate side of tls.c: a generated certificate's key,
 * extensions and SANs (table), that it verifies as its own trust anchor,
 * that tls_new() serves it and writes --tls-cert-out, and the load errors
 * (missing file, not PEM, key of another certificate) naming the flag.
 */
#include <sys/stat.h>
#include <sys/socket.h>
#include <arpa/inet.h>

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "config.h"
#include "log.h"
#include "tls.h"
#include "xmalloc.h"

static X509 *
pem_cert(const char *pem)
{
	BIO  *b = BIO_new_mem_buf(pem, -1);
	X509 *x = PEM_read_bio_X509(b, NULL, NULL, NULL);

	BIO_free(b);
	assert_non_null(x);
	return x;
}

/* "DNS:name" / "IP:addr" entries of the certificate's subjectAltName, joined by "," */
static void
sans_of(X509 *x, char *out, size_t len)
{
	GENERAL_NAMES *gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	size_t	       o = 0;
	int	       i;

	out[0] = '\0';
	assert_non_null(gens);
	for (i = 0; i < sk_GENERAL_NAME_num(gens); i++) {
		GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
		char	      ip[INET6_ADDRSTRLEN];

		if (g->type == GEN_DNS)
			o += snprintf(out + o, len - o, "%sDNS:%s", o ? "," : "",
			    (const char *)ASN1_STRING_get0_data(g->d.dNSName));
		else if (g->type == GEN_IPADD) {
			inet_ntop(ASN1_STRING_length(g->d.iPAddress) == 4 ? AF_INET : AF_INET6,
			    ASN1_STRING_get0_data(g->d.iPAddress), ip, sizeof(ip));
			o += snprintf(out + o, len - o, "%sIP:%s", o ? "," : "", ip);
		}
	}
	GENERAL_NAMES_free(gens);
}

static const struct {
	const char *name;
	const char *host;
	const char *sans[3];
	size_t	    nsans;
	const char *want;
} san_cases[] = {
	{ "defaults", "smtpsink", { NULL }, 0, "DNS:smtpsink,DNS:localhost,IP:127.0.0.1,IP:::1" },
	{ "extra names and IPs", "mail.test", { "sink.compose", "10.1.2.3", "fd00::5" }, 3,
	    "DNS:mail.test,DNS:localhost,IP:127.0.0.1,IP:::1,DNS:sink.compose,"
	    "IP:10.1.2.3,IP:fd00::5" },
	{ "duplicates once", "localhost", { "LOCALHOST", "127.0.0.1" }, 2,
	    "DNS:localhost,IP:127.0.0.1,IP:::1" },
	{ "hostname as IP", "192.0.2.7", { NULL }, 0,
	    "IP:192.0.2.7,DNS:localhost,IP:127.0.0.1,IP:::1" },
};

static void
test_tls_generate_sans(void **state)
{
	char  *cert, *key, err[256], got[512];
	X509  *x;
	size_t i;

	for (i = 0; i < sizeof(san_cases) / sizeof(san_cases[0]); i++) {
		assert_int_equal(tls_generate_pem(san_cases[i].host,
				     (char *const *)san_cases[i].sans, san_cases[i].nsans, &cert,
				     &key, err, sizeof(err)),
		    0);
		x = pem_cert(cert);
		sans_of(x, got, sizeof(got));
		if (strcmp(got, san_cases[i].want) != 0)
			fail_msg("%s: got %s, want %s", san_cases[i].name, got, san_cases[i].want);
		X509_free(x);
		free(cert);
		free(key);
	}
}

/* P-256, CA:TRUE critical, keyCertSign, serverAuth, SKI, self-signed and trusted by itself */
static void
test_tls_generate_trust_anchor(void **state)
{
	char		  *cert, *key, err[256];
	X509		  *x;
	EVP_PKEY	  *pub;
	X509_STORE	  *store = X509_STORE_new();
	X509_STORE_CTX	  *vctx = X509_STORE_CTX_new();
	char		   group[64];
	size_t		   glen;
	int		   crit = -1;
	BASIC_CONSTRAINTS *bc;
	BIGNUM		  *serial;

	assert_int_equal(tls_generate_pem("smtpsink", NULL, 0, &cert, &key, err, sizeof(err)), 0);
	assert_non_null(strstr(key, "PRIVATE KEY"));
	x = pem_cert(cert);
	pub = X509_get0_pubkey(x);
	assert_int_equal(EVP_PKEY_get_base_id(pub), EVP_PKEY_EC);
	assert_int_equal(EVP_PKEY_get_group_name(pub, group, sizeof(group), &glen), 1);
	assert_string_equal(group, "prime256v1");
	bc = X509_get_ext_d2i(x, NID_basic_constraints, &crit, NULL);
	assert_non_null(bc);
	assert_true(bc->ca);
	assert_int_equal(crit, 1);
	BASIC_CONSTRAINTS_free(bc);
	assert_true(X509_get_key_usage(x) & KU_KEY_CERT_SIGN);
	assert_true(X509_get_key_usage(x) & KU_DIGITAL_SIGNATURE);
	assert_true(X509_get_extended_key_usage(x) & XKU_SSL_SERVER);
	assert_non_null(X509_get0_subject_key_id(x));
	serial = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
	assert_false(BN_is_negative(serial));
	assert_int_equal(BN_num_bytes(serial), 16); /* random, full length */
	BN_free(serial);
	assert_true(X509_cmp_current_time(X509_get0_notBefore(x)) < 0);
	assert_true(
	    X509_cmp_time(X509_get0_notAfter(x), &(time_t){ time(NULL) + 9 * 365 * 86400L }) > 0);

	/* Its own trust anchor, for "localhost" */
	X509_STORE_add_cert(store, x);
	X509_STORE_CTX_init(vctx, store, x, NULL);
	X509_VERIFY_PARAM_set1_host(X509_STORE_CTX_get0_param(vctx), "localhost", 0);
	X509_STORE_CTX_set_purpose(vctx, X509_PURPOSE_SSL_SERVER);
	if (X509_verify_cert(vctx) != 1)
		fail_msg("verify: %s",
		    X509_verify_cert_error_string(X509_STORE_CTX_get_error(vctx)));
	X509_STORE_CTX_free(vctx);
	X509_STORE_free(store);
	X509_free(x);
	free(cert);
	free(key);
}

struct files {
	char dir[64];
	char cert[96], key[96], other_key[96], out[96], junk[96];
};

static void
write_file(const char *path, const char *s)
{
	FILE *fp = fopen(path, "w");

	assert_non_null(fp);
	fputs(s, fp);
	fclose(fp);
}

static int
files_setup(void **state)
{
	struct files *f = xcalloc(1, sizeof(*f));
	char	     *c1, *k1, *c2, *k2, err[256];

	snprintf(f->dir, sizeof(f->dir), "/tmp/test_tls.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->cert, sizeof(f->cert), "%s/cert.pem", f->dir);
	snprintf(f->key, sizeof(f->key), "%s/key.pem", f->dir);
	snprintf(f->other_key, sizeof(f->other_key), "%s/other.pem", f->dir);
	snprintf(f->out, sizeof(f->out), "%s/out.pem", f->dir);
	snprintf(f->junk, sizeof(f->junk), "%s/junk.pem", f->dir);
	assert_int_equal(tls_generate_pem("a.test", NULL, 0, &c1, &k1, err, sizeof(err)), 0);
	assert_int_equal(tls_generate_pem("b.test", NULL, 0, &c2, &k2, err, sizeof(err)), 0);
	write_file(f->cert, c1);
	write_file(f->key, k1);
	write_file(f->other_key, k2);
	write_file(f->junk, "not a certificate\n");
	free(c1);
	free(k1);
	free(c2);
	free(k2);
	*state = f;
	return 0;
}

static int
files_teardown(void **state)
{
	struct files *f = *state;

	unlink(f->cert);
	unlink(f->key);
	unlink(f->other_key);
	unlink(f->out);
	unlink(f->junk);
	rmdir(f->dir);
	free(f);
	return 0;
}

/* Loaded: served as given, not self-signed; --tls-cert-out is that PEM, 0644 */
static void
test_tls_load_and_write(void **state)
{
	struct files *f = *state;
	struct config cfg;
	struct tls   *t;
	struct stat   st;
	char	      err[256], buf[8192];
	FILE	     *fp;
	size_t	      n;

	config_defaults(&cfg);
	cfg.starttls = 1;
	cfg.tls_cert = xstrdup(f->cert);
	cfg.tls_key = xstrdup(f->key);
	t = tls_new(&cfg, err, sizeof(err));
	if (t == NULL)
		fail_msg("tls_new: %s", err);
	assert_false(tls_self_signed(t));
	assert_non_null(fp = fopen(f->cert, "r"));
	n = fread(buf, 1, sizeof(buf) - 1, fp);
	buf[n] = '\0';
	fclose(fp);
	assert_string_equal(tls_cert_pem(t), buf);
	assert_int_equal(tls_write_cert(t, f->out, err, sizeof(err)), 0);
	assert_int_equal(stat(f->out, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0644);
	assert_non_null(fp = fopen(f->out, "r"));
	n = fread(buf, 1, sizeof(buf) - 1, fp);
	buf[n] = '\0';
	fclose(fp);
	assert_string_equal(tls_cert_pem(t), buf);
	tls_free(t);
	config_free(&cfg);

	/* Generated: self-signed, timed */
	config_defaults(&cfg);
	cfg.starttls = 1;
	assert_non_null(t = tls_new(&cfg, err, sizeof(err)));
	assert_true(tls_self_signed(t));
	assert_true(tls_generate_ms(t) > 0);
	assert_non_null(strstr(tls_cert_pem(t), "BEGIN CERTIFICATE"));
	tls_free(t);
	config_free(&cfg);
}

static void
test_tls_load_errors(void **state)
{
	struct files *f = *state;
	const struct {
		const char *name, *cert, *key, *want;
	} cases[] = {
		{ "missing cert", "/nonexistent/c.pem", f->key,
		    "--tls-cert /nonexistent/c.pem: No such file" },
		{ "missing key", f->cert, "/nonexistent/k.pem",
		    "--tls-key /nonexistent/k.pem: No such file" },
		{ "cert not PEM", f->junk, f->key, "no PEM certificate" },
		{ "key not PEM", f->cert, f->junk, "--tls-key" },
		{ "key of another certificate", f->cert, f->other_key, "--tls-key" },
	};
	struct config cfg;
	struct tls   *t;
	char	      err[256];
	size_t	      i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		config_defaults(&cfg);
		cfg.starttls = 1;
		cfg.tls_cert = xstrdup(cases[i].cert);
		cfg.tls_key = xstrdup(cases[i].key);
		err[0] = '\0';
		t = tls_new(&cfg, err, sizeof(err));
		if (t != NULL || strstr(err, cases[i].want) == NULL)
			fail_msg("%s: got %s \"%s\", want NULL \"%s\"", cases[i].name,
			    t ? "a context" : "NULL", err, cases[i].want);
		config_free(&cfg);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tls_generate_sans),
		cmocka_unit_test(test_tls_generate_trust_anchor),
		cmocka_unit_test_setup_teardown(test_tls_load_and_write, files_setup,
		    files_teardown),
		cmocka_unit_test_setup_teardown(test_tls_load_errors, files_setup, files_teardown),
	};

	log_init(LOG_FORMAT_TEXT, LOG_LEVEL_ERROR);
	return cmocka_run_group_tests_name("tls", tests, NULL, NULL);
}
