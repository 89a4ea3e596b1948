/*
 * cmd_info.c - `codegreen info`: what this machine can measure, with which provider, and if it
 * cannot, exactly why. The library describes; this file only renders.
 */
#include <getopt.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "nemb.h"
#include "secure_env.h"

static void print_usage(FILE *fp) {
  fprintf(fp, "usage: codegreen info [--json] [-c CONFIG]\n\n"
              "Lists every energy provider, whether it works on this machine and why not, the\n"
              "domains it measures, and whether figures will be measured or estimated.\n\n"
              "  --json          print the description as JSON\n"
              "  -c, --config F  use this config.json instead of the search order\n"
              "  -h, --help      this help\n");
}

/* Whether this process is privileged (AT_SECURE: file capabilities such as the CAP_PERFMON of
 * `setup-permissions --perf`, or set-user-ID), and which of the variables it then ignores are set
 * (secure_env.h). */
static json_t *privilege_json(void) {
  json_t *ignored = json_array();
  int privileged = nemb__env_privileged();
  for (size_t i = 0; privileged && nemb__gated_env[i] != NULL; i++) {
    if (getenv(nemb__gated_env[i]) != NULL) {
      json_array_append_new(ignored, json_string(nemb__gated_env[i]));
    }
  }
  return json_pack("{s:b, s:o}", "privileged", privileged, "ignored_environment", ignored);
}

static void print_privilege(const json_t *p) {
  if (!json_is_true(json_object_get(p, "privileged"))) {
    return;
  }
  printf("\nprivileged process (AT_SECURE: file capabilities or set-user-ID): the variables that "
         "load code or\nredirect reads are ignored (");
  for (size_t i = 0; nemb__gated_env[i] != NULL; i++) {
    printf("%s%s", i ? ", " : "", nemb__gated_env[i]);
  }
  printf(")\n");
  size_t i;
  json_t *name;
  json_array_foreach(json_object_get(p, "ignored_environment"), i, name) {
    printf("  ignored here: %s is set\n", json_string_value(name));
  }
}

/* "energy_counter" -> "counter": the table column stays narrow. */
static const char *short_method(const char *method) {
  if (method == NULL) {
    return "-";
  }
  if (strcmp(method, "energy_counter") == 0) {
    return "counter";
  }
  if (strcmp(method, "integrated_power") == 0) {
    return "integrated";
  }
  return method;
}

/* The text is rendered into a buffer first, then every line longer than WRAP_COLUMNS is wrapped
 * at spaces, continuing under the start of its text (the reasons can be long sentences). */
#define WRAP_COLUMNS 100
static FILE *text_out;

