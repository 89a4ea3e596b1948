/*
 * outputs.c - see outputs.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "atomic_file.h"
#include "cli.h"
#include "nemb.h"
#include "outputs.h"
#include "utf8.h"

/* Whether the first @p len bytes of @p s end with @p suffix (any case). */
static bool ends_with(const char *s, size_t len, const char *suffix) {
  size_t b = strlen(suffix);
  return len >= b && strncasecmp(s + len - b, suffix, b) == 0;
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

/* What a refusal before the work leaves undone: only run and measure run a program. */
static const char *nothing_done(const char *verb) {
  return strcmp(verb, "run") == 0 || strcmp(verb, "measure") == 0 ? "nothing was run"
                                                                  : "nothing was written";
}

/* @p path with its directory resolved (realpath) and its last name kept as given, or NULL when
 * the directory does not resolve. The caller frees it. */
static char *resolved_name(const char *path) {
  const char *slash = strrchr(path, '/');
  char *dir =
      slash == NULL ? strdup(".") : strndup(path, slash == path ? 1 : (size_t)(slash - path));
  char *real = dir != NULL ? realpath(dir, NULL) : NULL;
  char *out = NULL;
  if (real != NULL && asprintf(&out, "%s/%s", real, slash ? slash + 1 : path) < 0) {
    out = NULL;
  }
  free(dir);
  free(real);
  return out;
}

bool cg_same_path(const char *a, const char *b) {
  if (strcmp(a, b) == 0) {
    return true;
  }
  if (strcmp(a, "-") == 0 || strcmp(b, "-") == 0) {
    return false;
  }
  struct stat sa, sb;
  if (stat(a, &sa) == 0 && stat(b, &sb) == 0) {
    return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
  }
  char *ra = resolved_name(a), *rb = resolved_name(b);
  bool same = ra != NULL && rb != NULL && strcmp(ra, rb) == 0;
  free(ra);
  free(rb);
  return same;
}

int cg_outputs_add(cg_outputs *o, const char *verb, const char *path, unsigned allowed) {
  if (o->n == CG_MAX_OUTPUTS) {
    fprintf(stderr, "codegreen %s: at most %d -o outputs\n", verb, CG_MAX_OUTPUTS);
    return CG_EXIT_USAGE;
  }
  cg_out_kind kind = 0;
  struct stat st;
  if (strcmp(path, "-") == 0) {
    kind = CG_OUT_JSON;
  } else {
    /* Any kind may end in .zst: the one file writer (atomic_file.h) compresses such a path. */
    size_t len = strlen(path);
    if (ends_with(path, len, ".zst")) {
      len -= strlen(".zst");
    }
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0] && kind == 0; i++) {
      if (ends_with(path, len, kinds[i].ext)) {
        kind = kinds[i].kind;
      }
    }
    if (kind == 0 && stat(path, &st) == 0 && !S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode)) {
      /* a device or FIFO (/dev/null, /dev/stderr) without a known extension gets JSON; one
       * named like ff.csv is what its name says */
      kind = CG_OUT_JSON;
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
            "codegreen %s: -o %s: unknown kind of file; the extensions known are %s, each "
            "also with .zst (zstd-compressed), and '-' for JSON on standard output; %s\n",
            verb, path, known, nothing_done(verb));
    return CG_EXIT_USAGE;
  }
  for (size_t i = 0; i < o->n; i++) {
    if (cg_same_path(o->item[i].path, path)) {
      fprintf(stderr, "codegreen %s: -o %s given twice\n", verb, path);
      return CG_EXIT_USAGE;
    }
  }
  o->item[o->n].path = path;
  o->item[o->n].kind = kind;
  o->n++;
  return 0;
}

