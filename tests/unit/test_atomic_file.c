/* test_atomic_file.c - the one file writer (src/nemb/atomic_file.c) and the library's report
 * writer on top of it: whole files or none, the old file kept on failure, no temporary left,
 * devices and FIFOs written in place and never replaced, links followed, directories refused;
 * a ".zst" path written zstd-compressed, piece by piece, decompressing to exactly the bytes. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/sysmacros.h>
#include <zstd.h>

#include "atomic_file.h"
#include "nemb_test.h"
#include "zstd_lib.h"

static char dir[4096];

static int setup(void **state) {
  (void)state;
  nemb_test_mkdtemp(dir, sizeof dir);
  return 0;
}

static int teardown(void **state) {
  (void)state;
  char cmd[4200];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  return system(cmd) == 0 ? 0 : -1;
}

static void path_in(char *out, size_t len, const char *name) {
  snprintf(out, len, "%s/%s", dir, name);
}

static char *slurp(const char *path) {
  FILE *fp = fopen(path, "re");
  assert_non_null(fp);
  static char buf[65536];
  size_t n = fread(buf, 1, sizeof buf - 1, fp);
  buf[n] = '\0';
  fclose(fp);
  return buf;
}

/* Entries of the test directory, to prove that no temporary file is left behind. */
static int entries(void) {
  DIR *d = opendir(dir);
  assert_non_null(d);
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
  }
  closedir(d);
  return n;
}

static void test_new_and_replaced_regular_file(void **state) {
  (void)state;
  char p[4200];
  path_in(p, sizeof p, "r.json");
  assert_int_equal(nemb__atomic_write(p, "first\n", 6), 0);
  assert_string_equal(slurp(p), "first\n");
  assert_int_equal(chmod(p, 0640), 0);
  assert_int_equal(nemb__atomic_write(p, "second", 6), 0);
  assert_string_equal(slurp(p), "second");
  struct stat st;
  assert_int_equal(stat(p, &st), 0);
  assert_int_equal(st.st_mode & 07777, 0640); /* the replaced file's mode is kept */
  assert_int_equal(entries(), 1);
}

static void test_failed_write_keeps_the_old_file(void **state) {
  (void)state;
  char p[4200];
  path_in(p, sizeof p, "keep.json");
  assert_int_equal(nemb__atomic_write(p, "{\"good\": true}\n", 15), 0);
  /* A file-size limit makes write() fail past 100 bytes (EFBIG), as a full disk would
   * (ENOSPC): the same path through the writer, with no disk to fill. */
  struct rlimit old, lim = {100, 100};
  getrlimit(RLIMIT_FSIZE, &old);
  lim.rlim_max = old.rlim_max;
  signal(SIGXFSZ, SIG_IGN);
  assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
  static char big[8192];
  memset(big, 'x', sizeof big);
  int e = nemb__atomic_write(p, big, sizeof big);
  setrlimit(RLIMIT_FSIZE, &old);
  assert_int_equal(e, EFBIG);
  assert_string_equal(slurp(p), "{\"good\": true}\n");
  assert_int_equal(entries(), 1); /* the temporary is gone */
}

static void test_fifo_is_written_in_place(void **state) {
  (void)state;
  char p[4200];
  path_in(p, sizeof p, "fifo");
  assert_int_equal(mkfifo(p, 0600), 0);
  int rd = open(p, O_RDONLY | O_NONBLOCK);
  assert_true(rd >= 0);
  assert_int_equal(nemb__atomic_check(p), 0);
  assert_int_equal(nemb__atomic_write(p, "through", 7), 0);
  char buf[16] = {0};
  assert_int_equal(read(rd, buf, sizeof buf), 7);
  assert_string_equal(buf, "through");
  close(rd);
  struct stat st;
  assert_int_equal(lstat(p, &st), 0);
  assert_true(S_ISFIFO(st.st_mode)); /* still a FIFO, not replaced by a regular file */
  assert_int_equal(entries(), 1);
}

