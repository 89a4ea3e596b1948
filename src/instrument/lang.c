/*
 * lang.c - the languages compiled into codegreen: their configuration (language.conf), their
 * query (instrument.scm) with the role of each capture, and the text predicates tree-sitter 0.20
 * parses but leaves to the caller (#eq?, #not-eq?, #match?, #not-match?, #any-of?).
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "language.h"

/* The table of languages, built once (pthread_once) on first use: one per cgi__lang_sources
 * entry, its language.conf read (or holding why not in its own `error`). A language's query is
 * compiled when it is first looked up (load_query(), under query_lock); read-only after. */
static struct cgi_language *languages;
static size_t n_languages;
static int table_status = CGI_OK; /* CGI_ENOMEM when the table itself could not be made */
static char names[256];           /* cgi_language_list() */
static pthread_once_t table_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t query_lock = PTHREAD_MUTEX_INITIALIZER;

static void set_error(struct cgi_language *lang, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void set_error(struct cgi_language *lang, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(lang->error, sizeof lang->error, fmt, ap);
  va_end(ap);
}

static void language_load_conf(struct cgi_language *lang);
static void language_load_query(struct cgi_language *lang);

static void make_table(void) {
  size_t n = 0;
  while (cgi__lang_sources[n].folder != NULL) {
    n++;
  }
  for (size_t i = 0; i < n; i++) {
    size_t used = strlen(names);
    snprintf(names + used, sizeof names - used, "%s%s", used ? ", " : "",
             cgi__lang_sources[i].folder);
  }
  languages = calloc(n ? n : 1, sizeof *languages);
  if (languages == NULL) {
    table_status = CGI_ENOMEM;
    return;
  }
  for (size_t i = 0; i < n; i++) {
    languages[i].src = &cgi__lang_sources[i];
    language_load_conf(&languages[i]);
  }
  n_languages = n;
}

static int ensure_table(void) {
  pthread_once(&table_once, make_table);
  return table_status;
}

/* @p lang with its query compiled, once: 1, or -1 with its error set. */
static int load_query(struct cgi_language *lang) {
  pthread_mutex_lock(&query_lock);
  if (lang->state == 0) {
    language_load_query(lang);
  }
  int state = lang->state;
  pthread_mutex_unlock(&query_lock);
  return state;
}

/* ----- language.conf: "key = value" lines, '#' comments, optional double quotes ----- */

static char *trim(char *s) {
  while (*s == ' ' || *s == '\t') {
    s++;
  }
  size_t n = strlen(s);
  while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r')) {
    s[--n] = '\0';
  }
  return s;
}

static int parse_conf(struct cgi_language *lang) {
  lang->conf_text = strdup(lang->src->conf);
  if (lang->conf_text == NULL) {
    return -1;
  }
  size_t cap = 16;
  lang->conf = malloc(cap * sizeof *lang->conf);
  if (lang->conf == NULL) {
    return -1;
  }
  int lineno = 0;
  for (char *line = lang->conf_text, *next; line != NULL; line = next) {
    lineno++;
    next = strchr(line, '\n');
    if (next != NULL) {
      *next++ = '\0';
    }
    char *s = trim(line);
    if (*s == '\0' || *s == '#') {
      continue;
    }
    char *eq = strchr(s, '=');
    if (eq == NULL) {
      set_error(lang, "%s/language.conf:%d: expected 'key = value'", lang->src->folder, lineno);
      return -1;
    }
    *eq = '\0';
    char *key = trim(s), *value = trim(eq + 1);
    size_t vn = strlen(value);
    /* A value in double quotes keeps its spaces; a lone '"' is a value of its own. */
    if (vn >= 2 && value[0] == '"' && value[vn - 1] == '"') {
      value[vn - 1] = '\0';
      value++;
    }
    if (lang->n_conf == cap) {
      cap *= 2;
      cgi__conf_entry *grown = realloc(lang->conf, cap * sizeof *grown);
      if (grown == NULL) {
        return -1;
      }
      lang->conf = grown;
    }
    lang->conf[lang->n_conf++] = (cgi__conf_entry){key, value};
  }
  return 0;
}

