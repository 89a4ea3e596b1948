# cluster.cmake - beyond one machine: the node-local leader of MPI/Slurm jobs (src/nemb/job.c,
# node.c), pushing to a Prometheus Pushgateway (src/nemb/push.c, libcurl loaded at run time), the exporter
# (src/cli/cmd_exporter.c, libmicrohttpd), and the Slurm SPANK plugin (cmake/slurm.cmake, built
# when libslurm-dev is found). Included twice by CMakeLists.txt (phases "sources", "targets").

if(NEMB_CMAKE_PHASE STREQUAL "sources")
  pkg_check_modules(CURL REQUIRED IMPORTED_TARGET libcurl)
  pkg_check_modules(MHD REQUIRED IMPORTED_TARGET libmicrohttpd)
  list(APPEND NEMB_SOURCES src/nemb/job.c src/nemb/node.c src/nemb/push.c)
elseif(NEMB_CMAKE_PHASE STREQUAL "targets")
  # push.c dlopen()s libcurl on the first push (not linked: loading it and the ~40 libraries it
  # needs would cost every process that opens the library); only its headers are used here.
  target_include_directories(nemb_objects PRIVATE ${CURL_INCLUDE_DIRS})
  target_link_libraries(nemb PRIVATE ${CMAKE_DL_LIBS})
  target_link_libraries(nemb_static PUBLIC ${CMAKE_DL_LIBS})
  target_link_libraries(codegreen PRIVATE PkgConfig::MHD m)

  if(NEMB_BUILD_TESTS)
    # The plugin's GPU rule needs no Slurm: tested everywhere.
    target_sources(test_gpu_select PRIVATE src/slurm/gpu_select.c)
    target_include_directories(test_gpu_select PRIVATE src/slurm)
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
  endif()
  include(${CMAKE_CURRENT_LIST_DIR}/slurm.cmake)
endif()
