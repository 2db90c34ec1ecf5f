// Linux ProcessSource: /proc/<pid>/stat for the whole table, /proc/<pid>/status for swap.
#ifdef __linux__

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "driver/tasks/process_stats_table.h"

namespace carp_exec::tasks {
namespace {

// Reads a whole small /proc file relative to `dir_fd` into `buffer`; nullopt if it vanished.
std::optional<absl::string_view> ReadProcFile(int dir_fd, const char* path, std::string* buffer) {
  const int fd = openat(dir_fd, path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  size_t used = 0;
  while (true) {
    if (used == buffer->size()) buffer->resize(buffer->size() * 2);
    const ssize_t n = read(fd, buffer->data() + used, buffer->size() - used);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      close(fd);
      return std::nullopt;
    }
    if (n == 0) break;
    used += static_cast<size_t>(n);
  }
  close(fd);
  return absl::string_view(buffer->data(), used);
}

bool IsAllDigits(const char* name) {
  if (*name == '\0') return false;
  for (; *name != '\0'; ++name) {
    if (*name < '0' || *name > '9') return false;
  }
  return true;
}

class LinuxProcSource final : public ProcessSource {
 public:
  LinuxProcSource() : clock_ticks_(sysconf(_SC_CLK_TCK)), page_size_(sysconf(_SC_PAGESIZE)) {}

  absl::StatusOr<std::vector<ProcessInfo>> ListProcesses() const override {
    const int proc_fd = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (proc_fd < 0) {
      return absl::UnavailableError(
          absl::StrCat("process stats: cannot open /proc: ", std::strerror(errno),
                       "; mount procfs (mount -t proc proc /proc) for TaskStats"));
    }
    DIR* dir = fdopendir(dup(proc_fd));
    if (dir == nullptr) {
      const int error = errno;
      close(proc_fd);
      return absl::UnavailableError(
          absl::StrCat("process stats: cannot list /proc: ", std::strerror(error)));
    }
    std::vector<ProcessInfo> out;
    std::string buffer(1024, '\0');
    char path[64];
    while (const dirent* entry = readdir(dir)) {
      if (!IsAllDigits(entry->d_name)) continue;
      if (std::strlen(entry->d_name) > 20) continue;
      std::snprintf(path, sizeof(path), "%s/stat", entry->d_name);
      std::optional<absl::string_view> text = ReadProcFile(proc_fd, path, &buffer);
      if (!text.has_value()) continue;  // exited since readdir
      ProcessInfo info;
      if (ParseLinuxProcStat(*text, clock_ticks_, page_size_, &info)) out.push_back(info);
    }
    closedir(dir);
    close(proc_fd);
    return out;
  }

  std::optional<uint64_t> ReadSwapBytes(const ProcessInfo& process) const override {
    char path[64];
    std::snprintf(path, sizeof(path), "/proc/%d/status", static_cast<int>(process.pid));
    std::string buffer(4096, '\0');
    std::optional<absl::string_view> text = ReadProcFile(AT_FDCWD, path, &buffer);
    if (!text.has_value()) return std::nullopt;
    return ParseLinuxVmSwap(*text);
  }

  bool ReportsSwap() const override { return true; }

 private:
  const int64_t clock_ticks_;
  const int64_t page_size_;
};

}  // namespace

std::shared_ptr<const ProcessSource> NativeProcessSource() {
  return std::make_shared<const LinuxProcSource>();
}

}  // namespace carp_exec::tasks

#endif  // __linux__