int cg_outputs_check_append(const cg_outputs *o, const char *verb) {
  if (!o->append) {
    return 0;
  }
  bool csv = false;
  for (size_t i = 0; i < o->n; i++) {
    const char *path = o->item[i].path;
    struct stat st;
    bool in_place = strcmp(path, "-") == 0 || (stat(path, &st) == 0 && !S_ISREG(st.st_mode));
    if (o->item[i].kind == CG_OUT_CSV) {
      csv = true;
    } else if (!in_place) {
      /* A JSON report or a table has no rows to add to: writing it would replace the file. */
      fprintf(stderr,
              "codegreen %s: --append adds rows to .csv outputs only; -o %s would be "
              "replaced, so it is refused (drop --append, or that -o); %s\n",
              verb, path, nothing_done(verb));
      return CG_EXIT_USAGE;
    }
  }
  if (!csv) {
    fprintf(stderr, "codegreen %s: --append needs a .csv output (-o FILE.csv); %s\n", verb,
            nothing_done(verb));
    return CG_EXIT_USAGE;
  }
  return 0;
}

/* ----- CSV ----- */

/* The library's one CSV quoting (nemb_csv_field). A field that does not fit the stack buffer
 * and cannot be allocated is left out, as a failed write to the memory stream would be. */
static void csv_text(FILE *fp, const char *s) {
  char small[256];
  size_t n = nemb_csv_field(s, small, sizeof small);
  if (n < sizeof small) {
    fputs(small, fp);
    return;
  }
  char *big = malloc(n + 1);
  if (big != NULL) {
    nemb_csv_field(s, big, n + 1);
    fputs(big, fp);
    free(big);
  }
}

/* @p v in the fewest significant digits (15 to 17) that read back as exactly @p v: a CSV cell
 * says 0.045718962, not 0.045718962000000002, and loses nothing (strtod gives the same double). */
static void shortest_real(double v, char *buf, size_t len) {
  for (int digits = 15; digits <= 17; digits++) {
    snprintf(buf, len, "%.*g", digits, v);
    if (strtod(buf, NULL) == v) {
      return;
    }
  }
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
    char text[40];
    if (csv) {
      shortest_real(json_real_value(v), text, sizeof text);
    } else {
      snprintf(text, sizeof text, "%.4g", json_real_value(v));
    }
    fputs(text, fp);
  } else if (json_is_boolean(v)) {
    fputs(json_is_true(v) ? "true" : "false", fp);
  }
  /* null: an empty cell */
}

/* A Markdown code span holding @p v (CommonMark): fenced by one backtick more than the longest
 * run of backticks in it, with a space inside each fence when it starts or ends with one, so a
 * command line with backticks (sh -c 'echo `date`') stays one span. */
