#include "driver/tasks/network_namespace.h"

#include <fcntl.h>
#include <unistd.h>
#if defined(__linux__)
#include <sched.h>
#endif

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace carp_exec::tasks {

absl::StatusOr<int> OpenNetworkNamespace(const std::string& path) {
  if (path.empty()) return -1;
#if defined(__linux__)
  if (path[0] != '/') {
    errno = EINVAL;
    return absl::InvalidArgumentError(
        absl::StrCat("network namespace \"", path,
                     "\" is not an absolute path; Nomad passes /var/run/netns/<alloc id>"));
  }
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot open the group's network namespace \"", path, "\": ", strerror(errno),
                     "; Nomad's network hook creates it for the alloc"));
  }
  return fd;
#else
  errno = ENOSYS;
  return absl::FailedPreconditionError(
      absl::StrCat("network namespace \"", path,
                   "\": network namespaces are Linux-only; use host networking on this system"));
#endif
}

int JoinNetworkNamespaceFd(int fd) {
  if (fd < 0) return 0;
#if defined(__linux__)
  return setns(fd, CLONE_NEWNET);
#else
  errno = ENOSYS;
  return -1;
#endif
}

absl::Status JoinNetworkNamespace(const std::string& path, int* error_number) {
  *error_number = 0;
  absl::StatusOr<int> fd = OpenNetworkNamespace(path);
  if (!fd.ok()) {
    *error_number = errno;
    return fd.status();
  }
  if (*fd < 0) return absl::OkStatus();
  const int joined = JoinNetworkNamespaceFd(*fd);
  const int saved = errno;
  close(*fd);
  if (joined != 0) {
    *error_number = saved;
    return absl::FailedPreconditionError(
        absl::StrCat("cannot join the group's network namespace \"", path, "\": ", strerror(saved),
                     saved == EINVAL ? " (not a network namespace)" : "",
                     saved == EPERM ? " (the plugin must run as root)" : ""));
  }
  return absl::OkStatus();
}

}  // namespace carp_exec::tasks
