/*
 * listener - one evconnlistener per SMTP address; see listener.h.
 *
 * Addresses are "host:port", "[v6]:port" or ":port" (all IPv4 interfaces);
 * host may be a name, the first address it resolves to is bound. Port 0
 * binds an ephemeral port; listener_addr() reports the real one (read back
 * with getsockname()). Accepted sockets go to the owner's accept callback;
 * the owner pauses and resumes accepting (max_sessions, shutdown).
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <netdb.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <event2/listener.h>

#include "listener.h"
#include "log.h"
#include "xmalloc.h"

struct listener_sock {
	struct evconnlistener *lev;
	char		       addr[INET6_ADDRSTRLEN + 10];
};

struct listener {
	struct event_base    *base;
	listener_accept_fn   *accept_cb;
	void		     *accept_arg;
	struct listener_sock *socks;
	size_t		      n;
	int		      paused;  /* by the owner: max_sessions or shutdown */
	int		      backoff; /* accept() ran out of descriptors */
	struct event	     *backoff_ev;
};

#define LISTENER_BACKOFF_MS 100
/*
 * libevent's default (-1) is 128: in a burst of connects the accept queue
 * overflows and the kernel drops handshakes it already completed (SYN
 * cookies), so those clients wait for a 220 forever. The kernel caps this
 * at net.core.somaxconn.
 */
#define LISTENER_BACKLOG    4096

static void listener_accept_cb(struct evconnlistener *, evutil_socket_t, struct sockaddr *, int,
    void *);
static void listener_error_cb(struct evconnlistener *, void *);
static void listener_backoff_cb(evutil_socket_t, short, void *);

/* Accepting is on when neither paused nor backing off. */
static void
listener_apply(struct listener *l)
{
	size_t i;

	for (i = 0; i < l->n; i++) {
		if (l->paused || l->backoff)
			evconnlistener_disable(l->socks[i].lev);
		else
			evconnlistener_enable(l->socks[i].lev);
	}
}

/* Splits "host:port" / "[v6]:port" into host and port; -1 if malformed. */
static int
listener_split(const char *spec, char *host, size_t hostsz, char *port, size_t portsz)
{
	const char *colon, *end;

	if (*spec == '[') {
		if ((end = strchr(spec, ']')) == NULL || end[1] != ':')
			return -1;
		snprintf(host, hostsz, "%.*s", (int)(end - spec - 1), spec + 1);
		colon = end + 1;
	} else {
		if ((colon = strrchr(spec, ':')) == NULL)
			return -1;
		if (memchr(spec, ':', colon - spec) != NULL)
			return -1; /* bare IPv6 needs brackets */
		snprintf(host, hostsz, "%.*s", (int)(colon - spec), spec);
	}
	if (colon[1] == '\0' || strspn(colon + 1, "0123456789") != strlen(colon + 1) ||
	    strlen(colon + 1) > 5 || strtoul(colon + 1, NULL, 10) > 65535)
		return -1; /* no silent wrap: 99999 is not 34463 */
	snprintf(port, portsz, "%s", colon + 1);
	return 0;
}

static void
listener_format(const struct sockaddr *sa, char *dst, size_t dstsz)
{
	char ip[INET6_ADDRSTRLEN];

	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)sa;
		inet_ntop(AF_INET6, &sin6->sin6_addr, ip, sizeof(ip));
		snprintf(dst, dstsz, "[%s]:%u", ip, ntohs(sin6->sin6_port));
	} else {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;
		inet_ntop(AF_INET, &sin->sin_addr, ip, sizeof(ip));
		snprintf(dst, dstsz, "%s:%u", ip, ntohs(sin->sin_port));
	}
}

