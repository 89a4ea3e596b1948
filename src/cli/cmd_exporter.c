/*
 * cmd_exporter.c - `codegreen exporter [--listen 127.0.0.1:9464]`: a long-running sampler that
 * serves the machine's energy counters to Prometheus at /metrics (text format 0.0.4), through
 * libmicrohttpd. No HTTP is written here; only the exposition text.
 *
 * What is served:
 *   codegreen_energy_joules_total{domain,kind,source}  a counter per domain: joules since the
 *       exporter started, wraparound undone by the meter, and never decreasing (a reading below
 *       the last one served, as after a counter reset, is held at the last value), so rate()
 *       and increase() are right;
 *   codegreen_power_watts{domain}  the mean power over the last --window seconds, measured
 *       between two update edges of the domain's counter (the first and last polls at which its
 *       value changed), so a window never cuts a counter update period in two;
 *   codegreen_domain_info{domain,kind,source,top_level,in_total,measured} = 1, and
 *   codegreen_measurement_info{energy_source} = 1: measured, simulated or estimated;
 *   codegreen_sampler_*: the sampler's own health (samples, reads, late wake-ups, missed
 *       deadlines, read errors, interval, worst lateness, running).
 * The meter keeps only its latest reading (its sample store is held at the minimum, 1000
 * samples, since nothing here needs the history), so memory stays flat however long it runs.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "nemb.h"

#define MAX_DOMAINS 64
#define MAX_RING 100000

typedef struct exporter {
  nemb_meter *m;
  size_t nd;
  nemb_domain_info info[MAX_DOMAINS];
  const char *energy_source;
  double start_wall;
  uint64_t poll_ns, window_ns;

  pthread_mutex_t lock;
  /* Ring of polls: t_ns and cumulative uj per domain (stride 1 + nd). */
  uint64_t *ring;
  size_t cap, head, count;
  uint64_t served[MAX_DOMAINS]; /* the highest value served: counters never go back */
  uint64_t polls;

  pthread_t poller;
  atomic_bool stop;
} exporter;

static void print_usage(FILE *fp) {
  fprintf(
      fp,
      "usage: codegreen exporter [--listen HOST:PORT] [--window S] [--interval-ms N]\n"
      "                          [--config FILE]\n\n"
      "Samples the energy counters and serves them to Prometheus at http://HOST:PORT/metrics\n"
      "until SIGINT or SIGTERM: codegreen_energy_joules_total{domain,kind,source} (counters),\n"
      "codegreen_power_watts{domain} (over the last window, between counter update edges),\n"
      "codegreen_measurement_info{energy_source}, and the sampler's health\n"
      "(codegreen_sampler_*). Run it as a user of the group `codegreen setup-permissions`\n"
      "created; see contrib/codegreen-exporter.service.\n\n"
      "  -l, --listen HOST:PORT  where to listen (default 127.0.0.1:9464): an address, a host\n"
      "                          name, [::1]:9464 for IPv6; 0.0.0.0:9464 or [::]:9464 for every\n"
      "                          interface (an empty host is refused); port 0: any free one\n"
      "  -w, --window S          the power window in seconds (default 5)\n"
      "  -i, --interval-ms N     the sampler's interval (default 10)\n"
      "  -c, --config FILE       config.json (default $CODEGREEN_CONFIG, else built-in)\n");
}

/* ----- sampling ----- */

static void *poller_main(void *arg) {
  exporter *e = arg;
  uint64_t uj[MAX_DOMAINS], t;
  struct timespec next;
  clock_gettime(CLOCK_MONOTONIC, &next);
  while (!atomic_load(&e->stop)) {
    if (nemb_meter_latest(e->m, &t, uj, MAX_DOMAINS) == 0) {
      pthread_mutex_lock(&e->lock);
      uint64_t *slot = e->ring + e->head * (1 + e->nd);
      slot[0] = t;
      memcpy(slot + 1, uj, e->nd * sizeof *uj);
      e->head = (e->head + 1) % e->cap;
      e->count = e->count < e->cap ? e->count + 1 : e->cap;
      e->polls++;
      pthread_mutex_unlock(&e->lock);
    }
    uint64_t ns = (uint64_t)next.tv_nsec + e->poll_ns;
    next.tv_sec += (time_t)(ns / 1000000000u);
    next.tv_nsec = (long)(ns % 1000000000u);
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL) == EINTR) {
    }
  }
  return NULL;
}

