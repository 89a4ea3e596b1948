# hardware.cmake - the hardware providers beyond powercap (perf_event, MSR, hwmon, NVML), the fake
# NVML library the tests load, and the tests' environment. Included twice by CMakeLists.txt: with
# NEMB_CMAKE_PHASE "sources" before the library is defined, and "targets" after the tests are.

if(NEMB_CMAKE_PHASE STREQUAL "sources")
  include(CheckIncludeFile)
  option(NEMB_WITH_PERF "Build the perf_event 'power' PMU (RAPL) provider" ON)
  option(NEMB_WITH_MSR "Build the MSR (/dev/cpu/N/msr, Intel and AMD RAPL) provider" ON)
  option(NEMB_WITH_HWMON "Build the hwmon (/sys/class/hwmon energy and power) provider" ON)
  option(NEMB_WITH_NVML "Build the NVIDIA NVML provider (dlopen, no CUDA needed)" ON)

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

elseif(NEMB_CMAKE_PHASE STREQUAL "targets")
  if(NEMB_WITH_NVML)
    # dlopen lives in libdl before glibc 2.34 (CMAKE_DL_LIBS is empty where it is not needed).
    target_link_libraries(nemb PRIVATE ${CMAKE_DL_LIBS})
    target_link_libraries(nemb_static PUBLIC ${CMAKE_DL_LIBS})
  endif()

  if(NEMB_BUILD_TESTS)
    # A stand-in for libnvidia-ml.so.1: the tests point CODEGREEN_NVML_LIB at it (its path comes
    # in NEMB_FAKE_NVML), so the NVML provider's real code runs without a GPU.
    add_library(fake_nvml SHARED tests/fake_nvml/fake_nvml.c)
    set_target_properties(fake_nvml PROPERTIES OUTPUT_NAME fake-nvml C_VISIBILITY_PRESET default)
    foreach(t test_nvml test_selection test_meter)
      if(TARGET ${t})
        add_dependencies(${t} fake_nvml)
        set_property(TEST ${t} APPEND PROPERTY ENVIRONMENT
                     "NEMB_FAKE_NVML=$<TARGET_FILE:fake_nvml>")
      endif()
    endforeach()
    # `codegreen run`'s GPU attribution from per-process utilisation, against the fake NVML.
    add_test(NAME cli_gpu_attribution
             COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/tests/cli/test_gpu_attribution.sh
                     ${CMAKE_BINARY_DIR}/bin/codegreen $<TARGET_FILE:fake_nvml>)
    set_tests_properties(cli_gpu_attribution PROPERTIES TIMEOUT 120)
  endif()
endif()
