/* test_store.c - the append-only sample store: order, chunking, the cap, and a concurrent reader
 * that must always see complete samples (run under ThreadSanitizer in CI). */
#include <pthread.h>

#include "nemb_test.h"
#include "store.h"

#define DOMAINS 3

static void fill(uint64_t i, uint64_t *e) {
  for (size_t d = 0; d < DOMAINS; d++) {
    e[d] = i * 10 + d;
  }
}

static void check(const nemb__store *s, size_t i) {
  const uint64_t *w = nemb__store_at(s, i);
  assert_int_equal(w[0], 1000 + i);
  for (size_t d = 0; d < DOMAINS; d++) {
    assert_int_equal(w[1 + d], i * 10 + d);
  }
}

static void test_append_across_chunks(void **state) {
  (void)state;
  nemb__store s;
  assert_int_equal(nemb__store_init(&s, DOMAINS, 100000), 0);
  size_t n = NEMB__STORE_CHUNK * 2 + 17;
  uint64_t e[DOMAINS];
  for (size_t i = 0; i < n; i++) {
    fill(i, e);
    assert_int_equal(nemb__store_append(&s, 1000 + i, e), 0);
  }
  assert_int_equal(nemb__store_count(&s), n);
  for (size_t i = 0; i < n; i++) {
    check(&s, i);
  }
  /* Three chunks of 4096 x 4 words, plus the table of 25 chunk pointers. */
  assert_int_equal(nemb__store_bytes(&s), 3 * NEMB__STORE_CHUNK * 4 * 8 + 25 * sizeof(void *));
  nemb__store_release(&s);
}

/* At the cap the store keeps every other sample and carries on: memory stays bounded, the first
 * and the newest sample are kept, and, samples being cumulative, no energy goes missing. */
static void test_cap_coarsens_instead_of_dropping(void **state) {
  (void)state;
  nemb__store s;
  assert_int_equal(nemb__store_init(&s, DOMAINS, 10), 0);
  uint64_t e[DOMAINS];
  for (uint64_t i = 0; i < 100; i++) {
    fill(i, e);
    assert_int_equal(nemb__store_append(&s, 1000 + i, e), 0);
    assert_true(nemb__store_count(&s) <= 10);
  }
  size_t n = nemb__store_count(&s);
  assert_true(n >= 5);
  assert_true(nemb__store_coarsened(&s) >= 4);
  check(&s, 0); /* the first sample: the zero of every total */
  const uint64_t *last = nemb__store_at(&s, n - 1);
  assert_int_equal(last[0], 1000 + 99);
  assert_int_equal(last[1], 990);
  /* Still a valid curve: times strictly increase and every sample is one that was appended. */
  for (size_t i = 1; i < n; i++) {
    const uint64_t *w = nemb__store_at(&s, i);
    assert_true(w[0] > nemb__store_at(&s, i - 1)[0]);
    assert_int_equal(w[1], (w[0] - 1000) * 10);
  }
  nemb__store_release(&s);
}

typedef struct {
  nemb__store *s;
  size_t target;
  size_t checked;
} reader_arg;

static void *reader(void *p) {
  reader_arg *a = p;
  size_t seen = 0;
  while (seen < a->target) {
    size_t n = nemb__store_count(a->s);
    for (; seen < n; seen++) {
      check(a->s, seen); /* every published sample is complete */
      a->checked++;
    }
  }
  return NULL;
}

static void test_concurrent_reader_sees_complete_samples(void **state) {
  (void)state;
  nemb__store s;
  size_t n = NEMB__STORE_CHUNK * 5;
  assert_int_equal(nemb__store_init(&s, DOMAINS, n), 0);
  reader_arg a = {&s, n, 0};
  pthread_t t;
  assert_int_equal(pthread_create(&t, NULL, reader, &a), 0);
  uint64_t e[DOMAINS];
  for (size_t i = 0; i < n; i++) {
    fill(i, e);
    assert_int_equal(nemb__store_append(&s, 1000 + i, e), 0);
  }
  pthread_join(t, NULL);
  assert_int_equal(a.checked, n);
  nemb__store_release(&s);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_append_across_chunks),
      cmocka_unit_test(test_cap_coarsens_instead_of_dropping),
      cmocka_unit_test(test_concurrent_reader_sees_complete_samples),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
