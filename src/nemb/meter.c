/*
 * meter.c - choosing providers (one counter per domain, cross-checked at start-up), describing
 * their domains, and the public meter API around the sampler thread (sampler.c) and the sample
 * store (store.c).
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "meter.h"
#include "proc_tree.h"

/* Power assumed for a domain whose provider states no ceiling when deciding how often a
 * counter must be read to see every wrap: generous for a CPU package or DRAM. */
#define DEFAULT_MAX_POWER_UW 2000000000ull /* 2 kW */
#define MIN_GUARD_NS 100000ull             /* never read more often than every 100 us */

static void close_providers(nemb_meter *m) {
  for (size_t i = 0; i < m->n_providers; i++) {
    if (!m->providers[i].left_behind) {
      m->providers[i].ops->close(m->providers[i].state);
    }
  }
  m->n_providers = 0;
  m->n_domains = 0;
}

/* Appends an opened provider and its domains to the meter. The caller checked room and names. */
static void attach(nemb_meter *m, const struct nemb__provider_ops *ops, void *state,
                   const nemb__domain *doms, size_t n) {
  nemb__open_provider *op = &m->providers[m->n_providers++];
  op->ops = ops;
  op->state = state;
  op->first = m->n_domains;
  op->count = n;
  op->polled = ops->cadence != NULL;
  if (op->polled) {
    ops->cadence(state, &op->every_ns, &op->deadline_ns);
  }
  for (size_t i = 0; i < n; i++) {
    size_t d = m->n_domains++;
    m->domains[d] = doms[i];
    m->source[d] = ops->name;
    m->measured[d] = ops->measured;
    for (size_t k = 0; k < doms[i].n_includes; k++) {
      m->include_ptrs[d][k] = m->domains[d].includes[k];
    }
  }
}

/* Opens one provider and appends its domains. On failure, *why says why. */
static int add_provider(nemb_meter *m, const struct nemb__provider_ops *ops, const nemb_config *cfg,
                        char *why, size_t why_len) {
  if (m->n_providers >= NEMB__MAX_PROVIDERS) {
    snprintf(why, why_len, "too many providers (at most %d)", NEMB__MAX_PROVIDERS);
    return NEMB_EINVAL;
  }
  nemb__provider_env env = {cfg};
  void *state = NULL;
  why[0] = '\0';
  int rc = ops->open(&env, &state, why, why_len);
  if (rc != 0) {
    if (why[0] == '\0') {
      snprintf(why, why_len, "%s", nemb_strerror(rc));
    }
    return rc;
  }
  const nemb__domain *doms;
  size_t n = ops->domains(state, &doms);
  if (m->n_domains + n > NEMB__MAX_DOMAINS) {
    ops->close(state);
    snprintf(why, why_len, "more than %d domains in all", NEMB__MAX_DOMAINS);
    return NEMB_ERANGE;
  }
  for (size_t i = 0; i < n; i++) {
    for (size_t j = 0; j < m->n_domains; j++) {
      if (nemb__same_domain(m->domains[j].name, doms[i].name)) {
        snprintf(why, why_len,
                 "domain %s is reported by both %s and %s; select only one of them so it is not "
                 "counted twice",
                 doms[i].name, m->source[j], ops->name);
        ops->close(state);
        return NEMB_ECONFIG;
      }
    }
  }
  attach(m, ops, state, doms, n);
  return 0;
}

/* ----- one counter per domain -----
 *
 * In automatic selection several providers may see one domain: on an Intel machine read by root,
 * perf, powercap and msr all see package-0. Each domain is read from the first provider in the
 * registry's order that sees it (see registry.c for why that order), so it is counted once. A
 * provider left with no domain of its own is closed; one left with some (msr's AMD per-core
 * domains beside powercap's package) is read through a filtered view that hides the rest, so the
 * sampler, which reads every provider into consecutive slots, never sees them. */

/* A provider opened in automatic selection, before it is attached. */
typedef struct candidate {
  const struct nemb__provider_ops *ops;
  void *state;
  const nemb__domain *doms;
  size_t n;
  bool keep[NEMB__MAX_DOMAINS];
  size_t n_keep;
} candidate;

/* One overlap while selecting: which candidate's domain is used, which is only compared. */
typedef struct pair {
  size_t used_c, used_i;
  size_t other_c, other_i;
} pair;

/* The filtered view: a copy of the provider's operations whose read() reads the whole provider
 * into a scratch array and hands on the kept domains only. */
typedef struct filtered {
  struct nemb__provider_ops ops; /* name, measured, simulated as the provider's */
  const struct nemb__provider_ops *inner;
  void *state;
  size_t n;
  size_t index[NEMB__MAX_DOMAINS]; /* the provider's index of each kept domain */
  nemb__domain domains[NEMB__MAX_DOMAINS];
  uint64_t scratch[NEMB__MAX_DOMAINS];
} filtered;

static size_t filtered_domains(void *state, const nemb__domain **out) {
  const filtered *f = state;
  *out = f->domains;
  return f->n;
}

static int filtered_read(void *state, uint64_t t_ns, uint64_t *raw_uj) {
  filtered *f = state;
  int rc = f->inner->read(f->state, t_ns, f->scratch);
  if (rc != 0) {
    return rc;
  }
  for (size_t i = 0; i < f->n; i++) {
    raw_uj[i] = f->scratch[f->index[i]];
  }
  return 0;
}

static uint64_t filtered_update_interval_ns(void *state) {
  const filtered *f = state;
  return f->inner->update_interval_ns(f->state);
}