static int
listener_bind(struct listener *l, struct listener_sock *ls, const char *spec, char *err,
    size_t errlen)
{
	struct addrinfo		hints, *res = NULL;
	struct sockaddr_storage ss;
	socklen_t		sslen = sizeof(ss);
	char			host[256], port[16];
	int			rc;

	if (listener_split(spec, host, sizeof(host), port, sizeof(port)) == -1) {
		snprintf(err, errlen,
		    "bad listen address \"%s\" (want host:port or [v6]:port, port 0-65535)", spec);
		return -1;
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	if ((rc = getaddrinfo(*host ? host : "0.0.0.0", port, &hints, &res)) != 0) {
		snprintf(err, errlen, "listen address \"%s\": %s", spec, gai_strerror(rc));
		return -1;
	}
	ls->lev = evconnlistener_new_bind(l->base, listener_accept_cb, l,
	    LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, LISTENER_BACKLOG,
	    res->ai_addr, (int)res->ai_addrlen);
	freeaddrinfo(res);
	if (ls->lev == NULL) {
		snprintf(err, errlen, "cannot listen on %s: %s", spec,
		    evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
		return -1;
	}
	evconnlistener_set_error_cb(ls->lev, listener_error_cb);
	if (getsockname(evconnlistener_get_fd(ls->lev), (struct sockaddr *)&ss, &sslen) == -1) {
		snprintf(err, errlen, "getsockname %s failed", spec);
		return -1;
	}
	listener_format((struct sockaddr *)&ss, ls->addr, sizeof(ls->addr));
	log_info("smtp listen addr=%s", ls->addr);
	return 0;
}

struct listener *
listener_new(struct event_base *base, char *const *addrs, size_t n, listener_accept_fn *accept_cb,
    void *arg, char *err, size_t errlen)
{
	struct listener *l;
	size_t		 i;

	if (n == 0) {
		snprintf(err, errlen, "no SMTP listen address");
		return NULL;
	}
	l = xcalloc(1, sizeof(*l));
	l->base = base;
	l->accept_cb = accept_cb;
	l->accept_arg = arg;
	l->backoff_ev = evtimer_new(base, listener_backoff_cb, l);
	l->socks = xcalloc(n, sizeof(*l->socks));
	for (i = 0; i < n; i++) {
		if (listener_bind(l, &l->socks[i], addrs[i], err, errlen) == -1) {
			l->n = i + 1;
			listener_free(l);
			return NULL;
		}
	}
	l->n = n;
	return l;
}

void
listener_free(struct listener *l)
{
	size_t i;

	if (l == NULL)
		return;
	if (l->backoff_ev != NULL)
		event_free(l->backoff_ev);
	for (i = 0; i < l->n; i++)
		if (l->socks[i].lev != NULL)
			evconnlistener_free(l->socks[i].lev);
	free(l->socks);
	free(l);
}

size_t
listener_count(const struct listener *l)
{
	return l != NULL ? l->n : 0;
}

const char *
listener_addr(const struct listener *l, size_t i)
{
	if (l == NULL || i >= l->n)
		return "";
	return l->socks[i].addr;
}

void
listener_pause(struct listener *l)
{
	if (l == NULL || l->paused)
		return;
	l->paused = 1;
	listener_apply(l);
}

void
listener_resume(struct listener *l)
{
	if (l == NULL || !l->paused)
		return;
	l->paused = 0;
	listener_apply(l);
}

static void
listener_accept_cb(struct evconnlistener *lev, evutil_socket_t fd, struct sockaddr *sa, int salen,
    void *arg)
{
	struct listener *l = arg;

	l->accept_cb(l->accept_arg, fd, sa, (socklen_t)salen);
}

/*
 * accept() failed. Out of descriptors or memory, the pending connection
 * stays readable and the loop would spin: stop accepting for a moment.
 */
static void
listener_error_cb(struct evconnlistener *lev, void *arg)
{
	struct listener *l = arg;
	int		 err = EVUTIL_SOCKET_ERROR();
	struct timeval	 tv = { 0, LISTENER_BACKOFF_MS * 1000 };

	if (err != EMFILE && err != ENFILE && err != ENOBUFS && err != ENOMEM)
		return; /* ECONNABORTED and the like: nothing to do */
	if (!l->backoff)
		log_warnx("smtp accept error=\"%s\" backoff_ms=%d",
		    evutil_socket_error_to_string(err), LISTENER_BACKOFF_MS);
	l->backoff = 1;
	listener_apply(l);
	evtimer_add(l->backoff_ev, &tv);
}

static void
listener_backoff_cb(evutil_socket_t fd, short what, void *arg)
{
	struct listener *l = arg;

	l->backoff = 0;
	listener_apply(l);
}
