# cmake/nemb.cmake - libcodegreen-nemb (src/nemb): the core, the providers (one option each), the
# plot writers (cairo for PNG; uPlot from npm, embedded by cmake/embed_uplot.cmake, for HTML), the
# node-local leader and the Pushgateway client; built as an object library so the unit tests can
# link the internals (nemb__ symbols) statically while the shared object exports only the public
# API. Also the library's unit tests (tests/unit, tests/provider), the fake NVML they load, the
# one-hour session test and the benchmarks.

# ----- providers -----
include(CheckIncludeFile)
option(NEMB_WITH_POWERCAP "Build the powercap (Intel/AMD RAPL via sysfs) provider" ON)
option(NEMB_WITH_SIM "Build the simulated-device provider" ON)
option(NEMB_WITH_ESTIMATE "Build the CPU-time estimation provider" ON)
option(NEMB_WITH_PERF "Build the perf_event 'power' PMU (RAPL) provider" ON)
option(NEMB_WITH_MSR "Build the MSR (/dev/cpu/N/msr, Intel and AMD RAPL) provider" ON)
option(NEMB_WITH_HWMON "Build the hwmon (/sys/class/hwmon energy and power) provider" ON)
option(NEMB_WITH_NVML "Build the NVIDIA NVML provider (dlopen, no CUDA needed)" ON)

set(NEMB_SOURCES
    src/nemb/atomic_file.c
    src/nemb/batch_read.c
    src/nemb/buf.c
    src/nemb/cairo_lib.c
    src/nemb/carbon.c
    src/nemb/checkpoint.c
    src/nemb/chunks.c
    src/nemb/huge.c
    src/nemb/clock.c
    src/nemb/compare.c
    src/nemb/config.c
    src/nemb/describe.c
    src/nemb/dl.c
    src/nemb/edges.c
    src/nemb/energy.c
    src/nemb/error.c
    src/nemb/gpu_share.c
    src/nemb/proc_stat.c
    src/nemb/proc_tree.c
    src/nemb/job.c
    src/nemb/json_text.c
    src/nemb/utf8.c
    src/nemb/json_load.c
    src/nemb/zsource.c
    src/nemb/zstd_lib.c
    src/nemb/log.c
    src/nemb/meter.c
    src/nemb/node.c
    src/nemb/poller.c
    src/nemb/procs.c
    src/nemb/push.c
    src/nemb/push_url.c
    src/nemb/records.c
    src/nemb/report.c
    src/nemb/report_columnar.c
    src/nemb/report_meta.c
    src/nemb/report_file.c
    src/nemb/report_series.c
    src/nemb/results.c
    src/nemb/sampler.c
    src/nemb/secure_env.c
    src/nemb/session.c
    src/nemb/term_guard.c
    src/nemb/stats.c
    src/nemb/store.c
    src/nemb/task_groups.c
    src/nemb/sysfs.c
    src/nemb/unwrap.c
    src/nemb/version.c
    src/nemb/plot.c
    src/nemb/plot_model.c
    src/nemb/plot_source.c
    src/nemb/plot_build.c
    src/nemb/plot_stream.c
    src/nemb/yajl_lib.c
    src/nemb/plot_html.c
    src/nemb/plot_png.c
    src/nemb/providers/registry.c)
if(NEMB_WITH_POWERCAP)
  list(APPEND NEMB_SOURCES src/nemb/providers/powercap.c)
endif()
if(NEMB_WITH_SIM)
  list(APPEND NEMB_SOURCES src/nemb/providers/sim.c)
endif()
if(NEMB_WITH_ESTIMATE)
  list(APPEND NEMB_SOURCES src/nemb/providers/estimate.c)
endif()
if(NEMB_WITH_PERF)
  check_include_file(linux/perf_event.h NEMB_HAVE_PERF_EVENT_H)
  if(NOT NEMB_HAVE_PERF_EVENT_H)
    message(FATAL_ERROR "NEMB_WITH_PERF needs <linux/perf_event.h> (Debian: linux-libc-dev); "
                        "install it or configure with -DNEMB_WITH_PERF=OFF")
  endif()
  list(APPEND NEMB_SOURCES src/nemb/providers/perf.c)
  add_compile_definitions(NEMB_WITH_PERF)