static const uint64_t *ring_at(const exporter *e, size_t k) {
  /* k = 0 is the oldest poll held. */
  size_t idx = (e->head + e->cap - e->count + k) % e->cap;
  return e->ring + idx * (1 + e->nd);
}

/* Mean power of domain @p d over the last window, between its first and last update edges in
 * the window (a poll whose value differs from the poll before it). NAN when fewer than two edges
 * (the counter did not change twice in the window). Caller holds the lock. */
static double window_power(const exporter *e, size_t d) {
  if (e->count < 2) {
    return NAN;
  }
  uint64_t t_end = ring_at(e, e->count - 1)[0];
  uint64_t t_from = t_end > e->window_ns ? t_end - e->window_ns : 0;
  const uint64_t *first = NULL, *last = NULL;
  for (size_t k = 1; k < e->count; k++) {
    const uint64_t *prev = ring_at(e, k - 1), *cur = ring_at(e, k);
    if (cur[0] < t_from || cur[1 + d] == prev[1 + d]) {
      continue;
    }
    if (first == NULL) {
      first = cur;
    }
    last = cur;
  }
  if (first == NULL || last == first || last[0] <= first[0]) {
    return NAN;
  }
  return ((double)last[1 + d] - (double)first[1 + d]) / 1e6 / ((double)(last[0] - first[0]) / 1e9);
}

/* ----- the exposition ----- */

/* Connections: a slot is held from accept to close, so idle sockets (opened, nothing sent, or a
 * request never finished) could fill the table and every scrape after them would be refused
 * until they time out (64 slots did so for 30 s). The table is large (epoll, no FD_SETSIZE
 * cap), a connection that has not sent a complete request is dropped after
 * UNASKED_TIMEOUT_S of silence, and only one that has (a scraper keeping its connection for
 * the next scrape) is kept KEEP_ALIVE_TIMEOUT_S. No per-address limit: Prometheus on this
 * machine shares 127.0.0.1 with any local client, so such a limit would help the one who
 * fills it. */
#define CONNECTION_LIMIT 1024u
#define UNASKED_TIMEOUT_S 5u
#define KEEP_ALIVE_TIMEOUT_S 30u

/* CONNECTION_LIMIT, raising the soft limit on open files to fit it where the hard one allows
 * (a systemd service's soft limit is 1024), else what the open-file limit leaves. */
static unsigned connection_limit(void) {
  const rlim_t spare = 64; /* the meter's counters, the listening socket, epoll, stdio */
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
    return 256;
  }
  rlim_t want = CONNECTION_LIMIT + spare;
  if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < want) {
    rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= want ? want : rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    getrlimit(RLIMIT_NOFILE, &rl);
  }
  if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= want) {
    return CONNECTION_LIMIT;
  }
  return rl.rlim_cur > 2 * spare ? (unsigned)(rl.rlim_cur - spare) : 32u;
}

typedef struct textbuf {
  char *p;
  size_t len, cap;
  bool oom;
} textbuf;

static void add(textbuf *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void add(textbuf *t, const char *fmt, ...) {
  for (;;) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(t->p ? t->p + t->len : NULL, t->p ? t->cap - t->len : 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
      t->oom = true;
      return;
    }
    if (t->p != NULL && t->len + (size_t)n < t->cap) {
      t->len += (size_t)n;
      return;
    }
    size_t cap = (t->cap ? t->cap * 2 : 4096) + (size_t)n;
    char *grown = realloc(t->p, cap);
    if (grown == NULL) {
      t->oom = true;
      return;
    }
    t->p = grown;
    t->cap = cap;
  }
}

/* Label values here are domain, kind and provider names: [a-z0-9_-], nothing to escape; the
 * check keeps a surprising name from breaking the exposition. */
static const char *label(const char *v) {
  for (const char *p = v; *p; p++) {
    if (*p == '"' || *p == '\\' || *p == '\n') {
      return "invalid";
    }
  }
  return v;
}

