# cmake/man.cmake - the manual pages: codegreen(1), one codegreen-VERB(1) per verb, and nemb(3),
# generated at build time by man/gen-man.sh (help2man over each verb's --help plus the
# hand-written man/*.h2m; scdoc over man/nemb.3.scd.in with nemb.h's declarations), so the pages
# and --help cannot drift apart. Installed into share/man by `cmake --install`.
# Needs help2man and scdoc (Debian packages of those names); without them no pages are built.

if(NEMB_CMAKE_PHASE STREQUAL "targets")
  if(NEMB_SANITIZE)
    set(_man_default OFF) # the plain build makes the same pages; no need to run a sanitized CLI
  else()
    set(_man_default ON)
  endif()
  option(NEMB_BUILD_MAN "Build the manual pages (needs help2man and scdoc)" ${_man_default})
  find_program(NEMB_HELP2MAN help2man)
  find_program(NEMB_SCDOC scdoc)
  if(NEMB_BUILD_MAN AND (NOT NEMB_HELP2MAN OR NOT NEMB_SCDOC))
    message(STATUS "man: help2man or scdoc not found (Debian: help2man scdoc); no manual pages")
  elseif(NEMB_BUILD_MAN)
    # A verb is a src/cli/cmd_<verb>.c file ('_' in the file name is '-' in the verb); the test
    # checks that every verb `codegreen --help` lists has its page.
    file(GLOB _cmd_sources CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/src/cli/cmd_*.c)
    set(NEMB_MAN_VERBS "")
    foreach(f ${_cmd_sources})
      get_filename_component(v ${f} NAME_WE)
      string(REGEX REPLACE "^cmd_" "" v ${v})
      string(REPLACE "_" "-" v ${v})
      list(APPEND NEMB_MAN_VERBS ${v})
    endforeach()
    set(NEMB_MAN_DIR ${CMAKE_BINARY_DIR}/man)
    set(_pages ${NEMB_MAN_DIR}/codegreen.1 ${NEMB_MAN_DIR}/nemb.3)
    foreach(v ${NEMB_MAN_VERBS})
      list(APPEND _pages ${NEMB_MAN_DIR}/codegreen-${v}.1)
    endforeach()
    file(GLOB _man_sources CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/man/*)
    add_custom_command(
      OUTPUT ${_pages}
      COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/man/gen-man.sh $<TARGET_FILE:codegreen>
              ${CMAKE_CURRENT_SOURCE_DIR}/man ${CMAKE_CURRENT_SOURCE_DIR}/include/nemb.h
              ${PROJECT_VERSION} ${NEMB_MAN_DIR} ${NEMB_MAN_VERBS}
      DEPENDS codegreen ${_man_sources} ${CMAKE_CURRENT_SOURCE_DIR}/include/nemb.h
      COMMENT "Generating the manual pages (help2man, scdoc)"
      VERBATIM)
    add_custom_target(man ALL DEPENDS ${_pages})
    include(GNUInstallDirs)
    list(FILTER _pages EXCLUDE REGEX "\\.3$")
    install(FILES ${_pages} DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)
    install(FILES ${NEMB_MAN_DIR}/nemb.3 DESTINATION ${CMAKE_INSTALL_MANDIR}/man3)

    if(NEMB_BUILD_TESTS)
      add_test(NAME man_pages
               COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/tests/cli/test_man.sh $<TARGET_FILE:codegreen>
                       ${NEMB_MAN_DIR} ${CMAKE_CURRENT_SOURCE_DIR}/include/nemb.h ${CMAKE_BINARY_DIR})
      set_tests_properties(man_pages PROPERTIES TIMEOUT 300)
    endif()
  endif()
endif()
