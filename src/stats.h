/*
 * stats - counters, written only by the loop thread.
 */
#ifndef SMTPSINK_STATS_H
#define SMTPSINK_STATS_H
#include <stdint.h>

struct stats {
	uint64_t sessions_total;
	uint64_t sessions_active;
	uint64_t messages_received; /* stored, 250 sent */
	uint64_t messages_rejected; /* refused at end of data */
	uint64_t rcpts_rejected;
	uint64_t bytes_received; /* message bytes stored */
	uint64_t limit_breaches; /* line/size/rcpt/error limits hit */
	uint64_t relay_relayed;	 /* messages the upstream accepted */
	uint64_t relay_failed;	 /* messages given up on */
	uint64_t relay_attempts; /* upstream transactions tried */
};

#endif
