#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <smtpsink/sink.h>

static const char *
handler(const struct smtpsink_message *m, void *arg) /* smtpd's process_message */
{
	(void)arg; /* opt.handler_arg */
	return strstr(m->mail_from, "@spam.test") ? "550 5.7.1 no thanks" : NULL;
}

int
main(void)
{
	struct smtpsink_options	 opt;
	struct smtpsink		*sink;
	struct smtpsink_filter	 f = { .rcpt_to = "*@test-42.example" };
	struct smtpsink_message *msgs = NULL;
	size_t			 n = 0;
	char			 err[256], cmd[512];
	int			 ok;

	smtpsink_options_init(&opt); /* 127.0.0.1:0, 32 MiB messages, 10000 stored */
	opt.handler = handler;	     /* optional: NULL accepts everything */
	if ((sink = smtpsink_start(&opt, err, sizeof(err))) == NULL) {
		fprintf(stderr, "smtpsink: %s\n", err);
		return 1;
	}
	f.after_id = smtpsink_last_id(sink); /* count only mail sent from now on */

	/* The code under test sends mail to 127.0.0.1:<port>; here curl does. */
	snprintf(cmd, sizeof(cmd),
	    "printf 'Subject: Welcome\\r\\n\\r\\nHi Bob\\r\\n' | "
	    "curl -s smtp://127.0.0.1:%d --mail-from app@example.com "
	    "--mail-rcpt bob@test-42.example -T -",
	    smtpsink_smtp_port(sink));
	ok = system(cmd) == 0 &&
	    smtpsink_wait(sink, &f, 1, 5000, &msgs, &n) == 0 && /* blocks, no polling */
	    strstr(msgs[0].data, "Subject: Welcome") != NULL;	/* raw bytes as received */
	printf("%s: %zu message(s), subject \"%s\"\n", ok ? "ok" : "FAILED", n,
	    n > 0 ? msgs[0].subject : "");
	smtpsink_messages_free(msgs, n);
	smtpsink_clear(sink, &f);
	smtpsink_stop(sink); /* graceful; joins the thread */
	return ok ? 0 : 1;
}