const char *cgi_language_get(const cgi_language *lang, const char *key) {
  for (size_t i = 0; i < lang->n_conf; i++) {
    if (strcmp(lang->conf[i].key, key) == 0) {
      return lang->conf[i].value;
    }
  }
  return NULL;
}

bool cgi__has_word(const char *list, const char *word) {
  size_t n = strlen(word);
  while (list != NULL && *list != '\0') {
    while (*list == ' ') {
      list++;
    }
    size_t w = strcspn(list, " ");
    if (w == n && strncmp(list, word, n) == 0) {
      return true;
    }
    list += w;
  }
  return false;
}

bool cgi__conf_has_word(const struct cgi_language *lang, const char *key, const char *word) {
  return cgi__has_word(cgi_language_get(lang, key), word);
}

/* ----- the query ----- */

static const struct {
  const char *name;
  cgi__role role;
  bool prefix; /* the name continues with ".ARG" */
} role_names[] = {
    {"function", ROLE_FUNCTION, false},
    {"function.name", ROLE_FUNCTION_NAME, false},
    {"function.body", ROLE_FUNCTION_BODY, false},
    {"async", ROLE_ASYNC, false},
    {"kind", ROLE_KIND, true},
    {"class", ROLE_CLASS, false},
    {"class.name", ROLE_CLASS_NAME, false},
    {"class.body", ROLE_CLASS_BODY, false},
    {"opaque", ROLE_OPAQUE, false},
    {"suspend", ROLE_SUSPEND, true},
    {"loop", ROLE_LOOP, true},
    {"verbatim", ROLE_VERBATIM, false},
    {"prologue", ROLE_PROLOGUE, false},
    {"docstring", ROLE_DOCSTRING, false},
    {"docstring.not", ROLE_DOCSTRING_NOT, false},
    {"decorator", ROLE_DECORATOR, false},
    {"decorated", ROLE_DECORATED, false},
    {"skip", ROLE_SKIP, true},
};

static int assign_roles(struct cgi_language *lang) {
  lang->n_captures = ts_query_capture_count(lang->query);
  lang->roles = calloc(lang->n_captures ? lang->n_captures : 1, sizeof *lang->roles);
  lang->role_arg = calloc(lang->n_captures ? lang->n_captures : 1, sizeof *lang->role_arg);
  if (lang->roles == NULL || lang->role_arg == NULL) {
    return -1;
  }
  for (uint32_t i = 0; i < lang->n_captures; i++) {
    uint32_t len;
    const char *name = ts_query_capture_name_for_id(lang->query, i, &len);
    if (name[0] == '_') {
      continue; /* a helper for predicates */
    }
    bool known = false;
    for (size_t r = 0; r < sizeof role_names / sizeof role_names[0]; r++) {
      size_t n = strlen(role_names[r].name);
      if (role_names[r].prefix) {
        if (len > n + 1 && strncmp(name, role_names[r].name, n) == 0 && name[n] == '.') {
          lang->roles[i] = role_names[r].role;
          lang->role_arg[i] = name + n + 1;
          known = true;
        }
      } else if (len == n && strncmp(name, role_names[r].name, n) == 0) {
        lang->roles[i] = role_names[r].role;
        known = true;
      }
      if (known) {
        break;
      }
    }
    if (!known) {
      set_error(lang, "%s/instrument.scm: unknown capture @%.*s (see src/instrument/README.md)",
                lang->src->folder, (int)len, name);
      return -1;
    }
  }
  return 0;
}

