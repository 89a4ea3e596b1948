# cmake/cli.cmake - the codegreen executable (src/cli, one file per verb, picked up by the glob)
# and the tests that drive it end to end: the shell scripts of tests/cli, the real engines of
# tests/engines (MPI, Prometheus, Pushgateway, the exporter), and the fuzz harnesses of
# tests/fuzz (the config loader, the instrumenter and the report reader).

pkg_check_modules(MHD REQUIRED IMPORTED_TARGET libmicrohttpd)

file(GLOB NEMB_CLI_SOURCES CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/src/cli/*.c)
# The one atomic file writer, the environment gate, the Pushgateway URL rule, the UTF-8 rule and the one report loader (json_load.c over
# zsource.c: .json and .json.zst, libzstd loaded at the first compressed file) are compiled in too: the executable links the shared library,
# whose internal nemb__ symbols are hidden.
add_executable(codegreen ${NEMB_CLI_SOURCES} ${CMAKE_CURRENT_SOURCE_DIR}/src/nemb/atomic_file.c
                         ${CMAKE_CURRENT_SOURCE_DIR}/src/nemb/secure_env.c
                         ${CMAKE_CURRENT_SOURCE_DIR}/src/nemb/json_load.c
                         ${CMAKE_CURRENT_SOURCE_DIR}/src/nemb/zsource.c
                         ${CMAKE_CURRENT_SOURCE_DIR}/src/nemb/zstd_lib.c
                         ${CMAKE_CURRENT_SOURCE_DIR}/src/nemb/dl.c
                         ${CMAKE_CURRENT_SOURCE_DIR}/src/nemb/push_url.c
                         ${CMAKE_CURRENT_SOURCE_DIR}/src/nemb/utf8.c)
target_include_directories(codegreen PRIVATE src/cli ${CMAKE_CURRENT_SOURCE_DIR}/src/nemb)
# The CLI's statistics and views use libm and a thread (run -I); the exporter libmicrohttpd.
target_link_libraries(codegreen PRIVATE nemb PkgConfig::JANSSON ${CMAKE_DL_LIBS} codegreen_instrument
                                        PkgConfig::MHD m Threads::Threads)
# Where `measure` finds the runtime module when CODEGREEN_PYTHON_DIR is not set: this source
# tree's python/, else <bindir>/../share/codegreen/python.
target_compile_definitions(codegreen PRIVATE
  CG_SOURCE_INCLUDE_DIR="${CMAKE_CURRENT_SOURCE_DIR}/include"
  CG_SOURCE_PYTHON_DIR="${CMAKE_CURRENT_SOURCE_DIR}/python"
  CG_INSTALL_PYTHON_DIR="share/codegreen/python")
install(TARGETS codegreen EXPORT codegreen-nemb-targets RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})

if(NEMB_BUILD_TESTS)
  # Python programs (measure's, a Session beside a run) cannot load a sanitizer build's library
  # into an uninstrumented interpreter: they load the plain build's (skipped without it).
  set(CG_PLAIN_ENV "")
  if(NEMB_SANITIZE)
    set(CG_PLAIN_ENV
        "CODEGREEN_LIB_PATH=${CMAKE_CURRENT_SOURCE_DIR}/build/lib/libcodegreen-nemb.so")
  endif()

  # The CLI's output helpers in C: the words of the "± X J" line for each cause.
  add_executable(test_cli_outputs tests/cli/test_cli_outputs.c src/cli/outputs.c src/nemb/utf8.c)
  target_include_directories(test_cli_outputs PRIVATE tests src/cli src/nemb)
  target_link_libraries(test_cli_outputs PRIVATE nemb_static PkgConfig::CMOCKA PkgConfig::JANSSON)
  add_test(NAME test_cli_outputs COMMAND test_cli_outputs)

  add_test(NAME cli_info COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/tests/cli/test_cli.sh
                                 ${CMAKE_BINARY_DIR}/bin/codegreen
                                 ${CMAKE_CURRENT_SOURCE_DIR}/tests/fixtures)
  set_tests_properties(cli_info PROPERTIES TIMEOUT 120 SKIP_RETURN_CODE 77)
  # The exporter's --listen forms, the URL it prints, and scrapes past idle connections.
  add_test(NAME cli_exporter COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/tests/cli/test_exporter.sh
                                     ${CMAKE_BINARY_DIR}/bin/codegreen)
  set_tests_properties(cli_exporter PROPERTIES TIMEOUT 120)
  add_test(NAME cli_run COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/tests/cli/test_run.sh
                                ${CMAKE_BINARY_DIR}/bin/codegreen)
  set_tests_properties(cli_run PROPERTIES TIMEOUT 180)
  # How run reports a run that failed, was killed or interrupted, and its other small outputs.
  add_test(NAME cli_run_status COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/tests/cli/test_run_status.sh
                                       ${CMAKE_BINARY_DIR}/bin/codegreen)
  set_tests_properties(cli_run_status PROPERTIES TIMEOUT 180)
  add_test(NAME exports COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/tests/cli/test_exports.sh
                                $<TARGET_FILE:nemb> ${CMAKE_CURRENT_SOURCE_DIR}/include/nemb.h)
  set(CG_REPORT_ENV "CODEGREEN_SOURCE_DIR=${CMAKE_CURRENT_SOURCE_DIR}" ${CG_PLAIN_ENV})
  foreach(t compare outputs measure_views provenance)
    add_test(NAME cli_${t} COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/tests/cli/test_${t}.sh
                                    ${CMAKE_BINARY_DIR}/bin/codegreen
                                    ${CMAKE_CURRENT_SOURCE_DIR}/tests/fixtures)
    set_tests_properties(cli_${t} PROPERTIES TIMEOUT 300 SKIP_RETURN_CODE 77
      ENVIRONMENT "${CG_REPORT_ENV}")
  endforeach()
  add_test(NAME cli_safety COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/tests/cli/test_safety.sh
                                   $<TARGET_FILE:codegreen> ${CMAKE_CURRENT_SOURCE_DIR}/python)
  set_tests_properties(cli_safety PROPERTIES TIMEOUT 300 ENVIRONMENT "${CG_PLAIN_ENV}")
  # Compressed reports (.json.zst) through every verb that reads a report file.
  add_test(NAME cli_zst COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/tests/cli/test_zst.sh
                                ${CMAKE_BINARY_DIR}/bin/codegreen
                                ${CMAKE_CURRENT_SOURCE_DIR}/tests/fixtures)
  set_tests_properties(cli_zst PROPERTIES TIMEOUT 180 SKIP_RETURN_CODE 77
                       ENVIRONMENT "LSAN_OPTIONS=suppressions=${NEMB_PLOT_LSAN}")
  # Plots through the CLI (codegreen run --export-plot, codegreen plot), and the page in headless
  # Chromium (skipped, exit 77, where Chromium is not installed).
  add_test(NAME cli_plot COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/tests/cli/test_plot.sh
                                 ${CMAKE_BINARY_DIR}/bin/codegreen)
  add_test(NAME plot_chromium COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/tests/cli/test_plot.sh
                                      ${CMAKE_BINARY_DIR}/bin/codegreen --chromium)
  set_tests_properties(cli_plot plot_chromium PROPERTIES TIMEOUT 180 SKIP_RETURN_CODE 77
                       ENVIRONMENT "LSAN_OPTIONS=suppressions=${NEMB_PLOT_LSAN}")

  # `codegreen run`'s GPU attribution from per-process utilisation, against the fake NVML.
  add_test(NAME cli_gpu_attribution
           COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/tests/cli/test_gpu_attribution.sh
                   ${CMAKE_BINARY_DIR}/bin/codegreen $<TARGET_FILE:fake_nvml>)
  set_tests_properties(cli_gpu_attribution PROPERTIES TIMEOUT 120)

  # The real engines, started by the scripts on 127.0.0.1 and stopped at their end. Each skips
  # (77) only where its engine is not installed or cannot run here, and says why.
  set(NEMB_ENGINE_ENV "CODEGREEN_BIN=${CMAKE_BINARY_DIR}/bin/codegreen"
      "NEMB_BUILD=${CMAKE_BINARY_DIR}" "NEMB_SOURCE=${CMAKE_CURRENT_SOURCE_DIR}"
      "NEMB_SANITIZE=${NEMB_SANITIZE}" "NEMB_CC=${CMAKE_C_COMPILER}")
  foreach(engine mpi prometheus pushgateway merge exporter_user)
    add_test(NAME engine_${engine}
             COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/tests/engines/test_${engine}.sh)
    set_tests_properties(engine_${engine} PROPERTIES TIMEOUT 300 SKIP_RETURN_CODE 77
                         ENVIRONMENT "${NEMB_ENGINE_ENV}" RUN_SERIAL TRUE)
  endforeach()

  # The fuzz harnesses: with NEMB_FUZZ, libFuzzer targets (scripts/fuzz.sh runs them); in every
  # other build, the same harnesses replay the committed seed corpus as ctest tests. The
  # instrumenter's seeds are tests/fuzz/corpus/instrument (inputs of their own) and the programs
  # of tests/instrument/corpus, read in place.
  set(fuzz_instrument_extra ${CMAKE_CURRENT_SOURCE_DIR}/tests/instrument/corpus)
  foreach(h config instrument report)
    if(NEMB_FUZZ)
      set(fz fuzz_${h})
      add_executable(${fz} tests/fuzz/fuzz_${h}.c)
      target_link_options(${fz} PRIVATE -fsanitize=fuzzer)
    else()
      set(fz fuzz_${h}_seeds)
      add_executable(${fz} tests/fuzz/fuzz_${h}.c tests/fuzz/driver.c)
      add_test(NAME ${fz} COMMAND ${fz} ${CMAKE_CURRENT_SOURCE_DIR}/tests/fuzz/corpus/${h}
                                   ${fuzz_${h}_extra})
      set_tests_properties(${fz} PROPERTIES TIMEOUT 300)
    endif()
    target_include_directories(${fz} PRIVATE tests/fuzz tests)
    target_link_libraries(${fz} PRIVATE nemb_static)
    if(h STREQUAL "instrument")
      target_link_libraries(${fz} PRIVATE codegreen_instrument)
    endif()
  endforeach()
endif()
