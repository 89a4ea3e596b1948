/*
 * test_batch_read.c - counter files read together (batch_read.h): the same values and the same
 * per-file errors through io_uring and through pread, a file read again from its start every
 * time, reads from a thread other than the one that set the batch up, and the hand-written
 * decimal parser every counter goes through (nemb__parse_u64).
 */
#include "nemb_test.h"

#include <fcntl.h>
#include <pthread.h>

#include "batch_read.h"

static void test_parse_u64(void **unused) {
  (void)unused;
  uint64_t v = 7;
  NEMB_ASSERT_OK(nemb__parse_u64("0", &v));
  assert_int_equal(v, 0);
  NEMB_ASSERT_OK(nemb__parse_u64("262143328850\n", &v));
  assert_int_equal(v, 262143328850ULL);
  NEMB_ASSERT_OK(nemb__parse_u64("  42 \n", &v));
  assert_int_equal(v, 42);
  NEMB_ASSERT_OK(nemb__parse_u64("18446744073709551615", &v));
  assert_true(v == UINT64_MAX);
  v = 7;
  static const char *const bad[] = {"",
                                    "\n",
                                    "-1",
                                    "+1",
                                    "abc",
                                    "12a",
                                    "1 2",
                                    "0x10",
                                    "18446744073709551616",
                                    "99999999999999999999"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    assert_int_equal(nemb__parse_u64(bad[i], &v), NEMB_EPARSE);
    assert_int_equal(v, 7); /* untouched on failure */
  }
}

typedef struct files {
  char dir[4096];
  int fds[4];
} files;

/* Four counter files: two good ones, one that holds no number, one empty. */
static void make_files(files *f) {
  nemb_test_mkdtemp(f->dir, sizeof f->dir);
  nemb_test_write(f->dir, "a", "74218530157\n");
  nemb_test_write(f->dir, "b", "1203556019\n");
  nemb_test_write(f->dir, "c", "abc\n");
  nemb_test_write(f->dir, "d", "");
  static const char *const names[] = {"a", "b", "c", "d"};
  for (int i = 0; i < 4; i++) {
    char path[8192];
    snprintf(path, sizeof path, "%s/%s", f->dir, names[i]);
    f->fds[i] = open(path, O_RDONLY | O_CLOEXEC);
    assert_true(f->fds[i] >= 0);
  }
}

static void free_files(files *f) {
  for (int i = 0; i < 4; i++) {
    close(f->fds[i]);
  }
  nemb_test_rmtree(f->dir);
}

static void check_read(nemb__batch *b, uint64_t want_a) {
  uint64_t v[4] = {1, 2, 3, 4};
  int rc[4];
  assert_int_equal(nemb__batch_read_u64(b, v, rc), 2);
  assert_int_equal(rc[0], 0);
  assert_int_equal(v[0], want_a);
  assert_int_equal(rc[1], 0);
  assert_int_equal(v[1], 1203556019ULL);
  assert_int_equal(rc[2], NEMB_EPARSE);
  assert_int_equal(rc[3], NEMB_EPARSE);
}

/* Both ways give the same values, each file failing on its own, every read from offset 0 (a
 * counter read twice gives its value twice, and a rewritten one its new value). */
static void run_batch(bool allow_uring) {
  if (allow_uring) {
    setenv("CODEGREEN_IO_URING", "1", 1);
  } else {
    unsetenv("CODEGREEN_IO_URING"); /* the default: pread */
  }
  files f;
  make_files(&f);
  nemb__batch b;
  nemb__batch_init(&b, f.fds, 4);
  print_message("  io_uring: %s%s\n", nemb__batch_uses_uring(&b) ? "yes" : "no, ", b.why);
  if (!allow_uring) {
    assert_false(nemb__batch_uses_uring(&b));
    assert_non_null(strstr(b.why, "CODEGREEN_IO_URING=1"));
  }
  check_read(&b, 74218530157ULL);
  check_read(&b, 74218530157ULL);
  nemb_test_write(f.dir, "a", "74218530999\n");
  check_read(&b, 74218530999ULL);
  nemb__batch_release(&b);
  nemb__batch_release(&b); /* twice is harmless */
  free_files(&f);
  unsetenv("CODEGREEN_IO_URING");
}

static void test_batch_uring(void **unused) {
  (void)unused;
  run_batch(true);
}

static void test_batch_pread(void **unused) {
  (void)unused;
  run_batch(false);
}

/* A descriptor that cannot be read (a directory: EISDIR) fails alone. */
static void test_batch_unreadable(void **unused) {
  (void)unused;
  files f;
  make_files(&f);
  int fds[2] = {f.fds[0], open(f.dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)};
  assert_true(fds[1] >= 0);
  nemb__batch b;
  nemb__batch_init(&b, fds, 2);
  uint64_t v[2];
  int rc[2];
  assert_int_equal(nemb__batch_read_u64(&b, v, rc), 1);
  assert_int_equal(rc[0], 0);
  assert_int_equal(v[0], 74218530157ULL);
  assert_int_equal(rc[1], -EISDIR);
  nemb__batch_release(&b);
  close(fds[1]);
  free_files(&f);
}

typedef struct reader {
  nemb__batch *b;
  uint64_t v[4];
  int rc[4];
  size_t ok;
} reader;

static void *read_on_thread(void *arg) {
  reader *r = arg;
  for (int i = 0; i < 100; i++) {
    r->ok = nemb__batch_read_u64(r->b, r->v, r->rc);
  }
  return NULL;
}

/* Set up on one thread and read on another, as the meter opens providers and the sampler thread
 * reads them. */
static void test_batch_other_thread(void **unused) {
  (void)unused;
  files f;
  make_files(&f);
  nemb__batch b;
  nemb__batch_init(&b, f.fds, 4);
  reader r = {.b = &b};
  pthread_t th;
  assert_int_equal(pthread_create(&th, NULL, read_on_thread, &r), 0);
  assert_int_equal(pthread_join(th, NULL), 0);
  assert_int_equal(r.ok, 2);
  assert_int_equal(r.v[0], 74218530157ULL);
  assert_int_equal(r.rc[2], NEMB_EPARSE);
  check_read(&b, 74218530157ULL); /* and back on this one */
  nemb__batch_release(&b);
  free_files(&f);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_parse_u64),          cmocka_unit_test(test_batch_uring),
      cmocka_unit_test(test_batch_pread),        cmocka_unit_test(test_batch_unreadable),
      cmocka_unit_test(test_batch_other_thread),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
