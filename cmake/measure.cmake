# measure.cmake - the measurement model's files that grew after the core: the update-edge model
# and the poller that reads a provider whose calls can block on a thread of its own.
if(NEMB_CMAKE_PHASE STREQUAL "sources")
  list(APPEND NEMB_SOURCES src/nemb/edges.c src/nemb/poller.c)
endif()

if(NEMB_CMAKE_PHASE STREQUAL "targets" AND NEMB_BUILD_BENCH)
  # The measurement model's error figures against the simulated device's analytical truth.
  add_executable(bench_accuracy bench/bench_accuracy.c)
  target_link_libraries(bench_accuracy PRIVATE nemb_static)
endif()