endif()
if(NEMB_WITH_MSR)
  list(APPEND NEMB_SOURCES src/nemb/providers/msr.c)
  add_compile_definitions(NEMB_WITH_MSR)
endif()
if(NEMB_WITH_HWMON)
  list(APPEND NEMB_SOURCES src/nemb/providers/hwmon.c)
  add_compile_definitions(NEMB_WITH_HWMON)
endif()
if(NEMB_WITH_NVML)
  check_include_file(dlfcn.h NEMB_HAVE_DLFCN_H)
  if(NOT NEMB_HAVE_DLFCN_H)
    message(FATAL_ERROR "NEMB_WITH_NVML loads NVML with dlopen and needs <dlfcn.h>; "
                        "configure with -DNEMB_WITH_NVML=OFF on this platform")
  endif()
  list(APPEND NEMB_SOURCES src/nemb/providers/nvml.c)
  add_compile_definitions(NEMB_WITH_NVML)
endif()

# ----- the plot's assets: uPlot from npm, embedded as byte arrays -----
pkg_check_modules(CAIRO REQUIRED IMPORTED_TARGET cairo)
set(NEMB_UPLOT_DIR ${CMAKE_CURRENT_SOURCE_DIR}/node_modules/uplot)
foreach(f dist/uPlot.iife.min.js dist/uPlot.min.css package.json)
  if(NOT EXISTS ${NEMB_UPLOT_DIR}/${f})
    message(FATAL_ERROR
      "The HTML plot embeds uPlot from npm, but ${NEMB_UPLOT_DIR}/${f} is missing.\n"
      "Run scripts/setup.sh: it installs the npm packages pinned in package-lock.json "
      "(npm ci) into node_modules/.")
  endif()
endforeach()
set(NEMB_PLOT_ASSETS ${CMAKE_BINARY_DIR}/generated/plot_assets.c)
add_custom_command(
  OUTPUT ${NEMB_PLOT_ASSETS}
  COMMAND ${CMAKE_COMMAND} -E make_directory ${CMAKE_BINARY_DIR}/generated
  COMMAND ${CMAKE_COMMAND} -DNEMB_PLOT_EMBED_OUT=${NEMB_PLOT_ASSETS}
          -DNEMB_PLOT_JS=${NEMB_UPLOT_DIR}/dist/uPlot.iife.min.js
          -DNEMB_PLOT_CSS=${NEMB_UPLOT_DIR}/dist/uPlot.min.css
          -DNEMB_PLOT_PKG=${NEMB_UPLOT_DIR}/package.json
          -P ${CMAKE_CURRENT_SOURCE_DIR}/cmake/embed_uplot.cmake
  DEPENDS ${NEMB_UPLOT_DIR}/dist/uPlot.iife.min.js ${NEMB_UPLOT_DIR}/dist/uPlot.min.css
          ${NEMB_UPLOT_DIR}/package.json ${CMAKE_CURRENT_SOURCE_DIR}/cmake/embed_uplot.cmake
  COMMENT "Embedding uPlot into the plot writer"
  VERBATIM)
list(APPEND NEMB_SOURCES ${NEMB_PLOT_ASSETS})

# push.c dlopen()s libcurl on the first push and cairo_lib.c cairo on the first PNG or SVG (not
# linked: loading them and the ~40 and 18 libraries they need would cost every process that opens
# the library); only their headers are used here.
pkg_check_modules(CURL REQUIRED IMPORTED_TARGET libcurl)

# Reports are read in chunks (zsource.c): zstd-compressed ones decompressed on the fly (libzstd),
# and the plot parses them as a stream (plot_stream.c, yajl 2), never as a whole tree. Both are
# loaded when first used (zstd_lib.c, yajl_lib.c), as cairo is: only their headers are needed.
pkg_check_modules(ZSTD REQUIRED libzstd)
pkg_check_modules(YAJL REQUIRED yajl)