static int load_predicates(struct cgi_language *lang) {
  TSQuery *q = lang->query;
  lang->n_patterns = ts_query_pattern_count(q);
  lang->preds = calloc(lang->n_patterns ? lang->n_patterns : 1, sizeof *lang->preds);
  lang->n_preds = calloc(lang->n_patterns ? lang->n_patterns : 1, sizeof *lang->n_preds);
  if (lang->preds == NULL || lang->n_preds == NULL) {
    return -1;
  }
  for (uint32_t p = 0; p < lang->n_patterns; p++) {
    uint32_t n_steps;
    const TSQueryPredicateStep *steps = ts_query_predicates_for_pattern(q, p, &n_steps);
    /* Count the predicates: each ends with a Done step. */
    size_t count = 0;
    for (uint32_t i = 0; i < n_steps; i++) {
      count += steps[i].type == TSQueryPredicateStepTypeDone;
    }
    if (count == 0) {
      continue;
    }
    lang->preds[p] = calloc(count, sizeof(cgi__pred));
    if (lang->preds[p] == NULL) {
      return -1;
    }
    uint32_t i = 0;
    while (i < n_steps) {
      uint32_t start = i;
      while (i < n_steps && steps[i].type != TSQueryPredicateStepTypeDone) {
        i++;
      }
      uint32_t argc = i - start; /* the operator and its arguments */
      i++;                       /* past Done */
      uint32_t len;
      if (argc < 3 || steps[start].type != TSQueryPredicateStepTypeString ||
          steps[start + 1].type != TSQueryPredicateStepTypeCapture) {
        set_error(lang,
                  "%s/instrument.scm: pattern %u: a predicate needs an operator, a capture and "
                  "an argument",
                  lang->src->folder, p + 1);
        return -1;
      }
      const char *op = ts_query_string_value_for_id(q, steps[start].value_id, &len);
      cgi__pred *pr = &lang->preds[p][lang->n_preds[p]];
      pr->capture = steps[start + 1].value_id;
      pr->other_capture = -1;
      if (strcmp(op, "eq?") == 0 || strcmp(op, "not-eq?") == 0) {
        pr->op = op[0] == 'e' ? PRED_EQ : PRED_NOT_EQ;
      } else if (strcmp(op, "match?") == 0 || strcmp(op, "not-match?") == 0) {
        pr->op = op[0] == 'm' ? PRED_MATCH : PRED_NOT_MATCH;
      } else if (strcmp(op, "any-of?") == 0) {
        pr->op = PRED_ANY_OF;
      } else {
        set_error(lang, "%s/instrument.scm: pattern %u: unknown predicate #%s", lang->src->folder,
                  p + 1, op);
        return -1;
      }
      if (steps[start + 2].type == TSQueryPredicateStepTypeCapture) {
        if (pr->op != PRED_EQ && pr->op != PRED_NOT_EQ) {
          set_error(lang, "%s/instrument.scm: pattern %u: #%s wants a string", lang->src->folder,
                    p + 1, op);
          return -1;
        }
        pr->other_capture = (int)steps[start + 2].value_id;
      } else {
        pr->n_strings = argc - 2;
        pr->strings = calloc(pr->n_strings, sizeof *pr->strings);
        if (pr->strings == NULL) {
          return -1;
        }
        for (uint32_t a = 0; a < pr->n_strings; a++) {
          pr->strings[a] = ts_query_string_value_for_id(q, steps[start + 2 + a].value_id, &len);
        }
      }
      if (pr->op == PRED_MATCH || pr->op == PRED_NOT_MATCH) {
        int rc = regcomp(&pr->re, pr->strings[0], REG_EXTENDED | REG_NOSUB);
        if (rc != 0) {
          char msg[128];
          regerror(rc, &pr->re, msg, sizeof msg);
          set_error(lang, "%s/instrument.scm: pattern %u: bad regular expression '%s': %s",
                    lang->src->folder, p + 1, pr->strings[0], msg);
          return -1;
        }
        pr->re_ok = true;
      }
      lang->n_preds[p]++;
    }
  }
  return 0;
}

/* Reads @p lang's language.conf (once, from make_table()): state 0, or -1 with lang->error saying
 * why (and lang->status CGI_ELANGUAGE, or CGI_ENOMEM when memory ran out). */
static void language_load_conf(struct cgi_language *lang) {
  lang->state = -1;
  lang->status = CGI_ELANGUAGE;
  if (parse_conf(lang) != 0) {
    if (lang->error[0] == '\0') {
      set_error(lang, "%s: out of memory", lang->src->folder);
      lang->status = CGI_ENOMEM;
    }
    return;
  }
  const char *style = cgi_language_get(lang, "block_style");
  if (!cgi__block_style_known(style)) {
    set_error(lang,
              "%s/language.conf: block_style '%s' is not implemented by the engine (it knows %s; "
              "see src/instrument/README.md)",
              lang->src->folder, style ? style : "(unset)", cgi__block_styles());
    return;
  }
  lang->state = 0;
  lang->configured = true;
}