static void code_span(FILE *fp, json_t *v) {
  const char *s = json_string_value(v);
  size_t longest = 0, run = 0;
  for (const char *q = s; *q; q++) {
    run = *q == '`' ? run + 1 : 0;
    longest = run > longest ? run : longest;
  }
  size_t len = strlen(s);
  bool pad = longest > 0 && (s[0] == '`' || (len > 0 && s[len - 1] == '`'));
  for (size_t i = 0; i <= longest; i++) {
    fputc('`', fp);
  }
  fputs(pad ? " " : "", fp);
  cell(fp, v, false);
  fputs(pad ? " " : "", fp);
  for (size_t i = 0; i <= longest; i++) {
    fputc('`', fp);
  }
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

static unsigned std_reserved; /* bit k: fd k was closed at start and now holds /dev/null */

void cg_std_reserve(void) {
  for (int fd = 0; fd <= 2; fd++) {
    if (fcntl(fd, F_GETFD) == -1 && errno == EBADF) {
      /* The lowest free number: fd itself, the ones below it being open by now. Opened the
       * other way round (stdout read-only), so that using it still fails with EBADF, as the
       * closed stream did: a report to "-" is a lost output, never a silent /dev/null. */
      int got = open("/dev/null", fd == 0 ? O_WRONLY : O_RDONLY);
      if (got == fd) {
        std_reserved |= 1u << fd;
      } else if (got >= 0) {
        close(got);
      }
    }
  }
}

void cg_std_unreserve(void) {
  for (int fd = 0; fd <= 2; fd++) {
    if (std_reserved & (1u << fd)) {
      close(fd);
    }
  }
}

int cg_write_file(const char *verb, const char *path, const char *text, size_t len) {
  if (strcmp(path, "-") == 0) {
    fflush(stdout);
    if (fwrite(text, 1, len, stdout) != len || fflush(stdout) != 0) {
      fprintf(stderr, "codegreen %s: cannot write to standard output: %s\n", verb, strerror(errno));
      clearerr(stdout); /* said here: cg_finish_stdout() must not say it again */
      return -1;
    }
    return 0;
  }
  int e = nemb__atomic_write(path, text, len);
  if (e != 0) {
    fprintf(stderr, "codegreen %s: cannot write %s: %s\n", verb, path, nemb__atomic_strerror(e));
    return -1;
  }
  return 0;
}

/* Prints why rows with @p header cannot go under a file whose first line is @p first (@p n
 * bytes). */
static void other_header(const char *verb, const char *path, const char *first, size_t n,
                         const char *header) {
  fprintf(stderr,
          "codegreen %s: --append: %s has another header; nothing was added.\n"
          "  its header:   %.*s\n  this report's: %s\n"
          "  (write to a new file, or move the old one aside)\n",
          verb, path, (int)n, first, header);
}

/* Whether the file open on @p fd (@p size bytes, > 0) starts with the line @p header; prints
 * the difference when not. @return 0, -1 (another header, printed) or an errno. */
static int same_header(const char *verb, const char *path, int fd, off_t size, const char *header) {
  size_t want = strlen(header) + 256; /* enough of another first line to show it */
  size_t cap = (off_t)want < size ? want : (size_t)size;
  char *first = malloc(cap + 1);
  if (first == NULL) {
    return ENOMEM;
  }
  size_t got = 0;
  while (got < cap) {
    ssize_t r = pread(fd, first + got, cap - got, (off_t)got);
    if (r < 0 && errno == EINTR) {
      continue;
    }
    if (r <= 0) {
      int e = r < 0 ? errno : EIO;
      free(first);
      return e;
    }
    got += (size_t)r;
  }
  first[got] = '\0';
  size_t n = strcspn(first, "\r\n");
  int rc = 0;
  if (strlen(header) != n || strncmp(first, header, n) != 0) {
    other_header(verb, path, first, n, header);
    rc = -1;
  }
  free(first);
  return rc;
}

/* Whether rows with @p header can be added to @p path: no file, an empty one, or one whose
 * first line is the same header (an existing .zst cannot take rows). @return 0, or -1 with the
 * reason printed. */
static int appendable(const char *verb, const char *header, const char *path) {
  struct stat at;
  if (stat(path, &at) == 0 && !S_ISREG(at.st_mode)) {
    /* rows are added to a file (locked, cut back on a failure): not to a FIFO or a device, and
     * opening a FIFO here would wait for a writer */
    fprintf(stderr, "codegreen %s: --append: %s is not a regular file; %s\n", verb, path,
            nothing_done(verb));
    return -1;
  }
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) {
      return 0;
    }
    fprintf(stderr, "codegreen %s: --append: cannot read %s: %s\n", verb, path, strerror(errno));
    return -1;
  }
  struct stat st;
  int rc = 0;
  if (fstat(fd, &st) != 0) {
    fprintf(stderr, "codegreen %s: --append: cannot read %s: %s\n", verb, path, strerror(errno));
    rc = -1;
  } else if (S_ISREG(st.st_mode) && st.st_size > 0) {
    if (ends_with(path, strlen(path), ".zst")) {
      /* No file yet (or an empty one): the rows are the whole file, compressed as any .zst. */
      fprintf(stderr,
              "codegreen %s: --append: %s is zstd-compressed, and rows are added to plain CSV "
              "only; append to the .csv, then compress it (zstd)\n",
              verb, path);
      rc = -1;
    } else {
      int e = same_header(verb, path, fd, st.st_size, header);
      if (e > 0) {
        fprintf(stderr, "codegreen %s: --append: cannot read %s: %s\n", verb, path, strerror(e));
      }
      rc = e == 0 ? 0 : -1;
    }
  }
  close(fd);
  return rc;
}

