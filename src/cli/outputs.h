/*
 * outputs.h - where `run`, `measure` and `diff` write their reports, and the table forms (CSV,
 * Markdown) they share.
 *
 * The convention, as perf stat's: standard output belongs to the measured command. codegreen's
 * summary goes to standard error; --json prints the JSON report to standard error in its place;
 * `-o FILE` writes a file, and `-o -` writes the JSON report to standard output (mixed with the
 * command's output, so use it when the command writes elsewhere). -o may be given several times;
 * the kind follows the extension:
 *   .json             the JSON envelope
 *   .csv              one row per run (run) or per function (measure), with provenance columns;
 *                     with --append, rows are added to an existing file with the same header,
 *                     under an exclusive flock(2), so concurrent appenders lose no row
 *   .md               a Markdown table with a relative column (hyperfine's form)
 *   .folded           (measure) collapsed stacks weighted by microjoules, for flamegraph tools
 *   .speedscope.json  (measure) an energy profile for https://www.speedscope.app
 * An existing device or FIFO (/dev/null, /dev/stderr) takes the JSON report. Any other extension
 * is refused before anything runs, naming these.
 *
 * Every file goes through the one atomic writer (src/nemb/atomic_file.h): whole or not at all,
 * devices and FIFOs written in place, the old file kept when a write fails. The one exception is
 * --append to a plain .csv: the rows are appended in place (O_APPEND, under the lock), and a
 * failed write is cut back to the old length.
 */
#ifndef CG_OUTPUTS_H
#define CG_OUTPUTS_H

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>

#include "nemb.h"

typedef enum cg_out_kind {
  CG_OUT_JSON = 1,
  CG_OUT_CSV = 2,
  CG_OUT_MD = 4,
  CG_OUT_FOLDED = 8,
  CG_OUT_SPEEDSCOPE = 16,
} cg_out_kind;

#define CG_MAX_OUTPUTS 16

typedef struct cg_outputs {
  struct {
    const char *path; /* "-" is standard output */
    cg_out_kind kind;
  } item[CG_MAX_OUTPUTS];
  size_t n;
  bool append; /* --append: CSV rows go after an existing file's rows */
} cg_outputs;

/* True when paths @p a and @p b name one file: the same text, the same existing file (device and
 * inode: "a.json" and "./a.json", or a link to it), or the same name in the same directory once
 * the directories are resolved (realpath) for a file not written yet. "-" is only itself. */
bool cg_same_path(const char *a, const char *b);

/* Adds one -o PATH, refusing a kind outside @p allowed (a mask of cg_out_kind) with a message
 * naming the extensions @p verb knows. @return 0 or CG_EXIT_USAGE. */
int cg_outputs_add(cg_outputs *o, const char *verb, const char *path, unsigned allowed);

/* The one rule for --append: it adds rows to the .csv outputs, so it needs one, and any other
 * -o that names a file (a .json, .md, ...) would be replaced, so it is refused ("-" and an
 * existing device or FIFO are written in place and allowed). Called once the options are all
 * read, before anything runs. @return 0, or CG_EXIT_USAGE with the reason printed. */
int cg_outputs_check_append(const cg_outputs *o, const char *verb);

/* A table: column names, and rows as JSON arrays of strings, numbers, booleans or null. */
typedef struct cg_table {
  const char *const *columns;
  size_t n_columns;
  json_t *rows; /* array of arrays */
} cg_table;

/* Writes @p t as CSV to @p path (RFC 4180 quoting). With @p append and an existing non-empty
 * file, its header must be the same, else nothing is written and an error says how they differ.
 * @return 0, or -1 with the reason printed to stderr. */
int cg_write_csv(const char *verb, const cg_table *t, const char *path, bool append);

/* Checks, before anything runs, that --append can add rows with @p t's columns to @p path (no
 * file, an empty one or the same header). @return 0, or -1 with the difference printed. */
int cg_check_append(const char *verb, const cg_table *t, const char *path);

/* Writes @p t as a Markdown table (strings in code spans when @p code_first for column 0). */
int cg_write_markdown(const char *verb, const cg_table *t, const char *title, const char *path);

