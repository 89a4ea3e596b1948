/*
 * hwmon.c - energy and power sensors of the Linux hardware-monitoring class, /sys/class/hwmon.
 *
 * Each /sys/class/hwmon/hwmonN is one chip; its `name` says which driver. Sensors are files:
 * energyK_input (microjoules, cumulative), powerK_input (microwatts, now) and powerK_average
 * (microwatts, averaged by the chip over powerK_average_interval), each with an optional
 * energyK_label / powerK_label. The index N is only the order of registration, so chips are
 * recognised by name and sensors by label, never by number.
 *
 * Chips codegreen understands:
 *   amd_energy, zenergy   AMD RAPL counters through a driver: "Esocket<N>" is package-N (a
 *                         top-level package, in total) and "Ecore<K>" is core<K> (nested in its
 *                         package, named like the msr provider's per-core domains);
 *   power_meter           the ACPI power meter (power_meter-acpi-0): power of the whole machine,
 *                         a platform domain that contains the packages, so never in the total.
 * Other chips are read only when providers.hwmon.all_chips is true (some sit behind I2C or ACPI
 * methods and take a millisecond per reading); their energy and power sensors are then reported
 * as "<chip>-<sensor>" but not added to the total: what a rail on an unknown board contains is
 * not known, and adding it beside the package could count energy twice. (The meter adds the
 * CPU-time estimate when no provider measures a CPU package, so a board with only such sensors
 * still gets a total, labelled.)
 *
 * When a chip has energy counters its power sensors are ignored (they measure the same rails). A
 * power-only sensor is integrated over the sampler's timestamps with the trapezoid rule: the
 * energy between two readings is their mean power times the time between them. This misses what
 * happens between readings, which is why `codegreen info` says, per domain, which it is.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"
#include "provider.h"

#define CLASS_DIR "/sys/class/hwmon"
#define DEFAULT_UPDATE_NS 1000000ULL
#define MAX_CHIPS 256

enum sensor_type { SENSOR_ENERGY, SENSOR_POWER_AVERAGE, SENSOR_POWER_INPUT };

/* One sensor file while the domain list is being built. */
typedef struct sensor {
  unsigned chip; /* N of hwmonN */
  char chip_name[NEMB__NAME_MAX];
  enum sensor_type type;
  unsigned index; /* K of energyK_input */
  char file[48];  /* "energy1_input" */
  char label[NEMB__NAME_MAX];
} sensor;

typedef struct hwmon_state {
  size_t n;
  nemb__domain domains[NEMB__MAX_DOMAINS];
  int fds[NEMB__MAX_DOMAINS];
  bool power[NEMB__MAX_DOMAINS];       /* true: a power sensor, integrated */
  double energy_uj[NEMB__MAX_DOMAINS]; /* integrated energy; a double keeps the fractions */
  uint64_t last_uw[NEMB__MAX_DOMAINS];
  uint64_t last_t_ns[NEMB__MAX_DOMAINS]; /* each sensor's own time base: one failing sensor must
                                            not stretch or freeze another's integral */
  bool started[NEMB__MAX_DOMAINS];
  uint64_t update_ns;
} hwmon_state;

/* "hwmon12" -> 12. */
static bool parse_chip(const char *entry, unsigned *out) {
  if (strncmp(entry, "hwmon", 5) != 0 || !isdigit((unsigned char)entry[5])) {
    return false;
  }
  uint64_t v;
  if (nemb__parse_u64(entry + 5, &v) != 0 || v > 1000000) {
    return false;
  }
  *out = (unsigned)v;
  return true;
}

/* "energy3_input" -> SENSOR_ENERGY, 3; also power*_input and power*_average. */
static bool parse_sensor(const char *file, enum sensor_type *type, unsigned *index) {
  static const struct {
    const char *prefix;
    const char *suffix;
    enum sensor_type type;
  } forms[] = {{"energy", "_input", SENSOR_ENERGY},
               {"power", "_average", SENSOR_POWER_AVERAGE},
               {"power", "_input", SENSOR_POWER_INPUT}};
  for (size_t f = 0; f < sizeof forms / sizeof forms[0]; f++) {
    size_t plen = strlen(forms[f].prefix);
    if (strncmp(file, forms[f].prefix, plen) != 0 || !isdigit((unsigned char)file[plen])) {
      continue;
    }
    char *end;
    unsigned long v = strtoul(file + plen, &end, 10);
    if (strcmp(end, forms[f].suffix) == 0 && v < 1000) {
      *type = forms[f].type;
      *index = (unsigned)v;
      return true;
    }
  }
  return false;
}