int cg_check_append(const char *verb, const cg_table *t, const char *path) {
  char *header = header_line(t);
  if (header == NULL) {
    fprintf(stderr, "codegreen %s: out of memory\n", verb);
    return -1;
  }
  int rc = appendable(verb, header, path);
  free(header);
  return rc;
}

/* Writes all @p len bytes of @p buf to @p fd. @return 0 or an errno. */
static int write_all(int fd, const char *buf, size_t len) {
  while (len > 0) {
    ssize_t w = write(fd, buf, len);
    if (w < 0 && errno == EINTR) {
      continue;
    }
    if (w <= 0) {
      return w < 0 ? errno : EIO;
    }
    buf += w;
    len -= (size_t)w;
  }
  return 0;
}

/* Adds @p rows (CSV lines) to the plain file @p path, with @p header first when the file is new
 * or empty. Several codegreen processes may append to one file at once (parallel CI jobs): each
 * holds an exclusive flock(2) on the file from the header check to the end of its rows, so every
 * row lands whole, none is lost, and only the first writer of a new file writes the header. The
 * file is opened O_APPEND and never replaced, so writers that do not lock still never lose rows.
 * A failed write (a full disk) is cut back to the old length: the file keeps its old rows and no
 * half row. @return 0, or -1 with the reason printed. */
static int append_locked(const char *verb, const char *header, const char *rows, size_t rows_len,
                         const char *path) {
  int fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0666);
  if (fd < 0) {
    fprintf(stderr, "codegreen %s: cannot write %s: %s\n", verb, path, strerror(errno));
    return -1;
  }
  /* A file system without flock (some network mounts) still gets O_APPEND's whole writes. */
  while (flock(fd, LOCK_EX) != 0 && errno == EINTR) {
  }
  struct stat st;
  int e = fstat(fd, &st) != 0 ? errno : 0;
  if (e == 0 && !S_ISREG(st.st_mode)) {
    e = EINVAL;
  }
  int rc = 0;
  const char *lead = "";
  if (e == 0 && st.st_size > 0) {
    rc = same_header(verb, path, fd, st.st_size, header);
    e = rc > 0 ? rc : 0;
    char last = '\n';
    if (rc == 0 && pread(fd, &last, 1, st.st_size - 1) == 1 && last != '\n') {
      lead = "\n"; /* a last row without its newline gets one */
    }
  }
  if (e == 0 && rc == 0) {
    bool fresh = st.st_size == 0;
    e = write_all(fd, fresh ? header : lead, strlen(fresh ? header : lead));
    if (e == 0 && fresh) {
      e = write_all(fd, "\n", 1);
    }
    if (e == 0) {
      e = write_all(fd, rows, rows_len);
    }
    if (e == 0 && fsync(fd) != 0 && errno != EINVAL) {
      e = errno;
    }
    if (e != 0 && ftruncate(fd, st.st_size) != 0) {
      /* the old length could not be restored either: the message below still says it failed */
    }
  }
  if (e != 0) {
    fprintf(stderr, "codegreen %s: cannot write %s: %s; its rows were not added\n", verb, path,
            strerror(e));
  }
  close(fd); /* releases the lock */
  return e != 0 || rc != 0 ? -1 : 0;
}

int cg_write_csv(const char *verb, const cg_table *t, const char *path, bool append) {
  char *header = header_line(t);
  if (header == NULL) {
    fprintf(stderr, "codegreen %s: out of memory\n", verb);
    return -1;
  }
  /* An existing .csv.zst was refused before the run; a new one is written whole as any .zst. */
  bool in_place = append && strcmp(path, "-") != 0 && !ends_with(path, strlen(path), ".zst");
  if (append && !in_place && appendable(verb, header, path) != 0) {
    free(header);
    return -1;
  }
  char *buf = NULL;
  size_t len = 0;
  FILE *fp = open_memstream(&buf, &len);
  if (fp == NULL) {
    fprintf(stderr, "codegreen %s: out of memory\n", verb);
    free(header);
    return -1;
  }
  if (!in_place) {
    fprintf(fp, "%s\n", header);
  }
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
    free(buf);
    free(header);
    fprintf(stderr, "codegreen %s: out of memory\n", verb);
    return -1;
  }
  int rc =
      in_place ? append_locked(verb, header, buf, len, path) : cg_write_file(verb, path, buf, len);
  free(buf);
  free(header);
  return rc;
}

