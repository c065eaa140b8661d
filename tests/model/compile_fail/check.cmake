# cmake -DBIN=<build dir> -DTARGET=<target> -DEXPECT=<regex> -P check.cmake
# A compile-fail test (as Eigen's failtests): building TARGET must fail, and the
# compiler's message must name EXPECT (the slot or concept that was violated).
execute_process(COMMAND ${CMAKE_COMMAND} --build ${BIN} --target ${TARGET}
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(rc EQUAL 0)
  message(FATAL_ERROR "${TARGET} compiled, but must not")
endif()
if(NOT "${out}${err}" MATCHES "${EXPECT}")
  message(FATAL_ERROR "${TARGET} failed to compile, but the error does not name ${EXPECT}:\n${out}${err}")
endif()
message("${TARGET}: fails to compile, naming ${EXPECT} (as required)")