static int compare_uint(const void *pa, const void *pb) {
  unsigned a = *(const unsigned *)pa;
  unsigned b = *(const unsigned *)pb;
  return a < b ? -1 : a > b;
}

static int compare_sensors(const void *pa, const void *pb) {
  const sensor *a = pa;
  const sensor *b = pb;
  if (a->chip != b->chip) {
    return a->chip < b->chip ? -1 : 1;
  }
  if (a->type != b->type) {
    return a->type < b->type ? -1 : 1;
  }
  return a->index < b->index ? -1 : a->index > b->index;
}

/* Lowercase letters, digits, '_', '-' and '.', so that names are safe in CSV headers and file
 * names. */
static void sanitize(char *s) {
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    *s = isalnum(c) || c == '_' || c == '.' || c == '-' ? (char)tolower(c) : '_';
  }
}

/* Reads the chip's name; false if it has none (then it is not a sensor chip we can name). */
static bool chip_name(unsigned chip, char *out, size_t len) {
  char path[4096];
  return nemb__path(path, sizeof path, CLASS_DIR "/hwmon%u/name", chip) == 0 &&
         nemb__read_text(path, out, len) == 0 && out[0] != '\0';
}

/* Chips read by default: their meaning is known, and their readings are cheap (amd_energy reads
 * an MSR; the ACPI power meter caches its value for its averaging interval). */
static bool is_known_chip(const char *chip) {
  return strcmp(chip, "amd_energy") == 0 || strcmp(chip, "zenergy") == 0 ||
         strcmp(chip, "power_meter") == 0;
}

/* Collects the energy and power sensors of the chips to read, sorted by chip, type and index.
 * Other chips are read only with providers.hwmon.all_chips: a sensor behind I2C or ACPI methods
 * (battery, board monitors, some GPUs) can take a millisecond or more per reading, which at the
 * sampler's 1 kHz would make every sample late, and what it measures is not known anyway. */
static int list_sensors(bool all_chips, sensor **out, size_t *n_out, char *why, size_t len) {
  char dir_path[4096];
  if (nemb__path(dir_path, sizeof dir_path, CLASS_DIR) != 0) {
    nemb__say(why, len, "the path of " CLASS_DIR " under CODEGREEN_SYSFS_ROOT is too long");
    return -ENAMETOOLONG;
  }
  DIR *dir = opendir(dir_path);
  if (dir == NULL) {
    nemb__say(why, len,
              "no %s: the kernel has no hardware-monitoring class here (containers and "
              "virtual machines usually hide it)",
              dir_path);
    return NEMB_ENOTSUP;
  }
  unsigned chips[MAX_CHIPS];
  size_t n_chips = 0;
  struct dirent *de;
  while ((de = readdir(dir)) != NULL && n_chips < MAX_CHIPS) {
    unsigned c;
    if (parse_chip(de->d_name, &c)) {
      chips[n_chips++] = c;
    }
  }
  closedir(dir);
  qsort(chips, n_chips, sizeof chips[0], compare_uint); /* readdir order is arbitrary */

  sensor *sensors = NULL;
  size_t n = 0;
  size_t cap = 0;
  char skipped[256] = "";
  size_t n_skipped = 0;
  for (size_t i = 0; i < n_chips; i++) {
    char name[NEMB__NAME_MAX];
    if (!chip_name(chips[i], name, sizeof name)) {
      continue;
    }
    if (!all_chips && !is_known_chip(name)) {
      size_t used = strlen(skipped);
      if (n_skipped < 8 && used + strlen(name) + 3 < sizeof skipped) {
        snprintf(skipped + used, sizeof skipped - used, "%s%s", used ? ", " : "", name);
      }
      n_skipped++;
      continue;
    }
    char chip_path[4096];
    if (nemb__path(chip_path, sizeof chip_path, CLASS_DIR "/hwmon%u", chips[i]) != 0) {
      continue;
    }
    DIR *cd = opendir(chip_path);
    if (cd == NULL) {
      continue;
    }
    while ((de = readdir(cd)) != NULL) {
      sensor s;
      memset(&s, 0, sizeof s);
      if (!parse_sensor(de->d_name, &s.type, &s.index) || strlen(de->d_name) >= sizeof s.file) {
        continue;
      }
      s.chip = chips[i];
      snprintf(s.chip_name, sizeof s.chip_name, "%s", name);
      snprintf(s.file, sizeof s.file, "%s", de->d_name);
      char path[8192];
      const char *kind = s.type == SENSOR_ENERGY ? "energy" : "power";
      snprintf(path, sizeof path, "%s/%s%u_label", chip_path, kind, s.index);
      if (nemb__read_text(path, s.label, sizeof s.label) != 0) {
        s.label[0] = '\0';
      }
      if (n == cap) {
        size_t ncap = cap ? cap * 2 : 32;
        sensor *grown = realloc(sensors, ncap * sizeof *sensors);
        if (grown == NULL) {
          closedir(cd);
          free(sensors);
          nemb__say(why, len, "out of memory listing hwmon sensors");
          return NEMB_ENOMEM;
        }
        sensors = grown;
        cap = ncap;
      }
      sensors[n++] = s;
    }
    closedir(cd);
  }
  if (n == 0) {
    free(sensors);
    if (n_skipped > 0) {
      nemb__say(why, len,
                "no energy sensor codegreen reads by default under %s (amd_energy, zenergy, "
                "power_meter); %zu other chip%s (%s%s) %s read only with providers.hwmon.all_chips "
                "set to true, since what they measure is not known and some are slow to read",
                dir_path, n_skipped, n_skipped == 1 ? "" : "s", skipped,
                n_skipped > 8 ? ", ..." : "", n_skipped == 1 ? "is" : "are");
    } else {
      nemb__say(why, len,
                "no energy or power sensor under %s (%zu hwmon chip%s, none with energy*_input, "
                "power*_input or power*_average)",
                dir_path, n_chips, n_chips == 1 ? "" : "s");
    }
    return NEMB_ENOTSUP;
  }
  qsort(sensors, n, sizeof *sensors, compare_sensors);
  *out = sensors;
  *n_out = n;
  return 0;
}