int cg_write_markdown(const char *verb, const cg_table *t, const char *title, const char *path) {
  char *buf = NULL;
  size_t len = 0;
  FILE *fp = open_memstream(&buf, &len);
  if (fp == NULL) {
    fprintf(stderr, "codegreen %s: out of memory\n", verb);
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
        code_span(fp, v);
      } else {
        cell(fp, v, false);
      }
      fputc(' ', fp);
    }
    fprintf(fp, "|\n");
  }
  if (fclose(fp) != 0) {
    free(buf);
    fprintf(stderr, "codegreen %s: out of memory\n", verb);
    return -1;
  }
  int rc = cg_write_file(verb, path, buf, len);
  free(buf);
  return rc;
}

int cg_write_json(const char *verb, const json_t *report, const char *path, FILE *fp) {
  size_t flags = JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(17);
  if (path == NULL) {
    fflush(stdout);
    if (json_dumpf(report, fp, flags) != 0 || fputc('\n', fp) == EOF || fflush(fp) != 0) {
      fprintf(stderr, "codegreen %s: cannot write the report: %s\n", verb, strerror(errno));
      return -1;
    }
    return 0;
  }
  char *text = json_dumps(report, flags);
  char *line = text != NULL ? realloc(text, strlen(text) + 2) : NULL;
  if (line == NULL) {
    free(text);
    fprintf(stderr, "codegreen %s: out of memory writing the report to %s\n", verb, path);
    return -1;
  }
  size_t n = strlen(line);
  line[n] = '\n';
  int rc = cg_write_file(verb, path, line, n + 1);
  free(line);
  return rc;
}

int cg_write_text(const char *path, const char *text, size_t len) {
  return nemb__atomic_write(path, text, len);
}

int cg_check_outputs(const char *verb, const char *const *paths, size_t n) {
  for (size_t k = 0; k < n; k++) {
    if (paths[k] == NULL || strcmp(paths[k], "-") == 0) {
      continue;
    }
    int e = nemb__atomic_check(paths[k]);
    if (e != 0) {
      fprintf(stderr, "codegreen %s: cannot write %s: %s; %s\n", verb, paths[k],
              nemb__atomic_strerror(e), nothing_done(verb));
      return e;
    }
  }
  return 0;
}

int cg_output_lost(const char *verb, const char *what, const char *whose, int status) {
  if (status != 0) {
    fprintf(stderr, "codegreen %s: %s was not written; the exit status is the %s's (%d)\n", verb,
            what, whose, status);
    return status;
  }
  fprintf(stderr, "codegreen %s: %s was not written; exit %d (the %s exited 0)\n", verb, what,
          CG_EXIT_OUTPUT, whose);
  return CG_EXIT_OUTPUT;
}

const char *cg_columns(char *out, size_t len, const char *text, int width, bool cut) {
  size_t o = 0;
  int cols = 0;
  for (const char *p = text ? text : ""; *p != '\0' && o + 1 < len;) {
    size_t n = 1; /* the character's bytes: its lead and the continuation bytes after it */
    while (((unsigned char)p[n] & 0xC0) == 0x80) {
      n++;
    }
    if ((cut && cols >= width) || o + n >= len) {
      break;
    }
    memcpy(out + o, p, n);
    o += n;
    p += n;
    cols++;
  }
  for (; cols < width && o + 1 < len; cols++) {
    out[o++] = ' ';
  }
  out[o] = '\0';
  return out;
}