static void test_character_device_is_not_replaced(void **state) {
  (void)state;
  char p[4200];
  path_in(p, sizeof p, "mynull");
  if (mknod(p, S_IFCHR | 0666, makedev(1, 3)) != 0) {
    skip(); /* creating a device node needs root (CI runs as root) */
  }
  assert_int_equal(nemb__atomic_write(p, "gone", 4), 0);
  struct stat st;
  assert_int_equal(lstat(p, &st), 0);
  assert_true(S_ISCHR(st.st_mode));
  assert_int_equal(major(st.st_rdev), 1);
  assert_int_equal(minor(st.st_rdev), 3);
  /* A /dev/full twin: the device's own error comes back, nothing is created beside it. */
  char full[4200];
  path_in(full, sizeof full, "myfull");
  assert_int_equal(mknod(full, S_IFCHR | 0666, makedev(1, 7)), 0);
  assert_int_equal(nemb__atomic_write(full, "x", 1), ENOSPC);
  assert_int_equal(entries(), 2);
}

static void test_symlink_is_followed_and_kept(void **state) {
  (void)state;
  char p[4200], target[4200];
  path_in(target, sizeof target, "real.json");
  path_in(p, sizeof p, "link.json");
  assert_int_equal(symlink("real.json", p), 0);
  assert_int_equal(nemb__atomic_write(p, "one", 3), 0); /* dangling: created through it */
  assert_string_equal(slurp(target), "one");
  assert_int_equal(nemb__atomic_write(p, "two", 3), 0); /* then replaced, link kept */
  assert_string_equal(slurp(target), "two");
  struct stat st;
  assert_int_equal(lstat(p, &st), 0);
  assert_true(S_ISLNK(st.st_mode));
  assert_int_equal(entries(), 2);
}

static void test_directory_and_missing_directory(void **state) {
  (void)state;
  char p[4200];
  assert_int_equal(nemb__atomic_write(dir, "x", 1), EISDIR);
  assert_int_equal(nemb__atomic_check(dir), EISDIR);
  path_in(p, sizeof p, "no/such/dir/r.json");
  assert_int_equal(nemb__atomic_check(p), ENOENT);
  assert_int_equal(nemb__atomic_write(p, "x", 1), ENOENT);
  path_in(p, sizeof p, "fresh.json");
  assert_int_equal(nemb__atomic_check(p), 0);
  assert_int_equal(entries(), 0); /* the check leaves nothing */
  assert_int_equal(nemb__atomic_write(NULL, "x", 1), EINVAL);
}

static void test_session_write_names_the_path_and_errno(void **state) {
  (void)state;
  setenv("CODEGREEN_PROVIDERS", "sim", 1);
  nemb_session_options o;
  nemb_session_options_init(&o);
  o.save_to_file = 0;
  o.exclusive = 0;
  nemb_session *s = NULL;
  NEMB_ASSERT_OK(nemb_session_begin(&o, &s));
  NEMB_ASSERT_OK(nemb_session_end(s));
  int rc = nemb_session_write(s, dir, NEMB_FORMAT_JSON);
  assert_int_equal(rc, NEMB_EISDIR); /* the real errno, not a generic EIO */
  assert_non_null(strstr(nemb_last_error(), dir));
  assert_non_null(strstr(nemb_last_error(), "directory"));
  char p[4200];
  path_in(p, sizeof p, "r.json");
  NEMB_ASSERT_OK(nemb_session_write(s, p, NEMB_FORMAT_JSON));
  const char *text = slurp(p);
  assert_int_equal(text[0], '{');
  assert_int_equal(text[strlen(text) - 1], '\n');
  unlink(p);
  nemb_session_destroy(s);
  unsetenv("CODEGREEN_PROVIDERS");
}

