/*
 * smtpsink - wiring only: configuration, logging, the event base, the
 * server, signals, the loop, and the shutdown order.
 */
#include <sys/resource.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <event2/thread.h>

#include "config.h"
#include "log.h"
#include "mime.h"
#include "server.h"
#include "stats.h"

#define MAIN_FD_RESERVE 64 /* descriptors besides sessions: listeners, gRPC, log */

static void
main_signal_cb(evutil_socket_t sig, short what, void *arg)
{
	struct server *s = arg;

	if (server_is_stopping(s)) {
		log_info("signal again sig=%d exiting=now", (int)sig);
		exit(0);
	}
	log_info("signal sig=%d stopping=1", (int)sig);
	server_shutdown(s);
}

/*
 * Each SMTP session is one descriptor: raise the soft limit toward the
 * hard one (Debian's default soft limit is 1024), and if it still cannot
 * hold max_sessions plus what the rest needs, lower the default
 * max_sessions to fit (accepting then pauses at the limit instead of
 * failing with EMFILE). A --max-sessions given explicitly is kept.
 */
static void
main_fd_limit(struct config *cfg)
{
	struct rlimit rl;
	rlim_t	      want = (rlim_t)cfg->max_sessions + MAIN_FD_RESERVE;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
		return;
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < want) {
		rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > want ? want :
										   rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) == -1)
			(void)getrlimit(RLIMIT_NOFILE, &rl);
	}
	if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= want)
		return;
	if (cfg->max_sessions != DEF_MAX_SESSIONS) {
		/* Asked for: kept; past the limit accept() backs off on EMFILE */
		log_warnx("max_sessions=%u exceeds the descriptor limit %llu", cfg->max_sessions,
		    (unsigned long long)rl.rlim_cur);
		return;
	}
	cfg->max_sessions = rl.rlim_cur > 2 * MAIN_FD_RESERVE ?
	    (unsigned)(rl.rlim_cur - MAIN_FD_RESERVE) :
	    (unsigned)(rl.rlim_cur / 2);
	log_warnx("max_sessions lowered to %u: descriptor limit %llu", cfg->max_sessions,
	    (unsigned long long)rl.rlim_cur);
}

int
main(int argc, char **argv)
{
	struct config	   cfg;
	struct event_base *base;
	struct event	  *sigterm, *sigint;
	struct server	  *s;
	char		   err[512] = "";
	int		   rc;
	size_t		   i;

	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);
	config_defaults(&cfg);
	if ((rc = config_parse(&cfg, argc, argv)) != 0) {
		config_free(&cfg);
		return rc > 0 ? 0 : 2;
	}
	log_init(cfg.log_format, cfg.log_level);
	main_fd_limit(&cfg);
	config_log(&cfg);

	if (evthread_use_pthreads() == -1)
		fatalx("evthread_use_pthreads failed");
	if ((base = event_base_new()) == NULL)
		fatalx("event_base_new failed");
	s = server_new(&cfg, base);
	/* Before server_start: a test may signal as soon as the ready file exists */
	sigterm = evsignal_new(base, SIGTERM, main_signal_cb, s);
	sigint = evsignal_new(base, SIGINT, main_signal_cb, s);
	evsignal_add(sigterm, NULL);
	evsignal_add(sigint, NULL);
	if ((rc = server_start(s, 1, err, sizeof(err))) < 0) {
		log_errorx("startup failed reason=\"%s\"", err);
		fprintf(stderr, "smtpsink: %s\n", err);
		event_free(sigterm);
		event_free(sigint);
		server_free(s);
		event_base_free(base);
		config_free(&cfg);
		return rc == -2 ? 2 : 1; /* -2: the TLS configuration, like a bad flag */
	}
	printf("smtpsink ready");
	for (i = 0; i < server_smtp_count(s); i++)
		printf(" smtp=%s", server_smtp_addr(s, i));
	for (i = 0; i < server_smtps_count(s); i++)
		printf(" smtps=%s", server_smtps_addr(s, i));
	if (server_grpc_addr(s) != NULL)
		printf(" grpc=%s", server_grpc_addr(s));
	if (server_http_addr(s) != NULL)
		printf(" http=%s", server_http_addr(s));
	printf("\n");
	fflush(stdout);
	log_info("ready version=%s", SMTPSINK_VERSION);

	event_base_dispatch(base);

	log_info("stopped sessions_total=%llu messages_received=%llu messages_rejected=%llu",
	    (unsigned long long)server_stats(s)->sessions_total,
	    (unsigned long long)server_stats(s)->messages_received,
	    (unsigned long long)server_stats(s)->messages_rejected);
	event_free(sigterm);
	event_free(sigint);
	/* Shutting down already: a late signal must not turn exit 0 into 143 */
	signal(SIGTERM, SIG_IGN);
	signal(SIGINT, SIG_IGN);
	server_free(s);
	event_base_free(base);
	mime_shutdown();
	config_free(&cfg);
	libevent_global_shutdown();
	return 0;
}