/* Compiles @p lang's query (once, from load_query(), state 0): state 1, or -1 with lang->error
 * saying why (and lang->status CGI_ELANGUAGE, or CGI_ENOMEM when memory ran out). */
static void language_load_query(struct cgi_language *lang) {
  lang->state = -1;
  const TSLanguage *ts = lang->src->grammar();
  uint32_t version = ts_language_version(ts);
  if (version < TREE_SITTER_MIN_COMPATIBLE_LANGUAGE_VERSION ||
      version > TREE_SITTER_LANGUAGE_VERSION) {
    set_error(lang,
              "the %s grammar has language version %u; this tree-sitter runtime reads %d to %d",
              lang->src->folder, version, TREE_SITTER_MIN_COMPATIBLE_LANGUAGE_VERSION,
              TREE_SITTER_LANGUAGE_VERSION);
    return;
  }
  uint32_t err_offset = 0;
  TSQueryError err = TSQueryErrorNone;
  lang->query =
      ts_query_new(ts, lang->src->query, (uint32_t)strlen(lang->src->query), &err_offset, &err);
  if (lang->query == NULL) {
    static const char *const kinds[] = {"none",    "syntax",    "node type", "field",
                                        "capture", "structure", "language"};
    int line = 1;
    for (uint32_t i = 0; i < err_offset && lang->src->query[i]; i++) {
      line += lang->src->query[i] == '\n';
    }
    set_error(lang, "%s/instrument.scm:%d: query error (%s)", lang->src->folder, line,
              (unsigned)err < sizeof kinds / sizeof kinds[0] ? kinds[err] : "unknown");
    return;
  }
  const char *matcher = cgi_language_get(lang, "matcher");
  if (assign_roles(lang) != 0 || load_predicates(lang) != 0 ||
      ((matcher == NULL || strcmp(matcher, "query") != 0) &&
       cgi__matcher_new(ts, lang->query, lang->src->query, &lang->matcher) < 0)) {
    if (lang->error[0] == '\0') {
      set_error(lang, "%s: out of memory", lang->src->folder);
      lang->status = CGI_ENOMEM;
    }
    return;
  }
  lang->state = 1;
  lang->status = CGI_OK;
}

static bool text_eq(const char *src, TSNode n, const char *s) {
  uint32_t a = ts_node_start_byte(n), b = ts_node_end_byte(n);
  return strlen(s) == b - a && memcmp(src + a, s, b - a) == 0;
}

/* @return 1 when @p n passes @p pr, 0 when not, -1 when memory runs out. */
static int node_matches(const cgi__pred *pr, const char *src, TSNode n, const TSQueryMatch *m) {
  switch (pr->op) {
  case PRED_EQ:
  case PRED_NOT_EQ: {
    bool eq;
    if (pr->other_capture >= 0) {
      eq = false;
      for (uint16_t i = 0; i < m->capture_count; i++) {
        if (m->captures[i].index == (uint32_t)pr->other_capture) {
          TSNode o = m->captures[i].node;
          uint32_t a = ts_node_start_byte(n), b = ts_node_end_byte(n);
          uint32_t c = ts_node_start_byte(o), d = ts_node_end_byte(o);
          eq = b - a == d - c && memcmp(src + a, src + c, b - a) == 0;
        }
      }
    } else {
      eq = text_eq(src, n, pr->strings[0]);
    }
    return pr->op == PRED_EQ ? eq : !eq;
  }
  case PRED_MATCH:
  case PRED_NOT_MATCH: {
    uint32_t a = ts_node_start_byte(n), b = ts_node_end_byte(n);
    char small[256];
    char *text = b - a < sizeof small ? small : malloc(b - a + 1);
    if (text == NULL) {
      return -1;
    }
    memcpy(text, src + a, b - a);
    text[b - a] = '\0';
    bool hit = regexec(&pr->re, text, 0, NULL, 0) == 0;
    if (text != small) {
      free(text);
    }
    return pr->op == PRED_MATCH ? hit : !hit;
  }
  case PRED_ANY_OF:
    for (size_t i = 0; i < pr->n_strings; i++) {
      if (text_eq(src, n, pr->strings[i])) {
        return true;
      }
    }
    return false;
  }
  return false;
}

