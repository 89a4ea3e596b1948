# report.cmake - comparing measurements (src/nemb/compare.c: Welch's t-test) and the CLI's
# report forms (CSV, Markdown, folded stacks, speedscope, diff). The CLI's own files are picked up
# by the src/cli/*.c glob; their end-to-end tests are registered here.
if(NEMB_CMAKE_PHASE STREQUAL "sources")
  list(APPEND NEMB_SOURCES src/nemb/compare.c)
elseif(NEMB_CMAKE_PHASE STREQUAL "targets")
  # The CLI's statistics and views use libm and a thread (run -I).
  target_link_libraries(codegreen PRIVATE m Threads::Threads)
endif()
if(NEMB_CMAKE_PHASE STREQUAL "targets" AND NEMB_BUILD_TESTS)
  # Python programs (measure's, a Session beside a run) cannot load a sanitizer build's library
  # into an uninstrumented interpreter: they load the plain build's (skipped without it).
  set(CG_REPORT_ENV "CODEGREEN_SOURCE_DIR=${CMAKE_CURRENT_SOURCE_DIR}")
  if(NEMB_SANITIZE)
    list(APPEND CG_REPORT_ENV
         "CODEGREEN_LIB_PATH=${CMAKE_CURRENT_SOURCE_DIR}/build/lib/libcodegreen-nemb.so")
  endif()
  foreach(t compare outputs measure_views provenance)
    add_test(NAME cli_${t} COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/tests/cli/test_${t}.sh
                                    ${CMAKE_BINARY_DIR}/bin/codegreen
                                    ${CMAKE_CURRENT_SOURCE_DIR}/tests/fixtures)
    set_tests_properties(cli_${t} PROPERTIES TIMEOUT 300 SKIP_RETURN_CODE 77
      ENVIRONMENT "${CG_REPORT_ENV}")
  endforeach()
endif()
