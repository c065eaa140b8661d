# cmake -DSRC=<tests/backend/tsan> -DBIN=<build folder> -DCXX=<compiler> -P run.cmake
# Configures, builds and runs the TSan build; fails on any TSan report.
execute_process(COMMAND ${CMAKE_COMMAND} -S ${SRC} -B ${BIN} -DCMAKE_BUILD_TYPE=RelWithDebInfo
                        -DCMAKE_CXX_COMPILER=${CXX} RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "tsan: configure failed")
endif()
execute_process(COMMAND ${CMAKE_COMMAND} --build ${BIN} --target reentrancy_tsan RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "tsan: build failed")
endif()
set(ENV{TSAN_OPTIONS} "halt_on_error=1 exitcode=66")
execute_process(COMMAND ${BIN}/reentrancy_tsan RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
message("${out}${err}")
if(NOT rc EQUAL 0 OR err MATCHES "WARNING: ThreadSanitizer")
  message(FATAL_ERROR "tsan: reentrancy_tsan failed (exit ${rc})")
endif()