char *cg_utf8_text(const char *bytes) {
  return nemb__utf8_text(bytes);
}

json_t *cg_json_text(const char *bytes) {
  if (bytes == NULL) {
    return json_null();
  }
  json_t *v = json_string(bytes);
  if (v != NULL) {
    return v; /* already UTF-8: no copy */
  }
  char *fixed = nemb__utf8_text(bytes);
  v = fixed != NULL ? json_string(fixed) : NULL;
  free(fixed);
  return v;
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

void cg_row_add_meta(json_t *row, json_t *report) {
  static const char *const keys[] = {CG_META_COLUMNS};
  json_t *meta = json_object_get(report, "meta");
  for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
    json_t *v = json_object_get(meta, keys[k]);
    json_array_append_new(row, v ? json_incref(v) : json_null());
  }
}

bool cg_concurrent_warning(const char *when, char *buf, size_t len) {
  int pids[8];
  size_t n = 0;
  buf[0] = '\0';
  if (nemb_procs_list_others(pids, 8, &n) != 0 || n == 0) {
    return false;
  }
  snprintf(buf, len,
           "%zu other codegreen process%s measuring on this host %s (pid %d%s); the energy "
           "counters are machine-wide, so both measurements include each other's energy",
           n, n == 1 ? " is" : "es are", when, pids[0], n > 1 ? ", ..." : "");
  return true;
}

const char *cg_source_words(const char *source) {
  return nemb_energy_source_words(source);
}

unsigned cg_uncertainty_cause(const json_t *cause) {
  unsigned why = 0;
  size_t i;
  json_t *c;
  json_array_foreach(cause, i, c) {
    const char *s = json_string_value(c);
    why |= s && strcmp(s, "short_span") == 0 ? CG_UNC_SHORT : 0u;
    why |= s && strcmp(s, "sampler_gap") == 0 ? CG_UNC_GAP : 0u;
    why |= s && strcmp(s, "power_step") == 0 ? CG_UNC_STEP : 0u;
    why |= s && strcmp(s, "extrapolated") == 0 ? CG_UNC_EXTRA : 0u;
    why |= s && strcmp(s, "samplers_joined") == 0 ? CG_UNC_JOIN : 0u;
  }
  return why;
}

/* The update period from which the library bounds a power step at a span's end: its
 * NEMB__STEP_PERIOD_NS (src/nemb/energy.h, whose includes the CLI does not have). */
#define CG_SLOW_COUNTER_NS 10e6

/* ", gpu0 every ~100 ms, ..." : the in-total domains of @p report whose counter updates every
 * CG_SLOW_COUNTER_NS or more (the ones a power_step bound comes from); "" when none is
 * known. */
static void slow_counters(const json_t *report, char *buf, size_t len) {
  json_t *meta = json_object_get(report, "meta");
  json_t *topo = json_object_get(meta, "domain_topology");
  const char *name;
  json_t *us;
  size_t used = 0;
  buf[0] = '\0';
  json_object_foreach(json_object_get(json_object_get(meta, "sampler"), "update_period_us"), name,
                      us) {
    double ms = json_number_value(us) / 1e3;
    json_t *in = json_object_get(json_object_get(topo, name), "in_total");
    if (ms * 1e6 >= CG_SLOW_COUNTER_NS && !json_is_false(in) && used < len) {
      int n = snprintf(buf + used, len - used, ", %s every ~%.3g ms", name, ms);
      used += n > 0 ? (size_t)n : 0;
    }
  }
  if (used >= len && len > 4) {
    memcpy(buf + len - 4, "...", 4);
  }
}

void cg_print_uncertainty(FILE *fp, const char *label, double unc_j, unsigned why, const char *what,
                          bool plural) {
  cg_print_uncertainty_of(fp, label, unc_j, why, what, plural, NULL);
}

