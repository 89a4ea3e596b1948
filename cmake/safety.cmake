# cmake/safety.cmake - what keeps codegreen from doing harm (issue 11), included twice by
# CMakeLists.txt.
#   sources: the one atomic file writer (src/nemb/atomic_file.c) and the environment gate for
#            privileged processes (src/nemb/secure_env.c), in the library.
#   targets: the same writer compiled into the codegreen executable too (it links the shared
#            library, whose internal nemb__ symbols are hidden); the libFuzzer harnesses.

if(NEMB_CMAKE_PHASE STREQUAL "sources")
  list(APPEND NEMB_SOURCES src/nemb/atomic_file.c src/nemb/secure_env.c)

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
    if(TARGET fake_nvml AND TARGET test_secure_env)
      add_dependencies(test_secure_env fake_nvml)
      set_property(TEST test_secure_env APPEND PROPERTY ENVIRONMENT
                   "NEMB_FAKE_NVML=$<TARGET_FILE:fake_nvml>")
    endif()
  endif()
endif()
