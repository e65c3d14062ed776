/*
 * test_sink - the embedding API end to end: an embedded sink in this
 * process, mail sent over a real TCP socket by a tiny blocking SMTP client,
 * then wait / list / get / clear / the reject handler / stop.
 * Each test uses its own recipient domain, the parallel-test pattern.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "smtpsink/sink.h"

/* --- a tiny blocking SMTP client ----------------------------------------- */

struct client {
	int    fd;
	char   buf[8192];
	size_t len;
	char   last[512]; /* last reply line */
};

static int
client_open(struct client *c, int port)
{
	struct sockaddr_in sin;
	struct timeval	   tv = { .tv_sec = 10 };
	int		   one = 1;

	memset(c, 0, sizeof(*c));
	if ((c->fd = socket(AF_INET, SOCK_STREAM, 0)) == -1)
		return -1;
	setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons(port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(c->fd, (struct sockaddr *)&sin, sizeof(sin)) == -1) {
		close(c->fd);
		return -1;
	}
	return 0;
}

static int
client_send(struct client *c, const char *p, size_t n)
{
	ssize_t w;

	while (n > 0) {
		if ((w = write(c->fd, p, n)) <= 0)
			return -1;
		p += w;
		n -= w;
	}
	return 0;
}

/* Reads one (possibly multi-line) reply; returns its code, -1 on EOF/timeout. */
static int
client_reply(struct client *c)
{
	char   *nl;
	size_t	linelen;
	ssize_t r;

	for (;;) {
		while ((nl = memchr(c->buf, '\n', c->len)) != NULL) {
			linelen = nl - c->buf + 1;
			snprintf(c->last, sizeof(c->last), "%.*s", (int)linelen, c->buf);
			c->last[strcspn(c->last, "\r\n")] = '\0';
			memmove(c->buf, c->buf + linelen, c->len - linelen);
			c->len -= linelen;
			if (strlen(c->last) >= 4 && c->last[3] == '-')
				continue;
			return atoi(c->last);
		}
		if (c->len == sizeof(c->buf))
			return -1;
		if ((r = read(c->fd, c->buf + c->len, sizeof(c->buf) - c->len)) <= 0)
			return -1;
		c->len += r;
	}
}

static int
client_cmd(struct client *c, const char *fmt, ...)
{
	char	line[1024];
	va_list ap;
	int	n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 2, fmt, ap);
	va_end(ap);
	memcpy(line + n, "\r\n", 2);
	if (client_send(c, line, n + 2) == -1)
		return -1;
	return client_reply(c);
}

/*
 * One SMTP transaction; data is the message in wire form with CRLF lines,
 * dot-stuffed here. Returns the reply code to the final "." (or the first
 * unexpected code); the reply line is left in reply.
 */
static int
send_mail(int port, const char *from, const char *const *rcpts, size_t nrcpts, const char *data,
    char *reply, size_t replylen)
{
	struct client c;
	const char   *p, *nl;
	size_t	      i;
	int	      code;

	if (client_open(&c, port) == -1)
		return -1;
	if ((code = client_reply(&c)) != 220)
		goto out;
	if ((code = client_cmd(&c, "EHLO test-client.example")) != 250)
		goto out;
	if ((code = client_cmd(&c, "MAIL FROM:<%s>", from)) != 250)
		goto out;
	for (i = 0; i < nrcpts; i++)
		if ((code = client_cmd(&c, "RCPT TO:<%s>", rcpts[i])) != 250)
			goto out;
	if ((code = client_cmd(&c, "DATA")) != 354)
		goto out;
	for (p = data; *p != '\0'; p = nl) {
		nl = strchr(p, '\n');
		nl = nl != NULL ? nl + 1 : p + strlen(p);
		if (*p == '.' && client_send(&c, ".", 1) == -1)
			break;
		if (client_send(&c, p, nl - p) == -1)
			break;
	}
	code = client_cmd(&c, ".");
	if (reply != NULL)
		snprintf(reply, replylen, "%s", c.last);
	client_cmd(&c, "QUIT");
	close(c.fd);
	return code;
out:
	if (reply != NULL)
		snprintf(reply, replylen, "%s", c.last);
	close(c.fd);
	return code;
}

/* --- the shared sink, with a handler rejecting "blocked@*" -------------- */

