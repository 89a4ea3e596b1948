# cmake/safety.cmake - what keeps codegreen from doing harm (issue 11), included twice by
# CMakeLists.txt.
#   sources: the one atomic file writer (src/nemb/atomic_file.c) and the environment gate for
#            privileged processes (src/nemb/secure_env.c), in the library.
#   targets: the same writer compiled into the codegreen executable too (it links the shared
#            library, whose internal nemb__ symbols are hidden); the libFuzzer harnesses.

if(NEMB_CMAKE_PHASE STREQUAL "sources")
  list(APPEND NEMB_SOURCES src/nemb/atomic_file.c src/nemb/secure_env.c)
  # scripts/fuzz.sh configures build-fuzz/ with clang and NEMB_FUZZ=ON: everything is compiled
  # with libFuzzer's coverage instrumentation, and the harnesses link libFuzzer's main.
  option(NEMB_FUZZ "Build the libFuzzer harnesses of tests/fuzz (clang only)" OFF)
  if(NEMB_FUZZ)
    add_compile_options(-fsanitize=fuzzer-no-link)
  endif()

elseif(NEMB_CMAKE_PHASE STREQUAL "targets")
  target_sources(codegreen PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/src/nemb/atomic_file.c
                                   ${CMAKE_CURRENT_SOURCE_DIR}/src/nemb/secure_env.c)
  target_include_directories(codegreen PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/src/nemb)

  if(NEMB_BUILD_TESTS)
    add_test(NAME cli_safety COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/tests/cli/test_safety.sh
                                     $<TARGET_FILE:codegreen> ${CMAKE_CURRENT_SOURCE_DIR}/python)
    set(safety_env "")
    if(NEMB_SANITIZE)
      # The Python programs cannot load a sanitized library: they get the plain build's.
      list(APPEND safety_env "CODEGREEN_LIB_PATH=${CMAKE_CURRENT_SOURCE_DIR}/build/lib/libcodegreen-nemb.so")
    endif()
    set_tests_properties(cli_safety PROPERTIES TIMEOUT 300 ENVIRONMENT "${safety_env}")
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

    # Tests that wait for the samples they need get slower, not wrong, on a starved machine
    # (scripts/test.sh --under-load): their limit is generous.
    foreach(t test_report test_checkpoint test_plot test_sampler test_session)
      if(TEST ${t})
        set_tests_properties(${t} PROPERTIES TIMEOUT 600)
      endif()
    endforeach()

    if(TARGET fake_nvml AND TARGET test_secure_env)
      add_dependencies(test_secure_env fake_nvml)
      set_property(TEST test_secure_env APPEND PROPERTY ENVIRONMENT
                   "NEMB_FAKE_NVML=$<TARGET_FILE:fake_nvml>")
    endif()
  endif()
endif()
