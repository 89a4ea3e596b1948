/*
 * cli.h - what the codegreen executable's files share: one entry point per verb, and the
 * helpers every verb uses to report errors the same way.
 */
#ifndef CG_CLI_H
#define CG_CLI_H

#include <stdbool.h>
#include <stdio.h>

/* Exit codes of codegreen's own verbs. For run and measure a command that failed or was killed
 * gives its own status (128 + signal), before any of codegreen's: its status is the answer a
 * script waits for, and every other outcome is said on stderr. Then, in this order: 2 (a gate
 * that cannot decide), 1 (--fail-if-regressed fired, a failed push), 3 (an output lost). */
#define CG_EXIT_OK 0
#define CG_EXIT_FAIL 1 /* the verb failed (no provider, unreadable config), the gate fired */
#define CG_EXIT_USAGE                                                                              \
  2 /* the command line is wrong, also an -o that cannot be written (known                         \
     * before anything runs) */
#define CG_EXIT_OUTPUT                                                                             \
  3 /* the work was done but an output (a report, an -o file, standard                             \
     * output) could not be written: never the gate's 1 */

/* Each verb: argv[0] is the verb's name; returns an exit code. */
int cg_cmd_info(int argc, char **argv);
int cg_cmd_sample(int argc, char **argv);
int cg_cmd_run(int argc, char **argv);
int cg_cmd_measure(int argc, char **argv);
int cg_cmd_analyze(int argc, char **argv);
int cg_cmd_plot(int argc, char **argv);
int cg_cmd_diff(int argc, char **argv);
int cg_cmd_setup_permissions(int argc, char **argv);
int cg_cmd_merge(int argc, char **argv);    /* cmd_merge.c */
int cg_cmd_exporter(int argc, char **argv); /* cmd_exporter.c */

/* Prints "codegreen: <message>" and the library's detail for @p rc to stderr; returns
 * CG_EXIT_FAIL. */
int cg_fail(int rc, const char *what);

/* After getopt_long: the one operand a verb takes (@p what: "report", "directory"). With none or
 * more than one, prints "codegreen VERB: no WHAT given" or "... one WHAT at a time" and @p usage
 * on stderr, and returns NULL (the caller exits with CG_EXIT_USAGE). */
const char *cg_one_operand(int argc, char **argv, const char *verb, const char *what,
                           void (*usage)(FILE *));
/* After getopt_long, for a verb that takes no operand: with one, prints "codegreen VERB:
 * unexpected argument 'X'" and @p usage on stderr. @return whether there was none. */
bool cg_no_operand(int argc, char **argv, const char *verb, void (*usage)(FILE *));

/* --carbon-intensity G (carbon.c): checks G and hands it to the library through
 * CODEGREEN_CARBON_INTENSITY, keeping the value the variable had before (if any).
 * @return 0 or an exit code, after saying what is wrong. */
int cg_carbon_option(const char *verb, const char *arg);
/* Puts CODEGREEN_CARBON_INTENSITY back as it was before --carbon-intensity (unset, or the
 * user's own value), once the session that reads it has begun: the flag is codegreen's, not
 * the measured command's environment. Nothing without the flag. */
void cg_carbon_env_restore(void);
/* The value of the last --carbon-intensity given (owned by carbon.c, valid to the process's
 * end), or NULL without the flag. */
const char *cg_carbon_flag_value(void);
/* With --carbon-intensity, the report's meta.carbon.from says "--carbon-intensity" (the library
 * can only name the variable the flag went through). Nothing without the flag. */
struct json_t;
void cg_carbon_label(struct json_t *report);
/* Prints the report's totals.<key> (co2e_g, session_co2e_g) with its intensity and source, when
 * the report has them; @p what says what the figure covers. */
void cg_carbon_print(FILE *fp, const struct json_t *report, const char *key, const char *what);

/* --interval-ms MS, for every verb that takes it: a whole number of milliseconds in the
 * library's range, NEMB_INTERVAL_MS_MIN to NEMB_INTERVAL_MS_MAX (nemb.h). @return true and
 * *out, or false (the caller says CG_INTERVAL_MS_RULE). */
#define CG_STR_(x) #x
#define CG_STR(x) CG_STR_(x)
#define CG_INTERVAL_MS_RULE                                                                        \
  "--interval-ms wants whole ms from " CG_STR(NEMB_INTERVAL_MS_MIN) " to " CG_STR(                 \
      NEMB_INTERVAL_MS_MAX)
bool cg_parse_interval_ms(const char *text, long *out);

/* A provider list the user named (CODEGREEN_PROVIDERS, else providers.list in @p cfg) is a
 * requirement for the CLI's verbs, as a bad config.json value is: when @p have_meter is false
 * (the library went on without energy, as a Session does so as not to break its program) and
 * a list was named, prints "codegreen VERB: cannot measure with the providers named by ORIGIN:
 * WHY; nothing was run" (WHY: the library's message, got by opening the list again; for info,
 * which has shown what it could, without "nothing was run") and
 * returns CG_EXIT_FAIL; else 0 (automatic choice: a run without energy is said otherwise; a
 * list that opens now: the session follows its node's leader in a job).
 * @p cfg NULL: the configuration by the search order. named_providers.c. */
struct nemb_config;
int cg_named_providers_check(const char *verb, const struct nemb_config *cfg, bool have_meter);

/* Flushes stdout and reports a write error (a closed pipe, a full disk) as a failure. */
int cg_finish_stdout(int code);

#endif /* CG_CLI_H */