static char *metrics(exporter *e) {
  textbuf t = {NULL, 0, 0, false};
  uint64_t now_t = 0, uj[MAX_DOMAINS] = {0};
  double power[MAX_DOMAINS];
  pthread_mutex_lock(&e->lock);
  bool have = nemb_meter_latest(e->m, &now_t, uj, MAX_DOMAINS) == 0;
  for (size_t d = 0; d < e->nd; d++) {
    if (!have || uj[d] < e->served[d]) {
      uj[d] = e->served[d]; /* a reset or a glitch: hold, never go back */
    }
    e->served[d] = uj[d];
    power[d] = window_power(e, d);
  }
  pthread_mutex_unlock(&e->lock);

  add(&t, "# HELP codegreen_energy_joules_total Energy counted per domain since the exporter "
          "started, in joules (wraparound undone, never decreasing).\n"
          "# TYPE codegreen_energy_joules_total counter\n");
  for (size_t d = 0; d < e->nd; d++) {
    add(&t, "codegreen_energy_joules_total{domain=\"%s\",kind=\"%s\",source=\"%s\"} %.6f\n",
        label(e->info[d].name), label(e->info[d].kind), label(e->info[d].source),
        (double)uj[d] / 1e6);
  }
  add(&t,
      "# HELP codegreen_power_watts Mean power per domain over the last %.3g s, between "
      "update edges of its counter, in watts.\n# TYPE codegreen_power_watts gauge\n",
      (double)e->window_ns / 1e9);
  for (size_t d = 0; d < e->nd; d++) {
    if (!isnan(power[d])) {
      add(&t, "codegreen_power_watts{domain=\"%s\"} %.6f\n", label(e->info[d].name), power[d]);
    }
  }
  add(&t, "# HELP codegreen_domain_info What each domain is; measured=\"false\" marks an "
          "estimate or the simulated device.\n# TYPE codegreen_domain_info gauge\n");
  for (size_t d = 0; d < e->nd; d++) {
    const nemb_domain_info *i = &e->info[d];
    /* A simulated counter behaves like hardware but measures nothing: never "measured". */
    bool measured = i->measured && strcmp(e->energy_source, "simulated") != 0;
    add(&t,
        "codegreen_domain_info{domain=\"%s\",kind=\"%s\",source=\"%s\",top_level=\"%s\","
        "in_total=\"%s\",measured=\"%s\"} 1\n",
        label(i->name), label(i->kind), label(i->source), i->top_level ? "true" : "false",
        i->in_total ? "true" : "false", measured ? "true" : "false");
  }
  add(&t,
      "# HELP codegreen_measurement_info Where the energy comes from: measured, simulated or "
      "estimated.\n# TYPE codegreen_measurement_info gauge\n"
      "codegreen_measurement_info{energy_source=\"%s\"} 1\n",
      e->energy_source);

  nemb_sampler_stats st;
  nemb_meter_stats(e->m, &st);
  /* The store is held small on purpose, so readings at a sampling deadline count as samples
   * whether or not the store kept them. */
  add(&t,
      "# HELP codegreen_sampler_samples_total Readings taken at sampling deadlines.\n"
      "# TYPE codegreen_sampler_samples_total counter\ncodegreen_sampler_samples_total %llu\n"
      "# HELP codegreen_sampler_reads_total Counter reads, including wraparound guards.\n"
      "# TYPE codegreen_sampler_reads_total counter\ncodegreen_sampler_reads_total %llu\n"
      "# HELP codegreen_sampler_late_wakeups_total Wake-ups more than half an interval late.\n"
      "# TYPE codegreen_sampler_late_wakeups_total counter\n"
      "codegreen_sampler_late_wakeups_total %llu\n"
      "# HELP codegreen_sampler_missed_deadlines_total Deadlines skipped by a late wake-up.\n"
      "# TYPE codegreen_sampler_missed_deadlines_total counter\n"
      "codegreen_sampler_missed_deadlines_total %llu\n"
      "# HELP codegreen_sampler_read_errors_total Failed provider reads.\n"
      "# TYPE codegreen_sampler_read_errors_total counter\n"
      "codegreen_sampler_read_errors_total %llu\n"
      "# HELP codegreen_sampler_interval_seconds The sampling interval.\n"
      "# TYPE codegreen_sampler_interval_seconds gauge\n"
      "codegreen_sampler_interval_seconds %.6f\n"
      "# HELP codegreen_sampler_worst_lateness_seconds The latest wake-up so far.\n"
      "# TYPE codegreen_sampler_worst_lateness_seconds gauge\n"
      "codegreen_sampler_worst_lateness_seconds %.9f\n"
      "# HELP codegreen_sampler_running 1 while the sampler thread runs.\n"
      "# TYPE codegreen_sampler_running gauge\ncodegreen_sampler_running %d\n"
      "# HELP codegreen_exporter_start_time_seconds When the exporter started, Unix time.\n"
      "# TYPE codegreen_exporter_start_time_seconds gauge\n"
      "codegreen_exporter_start_time_seconds %.3f\n",
      (unsigned long long)(st.samples + st.dropped_at_cap), (unsigned long long)st.reads,
      (unsigned long long)st.late_wakeups, (unsigned long long)st.missed_deadlines,
      (unsigned long long)st.read_errors, (double)st.interval_ns / 1e9,
      (double)st.worst_lateness_ns / 1e9, st.running, e->start_wall);
  if (t.oom) {
    free(t.p);
    return NULL;
  }
  return t.p;
}