static void filtered_cadence(void *state, uint64_t *every_ns, uint64_t *deadline_ns) {
  const filtered *f = state;
  f->inner->cadence(f->state, every_ns, deadline_ns);
}

static void filtered_gpu_usage(void *state, size_t dom, uint64_t from_us, uint64_t to_us,
                               nemb_gpu_usage *out) {
  const filtered *f = state;
  f->inner->gpu_usage(f->state, f->index[dom], from_us, to_us, out);
}

static void filtered_gpu_flush(void *state) {
  const filtered *f = state;
  f->inner->gpu_flush(f->state);
}

static void filtered_gpu_forget(void *state, size_t dom, uint64_t before_us) {
  const filtered *f = state;
  f->inner->gpu_forget(f->state, f->index[dom], before_us);
}

static void filtered_close(void *state) {
  filtered *f = state;
  if (f == NULL) {
    return;
  }
  f->inner->close(f->state);
  free(f);
}

/* Attaches the kept domains of a candidate: the provider itself when it keeps them all, a
 * filtered view otherwise. Returns 0 or NEMB_ENOMEM (the candidate stays the caller's to close). */
static int attach_candidate(nemb_meter *m, candidate *c) {
  if (c->n_keep == c->n) {
    attach(m, c->ops, c->state, c->doms, c->n);
    return 0;
  }
  filtered *f = calloc(1, sizeof *f);
  if (f == NULL) {
    return NEMB_ENOMEM;
  }
  f->ops = *c->ops;
  f->ops.open = NULL; /* a view is made, never opened */
  f->ops.domains = filtered_domains;
  f->ops.read = filtered_read;
  f->ops.update_interval_ns = filtered_update_interval_ns;
  f->ops.cadence = c->ops->cadence != NULL ? filtered_cadence : NULL;
  f->ops.gpu_usage = c->ops->gpu_usage != NULL ? filtered_gpu_usage : NULL;
  f->ops.gpu_flush = c->ops->gpu_flush != NULL ? filtered_gpu_flush : NULL;
  f->ops.gpu_forget = c->ops->gpu_forget != NULL ? filtered_gpu_forget : NULL;
  f->ops.close = filtered_close;
  f->inner = c->ops;
  f->state = c->state;
  for (size_t i = 0; i < c->n; i++) {
    if (c->keep[i]) {
      f->index[f->n] = i;
      f->domains[f->n] = c->doms[i];
      f->n++;
    }
  }
  attach(m, &f->ops, f, f->domains, f->n);
  return 0;
}

/* Canonical form for comparison: a bare sub-domain name is socket 0's. */
static void canonical(const char *name, char *out, size_t len) {
  static const char *const bare[] = {"core", "uncore", "dram"};
  for (size_t i = 0; i < NEMB__ARRAY_LEN(bare); i++) {
    if (strcmp(name, bare[i]) == 0) {
      snprintf(out, len, "%s-0", name);
      return;
    }
  }
  snprintf(out, len, "%s", name);
}

bool nemb__same_domain(const char *a, const char *b) {
  char ca[NEMB__NAME_MAX + 4];
  char cb[NEMB__NAME_MAX + 4];
  canonical(a, ca, sizeof ca);
  canonical(b, cb, sizeof cb);
  return strcmp(ca, cb) == 0;
}

nemb__xcheck nemb__xcheck_verdict(double a_w, double b_w) {
  double diff = fabs(a_w - b_w);
  double larger = fmax(fabs(a_w), fabs(b_w));
  return diff <= fmax(1.0, 0.10 * larger) ? NEMB__XCHECK_AGREE : NEMB__XCHECK_DISAGREE;
}