/* True if the same chip already has an energy counter (energy sorts first), or a power average
 * for the same index (averages sort before instant values): the sensor would measure the same
 * rail twice. */
static bool superseded(const sensor *all, size_t i) {
  const sensor *s = &all[i];
  if (s->type == SENSOR_ENERGY) {
    return false;
  }
  for (size_t j = 0; j < i; j++) {
    if (all[j].chip != s->chip) {
      continue;
    }
    if (all[j].type == SENSOR_ENERGY) {
      return true;
    }
    if (s->type == SENSOR_POWER_INPUT && all[j].type == SENSOR_POWER_AVERAGE &&
        all[j].index == s->index) {
      return true;
    }
  }
  return false;
}

static bool is_amd_energy(const char *chip) {
  return strcmp(chip, "amd_energy") == 0 || strcmp(chip, "zenergy") == 0;
}

/* Decides name, kind and totals for one sensor. */
static void describe_sensor(const sensor *s, nemb__domain *d) {
  unsigned long n;
  char *end;
  d->kind = NEMB__KIND_NESTED;
  d->top_level = false;
  d->in_total = false;
  if (is_amd_energy(s->chip_name) && s->type == SENSOR_ENERGY &&
      strncmp(s->label, "Esocket", 7) == 0 && isdigit((unsigned char)s->label[7]) &&
      (n = strtoul(s->label + 7, &end, 10), *end == '\0')) {
    snprintf(d->name, sizeof d->name, "package-%lu", n);
    d->kind = NEMB__KIND_PACKAGE;
    d->top_level = true;
    d->in_total = true;
    return;
  }
  if (is_amd_energy(s->chip_name) && s->type == SENSOR_ENERGY &&
      strncmp(s->label, "Ecore", 5) == 0 && isdigit((unsigned char)s->label[5]) &&
      (n = strtoul(s->label + 5, &end, 10), *end == '\0')) {
    snprintf(d->name, sizeof d->name, "core%lu", n);
    return;
  }
  char sensor_name[NEMB__NAME_MAX];
  if (s->label[0] != '\0') {
    snprintf(sensor_name, sizeof sensor_name, "%s", s->label);
  } else {
    snprintf(sensor_name, sizeof sensor_name, "%s%u", s->type == SENSOR_ENERGY ? "energy" : "power",
             s->index);
  }
  snprintf(d->name, sizeof d->name, "%.15s-%.15s", s->chip_name, sensor_name);
  sanitize(d->name);
  if (strcmp(s->chip_name, "power_meter") == 0 && s->type != SENSOR_ENERGY) {
    d->kind = NEMB__KIND_PLATFORM; /* the whole machine: contains everything else */
    d->top_level = true;
  }
}

