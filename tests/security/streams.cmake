# Issue 9, streams, sockets and gRPC limits (sec-streams): adversarial tests that run the real
# build/carp_exec through the test host (tests/host), plus WriteQueue's unit test. Included from
# tests/security/CMakeLists.txt; `ctest -L security` runs every security test.

add_executable(stream_write_queue_test stream_write_queue_test.cc)
target_link_libraries(stream_write_queue_test PRIVATE carp_host GTest::gtest_main)
carp_warnings(stream_write_queue_test)
add_test(NAME stream_write_queue_test COMMAND stream_write_queue_test)
set_tests_properties(stream_write_queue_test PROPERTIES LABELS "security")

if(NOT TARGET carp_conformance_support)
  return()
endif()
foreach(name stream_exec_flood_test stream_exec_framing_test stream_exec_task_pool_test
             stream_grpc_limits_test stream_socket_test)
  add_executable(${name} ${name}.cc)
  target_link_libraries(${name} PRIVATE carp_conformance_support carp_host carp_tasks
                                          GTest::gtest_main)
  carp_warnings(${name})
  if(TARGET carp_exec)
    add_dependencies(${name} carp_exec)
  endif()
  add_test(NAME ${name} COMMAND ${name})
  set_tests_properties(${name} PROPERTIES LABELS "security" TIMEOUT 300)
endforeach()
