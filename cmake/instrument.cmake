# cmake/instrument.cmake - the auto-instrumenter behind `codegreen measure` and `codegreen analyze`.
#
# src/instrument/ holds the engine (C over tree-sitter) and one folder per language with its
# language.conf, instrument.scm and optional runner.*. Every folder is picked up here: its grammar
# (node_modules/<grammar_package>/src/parser.c and scanner.c, installed by `npm ci` from the
# committed package-lock.json) is compiled in, and its files are embedded into the executable.
# A new language is a new folder. Also the runtime header of instrumented C and C++ programs and
# the instrumenter's tests (its unit tests are made by cmake/nemb.cmake's glob; they link it here).

pkg_check_modules(TREE_SITTER REQUIRED IMPORTED_TARGET tree-sitter)
set(CGI_DIR ${CMAKE_CURRENT_SOURCE_DIR}/src/instrument)
set(CGI_NODE_MODULES ${CMAKE_CURRENT_SOURCE_DIR}/node_modules CACHE PATH
    "where npm installed the tree-sitter grammars")

file(GLOB CGI_LANG_CONFS CONFIGURE_DEPENDS ${CGI_DIR}/*/language.conf)
set(CGI_GRAMMAR_SOURCES "")
set(CGI_EMBED_INPUTS ${CGI_DIR}/embed.cmake)
set(CGI_LANGS "")
foreach(conf ${CGI_LANG_CONFS})
  get_filename_component(dir ${conf} DIRECTORY)
  get_filename_component(lang ${dir} NAME)
  file(STRINGS ${conf} line REGEX "^grammar_package *=")
  string(REGEX REPLACE "^grammar_package *= *" "" pkg "${line}")
  file(STRINGS ${conf} line REGEX "^grammar *=")
  string(REGEX REPLACE "^grammar *= *" "" gram "${line}")
  if(pkg STREQUAL "" OR gram STREQUAL "")
    message(FATAL_ERROR "instrument: ${conf} must set grammar and grammar_package")
  endif()
  set(gsrc ${CGI_NODE_MODULES}/${pkg}/src)
  if(NOT EXISTS ${gsrc}/parser.c)
    message(FATAL_ERROR "instrument: the ${lang} grammar is missing (${gsrc}/parser.c). Run "
                        "./scripts/setup.sh: it installs ${pkg} with `npm ci` from "
                        "package-lock.json.")
  endif()
  list(APPEND CGI_GRAMMAR_SOURCES ${gsrc}/parser.c)
  if(EXISTS ${gsrc}/scanner.c)
    list(APPEND CGI_GRAMMAR_SOURCES ${gsrc}/scanner.c)
  endif()
  file(GLOB runner ${dir}/runner.* ${dir}/support.*)
  list(APPEND CGI_EMBED_INPUTS ${conf} ${dir}/instrument.scm ${runner})
  list(APPEND CGI_LANGS "${lang}:${gram}")
endforeach()

set(CGI_GENERATED ${CMAKE_CURRENT_BINARY_DIR}/instrument_langs.c)
# a comma-separated list: a ';' would not survive the build tool's command line
string(REPLACE ";" "," cgi_langs_arg "${CGI_LANGS}")
add_custom_command(
  OUTPUT ${CGI_GENERATED}
  COMMAND ${CMAKE_COMMAND} -DOUT=${CGI_GENERATED} -DSRC_DIR=${CGI_DIR}
          "-DLANGS=${cgi_langs_arg}" -P ${CGI_DIR}/embed.cmake
  DEPENDS ${CGI_EMBED_INPUTS}
  COMMENT "Embedding the instrumenter's language folders"
  VERBATIM)

# Generated grammar code: compiled as shipped, warnings off for these files only.
set_source_files_properties(${CGI_GRAMMAR_SOURCES} PROPERTIES COMPILE_OPTIONS "-w")
add_library(codegreen_instrument STATIC
  ${CGI_DIR}/engine.c ${CGI_DIR}/source.c ${CGI_DIR}/collect.c ${CGI_DIR}/match.c ${CGI_DIR}/plan.c
  ${CGI_DIR}/plan_indent.c ${CGI_DIR}/plan_brace.c ${CGI_DIR}/emit.c ${CGI_DIR}/lang.c ${CGI_DIR}/buf.c ${CGI_DIR}/util.c
  ${CGI_DIR}/arena.c
  # the huge-page mappings of the parse arena: the library's one rule for them (not its API)
  ${CMAKE_CURRENT_SOURCE_DIR}/src/nemb/huge.c
  ${CGI_GENERATED} ${CGI_GRAMMAR_SOURCES})
target_include_directories(codegreen_instrument PUBLIC ${CGI_DIR})
target_link_libraries(codegreen_instrument PUBLIC PkgConfig::TREE_SITTER)

# The runtime of instrumented C and C++ programs, beside nemb.h (it includes "nemb.h").
install(FILES include/codegreen_runtime.h DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})

if(NEMB_BUILD_TESTS)
  foreach(t test_instrument test_instrument_brace test_instrument_errors test_instrument_match)
    if(TARGET ${t})
      target_link_libraries(${t} PRIVATE codegreen_instrument)
    endif()
  endforeach()
  # The allocation seam of test_instrument_errors: the instrumenter's allocations go through
  # the test's __wrap_* functions, which fail the one it picks.
  if(TARGET test_instrument_errors)
    target_link_options(test_instrument_errors PRIVATE
      -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=strdup,--wrap=strndup,--wrap=asprintf
      -Wl,--wrap=ts_parser_set_language,--wrap=ts_parser_parse_string)
  endif()

  # The Python-driven tests run with the interpreter CMakeLists.txt chose (Debian's).
  if(Python3_EXECUTABLE)
    set(CGI_PYTHON ${Python3_EXECUTABLE})
  else()
    find_program(CGI_PYTHON NAMES python3)
  endif()
  set(CGI_TESTS ${CMAKE_CURRENT_SOURCE_DIR}/tests/instrument)
  # A sanitizer build's libcodegreen-nemb cannot be loaded into an uninstrumented interpreter,
  # so there the instrumented programs load the plain build's library (tests skip without it);
  # the codegreen executable under test is still the sanitized one.
  set(CGI_ENV "PYTHONDONTWRITEBYTECODE=1")
  if(NEMB_SANITIZE)
    set(NEMB_PLAIN_LIB ${CMAKE_CURRENT_SOURCE_DIR}/build/lib/libcodegreen-nemb.so CACHE FILEPATH
        "an uninstrumented libcodegreen-nemb for the Python programs sanitizer tests run")
    list(APPEND CGI_ENV "CODEGREEN_LIB_PATH=${NEMB_PLAIN_LIB}" "ASAN_OPTIONS=detect_leaks=1"
         "CGI_NEEDS_LIB=${NEMB_PLAIN_LIB}")
  endif()
  if(CGI_PYTHON)
    add_test(NAME instrument_corpus
             COMMAND ${CGI_PYTHON} ${CGI_TESTS}/run_corpus.py $<TARGET_FILE:codegreen>)
    add_test(NAME instrument_cli
             COMMAND ${CGI_PYTHON} ${CGI_TESTS}/test_cli.py $<TARGET_FILE:codegreen>)
    add_test(NAME instrument_stdlib
             COMMAND ${CGI_PYTHON} ${CGI_TESTS}/check_stdlib.py $<TARGET_FILE:codegreen>)
    add_test(NAME instrument_stdlib_fine
             COMMAND ${CGI_PYTHON} ${CGI_TESTS}/check_stdlib.py $<TARGET_FILE:codegreen>
                     --granularity fine)
    # C, C++ and Java programs built and run as they are and under codegreen measure
    add_test(NAME instrument_native_corpus
             COMMAND ${CGI_PYTHON} ${CGI_TESTS}/run_native_corpus.py $<TARGET_FILE:codegreen>)
    add_test(NAME instrument_native_e2e
             COMMAND ${CGI_PYTHON} ${CGI_TESTS}/test_native_e2e.py $<TARGET_FILE:codegreen>)
    # the Java runtime (cmake/java.cmake); a sanitizer build's JNI library cannot be loaded
    # into an uninstrumented JVM, so there the plain build's is used
    set(CGI_NATIVE_ENV ${CGI_ENV} "CGI_JAVA_JAR=${CMAKE_BINARY_DIR}/java/codegreen-runtime.jar")
    if(NEMB_SANITIZE)
      get_filename_component(cgi_plain_dir ${NEMB_PLAIN_LIB} DIRECTORY)
      list(APPEND CGI_NATIVE_ENV "CGI_JNI_DIR=${cgi_plain_dir}")
    else()
      list(APPEND CGI_NATIVE_ENV "CGI_JNI_DIR=${CMAKE_BINARY_DIR}/lib")
    endif()
    set_tests_properties(instrument_native_corpus instrument_native_e2e PROPERTIES
                         TIMEOUT 900 SKIP_RETURN_CODE 77 ENVIRONMENT "${CGI_NATIVE_ENV}")
    set_tests_properties(instrument_corpus instrument_cli instrument_stdlib
                         instrument_stdlib_fine PROPERTIES
                         TIMEOUT 600 SKIP_RETURN_CODE 77 ENVIRONMENT "${CGI_ENV}")
  else()
    message(STATUS "instrument: no python3, the instrumenter's Python tests are not registered")
  endif()
endif()
