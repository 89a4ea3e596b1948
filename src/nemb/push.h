/*
 * push.h - the Pushgateway text of a report (push.c). Not installed.
 */
#ifndef NEMB_PUSH_H
#define NEMB_PUSH_H

/* Turns a JSON report into the Prometheus text format (0.0.4) that nemb_report_push() sends:
 * codegreen_run_energy_joules, codegreen_run_session_energy_joules,
 * codegreen_run_duration_seconds, codegreen_run_domain_energy_joules{domain,kind,top_level} and
 * codegreen_measurement_info{energy_source,measurement_quality}, all gauges.
 * @param out receives the text, the caller's (free()).
 * @return 0, NEMB_EINVAL for text that is not a report, NEMB_ENOMEM. Any thread. */
int nemb__push_text(const char *report_json, char **out);

#endif /* NEMB_PUSH_H */
