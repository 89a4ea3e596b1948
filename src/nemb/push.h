/*
 * push.h - the Pushgateway text of a report (push.c). Not installed.
 */
#ifndef NEMB_PUSH_H
#define NEMB_PUSH_H

#include <stddef.h>

/* Turns a JSON report into the Prometheus text format (0.0.4) that nemb_report_push() sends:
 * codegreen_run_energy_joules, codegreen_run_session_energy_joules,
 * codegreen_run_duration_seconds, codegreen_run_domain_energy_joules{domain,kind,top_level} and
 * codegreen_measurement_info{energy_source,measurement_quality}, all gauges.
 * @param out receives the text, the caller's (free()).
 * @return 0, NEMB_EINVAL for text that is not a report, NEMB_ENOMEM. Any thread. */
int nemb__push_text(const char *report_json, char **out);

/* The one rule for a Pushgateway URL (push_url.c, also compiled into the CLI so that `run --push`
 * refuses a bad one before the command runs): http:// or https://, then libcurl's URL parser
 * (loaded at the first call), a host, a port from 1 to 65535, no query or fragment.
 * @return 0, or NEMB_EINVAL (NEMB_ENOTSUP: no libcurl) with the reason in @p why (snprintf
 * semantics). Any thread. */
int nemb__push_url_check(const char *url, char *why, size_t len);

/* @p url as every message shows it: a password in the authority ("http://user:secret@host")
 * becomes "***" ("http://user:***@host"), so that a push's error never prints a credential.
 * The one rule (Python's session.py mirrors it). Writes into @p out (@p len bytes, snprintf
 * semantics) and returns @p out. */
const char *nemb__push_url_redact(const char *url, char *out, size_t len);

#endif /* NEMB_PUSH_H */
