/* test_cli_outputs.c - the CLI's "± X J" line (outputs.c) for each cause of an uncertainty, as
 * `run` and `measure` print it under the energy line; the causes read from a report's array. */
#include "nemb_test.h"
#include <jansson.h>

#include "outputs.h"

/* What cg_print_uncertainty() prints, as a string (the caller frees it). */
static char *line(double unc_j, unsigned why, const char *what, bool plural) {
  char *text = NULL;
  size_t len = 0;
  FILE *fp = open_memstream(&text, &len);
  assert_non_null(fp);
  cg_print_uncertainty(fp, "  ", unc_j, why, what, plural);
  fclose(fp);
  return text;
}

static void expect(double unc_j, unsigned why, const char *what, bool plural, const char *want) {
  char *got = line(unc_j, why, what, plural);
  assert_string_equal(got, want);
  free(got);
}

static void test_each_cause(void **unused) {
  (void)unused;
  expect(0.0123, CG_UNC_SHORT, "the run", false,
         "  ± 0.0123 J: the run is shorter than a few updates of an energy counter, which fix the "
         "energy only to within this either way (energy_uncertainty_j)\n");
  expect(2.5, CG_UNC_SHORT, "the runs", true,
         "  ± 2.5000 J: the runs are shorter than a few updates of an energy counter, which fix "
         "the energy only to within this either way (energy_uncertainty_j)\n");
  expect(1.375, CG_UNC_GAP, "the program's run", false,
         "  ± 1.3750 J: a start or end of the program's run fell between stored samples many "
         "energy-counter updates apart (a long sampling interval, a coarsened store, or a busy "
         "machine that starved the sampler): the counters fix the energy only to within this "
         "either way (energy_uncertainty_j)\n");
  expect(0.5, CG_UNC_SHORT | CG_UNC_GAP, "the run", false,
         "  ± 0.5000 J: the run is shorter than a few updates of an energy counter and a start "
         "or end fell between stored samples far apart (a long interval, a coarsened store or a "
         "busy machine): the counters fix the energy only to within this either way "
         "(energy_uncertainty_j)\n");
  expect(30.0, CG_UNC_STEP, "the run", false,
         "  ± 30.0000 J: the power changed at a start or end of the run within an update of a "
         "slow energy counter (one updated every 10 ms or more), whose energy is split by "
         "time: the counters fix the energy only to within this either way "
         "(energy_uncertainty_j)\n");
  expect(0.5, CG_UNC_SHORT | CG_UNC_STEP, "the run", false,
         "  ± 0.5000 J: the run is shorter than a few updates of an energy counter, and the "
         "power changed within a slow counter's update at a start or end: the counters fix the "
         "energy only to within this either way (energy_uncertainty_j)\n");
  /* A figure the counters fix prints nothing. */
  expect(0, CG_UNC_SHORT, "the run", false, "");
}

/* A power step names the report's slow counters, in the total, never a GPU the report lacks. */
static void test_step_names_the_slow_counters(void **unused) {
  (void)unused;
  json_t *report = json_loads(
      "{\"meta\": {\"domain_topology\": {\"cpu-estimate\": {\"in_total\": true},"
      " \"package-0\": {\"in_total\": true}, \"psys\": {\"in_total\": false}},"
      " \"sampler\": {\"update_period_us\": {\"cpu-estimate\": 50000, \"package-0\": 1000,"
      " \"psys\": 100000}}}}",
      0, NULL);
  assert_non_null(report);
  char *text = NULL;
  size_t len = 0;
  FILE *fp = open_memstream(&text, &len);
  assert_non_null(fp);
  cg_print_uncertainty_of(fp, "  ", 0.25, CG_UNC_STEP, "the run", false, report);
  fclose(fp);
  assert_string_equal(text, "  ± 0.2500 J: the power changed at a start or end of the run within "
                            "an update of a slow energy counter (cpu-estimate every ~50 ms), "
                            "whose energy is split by time: the counters fix the energy only to "
                            "within this either way (energy_uncertainty_j)\n");
  free(text);
  json_decref(report);
}

static void test_causes_from_a_report(void **unused) {
  (void)unused;
  json_t *c = json_pack("[s, s, s]", "short_span", "sampler_gap", "power_step");
  assert_int_equal(cg_uncertainty_cause(c), CG_UNC_SHORT | CG_UNC_GAP | CG_UNC_STEP);
  json_decref(c);
  c = json_pack("[s, i]", "sampler_gap", 3);
  assert_int_equal(cg_uncertainty_cause(c), CG_UNC_GAP);
  json_decref(c);
  /* Absent (an older report) or not an array: no cause known. */
  assert_int_equal(cg_uncertainty_cause(NULL), 0);
  c = json_string("short_span");
  assert_int_equal(cg_uncertainty_cause(c), 0);
  json_decref(c);
}

/* Bytes to JSON text: valid UTF-8 kept, each bad byte one U+FFFD ("\xEF\xBF\xBD"). */
static void expect_text(const char *in, const char *want) {
  char *got = cg_utf8_text(in);
  assert_non_null(got);
  assert_string_equal(got, want);
  free(got);
  json_t *v = cg_json_text(in);
  assert_non_null(v);
  assert_string_equal(json_string_value(v), want);
  json_decref(v);
}

static void test_utf8_text(void **unused) {
  (void)unused;
  expect_text("plain", "plain");
  expect_text("\xc3\xbc\xe2\x82\xac\xf0\x9f\x98\x80", "\xc3\xbc\xe2\x82\xac\xf0\x9f\x98\x80");
  expect_text("\xff"
              "abc",
              "\xEF\xBF\xBD"
              "abc");                                                  /* Latin-1 */
  expect_text("a\xe2\x82", "a\xEF\xBF\xBD\xEF\xBF\xBD");               /* cut sequence */
  expect_text("\xc0\xaf", "\xEF\xBF\xBD\xEF\xBF\xBD");                 /* overlong '/' */
  expect_text("\xed\xa0\x80", "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"); /* a surrogate */
  expect_text("\xf4\x90\x80\x80",
              "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"); /* > U+10FFFF */
  expect_text("", "");
  json_t *n = cg_json_text(NULL);
  assert_true(json_is_null(n));
}

/* A text table's cell is as many columns wide whatever its characters' bytes. */
static void test_columns_count_characters(void **unused) {
  (void)unused;
  char out[64];
  assert_string_equal(cg_columns(out, sizeof out, "f", 4, false), "f   ");
  assert_string_equal(cg_columns(out, sizeof out, "\xC6\x92_\xC3\xBC", 5, false),
                      "\xC6\x92_\xC3\xBC  "); /* "ƒ_ü": 3 columns, 5 bytes */
  assert_string_equal(cg_columns(out, sizeof out, "toolong", 4, false), "toolong");
  assert_string_equal(cg_columns(out, sizeof out, "toolong", 4, true), "tool");
  /* cut at a character, never inside one */
  assert_string_equal(cg_columns(out, sizeof out, "ab\xE2\x82\xAC\xE2\x82\xAC", 3, true),
                      "ab\xE2\x82\xAC");
  assert_string_equal(cg_columns(out, 4, "\xE2\x82\xAC\xE2\x82\xAC", 9, false), "\xE2\x82\xAC");
  assert_string_equal(cg_columns(out, sizeof out, NULL, 2, false), "  ");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_columns_count_characters),     cmocka_unit_test(test_each_cause),
      cmocka_unit_test(test_causes_from_a_report),         cmocka_unit_test(test_utf8_text),
      cmocka_unit_test(test_step_names_the_slow_counters),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
