/*
 * stages.h - what the stages of the instrumenter share. Not installed; the CLI uses instrument.h.
 *
 * cgi_instrument() (engine.c) runs one source text through these stages, each in its own file:
 *
 * 1. source.c: the bytes. A declared encoding (PEP 263) is converted to UTF-8 and back at the
 *    end; the bytes are checked (UTF-8, no NUL, no lone CR line ends) and parsed with
 *    tree-sitter; any ERROR or MISSING node refuses the file with its line and column. Also the
 *    line table and the questions asked about lines (where a logical line starts and ends).
 * 2. collect.c: run the language's query. Captures become ITEMS (functions, classes, opaque
 *    expressions such as lambdas, loops, suspension points); a sweep over their byte ranges gives
 *    each item its innermost container, hence qualified names, the function owning each
 *    yield/await and the loops between them.
 * 3. plan.c and a planner chosen by the language's block_style: each instrumented REGION (a
 *    function body; at fine granularity also each loop and the module body) becomes a GUARD, and
 *    every guard becomes EDITS: insertions (or deletions of blanks) at byte offsets of the
 *    original. plan.c holds what planners share (templates, regions, edits, suspension points);
 *    plan_indent.c is the planner of indentation blocks (Python: "enter" then "try:" before the
 *    statements, "finally:" and "exit" after them, the statements re-indented one level).
 * 4. emit.c: apply the edits in order, recording for every emitted byte the original position it
 *    comes from (the line map), so compiled code can keep the user's lines and columns.
 */
#ifndef CGI_STAGES_H
#define CGI_STAGES_H

#include <iconv.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <tree_sitter/api.h>

#include "buf.h"
#include "instrument.h"
#include "language.h"

/* ----- the result handed to the caller (instrument.h) ----- */

struct cgi_result {
  int status;  /* what cgi_instrument() returned */
  char *error; /* NULL after CGI_OK, or with CGI_ENOMEM when even this could not be allocated */
  int err_line, err_col;
  char *text;
  size_t text_len;
  cgi_point *points;
  size_t n_points;
  cgi_point *left; /* functions left uninstrumented on purpose (decorator: owned) */
  size_t n_left;
  char *line_map;
  bool uses_support;
};

/* ----- working state of one cgi_instrument() call ----- */

typedef enum { IT_FUNCTION, IT_CLASS, IT_OPAQUE, IT_LOOP, IT_SUSPEND, IT_SKIP } item_type;

typedef struct item {
  item_type type;
  TSNode node;
  uint32_t start, end;
  int parent; /* innermost containing item, or -1 */
  TSNode name, body;
  bool has_name, has_body;
  const char *arg;  /* suspension kind or loop label (owned by the language) */
  const char *kind; /* @kind.X of a function */
  char *leave;      /* a function left as it is: the decorator that says so (owned) */
  bool async, generator;
  int n_susp;
  char *qualname;   /* functions, classes, loops */
  const char *skip; /* functions: why not instrumented (@skip.X), or NULL */
  int region;       /* index of the region, or -1 */
} item;

typedef struct region {
  int item;   /* -1 for the module body */
  int index;  /* in the id table */
  char *name; /* borrowed from the item, or owned for the module */
  const char *kind;
  int line, column, end_line;
} region;

typedef struct guard {
  uint32_t first_start, last_end; /* the wrapped statements (first_start only for empty guards) */
  uint32_t empty_pos;             /* empty guards: where enter/exit go */
  int owner_depth;                /* tree depth of what the guard belongs to */
  int a;                          /* guards around this one */
  bool split, inline_block, empty;
  char *B;          /* the block's indentation in the original (inline: header + U) */
  char *pre, *post; /* statement-form texts before "try:" and in "finally:" */
} guard;

typedef struct edit {
  uint32_t pos;
  uint32_t del_end; /* > pos: deletes [pos, del_end) */
  uint32_t anchor;  /* the original position inserted text stands for */
  int cls;          /* -1 deletion, 0 closing, 1 line opening, 2 indentation, 3 inline opening */
  int key;
  uint32_t seq;
  bool line_start; /* the text must start a line */
  char *text;
} edit;

