# CARP_STATIC_DEPS: link gRPC (without TLS), protobuf and Abseil from their static archives,
# when every archive is there; otherwise say which are missing and link the shared libraries.
#
# Defines the interface targets carp_grpc (gRPC + protobuf) and carp_absl, the only way our
# targets reach those libraries. Archives are searched in CMAKE_PREFIX_PATH's lib directories,
# Debian's multiarch directory (CMAKE_LIBRARY_ARCHITECTURE, empty on the BSDs), then
# /usr/local/lib (OpenBSD and FreeBSD packages) and /usr/lib. The BSD packages of gRPC ship
# shared libraries only, so there the shared build is what you get.

option(CARP_STATIC_DEPS "Link gRPC (without TLS), protobuf and Abseil statically" ON)

set(_carp_static_dirs)
foreach(prefix ${CMAKE_PREFIX_PATH})
  list(APPEND _carp_static_dirs ${prefix}/lib ${prefix}/lib64)
endforeach()
if(CMAKE_LIBRARY_ARCHITECTURE)
  list(APPEND _carp_static_dirs /usr/lib/${CMAKE_LIBRARY_ARCHITECTURE})
endif()
list(APPEND _carp_static_dirs /usr/local/lib /usr/lib)

set(_carp_static_names grpc++_unsecure grpc_unsecure upb re2 cares address_sorting gpr protobuf z)
set(_carp_static_archives)
set(_carp_static_missing)
foreach(name ${_carp_static_names})
  find_library(carp_static_${name} NAMES lib${name}.a PATHS ${_carp_static_dirs} NO_DEFAULT_PATH)
  if(carp_static_${name})
    list(APPEND _carp_static_archives ${carp_static_${name}})
  else()
    list(APPEND _carp_static_missing lib${name}.a)
  endif()
endforeach()
# Abseil's archives are many (one per component): take them all from the directory that has
# libabsl_base.a.
find_library(carp_static_absl_base NAMES libabsl_base.a PATHS ${_carp_static_dirs} NO_DEFAULT_PATH)
set(_carp_absl_archives)
if(carp_static_absl_base)
  get_filename_component(_carp_absl_dir ${carp_static_absl_base} DIRECTORY)
  file(GLOB _carp_absl_archives ${_carp_absl_dir}/libabsl_*.a)
else()
  list(APPEND _carp_static_missing "libabsl_*.a")
endif()

if(CARP_STATIC_DEPS AND _carp_static_missing)
  list(JOIN _carp_static_missing ", " _carp_missing_text)
  list(JOIN _carp_static_dirs " " _carp_dirs_text)
  message(STATUS "carp_exec: static archives not found: ${_carp_missing_text} (looked in "
                 "${_carp_dirs_text}); linking the shared libraries instead")
  set(CARP_STATIC_DEPS OFF)
endif()

add_library(carp_grpc INTERFACE)
add_library(carp_absl INTERFACE)
# Every user of generated protobuf code gets proto/stdio_stream_names.h first: OpenBSD's stdio
# macros for stdin/stdout/stderr would otherwise break the accessors of Nomad's fields so named.
target_compile_options(carp_grpc INTERFACE
  "$<$<COMPILE_LANGUAGE:CXX>:SHELL:-include ${PROJECT_SOURCE_DIR}/proto/stdio_stream_names.h>")
if(CARP_STATIC_DEPS)
  message(STATUS "carp_exec: linking gRPC (no TLS), protobuf and Abseil statically")
  set(_carp_system_libs Threads::Threads ${CMAKE_DL_LIBS} m)
  if(CMAKE_SYSTEM_NAME STREQUAL "Linux")
    list(APPEND _carp_system_libs rt atomic)  # glibc's clock/timer functions; 64-bit atomics
  endif()
  # One group: the archives depend on each other in every direction.
  target_link_libraries(carp_grpc INTERFACE
    "-Wl,--start-group" ${_carp_static_archives} ${_carp_absl_archives} "-Wl,--end-group"
    ${_carp_system_libs})
  target_link_libraries(carp_absl INTERFACE carp_grpc)
  add_link_options(LINKER:--gc-sections)
else()
  target_link_libraries(carp_grpc INTERFACE gRPC::grpc++ protobuf::libprotobuf)
  target_link_libraries(carp_absl INTERFACE
    absl::status absl::statusor absl::strings absl::str_format absl::time
    absl::synchronization absl::flat_hash_map absl::flat_hash_set absl::span
    absl::optional absl::cleanup)
endif()
