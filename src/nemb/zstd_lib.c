/* zstd_lib.c - see zstd_lib.h. */
#include "zstd_lib.h"

#include <string.h>
#include <strings.h>

nemb__zstd_api nemb__zstd;

#define SYM(field) NEMB__DL_SYM(nemb__zstd_api, field, "ZSTD_" #field)
static const nemb__dl_sym syms[] = {
    SYM(createDCtx),       SYM(freeDCtx), SYM(DCtx_setParameter), SYM(DStreamInSize),
    SYM(decompressStream), SYM(isError),  SYM(getErrorName),      SYM(getErrorCode),
    SYM(createCCtx),       SYM(freeCCtx), SYM(CCtx_setParameter), SYM(CStreamOutSize),
    SYM(compressStream2),
};
#undef SYM

nemb__dl_lib nemb__zstd_lib =
    NEMB__DL_LIB_INIT("libzstd.so.1", "a zstd-compressed (.zst) file needs libzstd", "libzstd1", "",
                      "libzstd older than 1.4", syms, &nemb__zstd);

const char *nemb__zstd_load(void) {
  return nemb__dl_load(&nemb__zstd_lib);
}

bool nemb__zstd_is_zst_name(const char *path) {
  size_t n = path ? strlen(path) : 0;
  return n >= 4 && strcasecmp(path + n - 4, ".zst") == 0;
}
