/*
 * fuzz_report.c - the report reader behind `codegreen plot` and nemb_report_export_plot(): any
 * bytes as a saved report, parsed as a stream (plot_stream.c), turned into the plot model (time
 * series, tasks, resampling) and drawn as the HTML page. Reports are files users pass around:
 * anything may be refused, nothing may crash, leak or hit undefined behaviour.
 */
#include "fuzz.h"
#include "internal.h"
#include "plot.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > 1 << 20) {
    return 0;
  }
  nemb__plot p;
  nemb__plot_init(&p);
  if (nemb__plot_from_report_bytes(data, size, "fuzz.json", &p) == 0) {
    nemb__buf out = NEMB__BUF_INIT;
    nemb__plot_html(&p, &out);
    nemb__buf_release(&out);
  }
  nemb__plot_release(&p);
  return 0;
}
