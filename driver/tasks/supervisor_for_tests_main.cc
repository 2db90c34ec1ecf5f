// Stands in for the plugin binary in tests: `carp_tasks_supervisor_for_tests supervise <dir>`.
#include <cstdio>
#include <cstring>

#include "driver/tasks/supervisor.h"

int main(int argc, char** argv) {
  if (argc >= 2 && strcmp(argv[1], "supervise") == 0) {
    return carp_exec::tasks::RunSupervisor(argc, argv);
  }
  fprintf(stderr, "usage: %s supervise <task-state-dir>\n", argv[0]);
  return 2;
}
