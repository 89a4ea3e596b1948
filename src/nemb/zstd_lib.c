/* zstd_lib.c - see zstd_lib.h. */
#include "zstd_lib.h"

#include "dl.h"

nemb__zstd_api nemb__zstd;

#define SYM(field) NEMB__DL_SYM(nemb__zstd_api, field, "ZSTD_" #field)
static const nemb__dl_sym syms[] = {
    SYM(createDCtx),       SYM(freeDCtx), SYM(DCtx_setParameter), SYM(DStreamInSize),
    SYM(decompressStream), SYM(isError),  SYM(getErrorName),      SYM(getErrorCode),
};
#undef SYM

static nemb__dl_lib lib = NEMB__DL_LIB_INIT(
    "libzstd.so.1", "reading a zstd-compressed report needs libzstd", "libzstd1",
    "; decompress it with `zstd -d` instead", "libzstd older than 1.4", syms, &nemb__zstd);

const char *nemb__zstd_load(void) {
  return nemb__dl_load(&lib);
}