static bool name_taken(const hwmon_state *st, const char *name) {
  for (size_t i = 0; i < st->n; i++) {
    if (strcmp(st->domains[i].name, name) == 0) {
      return true;
    }
  }
  return false;
}

static int deny(char *why, size_t len, const char *path) {
  nemb__say(
      why, len,
      "%s: permission denied. Energy sensors are root-only on recent kernels (CVE-2020-8694); "
      "`sudo codegreen setup-permissions` gives group codegreen read access to the amd_energy "
      "and zenergy counters, then log in again. Do not make them world-readable.",
      path);
  return NEMB_EACCES;
}

/* Opens a sensor's file and checks that it reads a number. */
static int open_sensor(const sensor *s, int *fd_out, uint64_t *value, char *why, size_t len) {
  char path[4096];
  if (nemb__path(path, sizeof path, CLASS_DIR "/hwmon%u/%s", s->chip, s->file) != 0) {
    nemb__say(why, len, "the path of hwmon%u/%s is too long", s->chip, s->file);
    return -ENAMETOOLONG;
  }
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int e = errno;
    if (e == EACCES || e == EPERM) {
      return deny(why, len, path);
    }
    nemb__say(why, len, "cannot open %s: %s", path, strerror(e));
    return nemb__from_errno(e);
  }
  int rc = nemb__pread_u64(fd, value);
  if (rc != 0) {
    close(fd);
    if (rc == -EACCES || rc == -EPERM) {
      return deny(why, len, path);
    }
    nemb__say(why, len, "cannot read %s: %s", path,
              rc == NEMB_EPARSE ? "not a number" : strerror(-rc));
    return rc == NEMB_EPARSE ? rc : nemb__from_errno(-rc);
  }
  *fd_out = fd;
  return 0;
}

static void hwmon_close(void *state) {
  hwmon_state *st = state;
  if (st == NULL) {
    return;
  }
  for (size_t i = 0; i < st->n; i++) {
    if (st->fds[i] >= 0) {
      close(st->fds[i]);
    }
  }
  free(st);
}

/* The slowest averaging interval among power sensors tells how often readings change. */
static void note_interval(hwmon_state *st, const sensor *s) {
  if (s->type != SENSOR_POWER_AVERAGE) {
    return;
  }
  char path[4096];
  char text[32];
  uint64_t ms;
  if (nemb__path(path, sizeof path, CLASS_DIR "/hwmon%u/power%u_average_interval", s->chip,
                 s->index) == 0 &&
      nemb__read_text(path, text, sizeof text) == 0 && nemb__parse_u64(text, &ms) == 0 &&
      ms * 1000000ULL > st->update_ns) {
    st->update_ns = ms * 1000000ULL;
  }
}