typedef struct ctx {
  const struct cgi_language *lang;
  const char *src;
  uint32_t len;
  const char *context;
  const char *leave_decorated; /* cgi_options.leave_decorated */
  const char *runtime_header;  /* cgi_options.runtime_header, or the language's */
  cgi_granularity gran;
  cgi_result *res;
  TSTree *tree;
  TSNode root;

  uint32_t *line_starts; /* line_starts[r] = offset of row r; n_lines entries */
  uint32_t n_lines;
  bool *verbatim; /* per row: the row starts inside a verbatim node */
  const char *nl; /* "\n" or "\r\n" */
  char U[16];     /* one indentation unit */

  item *items;
  size_t n_items, cap_items;
  /* node sets by id */
  const void **docstrings, **not_docstrings, **prologue;
  size_t n_doc, n_notdoc, n_pro, cap_doc, cap_notdoc, cap_pro;
  struct {
    uint32_t start, end;
  } * verb;
  size_t n_verb, cap_verb;
  struct {
    const void *id;
    int async;
    const char *kind;
    uint32_t dec_start, dec_end; /* a decorator's name (dec_end > dec_start) */
  } * marks;
  size_t n_marks, cap_marks;

  region *regions;
  size_t n_regions;
  int *skipped; /* functions not instrumented (item indices), in source order */
  size_t n_skipped, cap_skipped;
  guard *guards;
  size_t n_guards, cap_guards;
  edit *edits;
  size_t n_edits, cap_edits;

  bool module_unguarded; /* fine granularity: the module body's guard would be too deep */
  char rt[64], table[96], tag[16], support[96];
  bool uses_support;
  bool oom;

  /* a file in a declared encoding other than UTF-8 (source.c) */
  char *converted; /* its text in UTF-8, which src points to */
  iconv_t back_cd; /* UTF-8 to the declared encoding, or (iconv_t)-1 */
} ctx;

/* Grows @p *p (of @p *cap elements of @p size bytes) to hold more than @p n. @return false when
 * memory runs out. */
bool cgi__grow(void **p, size_t *cap, size_t n, size_t size);
#define PUSH(c, arr, n, cap)                                                                       \
  (cgi__grow((void **)&(arr), &(cap), (n), sizeof *(arr)) || ((c)->oom = true, false))

static inline bool cgi__is_blank(char ch) {
  return ch == ' ' || ch == '\t' || ch == '\f';
}

/* ----- arena.c: tree-sitter's memory during one call ----- */

/* From here to cgi__arena_end(), tree-sitter allocates from the calling thread's arena, all
 * released by cgi__arena_end(): every tree-sitter object made in between must be deleted before
 * it. Calls nest (only the outermost end releases). */
void cgi__arena_begin(void);
void cgi__arena_end(void);
/* Has all that tree-sitter allocated since cgi__arena_begin() come from the arena (none of it
 * from libc, past the arena's limit)? Then cgi__arena_end() frees it all: a tree need not be
 * deleted. */
bool cgi__arena_holds_all(void);

/* ----- 1. source.c: bytes, encodings, the parse, lines ----- */

/* Sets the result's error to "CONTEXT:LINE:COLUMN: message" for the byte at @p offset.
 * @return -1. */