/* The whole file at @p path, malloc'd; its length in *len. */
static char *read_all(const char *path, size_t *len) {
  FILE *fp = fopen(path, "re");
  assert_non_null(fp);
  fseek(fp, 0, SEEK_END);
  long n = ftell(fp);
  fseek(fp, 0, SEEK_SET);
  char *buf = malloc((size_t)n + 1);
  assert_non_null(buf);
  assert_int_equal(fread(buf, 1, (size_t)n, fp), (size_t)n);
  fclose(fp);
  *len = (size_t)n;
  return buf;
}

/* A ".zst" path is one zstd frame of exactly the bytes given, appended in uneven pieces; the
 * same bytes to a plain path are written as they are; abort leaves nothing. */
static void test_zst_is_compressed_streaming(void **state) {
  (void)state;
  size_t n = 3 * 1000 * 1000;
  char *data = malloc(n);
  assert_non_null(data);
  uint64_t x = 88172645463325252ull;
  for (size_t i = 0; i < n; i++) { /* text with repeats and noise, as a report's numbers */
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    data[i] = i % 40 < 20 ? "0123456789,.e-[]{}\"\n"[i % 20] : (char)('0' + x % 10);
  }
  char zp[4200], plain[4200];
  path_in(zp, sizeof zp, "r.json.ZST");
  path_in(plain, sizeof plain, "r.json");
  nemb__atomic_file *f = NULL;
  assert_int_equal(nemb__atomic_open(zp, &f), 0);
  assert_int_equal(entries(), 1); /* the temporary file, not yet the destination */
  for (size_t at = 0, step = 1; at < n; at += step, step = step * 3 + 1) {
    size_t k = step < n - at ? step : n - at;
    assert_int_equal(nemb__atomic_append(f, data + at, k), 0);
  }
  assert_int_equal(nemb__atomic_commit(f), 0);
  assert_int_equal(nemb__atomic_write(plain, data, n), 0);
  assert_int_equal(entries(), 2);

  size_t zlen, plen;
  char *z = read_all(zp, &zlen), *p = read_all(plain, &plen);
  assert_int_equal(plen, n);
  assert_true(zlen < n / 2);
  assert_int_equal(ZSTD_getFrameContentSize(z, zlen), ZSTD_CONTENTSIZE_UNKNOWN); /* streamed */
  char *back = malloc(n + 1);
  size_t got = ZSTD_decompress(back, n + 1, z, zlen);
  assert_false(ZSTD_isError(got));
  assert_int_equal(got, n);
  assert_memory_equal(back, data, n);
  assert_memory_equal(p, data, n);
  assert_true(nemb__zstd_is_zst_name("a.json.zst") && nemb__zstd_is_zst_name("A.ZST") &&
              !nemb__zstd_is_zst_name("a.json") && !nemb__zstd_is_zst_name("zst"));

  /* Abort: the destination keeps its old content and no temporary is left. */
  assert_int_equal(nemb__atomic_open(zp, &f), 0);
  nemb__atomic_append(f, "x", 1);
  nemb__atomic_abort(f);
  assert_int_equal(entries(), 2);
  free(z);
  z = read_all(zp, &zlen);
  assert_int_equal(ZSTD_decompress(back, n + 1, z, zlen), n);
  free(back);
  free(z);
  free(p);
  free(data);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_new_and_replaced_regular_file, setup, teardown),
      cmocka_unit_test_setup_teardown(test_failed_write_keeps_the_old_file, setup, teardown),
      cmocka_unit_test_setup_teardown(test_fifo_is_written_in_place, setup, teardown),
      cmocka_unit_test_setup_teardown(test_character_device_is_not_replaced, setup, teardown),
      cmocka_unit_test_setup_teardown(test_symlink_is_followed_and_kept, setup, teardown),
      cmocka_unit_test_setup_teardown(test_directory_and_missing_directory, setup, teardown),
      cmocka_unit_test_setup_teardown(test_session_write_names_the_path_and_errno, setup, teardown),
      cmocka_unit_test_setup_teardown(test_zst_is_compressed_streaming, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
