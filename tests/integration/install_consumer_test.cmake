# ctest -P script: install the build tree into a temporary prefix, then
# build and run tests/integration/consumer against it with find_package, and
# check the pkg-config file resolves.
# Inputs: BUILD_DIR, SOURCE_DIR, WORK_DIR, CXX.
file(REMOVE_RECURSE "${WORK_DIR}")
set(prefix "${WORK_DIR}/prefix")
execute_process(COMMAND ${CMAKE_COMMAND} --install "${BUILD_DIR}" --prefix "${prefix}"
                OUTPUT_QUIET COMMAND_ERROR_IS_FATAL ANY)
foreach(f include/mx/client.h include/mx/publisher.h include/mx/find_source.h
          include/mx/source_id.h include/mx/proto/p2p.pb.h bin/mxctl
          lib/cmake/mxclient/mxclientConfig.cmake lib/cmake/mxclient/mxclientConfigVersion.cmake
          lib/pkgconfig/mxclient.pc)
  if(NOT EXISTS "${prefix}/${f}")
    message(FATAL_ERROR "not installed: ${f}")
  endif()
endforeach()

execute_process(COMMAND ${CMAKE_COMMAND} -S "${SOURCE_DIR}/tests/integration/consumer"
                        -B "${WORK_DIR}/build" -DCMAKE_PREFIX_PATH=${prefix}
                        -DCMAKE_BUILD_TYPE=Release
                OUTPUT_QUIET COMMAND_ERROR_IS_FATAL ANY)
execute_process(COMMAND ${CMAKE_COMMAND} --build "${WORK_DIR}/build" -j2
                OUTPUT_QUIET COMMAND_ERROR_IS_FATAL ANY)
execute_process(COMMAND "${WORK_DIR}/build/consumer" OUTPUT_VARIABLE out
                COMMAND_ERROR_IS_FATAL ANY)
if(NOT out STREQUAL "5a5f555570065064\nunavailable\n")
  message(FATAL_ERROR "consumer printed: ${out}")
endif()

find_program(PKG_CONFIG pkg-config)
if(PKG_CONFIG)
  execute_process(COMMAND ${CMAKE_COMMAND} -E env PKG_CONFIG_PATH=${prefix}/lib/pkgconfig
                          ${PKG_CONFIG} --cflags --libs mxclient
                  OUTPUT_VARIABLE flags COMMAND_ERROR_IS_FATAL ANY)
  if(NOT flags MATCHES "-lmx_client" OR NOT flags MATCHES "mx/proto")
    message(FATAL_ERROR "pkg-config mxclient gave: ${flags}")
  endif()
  # Build the same consumer without CMake, from the pkg-config flags alone.
  separate_arguments(flag_list UNIX_COMMAND "${flags}")
  execute_process(COMMAND ${CXX} -std=c++17 "${SOURCE_DIR}/tests/integration/consumer/main.cc"
                          -o "${WORK_DIR}/consumer_pc" ${flag_list}
                  COMMAND_ERROR_IS_FATAL ANY)
  execute_process(COMMAND "${WORK_DIR}/consumer_pc" OUTPUT_VARIABLE pc_out
                  COMMAND_ERROR_IS_FATAL ANY)
  if(NOT pc_out STREQUAL out)
    message(FATAL_ERROR "pkg-config consumer printed: ${pc_out}")
  endif()
endif()
message(STATUS "consumer built against ${prefix} and ran: OK")