static void sleep_ns(uint64_t ns) {
  struct timespec ts = {.tv_sec = (time_t)(ns / 1000000000u), .tv_nsec = (long)(ns % 1000000000u)};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

/* Energy between two raw readings of a domain, undoing one wrap; false if it went backwards on a
 * counter that does not wrap (a reset). */
static bool raw_delta(uint64_t before, uint64_t after, uint64_t range, uint64_t *out) {
  if (before == NEMB__RAW_INVALID || after == NEMB__RAW_INVALID) {
    return false;
  }
  if (after >= before) {
    *out = after - before;
    return true;
  }
  if (range > 0 && before < range) {
    *out = after + (range - before);
    return true;
  }
  return false;
}

/* Reads every candidate involved in an overlap twice, window_ns apart, and compares the mean
 * power each one saw. Cheap: two extra reads per provider, once per meter. */
static void cross_check(nemb_meter *m, candidate *cands, size_t nc, const pair *pairs,
                        uint64_t window_ns) {
  typedef struct reading {
    bool involved;
    int rc0, rc1;
    uint64_t t0, t1;
    uint64_t v0[NEMB__MAX_DOMAINS], v1[NEMB__MAX_DOMAINS];
  } reading;
  reading *r = calloc(nc, sizeof *r);
  if (r == NULL) {
    for (size_t o = 0; o < m->n_overlaps; o++) {
      snprintf(m->overlaps[o].note, sizeof m->overlaps[o].note, "not compared: out of memory");
      m->overlaps[o].verdict = NEMB__XCHECK_FAILED;
    }
    return;
  }
  for (size_t o = 0; o < m->n_overlaps; o++) {
    r[pairs[o].used_c].involved = true;
    r[pairs[o].other_c].involved = true;
  }
  for (size_t c = 0; c < nc; c++) {
    if (r[c].involved) {
      r[c].t0 = nemb__now_ns();
      r[c].rc0 = cands[c].ops->read(cands[c].state, r[c].t0, r[c].v0);
    }
  }
  sleep_ns(window_ns);
  for (size_t c = 0; c < nc; c++) {
    if (r[c].involved) {
      r[c].t1 = nemb__now_ns();
      r[c].rc1 = cands[c].ops->read(cands[c].state, r[c].t1, r[c].v1);
    }
  }
  for (size_t o = 0; o < m->n_overlaps; o++) {
    nemb__overlap *ov = &m->overlaps[o];
    const pair *p = &pairs[o];
    const reading *ru = &r[p->used_c];
    const reading *ro = &r[p->other_c];
    ov->window_ns = window_ns;
    if (ru->rc0 || ru->rc1 || ro->rc0 || ro->rc1) {
      int rc = ru->rc0 ? ru->rc0 : ru->rc1 ? ru->rc1 : ro->rc0 ? ro->rc0 : ro->rc1;
      snprintf(ov->note, sizeof ov->note, "not compared: reading %s failed (%s)",
               ru->rc0 || ru->rc1 ? ov->used : ov->other, nemb_strerror(rc));
      ov->verdict = NEMB__XCHECK_FAILED;
      continue;
    }
    uint64_t du, d_o;
    if (!raw_delta(ru->v0[p->used_i], ru->v1[p->used_i], cands[p->used_c].doms[p->used_i].range_uj,
                   &du) ||
        !raw_delta(ro->v0[p->other_i], ro->v1[p->other_i],
                   cands[p->other_c].doms[p->other_i].range_uj, &d_o) ||
        ru->t1 <= ru->t0 || ro->t1 <= ro->t0) {
      snprintf(ov->note, sizeof ov->note, "not compared: a counter went backwards (reset)");
      ov->verdict = NEMB__XCHECK_FAILED;
      continue;
    }
    /* uJ per ns is kW: times 1000 for watts. */
    ov->used_w = (double)du / (double)(ru->t1 - ru->t0) * 1e3;
    ov->other_w = (double)d_o / (double)(ro->t1 - ro->t0) * 1e3;
    ov->verdict = nemb__xcheck_verdict(ov->used_w, ov->other_w);
    if (ov->verdict == NEMB__XCHECK_AGREE) {
      snprintf(ov->note, sizeof ov->note, "agree: %.2f W and %.2f W over %.0f ms", ov->used_w,
               ov->other_w, (double)window_ns / 1e6);
    } else {
      snprintf(ov->note, sizeof ov->note,
               "DISAGREE: %s reads %.2f W, %s %.2f W over %.0f ms; %s is used", ov->used,
               ov->used_w, ov->other, ov->other_w, (double)window_ns / 1e6, ov->used);
      nemb__log(NEMB_LOG_WARN, "domain %s: %s", ov->domain, ov->note);
    }
  }
  free(r);
}

/* Gives a chosen domain the containment its duplicate knew of and it did not (msr's AMD package
 * lists its core<K> domains; powercap's package-0 cannot), as far as the meter has those names. */
static void merge_includes(nemb_meter *m, const nemb__domain *dropped, const char *kept_name) {
  nemb__domain *kept = NULL;
  size_t kd = 0;
  for (size_t d = 0; d < m->n_domains && kept == NULL; d++) {
    if (strcmp(m->domains[d].name, kept_name) == 0) {
      kept = &m->domains[d];
      kd = d;
    }
  }
  if (kept == NULL) {
    return;
  }
  for (size_t k = 0; k < dropped->n_includes; k++) {
    const char *meter_name = NULL;
    for (size_t d = 0; d < m->n_domains && meter_name == NULL; d++) {
      if (nemb__same_domain(m->domains[d].name, dropped->includes[k])) {
        meter_name = m->domains[d].name;
      }
    }
    bool listed = false;
    for (size_t j = 0; j < kept->n_includes && meter_name != NULL; j++) {
      listed = listed || strcmp(kept->includes[j], meter_name) == 0;
    }
    if (meter_name != NULL && !listed && nemb__domain_add_include(kept, meter_name)) {
      m->include_ptrs[kd][kept->n_includes - 1] = kept->includes[kept->n_includes - 1];
    }
  }
}

/* The start-up cross-check's window: providers.cross_check_ms (0 skips the check, which tests
 * use to stay fast). Its default and range are config.c's; loading a config refuses a value
 * outside the range. */
static uint64_t cross_check_window_ns(const nemb_config *cfg) {
  return (uint64_t)(nemb__config_number(cfg, "providers.cross_check_ms") * 1e6);
}

/* Copies the next comma-separated, space-trimmed name of *list into @p name; false at the end. */
static bool next_name(const char **list, char *name, size_t len) {
  const char *p = *list;
  while (*p == ',' || isspace((unsigned char)*p)) {
    p++;
  }
  if (*p == '\0') {
    return false;
  }
  const char *end = p;
  while (*end != '\0' && *end != ',') {
    end++;
  }
  size_t n = (size_t)(end - p);
  while (n > 0 && isspace((unsigned char)p[n - 1])) {
    n--;
  }
  snprintf(name, len, "%.*s", (int)n, p);
  *list = end;
  return true;
}

/* CODEGREEN_PROVIDERS=a,b (environment first) or providers.list: exactly those, all required. */
/* A forced list is taken only when it means one thing: no empty name ("sim,,x", ","), no name
 * twice, and the estimate alone (it models the whole machine, so added to measured domains it
 * would count their energy twice and turn a measured total into an estimate). */
static int check_forced_list(const char *list, const char *origin) {
  const char *names[NEMB__MAX_PROVIDERS * 2];
  size_t n = 0;
  bool estimate = false;
  const char *p = list;
  for (;;) {
    const char *start = p + strspn(p, " \t");
    size_t len = strcspn(start, ",");
    size_t trimmed = len;
    while (trimmed > 0 && isspace((unsigned char)start[trimmed - 1])) {
      trimmed--;
    }
    if (trimmed == 0) {
      return nemb__fail(NEMB_ECONFIG,
                        "%s = \"%s\" has an empty provider name; give names "
                        "separated by commas, such as \"powercap,nvml\"",
                        origin, list);
    }
    const struct nemb__provider_ops *ops = NULL;
    char name[NEMB__NAME_MAX * 2];
    snprintf(name, sizeof name, "%.*s", (int)trimmed, start);
    ops = nemb__provider_find(name);
    for (size_t i = 0; ops != NULL && i < n; i++) {
      if (names[i] == ops->name) {
        return nemb__fail(NEMB_ECONFIG, "%s = \"%s\" names %s twice", origin, list, name);
      }
    }
    if (ops != NULL && n < NEMB__ARRAY_LEN(names)) {
      names[n++] = ops->name;
      estimate = estimate || !ops->measured;
    }
    if (start[len] == '\0') {
      break;
    }
    p = start + len + 1;
  }
  if (estimate && n > 1) {
    return nemb__fail(NEMB_ECONFIG,
                      "%s = \"%s\" adds the estimate to measured providers: the estimate models "
                      "the whole machine, so the sum would count energy twice and label all of it "
                      "estimated; name the estimate alone or leave it out",
                      origin, list);
  }
  return 0;
}

static int select_forced(nemb_meter *m, const nemb_config *cfg, const char *list,
                         const char *origin) {
  char name[NEMB__NAME_MAX * 2];
  char why[1024];
  int crc = check_forced_list(list, origin);
  if (crc != 0) {
    return crc;
  }
  const char *p = list;
  while (next_name(&p, name, sizeof name)) {
    const struct nemb__provider_ops *ops = nemb__provider_find(name);
    if (ops == NULL) {
      char known[256];
      nemb__provider_names(known, sizeof known);
      return nemb__fail(NEMB_EUNKNOWNPROV, "unknown provider '%s' in %s; this build knows: %s",
                        name, origin, known);
    }
    bool dup = false;
    for (size_t i = 0; i < m->n_providers; i++) {
      dup = dup || m->providers[i].ops == ops;
    }
    if (dup) {
      continue;
    }
    int rc = add_provider(m, ops, cfg, why, sizeof why);
    if (rc != 0) {
      return nemb__fail(rc, "provider %s (required by %s) cannot be used: %s", name, origin, why);
    }
  }
  if (m->n_providers == 0) {
    return nemb__fail(NEMB_ECONFIG, "%s names no provider", origin);
  }
  return 0;
}

/* Why each provider was not used, for the message when none is. nemb_last_error() holds 1 KiB,
 * so each reason gets an equal share of it (the full text is in `codegreen info`). */
typedef struct reasons {
  size_t n;
  char name[NEMB__MAX_PROVIDERS * 2][NEMB__NAME_MAX];
  char why[NEMB__MAX_PROVIDERS * 2][512];
} reasons;

static void add_reason(reasons *r, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void add_reason(reasons *r, const char *name, const char *fmt, ...) {
  if (r->n >= NEMB__ARRAY_LEN(r->why)) {
    return;
  }
  snprintf(r->name[r->n], sizeof r->name[r->n], "%s", name);
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(r->why[r->n], sizeof r->why[r->n], fmt, ap);
  va_end(ap);
  r->n++;
}

/* "name: why. name: why.", the reason of provider @p first (the estimate's: the one that would
 * have saved the day) leading. */
static void format_reasons(const reasons *r, const char *first, char *out, size_t len) {
  size_t used = 0;
  out[0] = '\0';
  size_t share = r->n ? 880 / r->n : 0;
  for (int pass = 0; pass < 2; pass++) {
    for (size_t i = 0; i < r->n && used < len; i++) {
      bool is_first = first != NULL && strcmp(r->name[i], first) == 0;
      if (is_first != (pass == 0)) {
        continue;
      }
      size_t wlen = strlen(r->why[i]);
      while (wlen > 0 && (r->why[i][wlen - 1] == '.' || r->why[i][wlen - 1] == ' ')) {
        wlen--;
      }
      bool cut = wlen > share;
      int n = snprintf(out + used, len - used, "%s%s: %.*s%s", used ? " " : "", r->name[i],
                       (int)(cut ? share : wlen), r->why[i], cut ? "..." : ".");
      if (n < 0) {
        return;
      }
      used += (size_t)n;
    }
  }
}

/* Every real provider that opens, each domain from the first provider that sees it; the
 * estimate when none of them measures a CPU package (a GPU-only or sensor-only machine still gets
 * its CPU counted, labelled as estimated). */
static int select_auto(nemb_meter *m, const nemb_config *cfg) {
  reasons *why_not = calloc(1, sizeof *why_not);
  if (why_not == NULL) {
    return nemb__fail(NEMB_ENOMEM, "out of memory choosing providers");
  }
  char why[1024];
  const struct nemb__provider_ops *fallback = NULL;
  candidate cands[NEMB__MAX_PROVIDERS];
  pair pairs[NEMB__MAX_OVERLAPS];
  size_t nc = 0;
  size_t n_kept = 0;
  int rc = 0;
  for (size_t i = 0; nemb__providers[i] != NULL; i++) {
    const struct nemb__provider_ops *ops = nemb__providers[i];
    if (ops->simulated) {
      continue; /* only ever used when asked for by name */
    }
    if (!ops->measured) {
      fallback = ops;
      continue;
    }
    if (nc >= NEMB__MAX_PROVIDERS) {
      add_reason(why_not, ops->name, "too many providers (at most %d)", NEMB__MAX_PROVIDERS);
      continue;
    }
    nemb__provider_env env = {cfg};
    candidate *c = &cands[nc];
    memset(c, 0, sizeof *c);
    c->ops = ops;
    why[0] = '\0';
    int orc = ops->open(&env, &c->state, why, sizeof why);
    if (orc != 0) {
      add_reason(why_not, ops->name, "%s", why[0] ? why : nemb_strerror(orc));
      continue;
    }
    c->n = ops->domains(c->state, &c->doms);
    size_t n_pairs_before = m->n_overlaps;
    for (size_t d = 0; d < c->n; d++) {
      c->keep[d] = true;
      for (size_t e = 0; e < nc && c->keep[d]; e++) {
        for (size_t f = 0; f < cands[e].n && c->keep[d]; f++) {
          if (!cands[e].keep[f] || !nemb__same_domain(cands[e].doms[f].name, c->doms[d].name)) {
            continue;
          }
          c->keep[d] = false;
          if (m->n_overlaps < NEMB__MAX_OVERLAPS) {
            nemb__overlap *ov = &m->overlaps[m->n_overlaps];
            memset(ov, 0, sizeof *ov);
            snprintf(ov->domain, sizeof ov->domain, "%s", cands[e].doms[f].name);
            ov->used = cands[e].ops->name;
            ov->other = ops->name;
            snprintf(ov->other_name, sizeof ov->other_name, "%s", c->doms[d].name);
            snprintf(ov->note, sizeof ov->note, "not compared (providers.cross_check_ms is 0)");
            pairs[m->n_overlaps] = (pair){e, f, nc, d};
            m->n_overlaps++;
          }
        }
      }
      c->n_keep += c->keep[d];
    }
    if (n_kept + c->n_keep > NEMB__MAX_DOMAINS) {
      add_reason(why_not, ops->name, "more than %d domains in all", NEMB__MAX_DOMAINS);
      m->n_overlaps = n_pairs_before;
      ops->close(c->state);
      continue;
    }
    n_kept += c->n_keep;
    nc++;
  }

  uint64_t window = cross_check_window_ns(cfg);
  if (m->n_overlaps > 0 && window > 0) {
    cross_check(m, cands, nc, pairs, window);
  }

  /* Attach in preference order; providers that keep nothing are closed only after the includes
   * of their domains have been merged into the chosen ones. */
  for (size_t c = 0; c < nc; c++) {
    if (cands[c].n_keep == 0) {
      continue;
    }
    if (m->n_providers >= NEMB__MAX_PROVIDERS) {
      add_reason(why_not, cands[c].ops->name, "too many providers (at most %d)",
                 NEMB__MAX_PROVIDERS);
      cands[c].ops->close(cands[c].state);
      cands[c].n_keep = 0;
      continue;
    }
    if (attach_candidate(m, &cands[c]) != 0) {
      add_reason(why_not, cands[c].ops->name, "out of memory");
      cands[c].n_keep = 0;
    }
  }
  for (size_t o = 0; o < m->n_overlaps; o++) {
    const pair *p = &pairs[o];
    merge_includes(m, &cands[p->other_c].doms[p->other_i], m->overlaps[o].domain);
  }
  for (size_t c = 0; c < nc; c++) {
    if (cands[c].n_keep == 0) {
      cands[c].ops->close(cands[c].state);
    }
  }

  bool cpu_measured = false;
  for (size_t d = 0; d < m->n_domains; d++) {
    cpu_measured = cpu_measured || strcmp(m->domains[d].kind, NEMB__KIND_PACKAGE) == 0;
  }
  if (!cpu_measured) {
    /* A platform counter (psys) with no package counter beside it is the only measurement of
     * the CPU there is, and it contains it: it is the total, not the CPU-time estimate. */
    for (size_t d = 0; d < m->n_domains; d++) {
      if (strcmp(m->domains[d].kind, NEMB__KIND_PLATFORM) == 0 && m->measured[d]) {
        m->domains[d].in_total = true;
        cpu_measured = true;
      }
    }
  }
  if (!cpu_measured && fallback != NULL) {
    int frc = add_provider(m, fallback, cfg, why, sizeof why);
    if (frc != 0) {
      add_reason(why_not, fallback->name, "%s", why);
    }
  }
  if (m->n_providers == 0) {
    char text[1024];
    format_reasons(why_not, fallback ? fallback->name : NULL, text, sizeof text);
    rc = nemb__fail(NEMB_ENOPROVIDER, "no energy provider could be opened. %s", text);
  }
  free(why_not);
  return rc;
}

int nemb_meter_create(const nemb_config *cfg, nemb_meter **out) {
  nemb__clear_error();
  if (out == NULL) {
    return nemb__fail(NEMB_EINVAL, "nemb_meter_create: out is NULL");
  }
  *out = NULL;
  const nemb_config *use;
  nemb_config *owned = NULL;
  int rc = nemb__config_resolve(cfg, &use, &owned);
  if (rc != 0) {
    return rc;
  }

  nemb_meter *m = calloc(1, sizeof *m);
  if (m == NULL) {
    rc = nemb__fail(NEMB_ENOMEM, "out of memory creating a meter");
    goto fail_config;
  }

  char list[512] = "";
  const char *env_list = getenv("CODEGREEN_PROVIDERS");
  if (env_list != NULL && env_list[0] != '\0') { /* "," or " " is refused, not taken as unset */
    rc = select_forced(m, use, env_list, "CODEGREEN_PROVIDERS");
  } else if (nemb_config_get_string(use, "providers.list", list, sizeof list) == 0 &&
             list[0] != '\0') {
    rc = select_forced(m, use, list, "providers.list in the configuration");
  } else {
    rc = select_auto(m, use);
  }
  if (rc != 0) {
    goto fail_providers;
  }

  double interval_ms = nemb__config_number(use, "coordinator.measurement_interval_ms");
  double max_samples = nemb__config_number(use, "coordinator.max_samples");
  atomic_init(&m->interval_ns, (uint64_t)(interval_ms * 1e6));

  /* Read each counter at least four times per fastest possible wrap (see unwrap.h). */
  m->guard_ns = UINT64_MAX;
  for (size_t d = 0; d < m->n_domains; d++) {
    uint64_t power = m->domains[d].max_power_uw ? m->domains[d].max_power_uw : DEFAULT_MAX_POWER_UW;
    nemb__unwrap_init(&m->unwrap[d], m->domains[d].range_uj, power);
    if (m->domains[d].range_uj == 0) {
      continue;
    }
    double wrap_ns = (double)m->domains[d].range_uj / (double)power * 1e9;
    /* A domain of next to no power (a 0 W simulated one: 1 uW) wraps in centuries: past
     * uint64_t, where the conversion is undefined (it gave 0, and a warning of a 0 ns wrap). */
    uint64_t guard = wrap_ns / 4 >= 0x1p64 ? UINT64_MAX : (uint64_t)(wrap_ns / 4);
    if (guard < m->guard_ns) {
      m->guard_ns = guard;
    }
  }
  if (m->guard_ns < MIN_GUARD_NS) {
    nemb__log(NEMB_LOG_WARN, "a counter can wrap within %llu ns; reads every 100 us may miss wraps",
              (unsigned long long)m->guard_ns * 4);
    m->guard_ns = MIN_GUARD_NS;
  }

  /* How stale a reading can be: the slowest provider's counter update period. Each domain's
   * own period and phase are then learned while sampling (edges.h). */
  m->update_ns = 0;
  for (size_t p = 0; p < m->n_providers; p++) {
    uint64_t u = m->providers[p].ops->update_interval_ns(m->providers[p].state);
    double rel = u && m->providers[p].ops->update_interval_rel
                     ? m->providers[p].ops->update_interval_rel(m->providers[p].state)
                     : 0;
    m->update_ns = u > m->update_ns ? u : m->update_ns;
    for (size_t d = m->providers[p].first; d < m->providers[p].first + m->providers[p].count; d++) {
      /* A power integrated at each read (hwmon power sensors, NVML power) is the energy at
       * the read's own time: a counter updating continuously. */
      bool integrated = m->domains[d].method != NULL &&
                        strcmp(m->domains[d].method, NEMB__METHOD_INTEGRATED) == 0;
      nemb__edges_init_within(&m->edges[d],
                              integrated ? 1000u
                              : u        ? u
                                         : 1000000u,
                              integrated ? 0 : rel);
      nemb__meter_period_set(m, d);
    }
  }
  m->ref_dom = SIZE_MAX;
  m->simulated = true;
  for (size_t p = 0; p < m->n_providers; p++) {
    m->simulated = m->simulated && m->providers[p].ops->simulated;
  }
  double jitter_us = nemb__config_number(use, "coordinator.sampler_jitter_us");
  m->jitter_ns = jitter_us > 0 && jitter_us < 1e6 ? (uint64_t)(jitter_us * 1e3) : 0;
  m->rng = nemb__now_ns() | 1;

  rc = nemb__store_init(&m->store, m->n_domains, (size_t)max_samples);
  if (rc != 0) {
    rc = nemb__fail(rc, "out of memory for the sample store");
    goto fail_providers;
  }
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC); /* deadlines are CLOCK_MONOTONIC */
  pthread_cond_init(&m->wake, &ca);
  pthread_condattr_destroy(&ca);
  pthread_mutex_init(&m->lock, NULL);

  nemb_config_destroy(owned);
  *out = m;
  return 0;

fail_providers:
  close_providers(m);
  free(m);
fail_config:
  nemb_config_destroy(owned);
  return rc;
}

void nemb_meter_destroy(nemb_meter *m) {
  if (m == NULL) {
    return;
  }
  nemb__sampler_stop(m);
  close_providers(m);
  nemb__store_release(&m->store);
  free(m->rows);
  pthread_cond_destroy(&m->wake);
  pthread_mutex_destroy(&m->lock);
  free(m);
}

int nemb__meter_set_capacity(nemb_meter *m, size_t cap) {
  if (m->started) {
    return nemb__fail(NEMB_ESTATE, "the sample store's size is fixed once sampling started");
  }
  nemb__store fresh;
  if (nemb__store_init(&fresh, m->n_domains, cap) != 0) {
    return nemb__fail(NEMB_ENOMEM, "out of memory for a store of %zu samples", cap);
  }
  nemb__store_release(&m->store);
  m->store = fresh; /* nothing reads the store before start, so a plain copy is safe */
  return 0;
}

size_t nemb_meter_domain_count(const nemb_meter *m) {
  return m->n_domains;
}

int nemb_meter_domain(const nemb_meter *m, size_t index, nemb_domain_info *out) {
  if (m == NULL || out == NULL) {
    return nemb__fail(NEMB_EINVAL, "nemb_meter_domain: the meter and out must not be NULL");
  }
  if (index >= m->n_domains) {
    return nemb__fail(NEMB_EINVAL, "domain index %zu out of range (the meter has %zu)", index,
                      m->n_domains);
  }
  const nemb__domain *d = &m->domains[index];
  out->name = d->name;
  out->kind = d->kind;
  out->source = m->source[index];
  out->top_level = d->top_level;
  out->in_total = d->in_total;
  out->measured = m->measured[index];
  out->n_includes = d->n_includes;
  out->includes = m->include_ptrs[index];
  out->range_uj = d->range_uj;
  return 0;
}

int nemb_meter_is_estimated(const nemb_meter *m) {
  for (size_t d = 0; d < m->n_domains; d++) {
    if (!m->measured[d]) {
      return 1;
    }
  }
  return 0;
}

int nemb_meter_start(nemb_meter *m) {
  nemb__clear_error();
  if (m->started) {
    return nemb__fail(NEMB_ESTATE, "the meter was already started (a meter starts once)");
  }
  int rc = nemb__sampler_start(m);
  if (rc == 0) {
    m->started = true;
  }
  return rc;
}

int nemb_meter_stop(nemb_meter *m) {
  nemb__clear_error();
  if (!m->thread_live) {
    return nemb__fail(NEMB_ESTATE, "the sampler is not running");
  }
  nemb__sampler_stop(m);
  return 0;
}

int nemb_set_measurement_interval_ms(nemb_meter *m, unsigned ms) {
  if (ms < NEMB_INTERVAL_MS_MIN || ms > NEMB_INTERVAL_MS_MAX) {
    return nemb__fail(NEMB_ERANGE, "measurement interval %u ms is out of range: allowed %d to %d",
                      ms, NEMB_INTERVAL_MS_MIN, NEMB_INTERVAL_MS_MAX);
  }
  atomic_store(&m->interval_ns, (uint64_t)ms * 1000000u);
  pthread_mutex_lock(&m->lock);
  atomic_store(&m->retime, true);
  pthread_cond_signal(&m->wake);
  pthread_mutex_unlock(&m->lock);
  return 0;
}

unsigned nemb_measurement_interval_ms(const nemb_meter *m) {
  return (unsigned)(atomic_load(&((nemb_meter *)m)->interval_ns) / 1000000u);
}

size_t nemb_meter_sample_count(const nemb_meter *m) {
  return nemb__store_count(&m->store);
}

int nemb_meter_sample(const nemb_meter *m, size_t index, uint64_t *t_ns, uint64_t *energy_uj,
                      size_t n) {
  if (m == NULL || t_ns == NULL || energy_uj == NULL) {
    return nemb__fail(NEMB_EINVAL,
                      "nemb_meter_sample: the meter, t_ns and energy_uj must not be NULL");
  }
  if (n < m->n_domains) {
    return nemb__fail(NEMB_EINVAL, "room for %zu values, the meter has %zu domains", n,
                      m->n_domains);
  }
  /* The store may compact while the sampler runs (store.h): read under its lock. */
  nemb__store *st = (nemb__store *)&m->store;
  pthread_rwlock_rdlock(&st->lock);
  size_t count = nemb__store_count(st);
  if (index >= count) {
    pthread_rwlock_unlock(&st->lock);
    return nemb__fail(NEMB_EINVAL, "sample %zu is not stored (%zu are)", index, count);
  }
  const uint64_t *s = nemb__store_at(st, index);
  *t_ns = s[0];
  memcpy(energy_uj, s + 1, m->n_domains * sizeof *energy_uj);
  pthread_rwlock_unlock(&st->lock);
  return 0;
}

int nemb_meter_latest(const nemb_meter *m, uint64_t *t_ns, uint64_t *energy_uj, size_t n) {
  if (m == NULL || t_ns == NULL || energy_uj == NULL) {
    return nemb__fail(NEMB_EINVAL,
                      "nemb_meter_latest: the meter, t_ns and energy_uj must not be NULL");
  }
  if (n < m->n_domains) {
    return nemb__fail(NEMB_EINVAL, "room for %zu values, the meter has %zu domains", n,
                      m->n_domains);
  }
  nemb_meter *mm = (nemb_meter *)m; /* atomics are read, not changed */
  for (;;) {
    uint64_t s1 = atomic_load_explicit(&mm->latest_seq, memory_order_acquire);
    if (s1 == 0) {
      return nemb__fail(NEMB_ESTATE, "nothing was read yet: start the meter first");
    }
    if (s1 & 1) {
      continue; /* the sampler is writing; it takes a few hundred nanoseconds */
    }
    *t_ns = atomic_load_explicit(&mm->latest_t, memory_order_relaxed);
    for (size_t d = 0; d < m->n_domains; d++) {
      energy_uj[d] = atomic_load_explicit(&mm->latest_uj[d], memory_order_relaxed);
    }
    atomic_thread_fence(memory_order_acquire);
    if (atomic_load_explicit(&mm->latest_seq, memory_order_relaxed) == s1) {
      return 0;
    }
  }
}

/* The provider of GPU domain @p index with per-process figures, or NULL with the reason in
 * @p out. */
static const nemb__open_provider *gpu_provider(const nemb_meter *m, size_t index,
                                               nemb_gpu_usage *out) {
  memset(out, 0, sizeof *out);
  out->status = NEMB_ENOTSUP;
  for (size_t p = 0; p < m->n_providers; p++) {
    const nemb__open_provider *op = &m->providers[p];
    if (index < op->first || index >= op->first + op->count) {
      continue;
    }
    if (op->ops->gpu_usage == NULL) {
      snprintf(out->reason, sizeof out->reason, "the %s provider has no per-process figures for %s",
               op->ops->name, m->domains[index].name);
    } else if (op->left_behind) {
      snprintf(out->reason, sizeof out->reason, "the %s provider hung in a driver call",
               op->ops->name);
    } else {
      return op;
    }
    return NULL;
  }
  return NULL;
}

/* CLOCK_MONOTONIC ns to CLOCK_REALTIME us, through one reading of both clocks. */
static uint64_t real_us_of(uint64_t mono_ns, uint64_t now_mono_ns, uint64_t now_real_us) {
  if (mono_ns == UINT64_MAX) {
    return UINT64_MAX;
  }
  int64_t d_us = ((int64_t)mono_ns - (int64_t)now_mono_ns) / 1000;
  return d_us < 0 && (uint64_t)-d_us > now_real_us ? 0 : (uint64_t)((int64_t)now_real_us + d_us);
}

static int gpu_usage_span(const nemb_meter *m, size_t index, uint64_t from_us, uint64_t to_us,
                          bool flush, nemb_gpu_usage *out) {
  if (m == NULL || out == NULL) {
    return nemb__fail(NEMB_EINVAL, "nemb_meter_gpu_usage: the meter and out must not be NULL");
  }
  if (index >= m->n_domains) {
    return nemb__fail(NEMB_EINVAL, "domain index %zu out of range (the meter has %zu)", index,
                      m->n_domains);
  }
  const nemb__open_provider *op = gpu_provider(m, index, out);
  if (op != NULL) {
    if (flush && op->ops->gpu_flush != NULL) {
      op->ops->gpu_flush(op->state);
    }
    op->ops->gpu_usage(op->state, index - op->first, from_us, to_us, out);
  }
  return 0;
}

int nemb_meter_gpu_usage(const nemb_meter *m, size_t index, nemb_gpu_usage *out) {
  return gpu_usage_span(m, index, 0, UINT64_MAX, false, out);
}

int nemb_meter_gpu_usage_span(const nemb_meter *m, size_t index, uint64_t t0_ns, uint64_t t1_ns,
                              nemb_gpu_usage *out) {
  uint64_t mono = nemb_now_ns(), real = nemb__realtime_us();
  return gpu_usage_span(m, index, real_us_of(t0_ns, mono, real), real_us_of(t1_ns, mono, real),
                        true, out);
}

void nemb_meter_gpu_forget(const nemb_meter *m, size_t index, uint64_t t_ns) {
  nemb_gpu_usage scratch;
  const nemb__open_provider *op = index < m->n_domains ? gpu_provider(m, index, &scratch) : NULL;
  if (op != NULL && op->ops->gpu_forget != NULL) {
    op->ops->gpu_forget(op->state, index - op->first,
                        real_us_of(t_ns, nemb_now_ns(), nemb__realtime_us()));
  }
}

void nemb_descendant_started(pid_t pid) {
  nemb__proc_tree_note(pid, nemb__proc_start_us(pid), NEMB__PROC_ALIVE);
}

void nemb_descendant_ended(pid_t pid) {
  nemb__proc_tree_note(pid, 0, nemb__realtime_us());
}

int nemb_meter_domain_stats(const nemb_meter *m, size_t index, nemb_domain_stats *out) {
  if (m == NULL || out == NULL || index >= m->n_domains) {
    return nemb__fail(NEMB_EINVAL, "nemb_meter_domain_stats: a meter, out and a domain index "
                                   "below the meter's count are needed");
  }
  memset(out, 0, sizeof *out);
  if (!atomic_load(&((nemb_meter *)m)->running) && !m->thread_live) {
    /* The unwrappers belong to the sampler thread: read them only once it has stopped. */
    out->rejected_readings = m->unwrap[index].rejected;
    out->counter_resets = m->unwrap[index].resets;
    out->ambiguous_gaps = m->unwrap[index].ambiguous_gaps;
  }
  return 0;
}

int nemb_meter_stats(const nemb_meter *m, nemb_sampler_stats *out) {
  if (m == NULL || out == NULL) {
    return nemb__fail(NEMB_EINVAL, "nemb_meter_stats: the meter and out must not be NULL");
  }
  nemb_meter *mm = (nemb_meter *)m;
  memset(out, 0, sizeof *out);
  out->samples = atomic_load(&mm->st_samples);
  out->reads = atomic_load(&mm->st_reads);
  out->late_wakeups = atomic_load(&mm->st_late);
  out->missed_deadlines = atomic_load(&mm->st_missed);
  out->worst_lateness_ns = atomic_load(&mm->st_worst_late);
  uint64_t wakeups = atomic_load(&mm->st_wakeups);
  out->mean_lateness_ns = wakeups ? atomic_load(&mm->st_late_sum) / wakeups : 0;
  out->read_errors = atomic_load(&mm->st_read_errors);
  out->dropped_at_cap = atomic_load(&mm->st_dropped);
  out->capacity = m->store.cap;
  out->interval_ns = atomic_load(&mm->interval_ns);
  out->running = atomic_load(&mm->running);
  out->probes = atomic_load(&mm->st_probes);
  out->same_update = atomic_load(&mm->st_same);
  out->coarsened = nemb__store_coarsened(&m->store);
  if (!out->running && !m->thread_live) {
    /* The unwrappers belong to the sampler thread: read them only once it has stopped. */
    for (size_t d = 0; d < m->n_domains; d++) {
      out->rejected_readings += m->unwrap[d].rejected;
      out->counter_resets += m->unwrap[d].resets;
      out->ambiguous_gaps += m->unwrap[d].ambiguous_gaps;
    }
  }
  return 0;
}