static enum MHD_Result answer(void *cls, struct MHD_Connection *conn, const char *url,
                              const char *method, const char *version, const char *upload,
                              size_t *upload_size, void **state) {
  (void)version;
  (void)upload;
  (void)upload_size;
  (void)state;
  exporter *e = cls;
  struct MHD_Response *r;
  unsigned status = MHD_HTTP_OK;
  /* A complete request: this client may keep the connection for the next scrape. */
  MHD_set_connection_option(conn, MHD_CONNECTION_OPTION_TIMEOUT, KEEP_ALIVE_TIMEOUT_S);
  if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
    static const char msg[] = "only GET\n";
    r = MHD_create_response_from_buffer(sizeof msg - 1, (void *)msg, MHD_RESPMEM_PERSISTENT);
    status = MHD_HTTP_METHOD_NOT_ALLOWED;
  } else if (strcmp(url, "/metrics") == 0) {
    char *body = metrics(e);
    if (body == NULL) {
      return MHD_NO;
    }
    r = MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
    MHD_add_response_header(r, "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
  } else if (strcmp(url, "/") == 0) {
    static const char msg[] = "codegreen exporter: the metrics are at /metrics\n";
    r = MHD_create_response_from_buffer(sizeof msg - 1, (void *)msg, MHD_RESPMEM_PERSISTENT);
  } else {
    static const char msg[] = "not found: the metrics are at /metrics\n";
    r = MHD_create_response_from_buffer(sizeof msg - 1, (void *)msg, MHD_RESPMEM_PERSISTENT);
    status = MHD_HTTP_NOT_FOUND;
  }
  enum MHD_Result ok = MHD_queue_response(conn, status, r);
  MHD_destroy_response(r);
  return ok;
}

/* --listen HOST:PORT: an IPv4 address, a bracketed IPv6 one ("[::1]:9464") or a host name,
 * resolved to its first address (getaddrinfo's order). An empty host is refused, not taken as
 * every interface: exposing the machine's counters to the network must be asked for by address
 * (0.0.0.0 or [::]). On failure returns why, for "--listen 'X' <why>"; else NULL, with @p host
 * the host as written (brackets removed). */
