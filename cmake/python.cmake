# cmake/python.cmake - the Python front's part of the build: the optional CPython extension
# `_codegreen_fast` (the hot paths of codegreen_runtime and of codegreen.Session's tasks; ctypes is
# the fallback when it is absent),
# and the install rules of the package. (CMakeLists.txt chooses the interpreter.)

option(NEMB_BUILD_PYTHON_EXT "Build the CPython extension for codegreen_runtime's hot path" ON)

# A sanitizer build's module could not be loaded by an uninstrumented interpreter: skip it.
if(NEMB_BUILD_PYTHON_EXT AND NOT NEMB_SANITIZE)
  find_package(Python3 3.8 COMPONENTS Interpreter Development.Module)
  if(Python3_Development.Module_FOUND)
    # The limited C API of 3.8 (abi3): one binary for every CPython from 3.8 on, named like
    # the other stable-ABI modules so each of them finds it. It calls libcodegreen-nemb through
    # dlopen(), so it uses the one copy of the library that codegreen._native would load.
    add_library(codegreen_fast MODULE python/ext/codegreen_fast.c python/ext/session_tasks.c
                python/ext/linetable.c)
    target_include_directories(codegreen_fast PRIVATE ${Python3_INCLUDE_DIRS}
                               ${CMAKE_CURRENT_SOURCE_DIR}/include)
    target_compile_definitions(codegreen_fast PRIVATE Py_LIMITED_API=0x03080000)
    target_link_libraries(codegreen_fast PRIVATE ${CMAKE_DL_LIBS})
    set_target_properties(codegreen_fast PROPERTIES
      PREFIX "" OUTPUT_NAME _codegreen_fast SUFFIX ".abi3.so"
      LIBRARY_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/lib)
    # Python's headers are not held to our strict warning set.
    target_compile_options(codegreen_fast PRIVATE -Wno-missing-prototypes -Wno-pedantic)
    message(STATUS "python: building _codegreen_fast.abi3.so (CPython 3.8+, headers of "
                   "${Python3_VERSION})")
  else()
    message(STATUS "python: Python headers not found (Debian: python3-dev); "
                   "codegreen_runtime will use ctypes")
  endif()
endif()

# `cmake --install` puts the package beside the interpreter's other packages, the module in it,
# and the library in the system library path, so `import codegreen` works with no setting.
if(NOT NEMB_PYTHON_SITEDIR)
  set(_site "lib/python3/site-packages")
  if(Python3_EXECUTABLE)
    execute_process(
      COMMAND ${Python3_EXECUTABLE} -c
        "import sys, sysconfig; p = sysconfig.get_path('purelib'); pre = sys.argv[1].rstrip('/'); v = '%d.%d' % sys.version_info[:2]; print(p[len(pre) + 1:] if p.startswith(pre + '/') else 'lib/python%s/site-packages' % v)"
        ${CMAKE_INSTALL_PREFIX}
      OUTPUT_VARIABLE _site OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
  endif()
  set(NEMB_PYTHON_SITEDIR "${_site}" CACHE STRING
      "Where `cmake --install` puts the Python package (relative to the prefix, or absolute)")
endif()
install(DIRECTORY python/codegreen DESTINATION ${NEMB_PYTHON_SITEDIR}
        FILES_MATCHING PATTERN "*.py" PATTERN "__pycache__" EXCLUDE)
install(FILES python/codegreen_runtime.py DESTINATION ${NEMB_PYTHON_SITEDIR})
if(TARGET codegreen_fast)
  # Beside codegreen_runtime.py, where the runtime looks first.
  install(TARGETS codegreen_fast LIBRARY DESTINATION ${NEMB_PYTHON_SITEDIR})
endif()
# What the installed `codegreen measure` puts on the measured program's PYTHONPATH (whatever
# interpreter runs it): the runtime, the package it falls back on, and the extension.
install(DIRECTORY python/codegreen DESTINATION share/codegreen/python
        FILES_MATCHING PATTERN "*.py" PATTERN "__pycache__" EXCLUDE)
install(FILES python/codegreen_runtime.py DESTINATION share/codegreen/python)
if(TARGET codegreen_fast)
  install(TARGETS codegreen_fast LIBRARY DESTINATION share/codegreen/python)
endif()
