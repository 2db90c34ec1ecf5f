# carp_exec's build dependencies, found through the CMake config packages that Debian 12,
# OpenBSD ports and FreeBSD ports install, with one configure error that lists everything
# missing and the package to install on each system.
#
# Defines: carp_msgpack (interface target: msgpack-cxx's headers), and the imported targets
# of Abseil (absl::*), protobuf (protobuf::libprotobuf, protobuf::protoc), gRPC (gRPC::grpc++,
# gRPC::grpc_cpp_plugin) and, with tests, GoogleTest (GTest::gtest, GTest::gmock).
#
# Package names, checked against each system's own packaging:
#   Debian 12: libabsl-dev, libprotobuf-dev + protobuf-compiler, libgrpc++-dev +
#     protobuf-compiler-grpc, libmsgpack-cxx-dev (its config needs Boost: libboost-dev),
#     libgtest-dev + libgmock-dev.
#   OpenBSD ports: devel/abseil-cpp, devel/protobuf, net/grpc (grpc_cpp_plugin included),
#     devel/msgpack-cxx (lib/cmake/msgpack-cxx; pulls in boost), devel/gtest.
#   FreeBSD ports: devel/abseil, devel/protobuf, devel/grpc, devel/msgpack-cxx, devel/googletest.

set(_carp_missing)
# what, Debian packages, OpenBSD pkg_add names, FreeBSD pkg names
function(_carp_missing_dependency what debian openbsd freebsd)
  set(line "  ${what}:\n      Debian:  apt-get install ${debian}\n      OpenBSD: pkg_add ${openbsd}\n      FreeBSD: pkg install ${freebsd}")
  set(_carp_missing ${_carp_missing} "${line}" PARENT_SCOPE)
endfunction()

find_package(Threads REQUIRED)

find_package(absl CONFIG QUIET)
if(NOT absl_FOUND)
  _carp_missing_dependency("Abseil (CMake package absl)" "libabsl-dev" "abseil-cpp" "abseil")
endif()

# protobuf >= 22 installs protobuf-config.cmake, which also brings in the Abseil targets its
# headers need; older ones (Debian 12's 3.21) have none and come through CMake's FindProtobuf.
find_package(Protobuf CONFIG QUIET)
if(NOT Protobuf_FOUND)
  find_package(Protobuf MODULE QUIET)
endif()
if(NOT Protobuf_FOUND OR NOT TARGET protobuf::libprotobuf OR NOT TARGET protobuf::protoc)
  _carp_missing_dependency("protobuf (library and protoc)" "libprotobuf-dev protobuf-compiler"
                           "protobuf" "protobuf")
endif()

find_package(gRPC CONFIG QUIET)
if(NOT gRPC_FOUND OR NOT TARGET gRPC::grpc++ OR NOT TARGET gRPC::grpc_cpp_plugin)
  _carp_missing_dependency("gRPC C++ (library and grpc_cpp_plugin)"
                           "libgrpc++-dev protobuf-compiler-grpc" "grpc" "grpc")
endif()

# msgpack-cxx >= 6 (OpenBSD's 7.x) is the config package msgpack-cxx with target msgpack-cxx;
# 4.x (Debian 12, FreeBSD's 4.1) is the config package msgpack (in cmake/msgpackc-cxx/) with
# target msgpackc-cxx. The C library's package (msgpack-c) is not the one.
add_library(carp_msgpack INTERFACE)
find_package(msgpack-cxx CONFIG QUIET)
if(msgpack-cxx_FOUND AND TARGET msgpack-cxx)
  target_link_libraries(carp_msgpack INTERFACE msgpack-cxx)
else()
  find_package(msgpack CONFIG QUIET)
  if(msgpack_FOUND AND TARGET msgpackc-cxx)
    target_link_libraries(carp_msgpack INTERFACE msgpackc-cxx)
  else()
    _carp_missing_dependency("msgpack-cxx (the C++ library, CMake package msgpack-cxx or msgpack)"
                             "libmsgpack-cxx-dev libboost-dev" "msgpack-cxx" "msgpack-cxx")
  endif()
endif()
# Header-only msgpack-cxx needs Boost only for features we do not use.
target_compile_definitions(carp_msgpack INTERFACE MSGPACK_NO_BOOST)

if(CARP_BUILD_TESTS OR CARP_FUZZ)
  find_package(GTest QUIET)
  if(NOT GTest_FOUND OR NOT TARGET GTest::gmock)
    _carp_missing_dependency("GoogleTest with GoogleMock (or configure with -DCARP_BUILD_TESTS=OFF)"
                             "libgtest-dev libgmock-dev" "gtest" "googletest")
  endif()
endif()

if(_carp_missing)
  list(JOIN _carp_missing "\n" _carp_missing_text)
  message(FATAL_ERROR
    "carp_exec: build dependencies not found:\n${_carp_missing_text}\n"
    "Install them, or point CMAKE_PREFIX_PATH at the prefix they are installed in, and "
    "configure again (delete CMakeCache.txt if a path was cached).")
endif()