static const char *parse_listen(const char *s, struct sockaddr_storage *out, socklen_t *len,
                                char *host, size_t host_len) {
  static char why[320];
  memset(out, 0, sizeof *out);
  const char *colon = strrchr(s, ':');
  if (colon == NULL) {
    return "is not HOST:PORT (e.g. 127.0.0.1:9464)";
  }
  char *end;
  long port = strtol(colon + 1, &end, 10);
  if (*end != '\0' || port < 0 || port > 65535 || end == colon + 1 || colon[1] == '-') {
    return "has no port from 0 to 65535 (e.g. 127.0.0.1:9464; 0: any free port)";
  }
  size_t hl = (size_t)(colon - s);
  bool bracketed = hl >= 2 && s[0] == '[' && s[hl - 1] == ']';
  if (bracketed) {
    s++;
    hl -= 2;
  }
  if (hl >= host_len) {
    return "has a host name too long";
  }
  memcpy(host, s, hl);
  host[hl] = '\0';
  if (hl == 0) {
    snprintf(why, sizeof why,
             "has no host: say which address to listen on (127.0.0.1:%ld for this machine "
             "only; 0.0.0.0:%ld for every IPv4 interface, [::]:%ld for every IPv6 one)",
             port, port, port);
    return why;
  }
  if (!bracketed && strchr(host, ':') != NULL) {
    snprintf(why, sizeof why, "is ambiguous: an IPv6 address goes in brackets ([%s]:%ld)", host,
             port);
    return why;
  }
  struct addrinfo hints, *res = NULL;
  memset(&hints, 0, sizeof hints);
  hints.ai_family = bracketed ? AF_INET6 : AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV | (bracketed ? AI_NUMERICHOST : 0);
  char service[8];
  snprintf(service, sizeof service, "%ld", port);
  int rc = getaddrinfo(host, service, &hints, &res);
  if (rc != 0 || res == NULL || res->ai_addrlen > sizeof *out) {
    snprintf(why, sizeof why, "cannot be resolved (%s: %s)", host,
             rc != 0 ? gai_strerror(rc) : "no usable address");
    if (res != NULL) {
      freeaddrinfo(res);
    }
    return why;
  }
  memcpy(out, res->ai_addr, res->ai_addrlen);
  *len = res->ai_addrlen;
  freeaddrinfo(res);
  return NULL;
}

/* Where it serves, with the port actually bound (the one the system chose for port 0): a URL
 * that works as printed. A wildcard address is said to be every interface, with the loopback
 * as the URL (the wildcard is no address to connect to); a host name keeps its name, with the
 * address it resolved to. */
static void print_serving(const exporter *e, const struct sockaddr_storage *addr, const char *host,
                          unsigned port) {
  bool v6 = addr->ss_family == AF_INET6;
  char num[INET6_ADDRSTRLEN] = "?";
  const void *in = v6 ? (const void *)&((const struct sockaddr_in6 *)addr)->sin6_addr
                      : (const void *)&((const struct sockaddr_in *)addr)->sin_addr;
  inet_ntop(addr->ss_family, in, num, sizeof num);
  const char *lb = v6 ? "[" : "", *rb = v6 ? "]" : "";
  const char *hlb = strchr(host, ':') ? "[" : "", *hrb = strchr(host, ':') ? "]" : "";
  bool any = v6 ? IN6_IS_ADDR_UNSPECIFIED((const struct in6_addr *)in)
                : ((const struct in_addr *)in)->s_addr == htonl(INADDR_ANY);
  fprintf(stderr, "codegreen exporter: %s energy, %zu domain%s, serving ", e->energy_source, e->nd,
          e->nd == 1 ? "" : "s");
  if (any) {
    fprintf(stderr, "http://%s:%u/metrics on every %s interface (%s%s%s)\n",
            v6 ? "[::1]" : "127.0.0.1", port, v6 ? "IPv6" : "IPv4", lb, num, rb);
  } else if (strcmp(num, host) == 0) {
    fprintf(stderr, "http://%s%s%s:%u/metrics\n", lb, num, rb, port);
  } else {
    fprintf(stderr, "http://%s%s%s:%u/metrics (bound to %s%s%s port %u)\n", hlb, host, hrb, port,
            lb, num, rb, port);
  }
}

/* The config: --config or $CODEGREEN_CONFIG (or built-in defaults), with the sampler's interval
 * and the smallest sample store, since the exporter serves only the latest reading. */
