/*
 * language.h - the language table: the language folders compiled in (cgi__lang_sources, written
 * by embed.cmake), a loaded language (its language.conf and its instrument.scm query with the role
 * of every capture) and the evaluation of the query's text predicates. Implemented by lang.c; the
 * engine's stages (stages.h) read languages through it. Not installed; the CLI uses instrument.h.
 */
#ifndef CGI_LANGUAGE_H
#define CGI_LANGUAGE_H

#include <regex.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <tree_sitter/api.h>

#include "instrument.h"

/* One language folder as compiled in by cmake/instrument.cmake (langs_gen.c). */
typedef struct cgi__lang_source {
  const char *folder;  /* "python" */
  const char *conf;    /* language.conf */
  const char *query;   /* instrument.scm */
  const char *runner;  /* runner.* or NULL */
  const char *support; /* support.* or NULL: the module named by support_module */
  const TSLanguage *(*grammar)(void);
} cgi__lang_source;

extern const cgi__lang_source cgi__lang_sources[]; /* ends with a NULL folder */

/* What a capture name means to the engine. */
typedef enum cgi__role {
  ROLE_NONE = 0,
  ROLE_FUNCTION,
  ROLE_FUNCTION_NAME,
  ROLE_FUNCTION_BODY,
  ROLE_ASYNC,
  ROLE_KIND, /* arg: the kind label */
  ROLE_CLASS,
  ROLE_CLASS_NAME,
  ROLE_CLASS_BODY,
  ROLE_OPAQUE,
  ROLE_SUSPEND, /* arg: "yield", "await", ... */
  ROLE_LOOP,    /* arg: "for", "while", ... */
  ROLE_VERBATIM,
  ROLE_PROLOGUE,
  ROLE_DOCSTRING,
  ROLE_DOCSTRING_NOT,
  ROLE_DECORATOR, /* a decorator's name, in the same match as ROLE_DECORATED */
  ROLE_DECORATED, /* the function it decorates */
  ROLE_SKIP       /* arg: why the function holding this node is not instrumented */
} cgi__role;

typedef enum cgi__pred_op {
  PRED_EQ,
  PRED_NOT_EQ,
  PRED_MATCH,
  PRED_NOT_MATCH,
  PRED_ANY_OF
} cgi__pred_op;

typedef struct cgi__pred {
  cgi__pred_op op;
  uint32_t capture;     /* the capture tested */
  int other_capture;    /* #eq? @a @b: the second capture, else -1 */
  const char **strings; /* literal(s) from the query (owned by the query) */
  size_t n_strings;
  regex_t re; /* for MATCH / NOT_MATCH */
  bool re_ok;
} cgi__pred;

typedef struct cgi__conf_entry {
  const char *key, *value;
} cgi__conf_entry;

struct cgi_language {
  const cgi__lang_source *src;
  int state;       /* 1 loaded, -1 failed, 0 configuration read, query not yet compiled (lang.c
                      reads every language.conf on first use and compiles a language's query
                      when the language is first looked up: ts_query_new() of all four cost
                      ~170 ms per process) */
  bool configured; /* language.conf read (set before the table is handed out, never after) */
  int status;      /* CGI_OK, or why it failed: CGI_ELANGUAGE or CGI_ENOMEM */
  char error[256]; /* state -1: "python/instrument.scm:12: query error (syntax)" */
  char *conf_text; /* a writable copy that entries point into */
  cgi__conf_entry *conf;
  size_t n_conf;
  TSQuery *query;
  struct cgi__matcher *matcher; /* the query's patterns by one walk (match.c), or NULL: the
                                   query cursor (language.conf `matcher = query`, or a pattern
                                   match.c does not read) */
  uint32_t n_captures;
  cgi__role *roles;      /* per capture id */
  const char **role_arg; /* per capture id: the suffix after the role's prefix, or NULL */
  cgi__pred **preds;     /* per pattern: its predicates */
  size_t *n_preds;
  uint32_t n_patterns;
};

/* Evaluates the text predicates of @p match (tree-sitter 0.20 leaves that to the caller).
 * @return 1 when they pass, 0 when not, -1 when memory runs out. */
int cgi__match_passes(const struct cgi_language *lang, const TSQueryMatch *match, const char *src);

/* match.c: the patterns of a compiled query matched by one pre-order walk of the tree, for the
 * same matches as tree-sitter's query cursor at a fraction of its cost. Read-only once made. */
typedef struct cgi__matcher cgi__matcher;
/* Reads @p scm (the text @p q was compiled from).
 * @return 1 with *out set, 0 when the patterns use what match.c does not read (*out NULL: use
 * the query cursor), -1 when memory runs out. */
int cgi__matcher_new(const TSLanguage *ts, const TSQuery *q, const char *scm, cgi__matcher **out);
void cgi__matcher_free(cgi__matcher *m); /* NULL is fine */
/* Called with each match (pattern_index, captures; id 0); a non-zero return stops the walk. */
typedef int (*cgi__match_fn)(void *arg, const TSQueryMatch *m);
/* Every match under (and at) @p root, in pre-order of its root node, then pattern order.
 * @return 0, what @p fn returned when not 0, or -1 when memory runs out. */
int cgi__matcher_run(const cgi__matcher *m, TSNode root, cgi__match_fn fn, void *arg);

/* Is @p word one of the space-separated words of the config value @p key? */
bool cgi__conf_has_word(const struct cgi_language *lang, const char *key, const char *word);
/* Is @p word one of the space-separated words of @p list (NULL: none)? */
bool cgi__has_word(const char *list, const char *word);

/* engine.c: is there a planner for @p block_style (language.conf)? And the styles there are,
 * quoted and comma separated, for messages. */
bool cgi__block_style_known(const char *block_style);
const char *cgi__block_styles(void);

#endif /* CGI_LANGUAGE_H */