int cgi__fail_at(ctx *c, uint32_t offset, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* A file that declares an encoding other than UTF-8 (encoding_declaration): points c->src at its
 * UTF-8 text, to be written back by cgi__source_encode(). @return 0 or -1 (error set, or oom). */
int cgi__source_decode(ctx *c);
/* Converts the result's text back to the declared encoding, if any. @return 0 or -1. */
int cgi__source_encode(ctx *c);
/* Checks UTF-8, NUL bytes and line ends. @return 0 or -1 (error set). */
int cgi__check_bytes(ctx *c);
/* The line table (line_starts, n_lines, nl). @return 0 or -1 (memory). */
int cgi__build_lines(ctx *c);
/* Parses c->src into c->tree and c->root. @return 0, -1 with the first syntax error set, or -2
 * when memory runs out. */
int cgi__parse(ctx *c);
uint32_t cgi__row_of(const ctx *c, uint32_t off);
uint32_t cgi__line_start(const ctx *c, uint32_t off);
/* Is @p pos the first token of a logical line: only blanks before it on its physical line, and
 * that line not the continuation of a backslash-ended one? */
bool cgi__at_logical_line_start(const ctx *c, uint32_t pos);
/* The end of the logical line that a statement ending at @p end closes: the offset after its
 * newline, or the file's length. -1 if something other than blanks, a comment or a trailing ';'
 * follows on the line. */
int64_t cgi__logical_line_end(const ctx *c, uint32_t end);
/* Is the statement [start, end) alone on its line(s)? */
bool cgi__alone_on_line(const ctx *c, uint32_t start, uint32_t end);
/* The leading blanks of the line holding @p pos, as a new string. */
char *cgi__leading_ws(const ctx *c, uint32_t pos);

/* ----- 2. collect.c: query captures into items ----- */

/* Runs the query, links every item to its innermost container, names them and marks the rows
 * that start inside verbatim nodes. @return 0 or -1 (memory). */
int cgi__collect(ctx *c);
int cgi__node_depth(TSNode n);
/* Is @p n's type one of the words of the configuration value @p key? */
bool cgi__is_type(const ctx *c, TSNode n, const char *key);
/* The statements of a block: its named children that are not comments. */
uint32_t cgi__statements(const ctx *c, TSNode block, TSNode *out, uint32_t cap);
bool cgi__in_set(const void *const *set, size_t n, const void *id);
bool cgi__is_docstring(const ctx *c, TSNode stmt);
/* The nearest container that is a function, class or opaque expression, or -1. */
int cgi__scope_of(const ctx *c, int i);

/* ----- 3. plan.c: what the planners share ----- */

typedef struct var {
  const char *name, *value;
} var;

/* The language's configuration value, or "". */
const char *cgi__conf(const ctx *c, const char *key);
/* Expands {name} placeholders of @p tpl; NULL (c->oom) when memory runs out. */
char *cgi__expand(ctx *c, const char *tpl, const var *vars, size_t n_vars);
/* A string literal of the target language (string_quote, backslash escapes, ASCII only). */
char *cgi__quote(ctx *c, const char *s);
/* The "enter" or "exit" text of the region with table index @p index. */
char *cgi__call_text(ctx *c, const char *which, int index);
/* enter/exit calls of @p regs (indices into c->regions), joined by @p sep. */
char *cgi__calls(ctx *c, const char *which, const int *regs, int n, bool reverse, const char *sep);
/* Inserts @p text (taken) at @p pos. @p cls: 0 closing, 1 line opening, 2 indentation, 3 inline
 * opening; @p key orders insertions of one class at one offset (closings innermost first,
 * openings outermost first); @p anchor is the original position the text stands for. */
int cgi__add_edit(ctx *c, uint32_t pos, int cls, int key, char *text, uint32_t anchor,
                  bool line_start_flag);
/* Deletes [a, b) of the original. */
int cgi__add_delete(ctx *c, uint32_t a, uint32_t b);
guard *cgi__new_guard(ctx *c);
/* The names the instrumented file uses (runtime, id table, support module), chosen so that the
 * source does not already use them. @return 0 or -1 (memory). */
int cgi__choose_names(ctx *c);
/* Regions in source order (the module body first at fine granularity). @return 0 or -1. */
int cgi__make_regions(ctx *c);
/* Suspension points: the owning function, the regions between, and the form. */
int cgi__plan_suspensions(ctx *c);

/* A planner: turns the regions into edits. @return 0, or -1 (error set, or c->oom). */
typedef struct cgi__planner {
  const char *block_style; /* the value of block_style in language.conf */
  int (*plan)(ctx *c);
  /* NULL, or what it decides before the regions are made (functions it cannot guard): 0 or -1
   * (memory) */
  int (*prepare)(ctx *c);
} cgi__planner;

/* The planner of @p block_style, or NULL (engine.c). */
const cgi__planner *cgi__planner_find(const char *block_style);

/* plan_indent.c: blocks made by indentation (Python). */
int cgi__plan_indent(ctx *c);
/* plan_indent.c: the guards that would indent past max_indent_levels, left out (skip.depth). */
int cgi__indent_limits(ctx *c);
/* plan_brace.c: blocks in braces (C, C++, Java). */
int cgi__plan_brace(ctx *c);

/* ----- 4. emit.c ----- */

/* Applies the edits to the source into c->res->text (and the line map when @p want_map).
 * @return 0 or -1 (memory). */
int cgi__emit(ctx *c, bool want_map);

#endif /* CGI_STAGES_H */