static int make_config(const char *path, unsigned interval_ms, nemb_config **out) {
  if (path == NULL) {
    path = getenv("CODEGREEN_CONFIG");
  }
  json_t *conf;
  if (path != NULL && path[0] != '\0') {
    json_error_t err;
    conf = json_load_file(path, 0, &err);
    if (conf == NULL) {
      fprintf(stderr, "codegreen exporter: cannot read %s: %s (line %d, column %d)\n", path,
              err.text, err.line, err.column);
      return CG_EXIT_FAIL;
    }
  } else {
    conf = json_object();
  }
  json_t *coord = json_object_get(conf, "coordinator");
  if (!json_is_object(coord)) {
    coord = json_object();
    json_object_set_new(conf, "coordinator", coord);
  }
  json_object_set_new(coord, "max_samples", json_integer(1000));
  json_object_set_new(coord, "measurement_interval_ms", json_integer(interval_ms));
  char *text = json_dumps(conf, 0);
  json_decref(conf);
  int rc = text ? nemb_config_from_string(text, path ? path : "exporter", out) : NEMB_ENOMEM;
  free(text);
  return rc ? cg_fail(rc, "configuration") : 0;
}

/* Why the address cannot be listened on, from a bind of our own ("Address already in use": the
 * port is taken; "Cannot assign requested address": not an address of this machine). */
static const char *bind_error(const struct sockaddr *addr) {
  int fd = socket(addr->sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    return strerror(errno);
  }
  int one = 1; /* as MHD binds: a port in TIME_WAIT is not "in use" */
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  socklen_t len =
      addr->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
  int rc = bind(fd, addr, len) != 0 || listen(fd, 1) != 0 ? errno : 0;
  close(fd);
  return rc != 0 ? strerror(rc)
                 : "the HTTP server did not start (in use, or not an address of this machine)";
}

/* libmicrohttpd's messages. While the daemon starts they are dropped: a failure to start is
 * said once, by the exporter, with the reason (bind_error(); MHD's own "Failed to bind to port"
 * came first and said it again). Afterwards they are the server's errors, said as the
 * exporter's. */
static atomic_bool httpd_started;

