"""_files: the one way the Python side writes a file it was asked to write (reports, results),
the same rule as the C library's src/nemb/atomic_file.c:

- a regular file (or a new path) is replaced by os.replace() from a temporary file created in the
  same directory with O_CREAT|O_EXCL|O_NOFOLLOW under an unpredictable name, written and fsync'd
  first: a reader sees the old file or the new one, and a failed write (a full disk) keeps the
  old file and leaves no temporary behind;
- a destination that is not a regular file (a device such as /dev/null, a FIFO) is written in
  place and never replaced;
- a symbolic link is followed: the file it names is written as above and the link stays;
- a directory is refused (IsADirectoryError).

Errors are OSError with the real errno and the path. Only ``os`` and ``stat`` are imported (both
loaded by the interpreter at start-up), so codegreen_runtime can use this at exit without a
user's module beside the script shadowing anything.
"""

import os
import stat

__all__ = ["write_text"]


def _write_fd(fd, data):
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def _in_place(path, data, create):
    flags = os.O_WRONLY | os.O_NOCTTY | getattr(os, "O_CLOEXEC", 0)
    if create:
        flags |= os.O_CREAT | os.O_TRUNC
    fd = os.open(path, flags, 0o666)
    try:
        _write_fd(fd, data)
    finally:
        os.close(fd)


def write_text(path, text, encoding="utf-8"):
    """Writes ``text`` (str or bytes) to ``path`` as described in the module docstring."""
    path = os.fspath(path)
    data = text.encode(encoding, "surrogateescape") if isinstance(text, str) else bytes(text)
    target = path
    mode = None
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        st = None
    if st is not None and stat.S_ISLNK(st.st_mode):
        target = os.path.realpath(path)
        try:
            st = os.stat(target)
        except FileNotFoundError:
            _in_place(path, data, True)  # a dangling link: its target is created through it
            return
    if st is not None:
        if stat.S_ISDIR(st.st_mode):
            raise IsADirectoryError(21, os.strerror(21), path)
        if not stat.S_ISREG(st.st_mode):
            _in_place(target, data, False)
            return
        mode = stat.S_IMODE(st.st_mode)
    directory, base = os.path.split(target)
    flags = (os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) |
             getattr(os, "O_CLOEXEC", 0))
    for _ in range(100):
        tmp = os.path.join(directory, ".%s.%s.tmp" % (base[:200], os.urandom(8).hex()))
        try:
            fd = os.open(tmp, flags, 0o666)
            break
        except FileExistsError:
            continue
    else:
        raise FileExistsError(17, "no free temporary name", target)
    try:
        try:
            _write_fd(fd, data)
            if mode is not None:
                os.fchmod(fd, mode)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