static int hwmon_open(const nemb__provider_env *env, void **state, char *why, size_t why_len) {
  *state = NULL;
  int enabled = 1;
  if (env != NULL && env->cfg != NULL &&
      nemb_config_get_bool(env->cfg, "providers.hwmon.enabled", &enabled) == 0 && !enabled) {
    nemb__say(why, why_len, "disabled by providers.hwmon.enabled in the configuration");
    return NEMB_ENOTSUP;
  }
  int all_chips = 0;
  if (env != NULL && env->cfg != NULL &&
      nemb_config_get_bool(env->cfg, "providers.hwmon.all_chips", &all_chips) != 0) {
    all_chips = 0;
  }
  sensor *sensors = NULL;
  size_t n = 0;
  int rc = list_sensors(all_chips != 0, &sensors, &n, why, why_len);
  if (rc != 0) {
    return rc;
  }
  hwmon_state *st = calloc(1, sizeof *st);
  if (st == NULL) {
    free(sensors);
    nemb__say(why, why_len, "out of memory");
    return NEMB_ENOMEM;
  }
  st->update_ns = DEFAULT_UPDATE_NS;
  for (size_t i = 0; i < n && rc == 0; i++) {
    const sensor *s = &sensors[i];
    if (superseded(sensors, i)) {
      continue;
    }
    if (st->n >= NEMB__MAX_DOMAINS) {
      nemb__log(NEMB_LOG_WARN, "hwmon: more than %d sensors, the rest are left out",
                NEMB__MAX_DOMAINS);
      break;
    }
    nemb__domain *d = &st->domains[st->n];
    memset(d, 0, sizeof *d);
    describe_sensor(s, d);
    if (name_taken(st, d->name)) {
      char base[NEMB__NAME_MAX];
      snprintf(base, sizeof base, "%s", d->name);
      snprintf(d->name, sizeof d->name, "%.18s-hwmon%u", base, s->chip % 10000u);
    }
    uint64_t first;
    int fd = -1;
    rc = open_sensor(s, &fd, &first, why, why_len);
    if (rc != 0) {
      break;
    }
    st->fds[st->n] = fd;
    st->power[st->n] = s->type != SENSOR_ENERGY;
    d->range_uj = 0; /* hwmon energy is 64-bit (drivers accumulate); integrals never wrap */
    if (s->type == SENSOR_ENERGY) {
      d->method = NEMB__METHOD_COUNTER;
      snprintf(d->detail, sizeof d->detail, "%.24s of hwmon%u (%.24s)", s->file, s->chip,
               s->chip_name);
    } else {
      d->method = NEMB__METHOD_INTEGRATED;
      snprintf(d->detail, sizeof d->detail, "%.24s of hwmon%u (%.24s), integrated over time",
               s->file, s->chip, s->chip_name);
      note_interval(st, s);
    }
    st->n++;
  }
  free(sensors);
  if (rc != 0) {
    hwmon_close(st);
    return rc;
  }
  /* Packages contain the cores amd_energy reports (listed as far as the list has room). */
  for (size_t i = 0; i < st->n; i++) {
    if (strcmp(st->domains[i].kind, NEMB__KIND_PACKAGE) != 0) {
      continue;
    }
    for (size_t j = 0; j < st->n; j++) {
      if (strncmp(st->domains[j].name, "core", 4) == 0 &&
          isdigit((unsigned char)st->domains[j].name[4])) {
        nemb__domain_add_include(&st->domains[i], st->domains[j].name);
      }
    }
  }
  *state = st;
  return 0;
}

static size_t hwmon_domains(void *state, const nemb__domain **out) {
  const hwmon_state *st = state;
  *out = st->domains;
  return st->n;
}

static int hwmon_read(void *state, uint64_t t_ns, uint64_t *raw_uj) {
  hwmon_state *st = state;
  int first_rc = 0;
  size_t ok = 0;
  for (size_t i = 0; i < st->n; i++) {
    uint64_t v;
    int rc = nemb__pread_u64(st->fds[i], &v);
    if (rc != 0) {
      /* This sensor only; a power sensor's integral resumes from its next good reading. */
      raw_uj[i] = NEMB__RAW_INVALID;
      first_rc = first_rc ? first_rc : rc == NEMB_EPARSE ? rc : nemb__from_errno(-rc);
      continue;
    }
    ok++;
    if (!st->power[i]) {
      raw_uj[i] = v;
      continue;
    }
    if (st->started[i] && t_ns > st->last_t_ns[i]) {
      double dt_s = (double)(t_ns - st->last_t_ns[i]) / 1e9;
      st->energy_uj[i] += ((double)st->last_uw[i] + (double)v) / 2 * dt_s;
    }
    st->last_uw[i] = v;
    raw_uj[i] = (uint64_t)st->energy_uj[i];
    if (!st->started[i] || t_ns > st->last_t_ns[i]) {
      st->last_t_ns[i] = t_ns;
    }
    st->started[i] = true;
  }
  return ok > 0 || st->n == 0 ? 0 : first_rc;
}

static uint64_t hwmon_update_interval_ns(void *state) {
  const hwmon_state *st = state;
  return st ? st->update_ns : DEFAULT_UPDATE_NS;
}

const struct nemb__provider_ops nemb__provider_hwmon = {
    .name = "hwmon",
    .permission_fix = "sudo codegreen setup-permissions",
    .hidden_in_vm = true,
    .measured = true,
    .open = hwmon_open,
    .domains = hwmon_domains,
    .read = hwmon_read,
    .update_interval_ns = hwmon_update_interval_ns,
    .close = hwmon_close,
};
