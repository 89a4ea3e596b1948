/*
 * measure_runpy.c - what `python -m MODULE`, `python DIR` and `python ARCHIVE.zip` need from
 * `codegreen measure` (measure_runpy.h): telling them from a script, and the sitecustomize
 * module that begins the measurement before python's runpy finds the program.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "instrument.h"
#include "measure_runpy.h"

/* The end-of-central-directory record ends a zip file, followed by a comment of at most 65535
 * bytes; zipimport looks for it there too. */
#define EOCD_SIZE 22
#define EOCD_SEARCH (EOCD_SIZE + 65535)

static bool has_zip_directory(int fd, off_t size) {
  if (size < EOCD_SIZE) {
    return false;
  }
  static unsigned char buf[EOCD_SEARCH];
  off_t start = size > EOCD_SEARCH ? size - EOCD_SEARCH : 0;
  ssize_t n = pread(fd, buf, (size_t)(size - start), start);
  for (ssize_t i = n - EOCD_SIZE; i >= 0; i--) {
    if (buf[i] == 'P' && buf[i + 1] == 'K' && buf[i + 2] == 5 && buf[i + 3] == 6) {
      return true;
    }
  }
  return false;
}

cg_run_kind cg_run_kind_of(const char *target) {
  struct stat st;
  if (stat(target, &st) != 0) {
    return CG_RUN_SCRIPT;
  }
  if (S_ISDIR(st.st_mode)) {
    return CG_RUN_DIR;
  }
  if (!S_ISREG(st.st_mode)) {
    return CG_RUN_SCRIPT;
  }
  int fd = open(target, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) {
    return CG_RUN_SCRIPT;
  }
  bool zip = has_zip_directory(fd, st.st_size);
  close(fd);
  return zip ? CG_RUN_ZIP : CG_RUN_SCRIPT;
}

/* The same file serves the program's children, whatever python they run: one the runtime does
 * not serve (before 3.8, Python 2) only hands over. */
static const char boot_text[] =
    "# codegreen measure: begins the measurement before python runs the program, then hands\n"
    "# over to the interpreter's own sitecustomize, if it has one.\n"
    "import sys\n"
    "if sys.version_info[:2] >= (3, 8):\n"
    "    __import__('codegreen_runtime')._chain_sitecustomize()\n"
    "else:\n"
    "    import os\n"
    "    here = os.path.dirname(os.path.abspath(__file__))\n"
    "    sys.path[:] = [p for p in sys.path if os.path.abspath(p or '.') != here]\n"
    "    del sys.modules['sitecustomize']\n"
    "    import sitecustomize\n";

int cg_runpy_write_boot(const char *dir) {
  char path[4096];
  if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
    return -1;
  }
  if (snprintf(path, sizeof path, "%s/sitecustomize.py", dir) >= (int)sizeof path) {
    errno = ENAMETOOLONG;
    return -1;
  }
  return cgi_write_file(path, boot_text, sizeof boot_text - 1);
}
