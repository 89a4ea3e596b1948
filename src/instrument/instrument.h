/*
 * instrument.h - the codegreen auto-instrumenter: turns a source file into the same program with
 * enter/exit checkpoints around every function (and, at fine granularity, every loop and the
 * module body), so that `codegreen measure` can attribute energy to functions.
 *
 * The engine is written once, over tree-sitter; what differs between languages lives in a folder
 * per language under src/instrument/<language>/ and is compiled into the executable:
 *   language.conf   names, file extensions, the grammar, the block style and the text templates
 *                   of the code the engine writes (see src/instrument/README.md);
 *   instrument.scm  tree-sitter queries whose capture names tell the engine what is a function,
 *                   a class, a loop, a suspension point (yield/await), a string, a docstring...
 *   runner.*        optional: a helper the `measure` verb runs to compile or start the program.
 *
 * Lifecycle:
 *   1. Find a language with cgi_language_find() or cgi_language_for_path().
 *   2. Call cgi_instrument() on the source text; it returns a result owned by the caller.
 *   3. Read the instrumented text, the instrumentation points and the line map from the result,
 *      or the error (file:line:column: message) when the source cannot be instrumented.
 *   4. Free the result with cgi_result_destroy().
 *
 * The engine never writes code it has not produced from a complete parse: a source with a syntax
 * error, with bytes that are not UTF-8 or with a NUL byte is refused with an error naming the line
 * and column.
 *
 * Errors: every fallible function returns one of the CGI_* codes below; the sentence that goes
 * with it lives in the caller's result (cgi_result_error()) or buffer (@p why), never in hidden
 * state. Threads: the language table is built and loaded once (pthread_once) and read-only after,
 * so languages may be looked up and cgi_instrument() called from any threads at once; one result
 * belongs to one thread at a time.
 */
#ifndef CGI_INSTRUMENT_H
#define CGI_INSTRUMENT_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* What the fallible cgi_* functions return. */
enum {
  CGI_OK = 0,
  CGI_ESOURCE = -1,   /* the source cannot be instrumented: cgi_result_error() says why and where */
  CGI_ENOMEM = -2,    /* memory ran out */
  CGI_ENOLANG = -3,   /* no language has that name */
  CGI_ELANGUAGE = -4, /* the language's folder does not load (language.conf, instrument.scm) */
};

/* A language the engine knows (one folder under src/instrument/). Owned by the engine. */
typedef struct cgi_language cgi_language;

/** Looks up the language called @p name ("python", an alias such as "py", or its folder).
 *  @param out receives it (loaded, owned by the engine), or NULL on failure.
 *  @param why NULL, or a buffer of @p why_len bytes that receives the reason of a failure
 *         ("no language called 'x' (known: c, cpp, java, python)", or the line of the
 *         language's folder that does not load).
 *  @return CGI_OK, CGI_ENOLANG, CGI_ELANGUAGE or CGI_ENOMEM. */
int cgi_language_lookup(const char *name, const cgi_language **out, char *why, size_t why_len);

/** @return the language called @p name, or NULL on any failure of cgi_language_lookup(). */
const cgi_language *cgi_language_find(const char *name);

/** Checks that every language compiled in loads. @return CGI_OK, or CGI_ELANGUAGE / CGI_ENOMEM
 *  for the first that does not, with @p why (as for cgi_language_lookup()) saying why. */
int cgi_language_check(char *why, size_t why_len);

/** @return the language whose file extensions include @p path's, or NULL. */
const cgi_language *cgi_language_for_path(const char *path);

/** @return the language's name, e.g. "python". */
const char *cgi_language_name(const cgi_language *lang);

/** @return a configuration value of the language (language.conf), or NULL if not set. */
const char *cgi_language_get(const cgi_language *lang, const char *key);

/** @return the text of the language's runner file (e.g. the Python compile step), or NULL. */
const char *cgi_language_runner(const cgi_language *lang);

/** @return the text of the language's support module (helpers some instrumented files import),
 *  or NULL; @p module receives its module name (e.g. "codegreen_instrument") when not NULL. */
const char *cgi_language_support(const cgi_language *lang, const char **module);

/** @return 1 if @p path ends with one of the language's source extensions. */
int cgi_language_matches(const cgi_language *lang, const char *path);

/** @return the names of all languages (their folders), comma separated; owned by the engine. */
const char *cgi_language_list(void);

typedef enum cgi_granularity {
  CGI_COARSE = 0, /* every function and method */
  CGI_FINE = 1    /* also every loop and the module body */
} cgi_granularity;

typedef struct cgi_options {
  cgi_granularity granularity;
  /* The file name written into the report for every function (the user's path); also used in
   * error messages. */
  const char *context;
  /* 1: build the line map (instrumented line/column -> original line/column). */
  int line_map;
  /* Decorator names, blank-separated, whose functions are left as they are, in addition to the
   * language's `leave_decorated` (JIT compilers: numba.njit, torch.jit.script, ...). A name
   * matches a decorator that is the name or ends with "." and the name. NULL: none. */
  const char *leave_decorated;
  /* How instrumented C and C++ files include the runtime: "<codegreen_runtime.h>" (NULL, the
   * language's runtime_header) or a quoted absolute path for builds codegreen does not drive. */
  const char *runtime_header;
} cgi_options;

/* Flags of an instrumentation point. */
#define CGI_ASYNC 1u     /* an async function (a coroutine or an async generator) */
#define CGI_GENERATOR 2u /* contains yield: each resumption is measured */
#define CGI_SKIPPED 4u   /* a function left as it is: `skipped` says why; index is -1 */

