# carp_task_tools: process statistics (TaskStats) and exec (ExecTask, ExecTaskStreaming).
# Included from driver/tasks/CMakeLists.txt; paths are relative to this folder.
add_library(carp_task_tools STATIC
  ${CMAKE_CURRENT_LIST_DIR}/process_stats_table.cc
  ${CMAKE_CURRENT_LIST_DIR}/process_stats_source_linux.cc
  ${CMAKE_CURRENT_LIST_DIR}/process_stats_source_openbsd.cc
  ${CMAKE_CURRENT_LIST_DIR}/process_stats_source_freebsd.cc
  ${CMAKE_CURRENT_LIST_DIR}/process_stats.cc
  ${CMAKE_CURRENT_LIST_DIR}/exec_command.cc
  ${CMAKE_CURRENT_LIST_DIR}/exec_io_loop.cc
  ${CMAKE_CURRENT_LIST_DIR}/exec_task.cc
  ${CMAKE_CURRENT_LIST_DIR}/exec_session.cc
  ${CMAKE_CURRENT_LIST_DIR}/network_namespace.cc)
target_link_libraries(carp_task_tools PUBLIC carp_includes carp_absl carp_path_beneath carp_boot_time
                                             carp_spawn Threads::Threads)
carp_warnings(carp_task_tools)

if(CARP_BUILD_TESTS)
  foreach(test_name process_stats_test exec_task_test exec_session_test)
    add_executable(${test_name} ${CMAKE_CURRENT_LIST_DIR}/${test_name}.cc)
    target_link_libraries(${test_name} PRIVATE carp_task_tools GTest::gtest_main)
    carp_warnings(${test_name})
    add_test(NAME ${test_name} COMMAND ${test_name})
    set_tests_properties(${test_name} PROPERTIES TIMEOUT 120)
  endforeach()
endif()
