/*
 * tls - the sink's TLS (RFC 3207 STARTTLS, RFC 8314 implicit TLS) on OpenSSL 3
 * and libevent's bufferevent_openssl: the server context, the certificate
 * (loaded from --tls-cert/--tls-key, or generated at start: ECDSA P-256,
 * self-signed, usable as its own trust anchor), and the per-session helpers
 * smtp_session.c calls. Nothing else includes OpenSSL's headers.
 *
 * API: tls_new() once at start (on the loop thread), tls_free() after the
 * last session is gone. tls_bev_new() wraps an accepted socket in a TLS
 * bufferevent that accepts the handshake on the same event loop; the rest
 * reads or ends such a bufferevent.
 *
 * Memory: the context sets SSL_MODE_RELEASE_BUFFERS and keeps no session
 * cache and issues no tickets, so an idle TLS session is the SSL object and
 * one bufferevent, without read or write buffers.
 *
 * Ownership: the certificate PEM belongs to the struct tls. The version and
 * cipher names tls_bev_info() returns are OpenSSL's static strings: they
 * live as long as the process (a message may keep them).
 */
#ifndef SMTPSINK_TLS_H
#define SMTPSINK_TLS_H
#include <stddef.h>
#include <event2/util.h>

struct bufferevent;
struct config;
struct event_base;
struct tls;

/*
 * The server context from cfg: tls_cert/tls_key (PEM; the cert file may hold
 * a chain) or, without them, a generated certificate for cfg->hostname,
 * localhost, 127.0.0.1, ::1 and every cfg->tls_san (timed and logged at
 * info); minimum version cfg->tls_min_version. NULL with a one-line reason
 * naming the flag in err (missing, unreadable, not PEM, key not matching).
 */
struct tls *tls_new(const struct config *cfg, char *err, size_t errlen);
void	    tls_free(struct tls *);
/* The certificate chain as served, PEM, NUL-terminated; borrowed. */
const char *tls_cert_pem(const struct tls *);
/* 1 when the certificate was generated at start (no --tls-cert) */
int	    tls_self_signed(const struct tls *);
/* Milliseconds the generation took (0 when loaded) */
double	    tls_generate_ms(const struct tls *);
/*
 * Writes the served PEM to path atomically (temporary file, rename), mode
 * 0644. 0, or -1 with the reason in err.
 */
int	    tls_write_cert(const struct tls *, const char *path, char *err, size_t errlen);

/*
 * A self-signed certificate (ECDSA P-256, CA:TRUE, serverAuth, SANs: host,
 * localhost, 127.0.0.1, ::1, each of sans; an IP literal becomes an IP SAN)
 * and its private key as PEM strings the caller frees. 0, or -1 with err.
 */
int tls_generate_pem(const char *host, char *const *sans, size_t nsans, char **cert_pem,
    char **key_pem, char *err, size_t errlen);

/*
 * A TLS bufferevent on the accepted socket fd that accepts the handshake
 * (BEV_OPT_CLOSE_ON_FREE; dirty shutdown allowed: a TCP close without
 * close_notify is EOF). Takes ownership of fd on success only; NULL when
 * the SSL object or the bufferevent cannot be made.
 */
struct bufferevent *tls_bev_new(struct tls *, struct event_base *, evutil_socket_t fd);
/* The negotiated protocol ("TLSv1.3") and cipher; static strings, "" if none */
void		    tls_bev_info(struct bufferevent *, const char **version, const char **cipher);
/* OpenSSL's reason for the last failure on bev (handshake), into buf */
const char	   *tls_bev_error(struct bufferevent *, char *buf, size_t len);
/*
 * Sends close_notify now, if the handshake is complete (one non-blocking
 * attempt; for an orderly close after the last reply went out).
 */
void		    tls_bev_close_notify(struct bufferevent *);
/*
 * Best effort, for a forced shutdown: encrypts and writes what bev's output
 * holds straight to the socket (non-blocking, one attempt), then
 * close_notify. Nothing is written before the handshake is complete.
 */
void		    tls_bev_flush_now(struct bufferevent *);

/*
 * The client side, for the relay's connections to its upstream: a context
 * that verifies the server against ca_file (PEM) or, when NULL, the system
 * store, and its name (or IP address) -- or nothing with insecure. NULL
 * with a reason in err when ca_file cannot be loaded.
 */
struct tls_client;
struct tls_client  *tls_client_new(const char *ca_file, int insecure, char *err, size_t errlen);
void		    tls_client_free(struct tls_client *);
/*
 * A TLS filter over the connected bufferevent under, starting the
 * handshake for host (SNI unless an IP literal; verified as above). Takes
 * under on success (freed with the result); NULL when out of memory.
 */
struct bufferevent *tls_client_bev(struct tls_client *, struct event_base *,
    struct bufferevent *under, const char *host);
/* Why a client handshake failed: the certificate check's reason, or tls_bev_error()'s */
const char	   *tls_client_error(struct bufferevent *, char *buf, size_t len);

#endif