void cg_print_uncertainty_of(FILE *fp, const char *label, double unc_j, unsigned why,
                             const char *what, bool plural, const json_t *report) {
  if (!(unc_j > 0)) {
    return;
  }
  const char *is = plural ? "are" : "is";
  fprintf(fp, "%s± %.4f J: ", label, unc_j);
  if (why & CG_UNC_JOIN) {
    /* An MPI follower whose node leader was gone: the rest of the causes matter less. */
    fprintf(fp,
            "%s %s partly over a span no sample covers, between the node leader's last sample "
            "and this rank's own first (meta.sampler.warnings): its energy there is estimated, "
            "within this either way (energy_uncertainty_j)\n",
            what, is);
    return;
  }
  if (why == CG_UNC_STEP) {
    char slow[200];
    slow_counters(report, slow, sizeof slow);
    fprintf(fp,
            "the power changed at a start or end of %s within an update of a slow energy "
            "counter (%s), whose energy is split by time: the counters fix the energy only to "
            "within this either way (energy_uncertainty_j)\n",
            what, slow[0] ? slow + 2 : "one updated every 10 ms or more");
    return;
  }
  if ((why & CG_UNC_GAP) && (why & CG_UNC_SHORT)) {
    fprintf(fp,
            "%s %s shorter than a few updates of an energy counter and a start or end fell "
            "between stored samples far apart (a long interval, a coarsened store or a busy "
            "machine)",
            what, is);
  } else if (why & CG_UNC_GAP) {
    fprintf(fp,
            "a start or end of %s fell between stored samples many energy-counter updates "
            "apart (a long sampling interval, a coarsened store, or a busy machine that "
            "starved the sampler)",
            what);
  } else {
    fprintf(fp, "%s %s shorter than a few updates of an energy counter", what, is);
  }
  if (why & CG_UNC_STEP) {
    fprintf(fp, ", and the power changed within a slow counter's update at a start or end");
  }
  fprintf(fp, "%s fix the energy only to within this either way (energy_uncertainty_j)\n",
          why & (CG_UNC_GAP | CG_UNC_STEP) ? ": the counters" : ", which");
}

json_t *cg_measurement_warnings(const json_t *report, const char *also_fine) {
  json_t *list = json_array();
  json_t *meta = json_object_get(report, "meta");
  const char *quality = json_string_value(json_object_get(meta, "measurement_quality"));
  if (quality != NULL && strcmp(quality, "ok") != 0 &&
      (also_fine == NULL || strcmp(quality, also_fine) != 0)) {
    char text[96];
    snprintf(text, sizeof text, "measurement_quality is \"%.60s\"", quality);
    json_array_append_new(list, cg_json_text(text));
  }
  size_t i;
  json_t *r;
  json_array_foreach(json_object_get(json_object_get(meta, "sampler"), "warnings"), i, r) {
    if (json_is_string(r)) {
      json_array_append(list, r);
    }
  }
  return list;
}

void cg_report_warnings_add(json_t *report, const json_t *list) {
  json_t *all = json_object_get(report, "warnings");
  if (!json_is_array(all)) {
    all = json_array();
    json_object_set_new(report, "warnings", all);
  }
  size_t i;
  json_t *w;
  json_array_foreach(list, i, w) {
    char *line = NULL;
    if (asprintf(&line, "warning: %s", json_string_value(w)) >= 0) {
      json_array_append_new(all, cg_json_text(line));
      free(line);
    }
  }
}

bool cg_never_changed(const json_t *meta, const char *name) {
  size_t i;
  json_t *d;
  json_array_foreach(json_object_get(json_object_get(meta, "sampler"), "never_changed"), i, d) {
    if (json_is_string(d) && strcmp(json_string_value(d), name) == 0) {
      return true;
    }
  }
  return false;
}

bool cg_total_never_changed(const json_t *meta) {
  const char *name;
  json_t *info;
  size_t n = 0;
  json_object_foreach(json_object_get((json_t *)meta, "domain_topology"), name, info) {
    if (json_is_true(json_object_get(info, "in_total"))) {
      if (!cg_never_changed(meta, name)) {
        return false;
      }
      n++;
    }
  }
  return n > 0;
}
