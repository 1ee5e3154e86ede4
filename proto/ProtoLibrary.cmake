# mx_proto_library(<target> IMPORT_DIR <dir> PROTOS <file.proto>...)
# Generates C++ message and gRPC service code for PROTOS (paths relative to
# IMPORT_DIR) and wraps it in a static library whose include path exposes
# the generated headers.
function(mx_proto_library target)
  cmake_parse_arguments(ARG "" "IMPORT_DIR" "PROTOS" ${ARGN})
  set(out_dir "${CMAKE_CURRENT_BINARY_DIR}/${target}_gen")
  file(MAKE_DIRECTORY "${out_dir}")
  set(srcs)
  set(hdrs)
  foreach(proto IN LISTS ARG_PROTOS)
    string(REGEX REPLACE "\\.proto$" "" stem "${proto}")
    set(gen "${out_dir}/${stem}.pb.cc" "${out_dir}/${stem}.grpc.pb.cc")
    set(gen_h "${out_dir}/${stem}.pb.h" "${out_dir}/${stem}.grpc.pb.h")
    add_custom_command(
      OUTPUT ${gen} ${gen_h}
      COMMAND protobuf::protoc
        --proto_path=${ARG_IMPORT_DIR}
        --cpp_out=${out_dir}
        --grpc_out=${out_dir}
        --plugin=protoc-gen-grpc=$<TARGET_FILE:gRPC::grpc_cpp_plugin>
        ${ARG_IMPORT_DIR}/${proto}
      DEPENDS ${ARG_IMPORT_DIR}/${proto}
      COMMENT "protoc ${proto}"
      VERBATIM)
    list(APPEND srcs ${gen})
    list(APPEND hdrs ${gen_h})
  endforeach()
  add_library(${target} STATIC ${srcs} ${hdrs})
  set_target_properties(${target} PROPERTIES POSITION_INDEPENDENT_CODE ON)
  target_include_directories(${target} PUBLIC
    $<BUILD_INTERFACE:${out_dir}>
    $<INSTALL_INTERFACE:include/mx/proto>)
  target_link_libraries(${target} PUBLIC protobuf::libprotobuf gRPC::grpc++)
endfunction()
