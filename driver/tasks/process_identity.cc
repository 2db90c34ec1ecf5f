#include "driver/tasks/process_identity.h"

#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "driver/tasks/boot_relative_time.h"

#if defined(__FreeBSD__)
#include <sys/types.h>
// First, as kinfo_getproc(3) asks: sys/user.h uses its types (FreeBSD sys/x86/include/fpu.h).
#include <sys/sysctl.h>
#include <sys/user.h>  // struct kinfo_proc (FreeBSD sys/sys/user.h)
#elif defined(__OpenBSD__)
#include <sys/types.h>
// First, as sysctl(2) asks. kinfo_proc is in sys/sysctl.h here, not sys/user.h.
#include <sys/proc.h>    // SDEAD, the p_stat of a zombie (OpenBSD sys/sys/proc.h)
#include <sys/sysctl.h>  // struct kinfo_proc, KERN_PROC_PID (OpenBSD sys/sys/sysctl.h)
#endif

namespace carp_exec::tasks {

namespace {
struct ProcessFacts {
  uint64_t start_time;
  bool zombie;
};
}  // namespace

#if defined(__linux__)
static std::optional<ProcessFacts> ReadProcess(pid_t pid) {
  if (pid <= 0) return std::nullopt;
  std::string path = absl::StrCat("/proc/", pid, "/stat");
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  char buf[1024];
  ssize_t n;
  do {
    n = read(fd, buf, sizeof(buf) - 1);
  } while (n < 0 && errno == EINTR);
  close(fd);
  if (n <= 0) return std::nullopt;
  absl::string_view text(buf, static_cast<size_t>(n));
  // The command name (field 2) may hold spaces and parentheses; fields resume after the last ')'.
  size_t close_paren = text.rfind(')');
  if (close_paren == absl::string_view::npos) return std::nullopt;
  std::vector<absl::string_view> fields =
      absl::StrSplit(text.substr(close_paren + 1), ' ', absl::SkipEmpty());
  // fields[0] is field 3 (state), so starttime (field 22) is fields[19].
  uint64_t start = 0;
  if (fields.size() < 20 || !absl::SimpleAtoi(fields[19], &start)) return std::nullopt;
  return ProcessFacts{start, fields[0] == "Z"};
}
#elif defined(__FreeBSD__)
static std::optional<ProcessFacts> ReadProcess(pid_t pid) {
  if (pid <= 0) return std::nullopt;
  int mib[4] = {CTL_KERN, KERN_PROC, KERN_PROC_PID, pid};
  struct kinfo_proc info;
  bool found = false;
  // ki_start moves with the clock; see boot_relative_time.h.
  absl::StatusOr<int64_t> boot = ReadAtSteadyBootTime(KernelBootTimeMicros, [&] {
    size_t len = sizeof(info);
    found = sysctl(mib, 4, &info, &len, nullptr, 0) == 0 && len == sizeof(info);
    return absl::OkStatus();
  });
  if (!boot.ok() || !found) return std::nullopt;
  const int64_t start = static_cast<int64_t>(info.ki_start.tv_sec) * 1000000 +
                        static_cast<int64_t>(info.ki_start.tv_usec);
  return ProcessFacts{StartSinceBoot(start, *boot), info.ki_stat == SZOMB};
}
#elif defined(__OpenBSD__)
// ps(1) on OpenBSD shows SDEAD as Z; older releases also had SZOMB.
static bool IsOpenBsdZombie(int stat) {
#ifdef SZOMB
  if (stat == SZOMB) return true;
#endif
  return stat == SDEAD;
}

static std::optional<ProcessFacts> ReadProcess(pid_t pid) {
  if (pid <= 0) return std::nullopt;
  int mib[6] = {CTL_KERN, KERN_PROC, KERN_PROC_PID, pid, sizeof(struct kinfo_proc), 1};
  struct kinfo_proc info;
  bool found = false;
  // p_ustart moves with the clock; see boot_relative_time.h.
  absl::StatusOr<int64_t> boot = ReadAtSteadyBootTime(KernelBootTimeMicros, [&] {
    size_t len = sizeof(info);
    found = sysctl(mib, 6, &info, &len, nullptr, 0) == 0 && len == sizeof(info);
    return absl::OkStatus();
  });
  if (!boot.ok() || !found) return std::nullopt;
  // p_ustart is filled only for a process that is not a zombie (p_uvalid); 0 = unknown.
  const int64_t start =
      static_cast<int64_t>(info.p_ustart_sec) * 1000000 + static_cast<int64_t>(info.p_ustart_usec);
  return ProcessFacts{info.p_uvalid != 0 ? StartSinceBoot(start, *boot) : 0,
                      IsOpenBsdZombie(info.p_stat)};
}
#else
#error "ProcessStartTime is not implemented for this platform"
#endif

std::optional<uint64_t> ProcessStartTime(pid_t pid) {
  std::optional<ProcessFacts> facts = ReadProcess(pid);
  if (!facts.has_value()) return std::nullopt;
  return facts->start_time;
}

bool IsSameProcess(pid_t pid, uint64_t start_time) {
  std::optional<ProcessFacts> facts = ReadProcess(pid);
  return facts.has_value() && SameStartTime(facts->start_time, start_time);
}

bool IsLiveProcess(pid_t pid, uint64_t start_time) {
  std::optional<ProcessFacts> facts = ReadProcess(pid);
  return facts.has_value() && SameStartTime(facts->start_time, start_time) && !facts->zombie;
}

namespace {

absl::StatusOr<std::string> RealPath(const std::string& path) {
  char resolved[PATH_MAX];
  if (realpath(path.c_str(), resolved) == nullptr) {
    return absl::NotFoundError(
        absl::StrCat("executable path: cannot resolve \"", path, "\": ", strerror(errno)));
  }
  return std::string(resolved);
}

bool IsExecutableFile(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && access(path.c_str(), X_OK) == 0;
}

}  // namespace

absl::StatusOr<std::string> CurrentExecutablePath(absl::string_view argv0) {
#if defined(__linux__)
  char buf[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  if (n > 0) return std::string(buf, static_cast<size_t>(n));
#elif defined(__FreeBSD__)
  int mib[4] = {CTL_KERN, KERN_PROC, KERN_PROC_PATHNAME, -1};
  char buf[PATH_MAX];
  size_t len = sizeof(buf);
  if (sysctl(mib, 4, buf, &len, nullptr, 0) == 0 && len > 1) return std::string(buf);
#endif
  // OpenBSD (and a fallback elsewhere): Nomad starts plugins by absolute path, so argv[0]
  // normally has a slash; a bare name is searched in PATH like the shell would.
  std::string name(argv0);
  if (name.empty()) {
    return absl::FailedPreconditionError(
        "executable path: argv[0] is empty; start carp_exec by its absolute path");
  }
  if (name.find('/') != std::string::npos) return RealPath(name);
  const char* path_env = getenv("PATH");
  for (absl::string_view dir : absl::StrSplit(path_env ? path_env : "", ':', absl::SkipEmpty())) {
    std::string candidate = absl::StrCat(dir, "/", name);
    if (IsExecutableFile(candidate)) return RealPath(candidate);
  }
  return absl::NotFoundError(absl::StrCat("executable path: \"", name,
                                          "\" not found in PATH; start carp_exec by its "
                                          "absolute path"));
}

}  // namespace carp_exec::tasks
