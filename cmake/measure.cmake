# measure.cmake - the measurement model's files that grew after the core: the update-edge model.
if(NEMB_CMAKE_PHASE STREQUAL "sources")
  list(APPEND NEMB_SOURCES src/nemb/edges.c)
endif()
