/*
 * outputs.c - see outputs.h.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli.h"
#include "outputs.h"

static bool ends_with(const char *s, const char *suffix) {
  size_t a = strlen(s), b = strlen(suffix);
  return a >= b && strcasecmp(s + a - b, suffix) == 0;
}

static const struct {
  const char *ext;
  cg_out_kind kind;
} kinds[] = {
    /* .speedscope.json before .json: the longer suffix wins */
    {".speedscope.json", CG_OUT_SPEEDSCOPE},
    {".json", CG_OUT_JSON},
    {".csv", CG_OUT_CSV},
    {".md", CG_OUT_MD},
    {".markdown", CG_OUT_MD},
    {".folded", CG_OUT_FOLDED},
};

int cg_outputs_add(cg_outputs *o, const char *verb, const char *path, unsigned allowed) {
  if (o->n == CG_MAX_OUTPUTS) {
    fprintf(stderr, "codegreen %s: at most %d -o outputs\n", verb, CG_MAX_OUTPUTS);
    return CG_EXIT_USAGE;
  }
  cg_out_kind kind = 0;
  if (strcmp(path, "-") == 0) {
    kind = CG_OUT_JSON;
  } else {
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0] && kind == 0; i++) {
      if (ends_with(path, kinds[i].ext)) {
        kind = kinds[i].kind;
      }
    }
  }
  if (kind == 0 || (kind & allowed) == 0) {
    char known[160] = "";
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
      if (kinds[i].kind & allowed) {
        strcat(known, known[0] ? ", " : "");
        strcat(known, kinds[i].ext);
      }
    }
    fprintf(stderr,
            "codegreen %s: -o %s: unknown kind of file; the extensions known are %s (and '-' "
            "for JSON on standard output); nothing was run\n",
            verb, path, known);
    return CG_EXIT_USAGE;
  }
  for (size_t i = 0; i < o->n; i++) {
    if (strcmp(o->item[i].path, path) == 0) {
      fprintf(stderr, "codegreen %s: -o %s given twice\n", verb, path);
      return CG_EXIT_USAGE;
    }
  }
  o->item[o->n].path = path;
  o->item[o->n].kind = kind;
  o->n++;
  return 0;
}

/* ----- CSV ----- */

static void csv_text(FILE *fp, const char *s) {
  if (strpbrk(s, ",\"\r\n") == NULL) {
    fputs(s, fp);
    return;
  }
  fputc('"', fp);
  for (; *s; s++) {
    if (*s == '"') {
      fputc('"', fp);
    }
    fputc(*s, fp);
  }
  fputc('"', fp);
}

static void cell(FILE *fp, json_t *v, bool csv) {
  if (json_is_string(v)) {
    if (csv) {
      csv_text(fp, json_string_value(v));
    } else {
      for (const char *s = json_string_value(v); *s; s++) {
        if (*s == '|') {
          fputc('\\', fp);
        }
        fputc(*s == '\n' ? ' ' : *s, fp);
      }
    }
  } else if (json_is_integer(v)) {
    fprintf(fp, "%lld", (long long)json_integer_value(v));
  } else if (json_is_real(v)) {
    fprintf(fp, csv ? "%.17g" : "%.4g", json_real_value(v));
  } else if (json_is_boolean(v)) {
    fputs(json_is_true(v) ? "true" : "false", fp);
  }
  /* null: an empty cell */
}

static char *header_line(const cg_table *t) {
  char *buf = NULL;
  size_t len = 0;
  FILE *fp = open_memstream(&buf, &len);
  if (fp == NULL) {
    return NULL;
  }
  for (size_t c = 0; c < t->n_columns; c++) {
    if (c) {
      fputc(',', fp);
    }
    csv_text(fp, t->columns[c]);
  }
  fclose(fp);
  return buf;
}

