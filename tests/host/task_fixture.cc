#include "tests/host/task_fixture.h"

#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <random>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace carp_exec::test_host {
namespace {

namespace drivers = ::hashicorp::nomad::plugins::drivers::proto;

uint64_t RandomBits() {
  static thread_local std::mt19937_64 generator(std::random_device{}());
  return generator();
}

absl::Status MakeDir(const std::string& path) {
  if (mkdir(path.c_str(), 0755) != 0 && errno != EEXIST) {
    return absl::InternalError(absl::StrCat("mkdir ", path, ": ", strerror(errno)));
  }
  return absl::OkStatus();
}

int RemoveEntry(const char* path, const struct stat*, int, struct FTW*) {
  return remove(path) == 0 || errno == ENOENT ? 0 : errno;
}

}  // namespace

std::string RandomUuid() {
  const uint64_t high = (RandomBits() & 0xffffffffffff0fffULL) | 0x4000ULL;
  const uint64_t low = (RandomBits() & 0x3fffffffffffffffULL) | 0x8000000000000000ULL;
  return absl::StrFormat("%08x-%04x-%04x-%04x-%012x", high >> 32, (high >> 16) & 0xffff,
                         high & 0xffff, low >> 48, low & 0xffffffffffffULL);
}

absl::Status RemoveTree(const std::string& path) {
  struct stat st;
  if (lstat(path.c_str(), &st) != 0) return absl::OkStatus();
  const int error = nftw(path.c_str(), RemoveEntry, 16, FTW_DEPTH | FTW_PHYS);
  if (error != 0) {
    return absl::InternalError(absl::StrCat("remove ", path, ": ", strerror(error)));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<TaskFixture>> TaskFixture::Create(TaskFixtureOptions options) {
  const char* tmp = getenv("TMPDIR");
  std::string pattern =
      absl::StrCat(tmp != nullptr && tmp[0] != '\0' ? tmp : "/tmp", "/carp-alloc-XXXXXX");
  if (mkdtemp(pattern.data()) == nullptr) {
    return absl::InternalError(absl::StrCat("mkdtemp ", pattern, ": ", strerror(errno)));
  }
  // Nomad's alloc dirs are world-traversable so tasks running as other users can enter.
  chmod(pattern.c_str(), 0755);
  std::unique_ptr<TaskFixture> fixture(new TaskFixture(std::move(options), RandomUuid(), pattern));
  const std::string shared = fixture->shared_alloc_dir();
  const std::string task = fixture->task_dir();
  for (const std::string& dir :
       {shared, shared + "/logs", shared + "/tmp", shared + "/data", task, task + "/local",
        task + "/secrets", task + "/private", task + "/tmp"}) {
    if (absl::Status made = MakeDir(dir); !made.ok()) return made;
  }
  chmod((task + "/secrets").c_str(), 0700);
  if (fixture->options_.log_collection && !fixture->options_.logs_disabled) {
    const std::string logs = shared + "/logs/" + fixture->task_name();
    absl::StatusOr<std::unique_ptr<LogmonFifo>> out =
        LogmonFifo::Create(fixture->stdout_fifo(), logs + ".stdout.0");
    if (!out.ok()) return out.status();
    fixture->stdout_log_ = std::move(*out);
    absl::StatusOr<std::unique_ptr<LogmonFifo>> err =
        LogmonFifo::Create(fixture->stderr_fifo(), logs + ".stderr.0");
    if (!err.ok()) return err.status();
    fixture->stderr_log_ = std::move(*err);
  }
  return fixture;
}

TaskFixture::TaskFixture(TaskFixtureOptions options, std::string alloc_id, std::string alloc_dir)
    : options_(std::move(options)),
      alloc_id_(std::move(alloc_id)),
      alloc_dir_(std::move(alloc_dir)) {}

TaskFixture::~TaskFixture() {
  stdout_log_.reset();
  stderr_log_.reset();
  (void)RemoveTree(alloc_dir_);
}

std::string TaskFixture::task_dir() const { return absl::StrCat(alloc_dir_, "/", task_name()); }
std::string TaskFixture::shared_alloc_dir() const { return absl::StrCat(alloc_dir_, "/alloc"); }
std::string TaskFixture::stdout_fifo() const {
  return absl::StrCat(shared_alloc_dir(), "/logs/.", task_name(), ".stdout.fifo");
}
std::string TaskFixture::stderr_fifo() const {
  return absl::StrCat(shared_alloc_dir(), "/logs/.", task_name(), ".stderr.fifo");
}

std::string TaskFixture::NewTaskId() const {
  return absl::StrFormat("%s/%s/%08x", alloc_id_, task_name(), RandomBits() & 0xffffffffULL);
}

drivers::TaskConfig TaskFixture::MakeTaskConfig(std::string msgpack_driver_config) const {
  drivers::TaskConfig config;
  config.set_id(NewTaskId());
  config.set_name(task_name());
  config.set_msgpack_driver_config(std::move(msgpack_driver_config));
  config.set_alloc_dir(alloc_dir_);
  config.set_alloc_id(alloc_id_);
  config.set_task_group_name(options_.group_name);
  config.set_job_name(options_.job_name);
  config.set_job_id(options_.job_name);
  config.set_namespace_("default");
  config.set_node_name("carp-test-node");
  config.set_node_id(RandomUuid());
  if (options_.logs_disabled) {
    config.set_stdout_path("/dev/null");
    config.set_stderr_path("/dev/null");
  } else {
    config.set_stdout_path(stdout_fifo());
    config.set_stderr_path(stderr_fifo());
  }
  auto* resources = config.mutable_resources();
  resources->mutable_allocated_resources()->mutable_cpu()->set_cpu_shares(100);
  resources->mutable_allocated_resources()->mutable_memory()->set_memory_mb(300);
  resources->mutable_allocated_resources()->mutable_memory()->set_memory_max_mb(-1);
  resources->mutable_linux_resources()->set_cpu_shares(100);
  resources->mutable_linux_resources()->set_memory_limit_bytes(300LL << 20);

  // The task's complete environment: the agent's own (raw_exec style, fs isolation NONE)
  // plus the NOMAD_* variables with host paths.
  auto& env = *config.mutable_env();
  for (const char* name : {"PATH", "HOME", "LANG", "TMPDIR"}) {
    if (const char* value = getenv(name); value != nullptr) env[name] = value;
  }
  if (!env.contains("PATH")) env["PATH"] = "/usr/local/bin:/usr/bin:/bin";
  env["NOMAD_ALLOC_DIR"] = shared_alloc_dir();
  env["NOMAD_TASK_DIR"] = task_dir() + "/local";
  env["NOMAD_SECRETS_DIR"] = task_dir() + "/secrets";
  env["NOMAD_ALLOC_ID"] = alloc_id_;
  env["NOMAD_SHORT_ALLOC_ID"] = alloc_id_.substr(0, 8);
  env["NOMAD_ALLOC_NAME"] = absl::StrCat(options_.job_name, ".", options_.group_name, "[0]");
  env["NOMAD_ALLOC_INDEX"] = "0";
  env["NOMAD_TASK_NAME"] = task_name();
  env["NOMAD_GROUP_NAME"] = options_.group_name;
  env["NOMAD_JOB_ID"] = options_.job_name;
  env["NOMAD_JOB_NAME"] = options_.job_name;
  env["NOMAD_NAMESPACE"] = "default";
  env["NOMAD_REGION"] = "global";
  env["NOMAD_DC"] = "dc1";
  env["NOMAD_CPU_LIMIT"] = "100";
  env["NOMAD_MEMORY_LIMIT"] = "300";
  return config;
}

}  // namespace carp_exec::test_host