static void out(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void out(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vfprintf(text_out ? text_out : stdout, fmt, ap);
  va_end(ap);
}

/* Prints @p line (no newline) wrapped at WRAP_COLUMNS; continuation lines are indented to where
 * the text after "label: " begins, or two more than the line's own indentation. */
static void print_wrapped(const char *line, size_t len) {
  size_t lead = 0;
  while (lead < len && line[lead] == ' ') {
    lead++;
  }
  const char *colon = memchr(line + lead, ':', len - lead);
  size_t hang = lead + 2;
  if (colon != NULL && (size_t)(colon - line) + 2 < 40 && colon[1] == ' ') {
    hang = (size_t)(colon - line) + 2;
  }
  size_t start = 0, indent = 0;
  while (len - start + indent > WRAP_COLUMNS) {
    size_t room = WRAP_COLUMNS - indent, cut = start + room;
    while (cut > start && line[cut] != ' ') {
      cut--;
    }
    if (cut == start) {
      cut = start + room; /* one word longer than the line: break it */
    }
    printf("%*s%.*s\n", (int)indent, "", (int)(cut - start), line + start);
    start = cut;
    while (start < len && line[start] == ' ') {
      start++;
    }
    indent = hang;
  }
  printf("%*s%.*s\n", (int)indent, "", (int)(len - start), line + start);
}

static void print_domains(const json_t *domains, const char *indent) {
  size_t i;
  json_t *d;
  out("%s%-14s %-12s %-9s %-9s %-8s %-10s %s\n", indent, "DOMAIN", "KIND", "SOURCE", "TOP-LEVEL",
      "IN TOTAL", "METHOD", "INCLUDES");
  json_array_foreach(domains, i, d) {
    char inc[256] = "";
    size_t k;
    json_t *name;
    json_array_foreach(json_object_get(d, "includes"), k, name) {
      size_t len = strlen(inc);
      snprintf(inc + len, sizeof inc - len, "%s%s", k ? ", " : "", json_string_value(name));
    }
    out("%s%-14s %-12s %-9s %-9s %-8s %-10s %s\n", indent,
        json_string_value(json_object_get(d, "name")),
        json_string_value(json_object_get(d, "kind")),
        json_string_value(json_object_get(d, "source")),
        json_is_true(json_object_get(d, "top_level")) ? "yes" : "no",
        json_is_true(json_object_get(d, "in_total")) ? "yes" : "no",
        short_method(json_string_value(json_object_get(d, "method"))), inc[0] ? inc : "-");
  }
  /* Where each reading comes from, and whether power is integrated: the details that decide how
   * far a figure can be trusted. */
  json_array_foreach(domains, i, d) {
    const char *detail = json_string_value(json_object_get(d, "detail"));
    if (detail != NULL) {
      out("%s  %s: %s\n", indent, json_string_value(json_object_get(d, "name")), detail);
    }
  }
}

/* The domains several providers see: read from one, compared with the others at start-up. */
static void print_counted_once(const json_t *doc) {
  const json_t *once = json_object_get(json_object_get(doc, "selection"), "counted_once");
  if (json_array_size(once) == 0) {
    return;
  }
  char pref[256] = "";
  size_t i;
  json_t *p;
  json_array_foreach(json_object_get(doc, "preference"), i, p) {
    size_t len = strlen(pref);
    snprintf(pref + len, sizeof pref - len, "%s%s", i ? " > " : "", json_string_value(p));
  }
  out("\nCounted once (one counter seen through several interfaces; preference %s):\n", pref);
  json_array_foreach(once, i, p) {
    const json_t *check = json_object_get(p, "cross_check");
    out("  %-14s from %s; also seen by %s", json_string_value(json_object_get(p, "domain")),
        json_string_value(json_object_get(p, "used")),
        json_string_value(json_object_get(p, "also_seen_by")));
    const char *there = json_string_value(json_object_get(p, "name_there"));
    if (there != NULL && strcmp(there, json_string_value(json_object_get(p, "domain"))) != 0) {
      out(" (as %s)", there);
    }
    out(": %s\n", json_string_value(json_object_get(check, "note")));
  }
}

static void print_text(const json_t *doc) {
  const json_t *cfg = json_object_get(doc, "config");
  const json_t *vm = json_object_get(doc, "virtual_machine");
  out("codegreen %s (libcodegreen-nemb ABI %d)\n",
      json_string_value(json_object_get(doc, "codegreen_version")),
      (int)json_integer_value(json_object_get(doc, "nemb_abi_version")));
  out("config:            %s\n", json_string_value(json_object_get(cfg, "origin")));
  out("sampling interval: %g ms\n",
      json_number_value(json_object_get(cfg, "measurement_interval_ms")));
  if (strcmp(json_string_value(json_object_get(doc, "sysfs_root")), "/") != 0) {
    out("sysfs root:        %s (CODEGREEN_SYSFS_ROOT)\n",
        json_string_value(json_object_get(doc, "sysfs_root")));
  }
  if (json_is_true(json_object_get(vm, "detected"))) {
    out("machine:           virtual machine (%s)\n",
        json_string_value(json_object_get(vm, "hypervisor")));
  } else {
    out("machine:           no hypervisor detected\n");
  }

  out("\nProviders:\n");
  size_t i;
  json_t *p;
  json_array_foreach(json_object_get(doc, "providers"), i, p) {
    const char *status = json_string_value(json_object_get(p, "status"));
    bool in_use = json_is_true(json_object_get(p, "in_use"));
    out("  %-9s %s (%s)\n", json_string_value(json_object_get(p, "name")),
        in_use                             ? "IN USE"
        : strcmp(status, "available") == 0 ? "available"
                                           : "NOT AVAILABLE",
        json_string_value(json_object_get(p, "role")));
    if (json_is_string(json_object_get(p, "reason"))) {
      out("            %s: %s\n", status, json_string_value(json_object_get(p, "reason")));
    }
    if (json_is_string(json_object_get(p, "fix"))) {
      out("            fix: `%s`, then log in again\n",
          json_string_value(json_object_get(p, "fix")));
    }
    size_t ui;
    json_t *u;
    json_array_foreach(json_object_get(p, "unused"), ui, u) {
      printf("            not fully usable: %s: %s\n",
             json_string_value(json_object_get(u, "name")),
             json_string_value(json_object_get(u, "reason")));
      if (json_is_string(json_object_get(u, "fix"))) {
        printf("              fix: %s\n", json_string_value(json_object_get(u, "fix")));
      }
    }
  }

  const json_t *sel = json_object_get(doc, "selection");
  const char *mode = json_string_value(json_object_get(sel, "mode"));
  out("\nA measurement started now would use:\n");
  const char *fix = json_string_value(json_object_get(doc, "permission_fix"));
  if (strcmp(mode, "none") == 0) {
    out("  nothing: %s\n", json_string_value(json_object_get(sel, "reason")));
    out("\nNo energy can be reported on this machine with the current settings.\n");
    if (fix != NULL) {
      out("Energy counters exist but this user may not read them: run `%s`,\n"
          "then log in again.\n",
          fix);
    }
    return;
  }
  print_domains(json_object_get(sel, "domains"), "  ");
  print_counted_once(doc);
  bool some_measured = false;
  size_t di;
  json_t *d;
  json_array_foreach(json_object_get(sel, "domains"), di, d) {
    some_measured = some_measured || json_is_true(json_object_get(d, "measured"));
  }
  if (strcmp(mode, "estimated") == 0 && some_measured) {
    out("\nFigures will be partly ESTIMATED: no CPU energy counter is readable here, so the\n"
        "CPU's energy is modelled from CPU time (see README, 'estimate' provider); the other\n"
        "domains are measured. Every report says so.\n");
  } else if (strcmp(mode, "estimated") == 0) {
    out("\nFigures will be ESTIMATED, not measured: no energy counter is readable here, so\n"
        "energy is modelled from CPU time (see README, 'estimate' provider). Every report\n"
        "says so.\n");
  } else if (strcmp(mode, "simulated") == 0) {
    out("\nFigures will come from the SIMULATED device (%s), not from hardware.\n",
        json_string_value(json_object_get(sel, "forced_by")) ? "CODEGREEN_PROVIDERS"
                                                             : "providers.list");
  } else {
    out("\nFigures will be MEASURED by hardware energy counters.\n");
  }
  if (fix != NULL) {
    out("\nSome energy counters exist but this user may not read them. To use them without\n"
        "root, run `%s` once, then log in again (it never makes\n"
        "them world-readable; see CVE-2020-8694).\n",
        fix);
  }
}

int cg_cmd_info(int argc, char **argv) {
  static const struct option opts[] = {{"json", no_argument, NULL, 'j'},
                                       {"config", required_argument, NULL, 'c'},
                                       {"help", no_argument, NULL, 'h'},
                                       {NULL, 0, NULL, 0}};
  bool json = false;
  const char *config_path = NULL;
  int c;
  while ((c = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
    switch (c) {
    case 'j':
      json = true;
      break;
    case 'c':
      config_path = optarg;
      break;
    case 'h':
      print_usage(stdout);
      return CG_EXIT_OK;
    default:
      print_usage(stderr);
      return CG_EXIT_USAGE;
    }
  }
  if (!cg_no_operand(argc, argv, "info", print_usage)) {
    return CG_EXIT_USAGE;
  }

  nemb_config *cfg = NULL;
  int rc = nemb_config_load(config_path, &cfg);
  if (rc != 0) {
    return cg_fail(rc, "cannot load the configuration");
  }
  char *text = NULL;
  rc = nemb_describe_json(cfg, &text);
  nemb_config_destroy(cfg);
  if (rc != 0) {
    return cg_fail(rc, "cannot describe the providers");
  }
  json_t *doc = json_loads(text, 0, NULL);
  if (doc == NULL) {
    nemb_free(text);
    fprintf(stderr, "codegreen info: internal error: the library's JSON does not parse\n");
    return CG_EXIT_FAIL;
  }
  /* A provider list the user named that cannot measure is a configuration error, as for run
   * and measure (exit 1), said after everything info can show. */
  const char *mode = json_string_value(json_object_get(json_object_get(doc, "selection"), "mode"));
  bool have_meter = mode == NULL || strcmp(mode, "none") != 0;
  json_t *priv = privilege_json();
  if (json) {
    json_object_set(doc, "environment", priv);
    char *out = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    printf("%s\n", out ? out : text);
    free(out);
  } else {
    char *buf = NULL;
    size_t len = 0;
    text_out = open_memstream(&buf, &len);
    print_text(doc);
    if (text_out != NULL) {
      fclose(text_out);
      text_out = NULL;
      for (char *line = buf; line != NULL && *line != '\0';) {
        char *nl = strchr(line, '\n');
        size_t n = nl ? (size_t)(nl - line) : strlen(line);
        print_wrapped(line, n);
        line = nl ? nl + 1 : line + n;
      }
    }
    free(buf);
    print_privilege(priv);
  }
  json_decref(priv);
  json_decref(doc);
  nemb_free(text);
  fflush(stdout); /* the description first, then why it cannot measure */
  nemb_config *named = NULL;
  int code = CG_EXIT_OK;
  if (!have_meter && nemb_config_load(config_path, &named) == 0) {
    code = cg_named_providers_check("info", named, false);
  }
  nemb_config_destroy(named);
  return code;
}