# ----- the library -----
add_library(nemb_objects OBJECT ${NEMB_SOURCES})
target_include_directories(nemb_objects PUBLIC include src/nemb src/nemb/providers)
target_include_directories(nemb_objects PRIVATE ${CURL_INCLUDE_DIRS} ${CAIRO_INCLUDE_DIRS}
                                                ${ZSTD_INCLUDE_DIRS} ${YAJL_INCLUDE_DIRS})
target_link_libraries(nemb_objects PUBLIC PkgConfig::JANSSON Threads::Threads m ${CMAKE_DL_LIBS})
target_compile_definitions(nemb_objects PUBLIC
  $<$<BOOL:${NEMB_WITH_POWERCAP}>:NEMB_WITH_POWERCAP>
  $<$<BOOL:${NEMB_WITH_SIM}>:NEMB_WITH_SIM>
  $<$<BOOL:${NEMB_WITH_ESTIMATE}>:NEMB_WITH_ESTIMATE>)

add_library(nemb SHARED $<TARGET_OBJECTS:nemb_objects>)
set_target_properties(nemb PROPERTIES
  OUTPUT_NAME codegreen-nemb
  VERSION ${PROJECT_VERSION}
  SOVERSION ${PROJECT_VERSION_MAJOR})
target_include_directories(nemb PUBLIC
  $<BUILD_INTERFACE:${CMAKE_CURRENT_SOURCE_DIR}/include> $<INSTALL_INTERFACE:include>)
# dlopen (NVML, libcurl, cairo) lives in libdl before glibc 2.34 (CMAKE_DL_LIBS is empty where it
# is not needed).
target_link_libraries(nemb PRIVATE PkgConfig::JANSSON Threads::Threads m ${CMAKE_DL_LIBS})

add_library(nemb_static STATIC $<TARGET_OBJECTS:nemb_objects>)
target_link_libraries(nemb_static PUBLIC nemb_objects ${CMAKE_DL_LIBS})

install(TARGETS nemb EXPORT codegreen-nemb-targets LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(FILES include/nemb.h DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})