static pthread_mutex_t seen_lock = PTHREAD_MUTEX_INITIALIZER;
static int	       seen_calls;
static uint64_t	       seen_id = 99;
static char	       seen_from[256];

static const char *
reject_handler(const struct smtpsink_message *msg, void *arg)
{
	size_t i;

	pthread_mutex_lock(&seen_lock);
	seen_calls++;
	seen_id = msg->id;
	snprintf(seen_from, sizeof(seen_from), "%s", msg->mail_from);
	pthread_mutex_unlock(&seen_lock);
	for (i = 0; i < msg->nrcpt_to; i++)
		if (strncmp(msg->rcpt_to[i], "blocked@", 8) == 0)
			return arg;
	return NULL;
}

static int
group_setup(void **state)
{
	struct smtpsink_options opt;
	struct smtpsink	       *sink;
	char			err[256];

	smtpsink_options_init(&opt);
	opt.handler = reject_handler;
	opt.handler_arg = "550 5.7.1 no thanks";
	if ((sink = smtpsink_start(&opt, err, sizeof(err))) == NULL) {
		fprintf(stderr, "smtpsink_start: %s\n", err);
		return -1;
	}
	*state = sink;
	return 0;
}

static int
group_teardown(void **state)
{
	smtpsink_stop(*state);
	return 0;
}

static void
test_sink_address(void **state)
{
	struct smtpsink *sink = *state;
	char		 want[64];

	assert_true(smtpsink_smtp_port(sink) > 0);
	snprintf(want, sizeof(want), "127.0.0.1:%d", smtpsink_smtp_port(sink));
	assert_string_equal(smtpsink_smtp_address(sink), want);
	assert_null(smtpsink_grpc_address(sink));
}

static void
test_sink_capture(void **state)
{
	struct smtpsink		*sink = *state;
	struct smtpsink_filter	 f = { .rcpt_to = "*@capture.test" };
	struct smtpsink_message *msgs, *got;
	const char		*rcpts[] = { "one@capture.test", "Two@Capture.Test" };
	const char		*data = "From: Sender <sender@example.com>\r\n"
					"To: one@capture.test\r\n"
					"Subject: Hello sink\r\n"
					"\r\n"
					"line one\r\n"
					".leading dot survives unstuffing\r\n"
					"..two dots\r\n";
	struct timespec		 now;
	char			 reply[512];
	size_t			 n;

	assert_int_equal(send_mail(smtpsink_smtp_port(sink), "sender@example.com", rcpts, 2, data,
			     reply, sizeof(reply)),
	    250);
	/* 250 means stored: the wait is satisfied at once */
	assert_int_equal(smtpsink_wait(sink, &f, 1, 5000, &msgs, &n), 0);
	assert_int_equal(n, 1);
	assert_true(msgs[0].id > 0);
	assert_string_equal(msgs[0].mail_from, "sender@example.com");
	assert_int_equal(msgs[0].nrcpt_to, 2);
	assert_string_equal(msgs[0].rcpt_to[0], "one@capture.test");
	assert_string_equal(msgs[0].rcpt_to[1], "Two@Capture.Test");
	assert_int_equal(msgs[0].size, strlen(data));
	assert_memory_equal(msgs[0].data, data, strlen(data));
	assert_string_equal(msgs[0].helo, "test-client.example");
	assert_true(strncmp(msgs[0].peer, "127.0.0.1:", 10) == 0);
	assert_string_equal(msgs[0].subject, "Hello sink");
	assert_int_equal(msgs[0].anomalies, 0);
	clock_gettime(CLOCK_REALTIME, &now);
	assert_true(msgs[0].received_sec > now.tv_sec - 60 && msgs[0].received_sec <= now.tv_sec);
	assert_true(msgs[0].received_nsec >= 0 && msgs[0].received_nsec < 1000000000L);

	got = smtpsink_get(sink, msgs[0].id);
	assert_non_null(got);
	assert_int_equal(got->id, msgs[0].id);
	assert_int_equal(got->size, msgs[0].size);
	assert_memory_equal(got->data, data, got->size);
	smtpsink_message_free(got);
	assert_null(smtpsink_get(sink, msgs[0].id + 1000));
	assert_true(smtpsink_last_id(sink) >= msgs[0].id);

	pthread_mutex_lock(&seen_lock);
	assert_int_equal(seen_id, 0); /* the handler runs before the store */
	assert_string_equal(seen_from, "sender@example.com");
	pthread_mutex_unlock(&seen_lock);
	smtpsink_messages_free(msgs, n);
}

