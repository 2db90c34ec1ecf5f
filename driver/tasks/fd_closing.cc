#include "driver/tasks/fd_closing.h"

#include <unistd.h>

namespace carp_exec::tasks {
namespace {

void CloseFrom(int lowest) {
#if defined(__linux__)
  if (close_range(static_cast<unsigned>(lowest), ~0u, 0) == 0) return;
#elif defined(__FreeBSD__) || defined(__OpenBSD__)
  closefrom(lowest);
  return;
#endif
  long max = sysconf(_SC_OPEN_MAX);
  for (long fd = lowest; fd < (max > 0 ? max : 65536); ++fd) close(static_cast<int>(fd));
}

}  // namespace

void CloseAllExcept(int lowest, int keep) {
  if (keep < lowest) {
    CloseFrom(lowest);
    return;
  }
  for (int fd = lowest; fd < keep; ++fd) close(fd);
  CloseFrom(keep + 1);
}

}  // namespace carp_exec::tasks