/* Writes @p report as indented JSON (key order kept, doubles to 17 digits) and a newline to
 * @p path ("-": standard output) or to @p fp when path is NULL. @return 0 or -1 (printed). */
int cg_write_json(const char *verb, const json_t *report, const char *path, FILE *fp);

/* At start, before anything is opened: each of fds 0, 1, 2 that is closed gets /dev/null, so
 * that no file codegreen opens later (a report, the meter's temp file) lands on a standard
 * stream's number and receives what was meant for it. Opened the other way round (0 write-only,
 * 1 and 2 read-only): using one still fails with EBADF, as the closed stream did. */
void cg_std_reserve(void);

/* In a forked child before exec: closes the fds cg_std_reserve() filled, so that the command
 * gets the standard streams codegreen was given. */
void cg_std_unreserve(void);

/* Writes @p len bytes of @p text to @p path ("-": standard output) through the atomic writer.
 * @return 0, or -1 with "codegreen VERB: cannot write PATH: REASON" printed. */
int cg_write_file(const char *verb, const char *path, const char *text, size_t len);

/* Writes @p len bytes of @p text to @p path. @return 0 or an errno (nothing printed). */
int cg_write_text(const char *path, const char *text, size_t len);

/* Checks that each path in @p paths (@p n of them; NULL and "-" are skipped) can be written,
 * before anything is measured; on the first that cannot, prints "codegreen VERB: cannot write
 * PATH: REASON; nothing was run" ("nothing was written" for a verb other than run and measure)
 * and returns its errno, else 0. */
int cg_check_outputs(const char *verb, const char *const *paths, size_t n);

/* After the work, when an output could not be written (its own error already said): prints
 * "codegreen VERB: WHAT was not written; ..." with the exit status it leads to, and returns it:
 * @p status when that is not 0 (the status the work ends with, decided before: @p whose names
 * what set it, "command", "program", "regression gate", "failed push"), else CG_EXIT_OUTPUT. The
 * one rule for a lost output of run and measure (cli.h). */
int cg_output_lost(const char *verb, const char *what, const char *whose, int status);

/* The command line as one string, each word quoted for the shell when it needs to be. The caller
 * frees it. */
char *cg_command_string(char *const *argv);

/* Text for JSON from arbitrary bytes (a command line, an argument, a path, an environment
 * value: Linux gives bytes, JSON wants UTF-8, and jansson's json_string() returns NULL for
 * anything else). The rule: valid UTF-8 is kept as it is; each byte that does not start a valid
 * UTF-8 sequence (a Latin-1 file name's 0xff, a cut or overlong sequence, a surrogate) becomes
 * U+FFFD, the replacement character, one per byte (as Python's errors="replace").
 * cg_utf8_text() returns a malloc'd string the caller frees (NULL only when out of memory);
 * cg_json_text() returns a new JSON string (json null for a NULL @p bytes; NULL only when out of
 * memory). Every CSV or Markdown cell made from the JSON is then whole. */
char *cg_utf8_text(const char *bytes);

/* @p text laid out in @p width terminal columns for a text table, into @p out (@p len bytes):
 * padded with spaces, or with @p cut cut at a character boundary, counting one column per UTF-8
 * character (printf's "%-32s" counts bytes, so "ƒ_ü" shifted every later column). Wide East
 * Asian characters, two columns each, are not told apart. Returns @p out. */
const char *cg_columns(char *out, size_t len, const char *text, int width, bool cut);
json_t *cg_json_text(const char *bytes);

/* "ESTIMATED from CPU time, not measured" etc.: how a report's meta.energy_source reads (the
 * library's nemb_energy_source_words(); the CLI's one helper for these words). */
const char *cg_source_words(const char *energy_source);