# ----- the library's tests -----
if(NEMB_BUILD_TESTS)
  # Every tests/unit/test_*.c and tests/provider/test_*.c is one ctest test. Tests link the
  # static library so they can reach internal nemb__ functions.
  file(GLOB NEMB_TEST_SOURCES CONFIGURE_DEPENDS
       ${CMAKE_CURRENT_SOURCE_DIR}/tests/unit/test_*.c
       ${CMAKE_CURRENT_SOURCE_DIR}/tests/provider/test_*.c)
  foreach(src ${NEMB_TEST_SOURCES})
    get_filename_component(name ${src} NAME_WE)
    add_executable(${name} ${src})
    target_include_directories(${name} PRIVATE tests)
    target_link_libraries(${name} PRIVATE nemb_static PkgConfig::CMOCKA)
    add_test(NAME ${name} COMMAND ${name})
    set_tests_properties(${name} PROPERTIES
      TIMEOUT 120
      SKIP_RETURN_CODE 77
      ENVIRONMENT "NEMB_FIXTURES=${CMAKE_CURRENT_SOURCE_DIR}/tests/fixtures;CODEGREEN_BIN=${CMAKE_BINARY_DIR}/bin/codegreen")
  endforeach()

  # The powercap provider's tests again with its counters read through io_uring, which is
  # opt-in (src/nemb/batch_read.h); the default test reads them with pread.
  if(TARGET test_powercap)
    add_test(NAME test_powercap_uring COMMAND test_powercap)
    set_tests_properties(test_powercap_uring PROPERTIES
      TIMEOUT 120
      SKIP_RETURN_CODE 77
      ENVIRONMENT "NEMB_FIXTURES=${CMAKE_CURRENT_SOURCE_DIR}/tests/fixtures;CODEGREEN_IO_URING=1")
  endif()

  # test_plot_stream compresses its inputs with libzstd itself, test_atomic_file decompresses
  # what the writer compressed.
  pkg_check_modules(ZSTD_LINK REQUIRED IMPORTED_TARGET libzstd)
  target_link_libraries(test_plot_stream PRIVATE PkgConfig::ZSTD_LINK)
  target_link_libraries(test_atomic_file PRIVATE PkgConfig::ZSTD_LINK)

  # A stand-in for libnvidia-ml.so.1: the tests point CODEGREEN_NVML_LIB at it (its path comes
  # in NEMB_FAKE_NVML), so the NVML provider's real code runs without a GPU.
  add_library(fake_nvml SHARED tests/fake_nvml/fake_nvml.c)
  set_target_properties(fake_nvml PROPERTIES OUTPUT_NAME fake-nvml C_VISIBILITY_PRESET default)
  foreach(t test_nvml test_selection test_meter test_secure_env)
    if(TARGET ${t})
      add_dependencies(${t} fake_nvml)
      set_property(TEST ${t} APPEND PROPERTY ENVIRONMENT "NEMB_FAKE_NVML=$<TARGET_FILE:fake_nvml>")
    endif()
  endforeach()

  # test_plot reads the PNGs back with cairo itself (the library loads cairo on its own, see
  # src/nemb/cairo_lib.h; test_lazy_libs checks that it does so only when a PNG is drawn).
  target_link_libraries(test_plot PRIVATE PkgConfig::CAIRO)

  # The Slurm plugin's GPU rule needs no Slurm: tested everywhere.
  target_sources(test_gpu_select PRIVATE src/slurm/gpu_select.c)
  target_include_directories(test_gpu_select PRIVATE src/slurm)

  # cairo finds its fonts through fontconfig, whose configuration (about 1 KB, allocated once
  # per process at the first text drawn) is never freed unless someone calls FcFini(), which a
  # library must not do behind its host's back. LeakSanitizer would report it in every test that
  # draws a PNG, so those tests suppress exactly that.
  set(NEMB_PLOT_LSAN ${CMAKE_BINARY_DIR}/plot-lsan.supp)
  file(WRITE ${NEMB_PLOT_LSAN} "leak:libfontconfig\n")
  set_property(TEST test_plot test_lazy_libs test_plot_stream APPEND PROPERTY
               ENVIRONMENT "LSAN_OPTIONS=suppressions=${NEMB_PLOT_LSAN}")

  # Tests that wait for the samples they need get slower, not wrong, on a starved machine
  # (scripts/test.sh --under-load): their limit is generous.
  foreach(t test_report test_checkpoint test_plot test_sampler test_session)
    if(TEST ${t})
      set_tests_properties(${t} PROPERTIES TIMEOUT 600)
    endif()
  endforeach()

  # The one-hour session: label "long", left out of scripts/test.sh (ctest -LE long).
  add_executable(test_long_session tests/long/test_long_session.c)
  target_include_directories(test_long_session PRIVATE tests)
  target_link_libraries(test_long_session PRIVATE nemb_static PkgConfig::CMOCKA)
  add_test(NAME test_long_session COMMAND test_long_session)
  set_tests_properties(test_long_session PROPERTIES LABELS long TIMEOUT 4000)
endif()

if(NEMB_BUILD_BENCH)
  add_executable(bench_sampler bench/bench_sampler.c)
  target_link_libraries(bench_sampler PRIVATE nemb_static)
  add_executable(bench_hotpath bench/bench_hotpath.c)
  target_link_libraries(bench_hotpath PRIVATE nemb_static)
  # The measurement model's error figures against the simulated device's analytical truth.
  add_executable(bench_accuracy bench/bench_accuracy.c)
  target_link_libraries(bench_accuracy PRIVATE nemb_static)
  # The C side of bench_scale.py's figure 2 (a million tasks), through the shared library as
  # Python's Session uses it.
  add_executable(bench_tasks bench/bench_tasks.c)
  target_link_libraries(bench_tasks PRIVATE nemb)
  # A real driver's NVML call costs and energy-counter update period, independent of the
  # provider (loads libnvidia-ml itself); run on a machine with an NVIDIA GPU.
  add_executable(bench_nvml bench/bench_nvml.c)
  target_link_libraries(bench_nvml PRIVATE ${CMAKE_DL_LIBS})
endif()
