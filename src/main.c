/*
 * smtpsink - wiring only: configuration, logging, the event base, the
 * server, signals, the loop, and the shutdown order.
 */
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

static void
main_signal_cb(evutil_socket_t sig, short what, void *arg)
{
	struct server	*s = arg;

	if (server_is_stopping(s)) {
		log_info("signal again sig=%d exiting=now", (int)sig);
		exit(0);
	}
	log_info("signal sig=%d stopping=1", (int)sig);
	server_shutdown(s);
}

int
main(int argc, char **argv)
{
	struct config		 cfg;
	struct event_base	*base;
	struct event		*sigterm, *sigint;
	struct server		*s;
	char			 err[512] = "";
	int			 rc;
	size_t			 i;

	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);
	config_defaults(&cfg);
	if ((rc = config_parse(&cfg, argc, argv)) != 0) {
		config_free(&cfg);
		return rc > 0 ? 0 : 2;
	}
	log_init(cfg.log_format, cfg.log_level);
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
	if (server_start(s, 1, err, sizeof(err)) == -1) {
		log_warnx("startup failed reason=\"%s\"", err);
		fprintf(stderr, "smtpsink: %s\n", err);
		event_free(sigterm);
		event_free(sigint);
		server_free(s);
		event_base_free(base);
		config_free(&cfg);
		return 1;
	}
	printf("smtpsink ready");
	for (i = 0; i < server_smtp_count(s); i++)
		printf(" smtp=%s", server_smtp_addr(s, i));
	if (server_grpc_addr(s) != NULL)
		printf(" grpc=%s", server_grpc_addr(s));
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