int cg_write_csv(const char *verb, const cg_table *t, const char *path, bool append) {
  char *header = header_line(t);
  if (header == NULL) {
    fprintf(stderr, "codegreen %s: out of memory\n", verb);
    return -1;
  }
  bool write_header = true;
  if (append) {
    FILE *old = fopen(path, "re");
    if (old != NULL) {
      char *line = NULL;
      size_t cap = 0;
      ssize_t n = getline(&line, &cap, old);
      fclose(old);
      if (n > 0) {
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r')) {
          line[--n] = '\0';
        }
        if (strcmp(line, header) != 0) {
          fprintf(stderr,
                  "codegreen %s: --append: %s has another header; nothing was added.\n"
                  "  its header:   %s\n  this report's: %s\n"
                  "  (write to a new file, or move the old one aside)\n",
                  verb, path, line, header);
          free(line);
          free(header);
          return -1;
        }
        write_header = false;
      }
      free(line);
    }
  }
  FILE *fp = fopen(path, append ? "ae" : "we");
  if (fp == NULL) {
    fprintf(stderr, "codegreen %s: cannot write %s: %s\n", verb, path, strerror(errno));
    free(header);
    return -1;
  }
  if (write_header) {
    fprintf(fp, "%s\n", header);
  }
  free(header);
  size_t i;
  json_t *row;
  json_array_foreach(t->rows, i, row) {
    for (size_t c = 0; c < t->n_columns; c++) {
      if (c) {
        fputc(',', fp);
      }
      cell(fp, json_array_get(row, c), true);
    }
    fputc('\n', fp);
  }
  if (fclose(fp) != 0) {
    fprintf(stderr, "codegreen %s: cannot write %s: %s\n", verb, path, strerror(errno));
    return -1;
  }
  return 0;
}

int cg_write_markdown(const char *verb, const cg_table *t, const char *title, const char *path) {
  FILE *fp = strcmp(path, "-") == 0 ? stdout : fopen(path, "we");
  if (fp == NULL) {
    fprintf(stderr, "codegreen %s: cannot write %s: %s\n", verb, path, strerror(errno));
    return -1;
  }
  if (title != NULL) {
    fprintf(fp, "%s\n\n", title);
  }
  for (size_t c = 0; c < t->n_columns; c++) {
    fprintf(fp, "| %s ", t->columns[c]);
  }
  fprintf(fp, "|\n");
  for (size_t c = 0; c < t->n_columns; c++) {
    fprintf(fp, "|%s", c == 0 ? ":---" : "---:");
  }
  fprintf(fp, "|\n");
  size_t i;
  json_t *row;
  json_array_foreach(t->rows, i, row) {
    for (size_t c = 0; c < t->n_columns; c++) {
      fprintf(fp, "| ");
      json_t *v = json_array_get(row, c);
      if (c == 0 && json_is_string(v)) {
        fputc('`', fp);
        cell(fp, v, false);
        fputc('`', fp);
      } else {
        cell(fp, v, false);
      }
      fputc(' ', fp);
    }
    fprintf(fp, "|\n");
  }
  if (fp != stdout && fclose(fp) != 0) {
    fprintf(stderr, "codegreen %s: cannot write %s: %s\n", verb, path, strerror(errno));
    return -1;
  }
  return 0;
}

int cg_write_json(const char *verb, json_t *report, const char *path, FILE *fp) {
  size_t flags = JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(17);
  if (path == NULL || strcmp(path, "-") == 0) {
    fp = path == NULL ? fp : stdout;
    fflush(stdout);
    if (json_dumpf(report, fp, flags) != 0 || fputc('\n', fp) == EOF || fflush(fp) != 0) {
      fprintf(stderr, "codegreen %s: cannot write the report: %s\n", verb, strerror(errno));
      return -1;
    }
    return 0;
  }
  if (json_dump_file(report, path, flags) != 0) {
    fprintf(stderr, "codegreen %s: cannot write the report to %s: %s\n", verb, path,
            strerror(errno));
    return -1;
  }
  return 0;
}

char *cg_command_string(char *const *argv) {
  char *buf = NULL;
  size_t len = 0;
  FILE *fp = open_memstream(&buf, &len);
  if (fp == NULL) {
    return NULL;
  }
  for (char *const *a = argv; *a; a++) {
    if (a != argv) {
      fputc(' ', fp);
    }
    if ((*a)[0] != '\0' && strpbrk(*a, " \t\n'\"\\$`*?[]{}()<>|&;~#!") == NULL) {
      fputs(*a, fp);
      continue;
    }
    fputc('\'', fp);
    for (const char *s = *a; *s; s++) {
      if (*s == '\'') {
        fputs("'\\''", fp);
      } else {
        fputc(*s, fp);
      }
    }
    fputc('\'', fp);
  }
  fclose(fp);
  return buf;
}

const char *cg_source_words(const char *source) {
  return source == NULL                     ? "unknown"
         : strcmp(source, "estimated") == 0 ? "ESTIMATED from CPU time, not measured"
         : strcmp(source, "simulated") == 0 ? "SIMULATED device, not hardware"
         : strcmp(source, "none") == 0      ? "NOT MEASURED: no energy backend"
                                            : "measured";
}
