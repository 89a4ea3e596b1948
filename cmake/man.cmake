# cmake/man.cmake - the manual pages: codegreen(1), one codegreen-VERB(1) per verb, and nemb(3),
# generated at build time by man/gen-man.sh (help2man over each verb's --help plus the
# hand-written man/*.h2m; scdoc over man/nemb.3.scd.in with nemb.h's declarations), so the pages
# and --help cannot drift apart. Installed into share/man by `cmake --install`.
# Needs help2man and scdoc (Debian packages of those names); without them no pages are built.

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
  # One page per verb that `codegreen --help` lists (gen-man.sh asks it), so the set of pages
  # is known only when the program is built: the rule makes a stamp, and the directories are
  # installed whole.
  set(NEMB_MAN_DIR ${CMAKE_BINARY_DIR}/man)
  file(GLOB _man_sources CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/man/*)
  add_custom_command(
    OUTPUT ${NEMB_MAN_DIR}/stamp
    COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/man/gen-man.sh $<TARGET_FILE:codegreen>
            ${CMAKE_CURRENT_SOURCE_DIR}/man ${CMAKE_CURRENT_SOURCE_DIR}/include/nemb.h
            ${PROJECT_VERSION} ${NEMB_MAN_DIR}
    DEPENDS codegreen ${_man_sources} ${CMAKE_CURRENT_SOURCE_DIR}/include/nemb.h
    COMMENT "Generating the manual pages (help2man, scdoc)"
    VERBATIM)
  add_custom_target(man ALL DEPENDS ${NEMB_MAN_DIR}/stamp)
  install(DIRECTORY ${NEMB_MAN_DIR}/man1 ${NEMB_MAN_DIR}/man3
          DESTINATION ${CMAKE_INSTALL_MANDIR})

  if(NEMB_BUILD_TESTS)
    add_test(NAME man_pages
             COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/tests/cli/test_man.sh $<TARGET_FILE:codegreen>
                     ${NEMB_MAN_DIR} ${CMAKE_CURRENT_SOURCE_DIR}/include/nemb.h ${CMAKE_BINARY_DIR})
    set_tests_properties(man_pages PROPERTIES TIMEOUT 300)
  endif()
endif()