typedef struct cgi_point {
  const char *name; /* as in the report: "area", "Shape.area", "main.<locals>.helper", "main:for" */
  const char *kind; /* "function", "method", "staticmethod", "classmethod", "property",
                       "nested function", "loop", "module", or a kind the queries name */
  int line, column; /* 1-based position of the definition (the `def`, not its decorators) */
  int end_line;
  unsigned flags;        /* CGI_ASYNC | CGI_GENERATOR | CGI_SKIPPED */
  int index;             /* position in the file's checkpoint table */
  int suspensions;       /* yield/await points measured (each splits the activation) */
  const char *decorator; /* cgi_result_left() points: the decorator that leaves it as it is */
  const char *skipped;   /* cgi_result_left() points with CGI_SKIPPED: why the language leaves it
                            ("not instrumented: constexpr function ...") */
} cgi_point;

typedef struct cgi_result cgi_result;

/** Instruments one source text.
 *  @param lang the language.
 *  @param src the source bytes (need not be NUL-terminated).
 *  @param len their number.
 *  @param opts options; NULL for coarse granularity, context "<source>", no line map.
 *  @param out receives the result, owned by the caller (cgi_result_destroy()), also on failure;
 *         NULL only when memory ran out before the result itself could be allocated.
 *  @return CGI_OK; CGI_ESOURCE when the source cannot be instrumented (cgi_result_error() says
 *          why and where); CGI_ENOMEM when memory runs out (nothing leaks, the result holds no
 *          text). */
int cgi_instrument(const cgi_language *lang, const char *src, size_t len, const cgi_options *opts,
                   cgi_result **out);

/** @return "CONTEXT:LINE:COLUMN: message" after CGI_ESOURCE, "CONTEXT: out of memory" (or just
 *  "out of memory", also for a NULL result) after CGI_ENOMEM; NULL after CGI_OK. */
const char *cgi_result_error(const cgi_result *r);

/** @return what cgi_instrument() returned for @p r (CGI_ENOMEM for NULL). */
int cgi_result_status(const cgi_result *r);

/** @return the 1-based line and column of the error, or 0. */
int cgi_result_error_line(const cgi_result *r);
int cgi_result_error_column(const cgi_result *r);

/** @return the instrumented text (NUL-terminated; @p len receives its length if not NULL).
 *  When the source has no instrumentation point the text is the source, unchanged. */
const char *cgi_result_text(const cgi_result *r, size_t *len);

/** @return the number of instrumentation points, in source order. */
size_t cgi_result_point_count(const cgi_result *r);

/** @return point @p i (0 <= i < cgi_result_point_count()); owned by the result. */
const cgi_point *cgi_result_point(const cgi_result *r, size_t i);

/** Functions left uninstrumented on purpose: those decorated by a JIT compiler, which compiles
 *  the function's own source or bytecode and would fail on (or slow down for) the checkpoints.
 *  Everything inside them is left as it is too. In source order; `decorator` says which one.
 *  @return their number, and point @p i (owned by the result, `index` -1). */
size_t cgi_result_left_count(const cgi_result *r);
const cgi_point *cgi_result_left(const cgi_result *r, size_t i);

/** @return the line map as JSON (NULL unless opts->line_map was set):
 *  {"version":1,"lines":[[[out_col, orig_line, orig_col, inserted], ...], ...]}
 *  with one list of segments per instrumented line (index 0 is line 1). A position (l, c) of the
 *  instrumented text maps through the last segment of line l whose out_col <= c: to
 *  (orig_line, orig_col + c - out_col), or to (orig_line, orig_col) when the segment is inserted
 *  text. Lines and columns are 1-based and 0-based byte offsets, like Python's ast. */
const char *cgi_result_line_map(const cgi_result *r);

/** @return 1 if the instrumented text imports the language's support module
 *  (cgi_language_support()), which must then be importable when it runs. */
int cgi_result_uses_support(const cgi_result *r);

/** Frees a result. Accepts NULL. */
void cgi_result_destroy(cgi_result *r);

/* ----- small helpers shared by the `analyze` and `measure` verbs (util.c) ----- */

/** Parses "coarse" or "fine". @return 0 or -1. */
int cgi_parse_granularity(const char *text, cgi_granularity *out);

/** Describes a point for people: "method", "async generator function", "loop", ...
 *  written into @p buf with snprintf semantics. */
void cgi_point_kind(const cgi_point *p, char *buf, size_t len);

/* The most cgi_read_file() reads from one source; past it, EFBIG. */
#define CGI_MAX_SOURCE_BYTES ((size_t)64 << 20)
/* errno of cgi_read_file() for a path that is not a regular file (device, FIFO, socket). */
#define CGI_ENOTREG ENODEV

/** Reads a whole regular file of at most CGI_MAX_SOURCE_BYTES into a new NUL-terminated buffer
 *  (*out, freed by the caller). @return 0, or -1 with errno set: EISDIR for a directory,
 *  CGI_ENOTREG for another non-regular file, EFBIG past the cap. */
int cgi_read_file(const char *path, char **out, size_t *len);

/** The reason a cgi_read_file() failure with errno @p e gives people (the cap and non-regular
 *  files in words, else strerror). */
const char *cgi_read_error(int e);

/** Writes @p len bytes to @p path (created or truncated, mode 0644 before umask).
 *  @return 0, or -1 with errno set. */
int cgi_write_file(const char *path, const char *data, size_t len);

/** Creates the directories above @p path (like mkdir -p of its dirname). @return 0 or -1. */
int cgi_mkdirs_for(const char *path);

#ifdef __cplusplus
}
#endif

#endif /* CGI_INSTRUMENT_H */