struct sender_arg {
	int	    port;
	int	    delay_ms;
	const char *rcpt;
	int	    code;
};

static void *
sender_thread(void *p)
{
	struct sender_arg *a = p;
	struct timespec	   ts = { a->delay_ms / 1000, (a->delay_ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
	a->code = send_mail(a->port, "late@example.com", &a->rcpt, 1,
	    "Subject: later\r\n\r\nbody\r\n", NULL, 0);
	return NULL;
}

static void
test_sink_wait_later(void **state)
{
	struct smtpsink		*sink = *state;
	struct smtpsink_filter	 f = { .rcpt_to = "*@later.test" };
	struct sender_arg	 a = { smtpsink_smtp_port(sink), 100, "x@later.test", 0 };
	struct smtpsink_message *msgs;
	pthread_t		 t;
	size_t			 n;

	assert_int_equal(pthread_create(&t, NULL, sender_thread, &a), 0);
	/* blocks until the message is stored, then returns all matches */
	assert_int_equal(smtpsink_wait(sink, &f, 1, 10000, &msgs, &n), 0);
	assert_int_equal(n, 1);
	assert_string_equal(msgs[0].mail_from, "late@example.com");
	pthread_join(t, NULL);
	assert_int_equal(a.code, 250);
	smtpsink_messages_free(msgs, n);

	/* a cursor: only newer messages count */
	f.after_id = smtpsink_last_id(sink);
	a.delay_ms = 50;
	assert_int_equal(pthread_create(&t, NULL, sender_thread, &a), 0);
	assert_int_equal(smtpsink_wait(sink, &f, 1, 10000, NULL, NULL), 0);
	pthread_join(t, NULL);
	assert_int_equal(smtpsink_wait(sink, &f, 2, 0, NULL, &n), 1);
	assert_int_equal(n, 1);
}

static void
test_sink_wait_timeout(void **state)
{
	struct smtpsink		*sink = *state;
	struct smtpsink_filter	 f = { .rcpt_to = "*@never.test" };
	struct smtpsink_message *msgs = (void *)1;
	struct timespec		 t0, t1;
	size_t			 n = 5;
	long			 ms;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(smtpsink_wait(sink, &f, 1, 150, &msgs, &n), 1);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
	assert_true(ms >= 140);
	assert_int_equal(n, 0);
	assert_null(msgs);
}

static void
test_sink_reject_handler(void **state)
{
	struct smtpsink		*sink = *state;
	struct smtpsink_filter	 f = { .rcpt_to = "blocked@*" };
	struct smtpsink_stats	 before, after;
	struct smtpsink_message *msgs;
	const char		*rcpt = "blocked@reject.test";
	char			 reply[512];
	size_t			 n;

	assert_int_equal(smtpsink_get_stats(sink, &before), 0);
	assert_int_equal(send_mail(smtpsink_smtp_port(sink), "a@example.com", &rcpt, 1,
			     "Subject: no\r\n\r\nx\r\n", reply, sizeof(reply)),
	    550);
	assert_non_null(strstr(reply, "no thanks"));
	assert_int_equal(smtpsink_list(sink, &f, 0, &msgs, &n), 0);
	assert_int_equal(n, 0);
	assert_null(msgs);
	assert_int_equal(smtpsink_get_stats(sink, &after), 0);
	assert_int_equal(after.messages_rejected, before.messages_rejected + 1);
	assert_int_equal(after.last_id, before.last_id);
	/* the handler accepts the others */
	rcpt = "fine@reject.test";
	assert_int_equal(send_mail(smtpsink_smtp_port(sink), "a@example.com", &rcpt, 1,
			     "Subject: yes\r\n\r\nx\r\n", reply, sizeof(reply)),
	    250);
	f.rcpt_to = "*@reject.test";
	assert_int_equal(smtpsink_list(sink, &f, 0, &msgs, &n), 0);
	assert_int_equal(n, 1);
	assert_string_equal(msgs[0].rcpt_to[0], "fine@reject.test");
	smtpsink_messages_free(msgs, n);
}

static void
test_sink_list_clear(void **state)
{
	struct smtpsink		*sink = *state;
	struct smtpsink_filter	 f = { .rcpt_to = "*@clear.test" }, bad = { .subject = "[x" };
	struct smtpsink_message *msgs;
	const char		*r;
	char			 err[128], data[128];
	size_t			 n, i;
	int			 port = smtpsink_smtp_port(sink);

	for (i = 0; i < 3; i++) {
		r = i == 1 ? "b@clear.test" : "a@clear.test";
		snprintf(data, sizeof(data), "Subject: number %zu\r\n\r\nbody %zu\r\n", i, i);
		assert_int_equal(send_mail(port, "s@example.com", &r, 1, data, NULL, 0), 250);
	}
	assert_int_equal(smtpsink_list(sink, &f, 0, &msgs, &n), 0);
	assert_int_equal(n, 3);
	assert_true(msgs[0].id < msgs[1].id && msgs[1].id < msgs[2].id);
	assert_string_equal(msgs[2].subject, "number 2");
	smtpsink_messages_free(msgs, n);
	assert_int_equal(smtpsink_list(sink, &f, 2, &msgs, &n), 0); /* limit */
	assert_int_equal(n, 2);
	assert_string_equal(msgs[0].subject, "number 0");
	smtpsink_messages_free(msgs, n);
	f.subject = "*1";
	assert_int_equal(smtpsink_list(sink, &f, 0, &msgs, &n), 0);
	assert_int_equal(n, 1);
	assert_string_equal(msgs[0].rcpt_to[0], "b@clear.test");
	smtpsink_messages_free(msgs, n);

	/* clear with a filter leaves the rest (and other tests' mail) alone */
	f.subject = NULL;
	f.rcpt_to = "a@clear.test";
	assert_int_equal(smtpsink_clear(sink, &f), 2);
	assert_int_equal(smtpsink_clear(sink, &f), 0);
	f.rcpt_to = "*@clear.test";
	assert_int_equal(smtpsink_list(sink, &f, 0, &msgs, &n), 0);
	assert_int_equal(n, 1);
	smtpsink_messages_free(msgs, n);

	/* bad patterns are refused with a reason */
	assert_int_equal(smtpsink_filter_check(&bad, err, sizeof(err)), -1);
	assert_string_equal(err, "subject: unclosed '[' in pattern");
	assert_int_equal(smtpsink_list(sink, &bad, 0, &msgs, &n), -1);
	assert_int_equal(smtpsink_wait(sink, &bad, 1, 0, NULL, NULL), -1);
	assert_int_equal(smtpsink_clear(sink, &bad), -1);
}

/* Runs last in the group: clears everything, ids keep growing. */
static void
test_sink_clear_all(void **state)
{
	struct smtpsink		*sink = *state;
	struct smtpsink_stats	 st;
	struct smtpsink_message *msgs;
	const char		*r = "x@all.test";
	uint64_t		 last = smtpsink_last_id(sink);
	size_t			 n;

	assert_true(smtpsink_clear(sink, NULL) > 0);
	assert_int_equal(smtpsink_list(sink, NULL, 0, &msgs, &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(smtpsink_get_stats(sink, &st), 0);
	assert_int_equal(st.stored_messages, 0);
	assert_int_equal(send_mail(smtpsink_smtp_port(sink), "s@example.com", &r, 1,
			     "Subject: z\r\n\r\nz\r\n", NULL, 0),
	    250);
	assert_int_equal(smtpsink_list(sink, NULL, 0, &msgs, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(msgs[0].id, last + 1);
	smtpsink_messages_free(msgs, n);
}

/* --- own sinks ------------------------------------------------------------ */

struct waiter_arg {
	struct smtpsink *sink;
	int		 rc;
};

static void *
waiter_thread(void *p)
{
	struct waiter_arg     *a = p;
	struct smtpsink_filter f = { .rcpt_to = "nobody@*" };

	a->rc = smtpsink_wait(a->sink, &f, 1, -1, NULL, NULL);
	return NULL;
}

static void
test_sink_stop_ends_waits(void **state)
{
	struct smtpsink	 *sink;
	struct waiter_arg a = { 0 };
	struct timespec	  ts = { 0, 100 * 1000000L };
	pthread_t	  t;
	char		  err[256];

	sink = smtpsink_start(NULL, err, sizeof(err));
	assert_non_null(sink);
	a.sink = sink;
	a.rc = 99;
	assert_int_equal(pthread_create(&t, NULL, waiter_thread, &a), 0);
	nanosleep(&ts, NULL);
	smtpsink_stop(sink);
	pthread_join(t, NULL);
	assert_int_equal(a.rc, -1);
}

static void
test_sink_two_sinks_and_limits(void **state)
{
	struct smtpsink_options opt;
	struct smtpsink	       *s1, *s2;
	struct smtpsink_stats	st;
	const char	       *r = "x@two.test";
	char			err[256], big[2048];

	smtpsink_options_init(&opt);
	opt.max_messages = 2;
	opt.max_message_size = 1024;
	s1 = smtpsink_start(&opt, err, sizeof(err));
	assert_non_null(s1);
	s2 = smtpsink_start(NULL, err, sizeof(err));
	assert_non_null(s2);
	assert_int_not_equal(smtpsink_smtp_port(s1), smtpsink_smtp_port(s2));
	assert_int_equal(send_mail(smtpsink_smtp_port(s1), "a@x", &r, 1, "a\r\n", NULL, 0), 250);
	assert_int_equal(send_mail(smtpsink_smtp_port(s1), "a@x", &r, 1, "b\r\n", NULL, 0), 250);
	assert_int_equal(send_mail(smtpsink_smtp_port(s1), "a@x", &r, 1, "c\r\n", NULL, 0), 250);
	memset(big, 'x', sizeof(big) - 3);
	memcpy(big + sizeof(big) - 3, "\r\n", 3);
	assert_int_equal(send_mail(smtpsink_smtp_port(s1), "a@x", &r, 1, big, NULL, 0), 552);
	assert_int_equal(smtpsink_get_stats(s1, &st), 0);
	assert_int_equal(st.stored_messages, 2);
	assert_int_equal(st.messages_evicted, 1);
	assert_int_equal(st.last_id, 3);
	assert_int_equal(smtpsink_get_stats(s2, &st), 0);
	assert_int_equal(st.stored_messages, 0);
	smtpsink_stop(s1);
	smtpsink_stop(s2);
	smtpsink_stop(NULL);
}

/* The gRPC control API can run alongside, on its own ephemeral port. */
static void
test_sink_grpc_option(void **state)
{
	struct smtpsink_options opt;
	struct smtpsink	       *sink;
	const char	       *r = "x@grpc.test";
	char			err[256];

	smtpsink_options_init(&opt);
	opt.grpc_listen = "127.0.0.1:0";
	sink = smtpsink_start(&opt, err, sizeof(err));
	assert_non_null(sink);
	assert_non_null(smtpsink_grpc_address(sink));
	assert_true(strncmp(smtpsink_grpc_address(sink), "127.0.0.1:", 10) == 0);
	assert_string_not_equal(smtpsink_grpc_address(sink), "127.0.0.1:0");
	assert_int_equal(send_mail(smtpsink_smtp_port(sink), "a@x", &r, 1, "a\r\n", NULL, 0), 250);
	assert_int_equal(smtpsink_wait(sink, NULL, 1, 5000, NULL, NULL), 0);
	smtpsink_stop(sink);
}

/* The handler may stop its own sink: its message is answered, then the sink goes. */
static struct smtpsink *self_stop_sink;

static const char *
self_stop_handler(const struct smtpsink_message *msg, void *arg)
{
	smtpsink_stop(self_stop_sink);
	return NULL;
}

static void
test_sink_stop_from_handler(void **state)
{
	struct smtpsink_options opt;
	struct client		c;
	const char	       *r = "x@selfstop.test";
	char			err[256];
	int			port, i, refused = 0;

	smtpsink_options_init(&opt);
	opt.handler = self_stop_handler;
	self_stop_sink = smtpsink_start(&opt, err, sizeof(err));
	assert_non_null(self_stop_sink);
	port = smtpsink_smtp_port(self_stop_sink);
	assert_int_equal(send_mail(port, "a@x", &r, 1, "a\r\n", NULL, 0), 250);
	/* The loop thread stops and frees the sink (LSan checks the freeing) */
	for (i = 0; i < 500 && !refused; i++) {
		if (client_open(&c, port) == -1)
			refused = 1;
		else {
			close(c.fd);
			usleep(10 * 1000);
		}
	}
	assert_true(refused);
}

/*
 * The handler runs on the loop thread: a listing or a clear it asks for is
 * a scan that runs to its end there and then (no slices to wait for).
 */
static struct smtpsink *inline_sink;
static size_t		inline_listed;
static long		inline_cleared = -2;

static const char *
inline_handler(const struct smtpsink_message *msg, void *arg)
{
	struct smtpsink_filter	 old = { .rcpt_to = "old@*" };
	struct smtpsink_message *msgs;
	size_t			 n;

	if (strcmp(msg->rcpt_to[0], "new@inline.test") != 0)
		return NULL;
	if (smtpsink_list(inline_sink, NULL, 0, &msgs, &n) == 0) {
		inline_listed = n;
		smtpsink_messages_free(msgs, n);
	}
	inline_cleared = smtpsink_clear(inline_sink, &old);
	return NULL;
}

static void
test_sink_list_from_handler(void **state)
{
	struct smtpsink_options	 opt;
	struct smtpsink_message *msgs;
	const char		*old = "old@inline.test", *new = "new@inline.test";
	char			 err[256];
	size_t			 n;
	int			 port;

	smtpsink_options_init(&opt);
	opt.handler = inline_handler;
	inline_sink = smtpsink_start(&opt, err, sizeof(err));
	assert_non_null(inline_sink);
	port = smtpsink_smtp_port(inline_sink);
	assert_int_equal(send_mail(port, "a@x", &old, 1, "a\r\n", NULL, 0), 250);
	assert_int_equal(send_mail(port, "a@x", &old, 1, "b\r\n", NULL, 0), 250);
	assert_int_equal(send_mail(port, "a@x", &new, 1, "c\r\n", NULL, 0), 250);
	assert_int_equal(inline_listed, 2); /* before the new one is stored */
	assert_int_equal(inline_cleared, 2);
	assert_int_equal(smtpsink_list(inline_sink, NULL, 0, &msgs, &n), 0);
	assert_int_equal(n, 1);
	assert_string_equal(msgs[0].rcpt_to[0], new);
	smtpsink_messages_free(msgs, n);
	smtpsink_stop(inline_sink);
}

/* A port in use is an error for the caller, never the end of the process. */
static void
test_sink_port_in_use(void **state)
{
	struct smtpsink_options opt;
	struct smtpsink	       *s1;
	char			err[256] = "";

	s1 = smtpsink_start(NULL, err, sizeof(err));
	assert_non_null(s1);
	smtpsink_options_init(&opt);
	opt.smtp_listen = smtpsink_smtp_address(s1);
	assert_null(smtpsink_start(&opt, err, sizeof(err)));
	assert_non_null(strstr(err, "in use"));
	opt.smtp_listen = NULL;
	opt.grpc_listen = "256.0.0.1:1";
	err[0] = '\0';
	assert_null(smtpsink_start(&opt, err, sizeof(err)));
	assert_non_null(strstr(err, "gRPC"));
	smtpsink_stop(s1);
}

static void
test_sink_start_error(void **state)
{
	struct smtpsink_options opt;
	char			err[256] = "";

	smtpsink_options_init(&opt);
	opt.smtp_listen = "256.1.1.1:0";
	assert_null(smtpsink_start(&opt, err, sizeof(err)));
	assert_true(err[0] != '\0');
}

int
main(void)
{
	const struct CMUnitTest shared[] = {
		cmocka_unit_test(test_sink_address),
		cmocka_unit_test(test_sink_capture),
		cmocka_unit_test(test_sink_wait_later),
		cmocka_unit_test(test_sink_wait_timeout),
		cmocka_unit_test(test_sink_reject_handler),
		cmocka_unit_test(test_sink_list_clear),
		cmocka_unit_test(test_sink_clear_all),
	};
	const struct CMUnitTest own[] = {
		cmocka_unit_test(test_sink_stop_ends_waits),
		cmocka_unit_test(test_sink_stop_from_handler),
		cmocka_unit_test(test_sink_list_from_handler),
		cmocka_unit_test(test_sink_port_in_use),
		cmocka_unit_test(test_sink_two_sinks_and_limits),
		cmocka_unit_test(test_sink_grpc_option),
		cmocka_unit_test(test_sink_start_error),
	};
	int rc;

	rc = cmocka_run_group_tests_name("sink", shared, group_setup, group_teardown);
	rc += cmocka_run_group_tests_name("sink_own", own, NULL, NULL);
	return rc;
}