int cgi__match_passes(const struct cgi_language *lang, const TSQueryMatch *match, const char *src) {
  uint32_t p = match->pattern_index;
  for (size_t k = 0; k < lang->n_preds[p]; k++) {
    const cgi__pred *pr = &lang->preds[p][k];
    for (uint16_t i = 0; i < match->capture_count; i++) {
      if (match->captures[i].index == pr->capture) {
        int rc = node_matches(pr, src, match->captures[i].node, match);
        if (rc <= 0) {
          return rc;
        }
      }
    }
  }
  return 1;
}

/* ----- finding languages ----- */

static int say(char *why, size_t why_len, int code, const char *text) {
  if (why != NULL && why_len > 0) {
    snprintf(why, why_len, "%s", text);
  }
  return code;
}

int cgi_language_lookup(const char *name, const cgi_language **out, char *why, size_t why_len) {
  *out = NULL;
  if (ensure_table() != CGI_OK) {
    return say(why, why_len, CGI_ENOMEM, "out of memory");
  }
  for (size_t i = 0; i < n_languages; i++) {
    struct cgi_language *l = &languages[i];
    bool folder = strcmp(l->src->folder, name) == 0;
    if (!l->configured) {
      if (folder) {
        return say(why, why_len, l->status, l->error);
      }
      continue;
    }
    const char *n = cgi_language_get(l, "name");
    bool named =
        (n != NULL && strcmp(n, name) == 0) || cgi__has_word(cgi_language_get(l, "aliases"), name);
    if ((named || folder) && load_query(l) != 1) {
      return say(why, why_len, l->status, l->error);
    }
    if (named) {
      *out = l;
      return CGI_OK;
    }
  }
  if (why != NULL && why_len > 0) {
    snprintf(why, why_len, "no language called '%s' (known: %s)", name, names);
  }
  return CGI_ENOLANG;
}

const cgi_language *cgi_language_find(const char *name) {
  const cgi_language *l;
  return cgi_language_lookup(name, &l, NULL, 0) == CGI_OK ? l : NULL;
}

int cgi_language_check(char *why, size_t why_len) {
  if (ensure_table() != CGI_OK) {
    return say(why, why_len, CGI_ENOMEM, "out of memory");
  }
  for (size_t i = 0; i < n_languages; i++) {
    if (!languages[i].configured || load_query(&languages[i]) != 1) {
      return say(why, why_len, languages[i].status, languages[i].error);
    }
  }
  return say(why, why_len, CGI_OK, "");
}

int cgi_language_matches(const cgi_language *lang, const char *path) {
  const char *dot = strrchr(path, '.');
  const char *slash = strrchr(path, '/');
  if (dot == NULL || (slash != NULL && dot < slash)) {
    return 0;
  }
  return cgi__has_word(cgi_language_get(lang, "extensions"), dot);
}

const cgi_language *cgi_language_for_path(const char *path) {
  if (ensure_table() != CGI_OK) {
    return NULL;
  }
  for (size_t i = 0; i < n_languages; i++) {
    if (languages[i].configured && cgi_language_matches(&languages[i], path) &&
        load_query(&languages[i]) == 1) {
      return &languages[i];
    }
  }
  return NULL;
}

const char *cgi_language_name(const cgi_language *lang) {
  const char *n = cgi_language_get(lang, "name");
  return n ? n : lang->src->folder;
}

const char *cgi_language_runner(const cgi_language *lang) {
  return lang->src->runner;
}

const char *cgi_language_support(const cgi_language *lang, const char **module) {
  if (module != NULL) {
    *module = cgi_language_get(lang, "support_module");
  }
  return lang->src->support;
}

const char *cgi_language_list(void) {
  ensure_table();
  return names;
}
