# cmake/java.cmake - the Java runtime of `codegreen measure java`: codegreen-runtime.jar
# (java/codegreen/runtime: CodeGreenRuntime, Session) and libcodegreen-jni, the JNI glue over
# libcodegreen-nemb (src/jni). Built only where a JDK is installed (javac, jar and jni.h, from
# Debian's openjdk-17-jdk-headless); libcodegreen-nemb itself never needs jni.h.

find_program(CG_JAVAC javac)
find_program(CG_JAR jar)
set(CG_JNI_FOUND FALSE)
if(CG_JAVAC AND CG_JAR)
  # the JDK that javac belongs to: <home>/bin/javac
  get_filename_component(cg_javac_real ${CG_JAVAC} REALPATH)
  get_filename_component(cg_jdk_home ${cg_javac_real} DIRECTORY)
  get_filename_component(cg_jdk_home ${cg_jdk_home} DIRECTORY)
  find_path(CG_JNI_INCLUDE jni.h HINTS ${cg_jdk_home}/include $ENV{JAVA_HOME}/include
            NO_DEFAULT_PATH)
  if(CG_JNI_INCLUDE AND EXISTS ${CG_JNI_INCLUDE}/linux/jni_md.h)
    set(CG_JNI_FOUND TRUE)
  endif()
endif()

if(NOT CG_JNI_FOUND)
  message(STATUS "java: no JDK (javac, jar, jni.h): the Java runtime is not built; install "
                 "openjdk-17-jdk-headless for `codegreen measure java`")
  return()
endif()
add_library(codegreen_jni SHARED src/jni/codegreen_jni.c)
set_target_properties(codegreen_jni PROPERTIES
  OUTPUT_NAME codegreen-jni
  LIBRARY_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/lib
  BUILD_RPATH "$ORIGIN" INSTALL_RPATH "$ORIGIN")
target_include_directories(codegreen_jni PRIVATE ${CG_JNI_INCLUDE} ${CG_JNI_INCLUDE}/linux)
target_link_libraries(codegreen_jni PRIVATE nemb)
# JNI entry points are found by name and have no prototypes of their own
target_compile_options(codegreen_jni PRIVATE -Wno-missing-prototypes)

# The jar: Java 11 bytecode, so any JDK from 11 on runs it.
file(GLOB CG_JAVA_SOURCES CONFIGURE_DEPENDS
     ${CMAKE_CURRENT_SOURCE_DIR}/java/codegreen/runtime/*.java)
set(CG_JAR_FILE ${CMAKE_BINARY_DIR}/java/codegreen-runtime.jar)
add_custom_command(
  OUTPUT ${CG_JAR_FILE}
  COMMAND ${CMAKE_COMMAND} -E rm -rf ${CMAKE_BINARY_DIR}/java/classes
  COMMAND ${CG_JAVAC} --release 11 -Xlint:all -Werror -encoding UTF-8
          -d ${CMAKE_BINARY_DIR}/java/classes ${CG_JAVA_SOURCES}
  COMMAND ${CG_JAR} cf ${CG_JAR_FILE} -C ${CMAKE_BINARY_DIR}/java/classes .
  DEPENDS ${CG_JAVA_SOURCES}
  COMMENT "Building codegreen-runtime.jar"
  VERBATIM)
add_custom_target(codegreen_runtime_jar ALL DEPENDS ${CG_JAR_FILE})
add_dependencies(codegreen codegreen_jni codegreen_runtime_jar)

# Where `measure java` finds the jar: this build's, else <bindir>/../share/codegreen/java.
target_compile_definitions(codegreen PRIVATE
  CG_BUILD_JAVA_JAR="${CG_JAR_FILE}"
  CG_INSTALL_JAVA_JAR="share/codegreen/java/codegreen-runtime.jar")
install(TARGETS codegreen_jni LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(FILES ${CG_JAR_FILE} DESTINATION share/codegreen/java)
