# cmake/safety.cmake - what keeps codegreen from doing harm (issue 11), included twice by
# CMakeLists.txt.
#   sources: the one atomic file writer (src/nemb/atomic_file.c) and the environment gate for
#            privileged processes (src/nemb/secure_env.c), in the library.
#   targets: the same writer compiled into the codegreen executable too (it links the shared
#            library, whose internal nemb__ symbols are hidden); the libFuzzer harnesses.

if(NEMB_CMAKE_PHASE STREQUAL "sources")
  list(APPEND NEMB_SOURCES src/nemb/atomic_file.c)

elseif(NEMB_CMAKE_PHASE STREQUAL "targets")
  target_sources(codegreen PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/src/nemb/atomic_file.c)
  target_include_directories(codegreen PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/src/nemb)
endif()