static void httpd_log(void *cls, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
static void httpd_log(void *cls, const char *fmt, va_list ap) {
  (void)cls;
  if (!atomic_load(&httpd_started)) {
    return;
  }
  char msg[512];
  vsnprintf(msg, sizeof msg, fmt, ap);
  size_t n = strlen(msg);
  while (n > 0 && msg[n - 1] == '\n') {
    msg[--n] = '\0';
  }
  fprintf(stderr, "codegreen exporter: libmicrohttpd: %s\n", msg);
}

int cg_cmd_exporter(int argc, char **argv) {
  static const struct option opts[] = {{"listen", required_argument, NULL, 'l'},
                                       {"window", required_argument, NULL, 'w'},
                                       {"interval-ms", required_argument, NULL, 'i'},
                                       {"config", required_argument, NULL, 'c'},
                                       {"help", no_argument, NULL, 'h'},
                                       {NULL, 0, NULL, 0}};
  const char *listen = "127.0.0.1:9464", *config = NULL;
  double window_s = 5;
  long interval_ms = 10;
  int c;
  char *end;
  while ((c = getopt_long(argc, argv, "l:w:i:c:h", opts, NULL)) != -1) {
    switch (c) {
    case 'l':
      listen = optarg;
      break;
    case 'w':
      window_s = strtod(optarg, &end);
      if (*end != '\0' || !(window_s >= 0.05 && window_s <= 3600)) {
        fprintf(stderr, "codegreen exporter: --window takes 0.05 to 3600 seconds\n");
        return CG_EXIT_USAGE;
      }
      break;
    case 'i':
      if (!cg_parse_interval_ms(optarg, &interval_ms)) {
        fprintf(stderr, "codegreen exporter: " CG_INTERVAL_MS_RULE "\n");
        return CG_EXIT_USAGE;
      }
      break;
    case 'c':
      config = optarg;
      break;
    case 'h':
      print_usage(stdout);
      return CG_EXIT_OK;
    default:
      print_usage(stderr);
      return CG_EXIT_USAGE;
    }
  }
  if (optind != argc) {
    print_usage(stderr);
    return CG_EXIT_USAGE;
  }
  struct sockaddr_storage addr;
  socklen_t addr_len = 0;
  char host[256];
  const char *bad = parse_listen(listen, &addr, &addr_len, host, sizeof host);
  if (bad != NULL) {
    fprintf(stderr, "codegreen exporter: --listen '%s' %s\n", listen, bad);
    return CG_EXIT_USAGE;
  }

  exporter e;
  memset(&e, 0, sizeof e);
  nemb_config *cfg = NULL;
  int rc = make_config(config, (unsigned)interval_ms, &cfg);
  if (rc != 0) {
    return rc;
  }
  rc = nemb_meter_create(cfg, &e.m);
  nemb_config_destroy(cfg);
  if (rc != 0) {
    return cg_fail(rc, "cannot open an energy provider");
  }
  e.nd = nemb_meter_domain_count(e.m);
  if (e.nd > MAX_DOMAINS) {
    e.nd = MAX_DOMAINS;
  }
  for (size_t d = 0; d < e.nd; d++) {
    nemb_meter_domain(e.m, d, &e.info[d]);
  }
  e.energy_source = nemb_meter_energy_source(e.m);
  e.poll_ns = (uint64_t)interval_ms * 1000000u;
  e.window_ns = (uint64_t)(window_s * 1e9);
  e.cap = (size_t)(e.window_ns / e.poll_ns) + 8;
  e.cap = e.cap > MAX_RING ? MAX_RING : e.cap;
  e.ring = calloc(e.cap * (1 + e.nd), sizeof *e.ring);
  struct timespec wall;
  clock_gettime(CLOCK_REALTIME, &wall);
  e.start_wall = (double)wall.tv_sec + (double)wall.tv_nsec / 1e9;
  pthread_mutex_init(&e.lock, NULL);
  atomic_init(&e.stop, false);
  if (e.ring == NULL) {
    nemb_meter_destroy(e.m);
    fprintf(stderr, "codegreen exporter: out of memory\n");
    return CG_EXIT_FAIL;
  }

  /* SIGINT and SIGTERM are taken by sigwait() below; every thread started from here on
   * inherits the mask, so none of them is interrupted by them. */
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);

  int code = CG_EXIT_OK;
  rc = nemb_meter_start(e.m);
  if (rc != 0) {
    code = cg_fail(rc, "cannot start the sampler");
    goto out_meter;
  }
  if (pthread_create(&e.poller, NULL, poller_main, &e) != 0) {
    fprintf(stderr, "codegreen exporter: cannot start the polling thread\n");
    code = CG_EXIT_FAIL;
    goto out_meter;
  }
  /* epoll (MHD_USE_AUTO on Linux): no FD_SETSIZE cap on the connection table. */
  unsigned flags = MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_ERROR_LOG;
  atomic_store(&httpd_started, false);
  if (addr.ss_family == AF_INET6) {
    flags |= MHD_USE_IPv6;
  }
  /* The port is also given apart: MHD's own log names it ("Failed to bind to port 0" else). */
  uint16_t port = ntohs(addr.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&addr)->sin6_port
                                                   : ((struct sockaddr_in *)&addr)->sin_port);
  unsigned limit = connection_limit();
  struct MHD_Daemon *httpd = MHD_start_daemon(
      flags, port, NULL, NULL, answer, &e, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
      MHD_OPTION_CONNECTION_LIMIT, limit, MHD_OPTION_CONNECTION_TIMEOUT, UNASKED_TIMEOUT_S,
      MHD_OPTION_EXTERNAL_LOGGER, httpd_log, NULL, MHD_OPTION_END);
  atomic_store(&httpd_started, true);
  if (httpd == NULL) {
    fprintf(stderr, "codegreen exporter: cannot listen on %s: %s\n", listen,
            bind_error((struct sockaddr *)&addr));
    code = CG_EXIT_FAIL;
    goto out_poller;
  }
  const union MHD_DaemonInfo *bound = MHD_get_daemon_info(httpd, MHD_DAEMON_INFO_BIND_PORT);
  print_serving(&e, &addr, host, bound != NULL && bound->port != 0 ? bound->port : port);
  int sig = 0;
  sigwait(&stop_signals, &sig);
  fprintf(stderr, "codegreen exporter: %s, stopping\n", sig == SIGTERM ? "SIGTERM" : "SIGINT");
  MHD_stop_daemon(httpd);
out_poller:
  atomic_store(&e.stop, true);
  pthread_join(e.poller, NULL);
out_meter:
  nemb_meter_destroy(e.m);
  pthread_mutex_destroy(&e.lock);
  free(e.ring);
  (void)addr_len;
  return code;
}
