#pragma once
// A task as the Nomad client prepares it before StartTask, on a temporary alloc dir.
//
// Creates `<alloc>/alloc/{logs,tmp,data}` and `<alloc>/<task>/{local,secrets,private,tmp}`,
// the logmon FIFOs `<alloc>/alloc/logs/.<task>.stdout.fifo` / `.stderr.fifo` with readers that
// fill `<task>.stdout.0` / `<task>.stderr.0`, and builds TaskConfig messages with the fields
// and NOMAD_* environment the client sends. The destructor stops the readers and deletes the
// whole alloc dir; it does not touch processes (the plugin host and tests own those).

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "nomad/driver.pb.h"
#include "tests/host/logmon_fifo.h"

namespace carp_exec::test_host {

struct TaskFixtureOptions {
  std::string task_name = "web";
  std::string group_name = "frontend";
  std::string job_name = "example";
  // false: the FIFOs are not created and the paths name files nobody made, as with the
  // driver capability disable_log_collection.
  bool log_collection = true;
  // true: stdout_path and stderr_path are /dev/null, as with `logs { disabled = true }`.
  bool logs_disabled = false;
};

class TaskFixture {
 public:
  static absl::StatusOr<std::unique_ptr<TaskFixture>> Create(
      TaskFixtureOptions options = TaskFixtureOptions());
  ~TaskFixture();
  TaskFixture(const TaskFixture&) = delete;
  TaskFixture& operator=(const TaskFixture&) = delete;

  const std::string& alloc_id() const { return alloc_id_; }
  const std::string& alloc_dir() const { return alloc_dir_; }
  const std::string& task_name() const { return options_.task_name; }
  std::string task_dir() const;          // <alloc>/<task>
  std::string shared_alloc_dir() const;  // <alloc>/alloc
  std::string stdout_fifo() const;
  std::string stderr_fifo() const;

  // A fresh task id `<alloc_id>/<task>/<8 hex>`; Nomad makes one per start (and restart).
  std::string NewTaskId() const;

  // A complete TaskConfig for StartTask with a new id and `msgpack_driver_config` as given.
  ::hashicorp::nomad::plugins::drivers::proto::TaskConfig MakeTaskConfig(
      std::string msgpack_driver_config) const;

  // The logmon stand-ins (nullptr without log collection or with logs disabled).
  LogmonFifo* stdout_log() const { return stdout_log_.get(); }
  LogmonFifo* stderr_log() const { return stderr_log_.get(); }

 private:
  TaskFixture(TaskFixtureOptions options, std::string alloc_id, std::string alloc_dir);

  TaskFixtureOptions options_;
  std::string alloc_id_;
  std::string alloc_dir_;
  std::unique_ptr<LogmonFifo> stdout_log_;
  std::unique_ptr<LogmonFifo> stderr_log_;
};

// A random RFC 4122 version-4 UUID, the form of Nomad's alloc and node ids.
std::string RandomUuid();

// Removes `path` and everything under it; missing paths are fine. Returns the first error.
absl::Status RemoveTree(const std::string& path);

}  // namespace carp_exec::test_host