/* Why a figure has an uncertainty: bits from a report's "<prefix>_cause" array. */
#define CG_UNC_SHORT 1u /* "short_span": shorter than a few updates of an energy counter */
#define CG_UNC_GAP 2u   /* "sampler_gap": an end where the sampler missed counter updates */
#define CG_UNC_STEP 4u  /* "power_step": an end where a slow counter's power changed */
#define CG_UNC_EXTRA 8u /* "extrapolated": an end past the stored samples (checkpoints) */
#define CG_UNC_JOIN 16u /* "samplers_joined": over a span between two samplers' samples */
/* A table marks a figure whose uncertainty is more than this fraction of it. */
#define CG_UNC_LARGE 0.1

/* The CG_UNC_* bits of the cause array @p cause (a report's energy_uncertainty_cause or
 * session_energy_uncertainty_cause); 0 for anything else. */
unsigned cg_uncertainty_cause(const json_t *cause);

/* The counters' uncertainty of a figure (a report's energy_uncertainty_j), one line for the
 * human tables of `run` and `measure`: "<label>± 0.0123 J: <what> is shorter than a few updates
 * of an energy counter, ..." or, for CG_UNC_GAP, that the sampler missed updates at its start or
 * end. @p what names the span ("the run"), @p plural when it is several ("the runs"). Prints
 * nothing for @p unc_j <= 0 (the counters fix the figure). */
void cg_print_uncertainty(FILE *fp, const char *label, double unc_j, unsigned why, const char *what,
                          bool plural);

/* cg_print_uncertainty() naming, for CG_UNC_STEP, the slow counters of @p report (the domains in
 * the total whose counter updates every 10 ms or more, meta.sampler.update_period_us: "gpu0
 * every ~100 ms", "cpu-estimate every ~50 ms"), rather than "a slow counter" alone. @p report
 * may be NULL (the plain words). */
void cg_print_uncertainty_of(FILE *fp, const char *label, double unc_j, unsigned why,
                             const char *what, bool plural, const json_t *report);

/* The warnings of a measurement, for the summaries of `run` and `measure` and their reports'
 * top-level "warnings" alike (one place: what the summary prints, the report carries):
 * measurement_quality when it is neither "ok" nor @p also_fine (may be NULL), then the meter's own
 * (meta.sampler.warnings: a domain lost or never changing, counter resets, coarsening, worded by
 * the library). @return a new array of sentences (without "warning: "). */
json_t *cg_measurement_warnings(const json_t *report, const char *also_fine);

/* Appends each sentence of @p list to the report's top-level "warnings" as "warning: ...". */
void cg_report_warnings_add(json_t *report, const json_t *list);

/* The size of a buffer for cg_concurrent_warning(). */
#define CG_CONCURRENT_LEN 256
/* RAPL is machine-wide: when other codegreen processes of this user are measuring on this host
 * (the process registry, nemb_procs_list_others()), the one sentence `run` and `measure` warn
 * with, "N other codegreen process is measuring on this host WHEN (pid P); the energy counters
 * are machine-wide, ...", into @p buf (CG_CONCURRENT_LEN bytes). @p when: "already" (at the
 * start) or "now" (at the end). @return whether there are (false too when the registry cannot be
 * read; @p buf is then ""). */
bool cg_concurrent_warning(const char *when, char *buf, size_t len);

/* The columns every CSV row of `run` and `measure` starts with: who measured, where, and how
 * far the figures are to be trusted, from the report's meta. cg_row_add_meta() appends their
 * values (null where the report lacks one) to @p row, in this order. */
#define CG_META_COLUMNS NEMB_CSV_META_COLUMNS /* nemb.h: the one list */
void cg_row_add_meta(json_t *row, json_t *report);

/* Whether domain @p name's counter never changed in the session of the report whose meta is
 * @p meta (meta.sampler.never_changed: the library's rule behind its "never changed" warning):
 * its 0 J is no measurement of zero, and is shown as "never changed", not as joules. */
bool cg_never_changed(const json_t *meta, const char *name);

/* Whether every in-total domain of @p meta's domain_topology never changed (and there is one):
 * then the total's 0 J is no measurement either. The one rule for "this run's energy is
 * unknown": run's summary, Markdown, CSV and JSON figures and sample's all follow it. */
bool cg_total_never_changed(const json_t *meta);

#endif /* CG_OUTPUTS_H */
