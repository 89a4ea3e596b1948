# cmake/package.cmake - what C and C++ users build against: a pkg-config file
# (codegreen-nemb.pc) and a CMake package (find_package(codegreen-nemb) giving the imported
# target codegreen::nemb), both installed by `cmake --install`, and the installed CLI's RPATH.
#
#   pkg-config:  cc prog.c $(pkg-config --cflags --libs codegreen-nemb)
#   CMake:       find_package(codegreen-nemb 0.1 REQUIRED)
#                target_link_libraries(prog PRIVATE codegreen::nemb)
#
# Both files locate the prefix relative to themselves, so an installed tree can be moved (or
# unpacked under another prefix) and still be found.

include(CMakePackageConfigHelpers)
set(NEMB_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/codegreen-nemb)
set(NEMB_PC_DIR ${CMAKE_INSTALL_LIBDIR}/pkgconfig)

# The installed CLI finds its library relative to itself ($ORIGIN), wherever the prefix is
# (a temporary prefix, a venv through pip, /usr/local) and without LD_LIBRARY_PATH.
file(RELATIVE_PATH _rel /p/${CMAKE_INSTALL_BINDIR} /p/${CMAKE_INSTALL_LIBDIR})
set_target_properties(codegreen PROPERTIES INSTALL_RPATH "$ORIGIN/${_rel}")

# `codegreen measure` uses this tree's python/ only when it is this build's executable.
target_compile_definitions(codegreen PRIVATE CG_BUILD_BIN_DIR="${CMAKE_BINARY_DIR}/bin")

# The CMake package: codegreen::nemb carries the include directory and the library.
install(EXPORT codegreen-nemb-targets NAMESPACE codegreen:: DESTINATION ${NEMB_CMAKE_DIR}
        FILE codegreen-nemb-targets.cmake)
configure_package_config_file(cmake/package/codegreen-nemb-config.cmake.in
                              ${CMAKE_BINARY_DIR}/codegreen-nemb-config.cmake
                              INSTALL_DESTINATION ${NEMB_CMAKE_DIR})
# SOVERSION is the major version, so any 0.x library serves a program built for 0.y <= x.
write_basic_package_version_file(${CMAKE_BINARY_DIR}/codegreen-nemb-config-version.cmake
                                 VERSION ${PROJECT_VERSION} COMPATIBILITY SameMajorVersion)
install(FILES ${CMAKE_BINARY_DIR}/codegreen-nemb-config.cmake
              ${CMAKE_BINARY_DIR}/codegreen-nemb-config-version.cmake
        DESTINATION ${NEMB_CMAKE_DIR})

# pkg-config: prefix relative to the .pc file's own directory.
file(RELATIVE_PATH NEMB_PC_TO_PREFIX /p/${NEMB_PC_DIR} /p)
string(REGEX REPLACE "/$" "" NEMB_PC_TO_PREFIX "${NEMB_PC_TO_PREFIX}")
configure_file(cmake/package/codegreen-nemb.pc.in ${CMAKE_BINARY_DIR}/codegreen-nemb.pc @ONLY)
install(FILES ${CMAKE_BINARY_DIR}/codegreen-nemb.pc DESTINATION ${NEMB_PC_DIR})

if(NEMB_BUILD_TESTS)
  # Installs this build into a temporary prefix and builds the README's C example against it,
  # once through pkg-config and once through find_package(codegreen-nemb), then runs both.
  set(_consumer_flags "")
  if(NEMB_SANITIZE)
    set(_consumer_flags "-fsanitize=${NEMB_SANITIZE}")
  endif()
  add_test(NAME package_consumers
           COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/tests/cli/test_package.sh ${CMAKE_BINARY_DIR}
                   ${CMAKE_CURRENT_SOURCE_DIR} ${CMAKE_C_COMPILER} "${_consumer_flags}")
  set_tests_properties(package_consumers PROPERTIES TIMEOUT 300 SKIP_RETURN_CODE 77)
endif()
