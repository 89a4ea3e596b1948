# slurm.cmake - the SPANK plugin spank_codegreen.so (src/slurm/), built when Debian's
# libslurm-dev (slurm/spank.h) is found; its test starts munge, slurmctld and slurmd on 127.0.0.1.
# Its test uses the engines' environment (NEMB_ENGINE_ENV, cmake/cli.cmake).

find_path(NEMB_SPANK_INCLUDE slurm/spank.h)
option(NEMB_WITH_SLURM "Build the Slurm SPANK plugin (needs libslurm-dev)" ON)
if(NEMB_WITH_SLURM AND NEMB_SPANK_INCLUDE)
  add_library(spank_codegreen MODULE src/slurm/spank_codegreen.c src/slurm/gpu_select.c)
  set_target_properties(spank_codegreen PROPERTIES PREFIX "" OUTPUT_NAME spank_codegreen
                        C_VISIBILITY_PRESET default)
  target_include_directories(spank_codegreen PRIVATE ${NEMB_SPANK_INCLUDE} src/slurm)
  # The library goes inside the plugin (its static, position-independent build): slurmstepd
  # loads one self-contained file, and the plugin may use the library's interpolation. The SPANK
  # symbols (spank_getenv, ...) come from slurmstepd and srun, which load the plugin: they are
  # left undefined here on purpose.
  target_link_libraries(spank_codegreen PRIVATE nemb_static PkgConfig::JANSSON)
  install(TARGETS spank_codegreen LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}/slurm)
  if(NEMB_BUILD_TESTS)
    add_test(NAME engine_slurm COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/tests/engines/test_slurm.sh)
    set_tests_properties(engine_slurm PROPERTIES TIMEOUT 300 SKIP_RETURN_CODE 77 RUN_SERIAL TRUE
      ENVIRONMENT "${NEMB_ENGINE_ENV};SPANK_PLUGIN=$<TARGET_FILE:spank_codegreen>")
  endif()
elseif(NEMB_WITH_SLURM)
  message(STATUS "slurm/spank.h not found: the SPANK plugin is not built (Debian: libslurm-dev)")
endif()
