#include "tests/host/plugin_process.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "absl/cleanup/cleanup.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "driver/tasks/spawn_signals.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/channel_arguments.h"

extern char** environ;

namespace carp_exec::test_host {
namespace {

#ifndef CARP_EXEC_BINARY
#define CARP_EXEC_BINARY "build/carp_exec"
#endif

absl::Status ErrnoStatus(absl::string_view what, int error) {
  return absl::InternalError(absl::StrCat(what, ": ", strerror(error)));
}

// The environment as Nomad builds it: the agent's own (optionally), minus `unset_env`, plus
// the go-plugin variables, plus test overrides. Later entries win, one entry per name.
std::vector<std::string> BuildEnvironment(const LaunchOptions& options) {
  std::vector<std::pair<std::string, std::string>> entries;
  auto set = [&entries](const std::string& name, const std::string& value) {
    for (auto& entry : entries) {
      if (entry.first == name) {
        entry.second = value;
        return;
      }
    }
    entries.emplace_back(name, value);
  };
  const absl::flat_hash_set<std::string> nomad_names = {kMagicCookieKey, "PLUGIN_PROTOCOL_VERSIONS",
                                                        "PLUGIN_MIN_PORT", "PLUGIN_MAX_PORT"};
  absl::flat_hash_set<std::string> dropped(options.unset_env.begin(), options.unset_env.end());
  if (options.inherit_environment) {
    for (char** env = environ; env != nullptr && *env != nullptr; ++env) {
      const char* eq = strchr(*env, '=');
      if (eq == nullptr) continue;
      std::string name(*env, eq - *env);
      // The test runner's own go-plugin variables would leak into "absent" cases.
      if (dropped.contains(name) || nomad_names.contains(name)) continue;
      set(name, eq + 1);
    }
  }
  if (options.magic_cookie) set(kMagicCookieKey, *options.magic_cookie);
  if (options.protocol_versions) set("PLUGIN_PROTOCOL_VERSIONS", *options.protocol_versions);
  if (options.min_port) set("PLUGIN_MIN_PORT", *options.min_port);
  if (options.max_port) set("PLUGIN_MAX_PORT", *options.max_port);
  for (const auto& [name, value] : options.extra_env) set(name, value);
  std::vector<std::string> env;
  env.reserve(entries.size());
  for (const auto& [name, value] : entries) env.push_back(absl::StrCat(name, "=", value));
  return env;
}

std::vector<char*> PointerArray(std::vector<std::string>& strings) {
  std::vector<char*> pointers;
  pointers.reserve(strings.size() + 1);
  for (std::string& s : strings) pointers.push_back(s.data());
  pointers.push_back(nullptr);
  return pointers;
}

}  // namespace

std::string PluginBinaryPath() {
  const char* from_env = getenv("CARP_EXEC_BINARY");
  if (from_env != nullptr && from_env[0] != '\0') return from_env;
  return CARP_EXEC_BINARY;
}

void SetDeadline(grpc::ClientContext* context, absl::Duration timeout) {
  context->set_deadline(absl::ToChronoTime(absl::Now() + timeout));
}

absl::Status ToStatus(const grpc::Status& status, absl::string_view what) {
  if (status.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                      absl::StrCat(what, ": ", status.error_message()));
}

absl::StatusOr<std::unique_ptr<PluginProcess>> PluginProcess::Spawn(const LaunchOptions& options) {
  if (access(options.binary.c_str(), X_OK) != 0) {
    return absl::NotFoundError(absl::StrCat("plugin binary ", options.binary,
                                            " is not executable (", strerror(errno),
                                            "); build target carp_exec or set CARP_EXEC_BINARY"));
  }
  int out_pipe[2];
  int err_pipe[2];
  if (pipe2(out_pipe, O_CLOEXEC) != 0) return ErrnoStatus("pipe2 for stdout", errno);
  if (pipe2(err_pipe, O_CLOEXEC) != 0) {
    const int error = errno;
    close(out_pipe[0]);
    close(out_pipe[1]);
    return ErrnoStatus("pipe2 for stderr", error);
  }
  absl::Cleanup close_write_ends = [&] {
    close(out_pipe[1]);
    close(err_pipe[1]);
  };
  absl::Cleanup close_read_ends = [&] {
    close(out_pipe[0]);
    close(err_pipe[0]);
  };

  std::vector<std::string> argv_strings = {options.binary};
  argv_strings.insert(argv_strings.end(), options.args.begin(), options.args.end());
  std::vector<std::string> env_strings = BuildEnvironment(options);
  std::vector<char*> argv = PointerArray(argv_strings);
  std::vector<char*> envp = PointerArray(env_strings);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  absl::Cleanup destroy_actions = [&] { posix_spawn_file_actions_destroy(&actions); };
  posix_spawn_file_actions_adddup2(&actions, out_pipe[1], STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, err_pipe[1], STDERR_FILENO);

  // A Go agent starts plugins with default dispositions and an empty mask; so do we, so that
  // the plugin itself must be the one ignoring SIGINT and SIGPIPE.
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  absl::Cleanup destroy_attr = [&] { posix_spawnattr_destroy(&attr); };
  tasks::SetSpawnSignalDefaults(&attr);

  pid_t pid = -1;
  const int error =
      posix_spawn(&pid, options.binary.c_str(), &actions, &attr, argv.data(), envp.data());
  if (error != 0) return ErrnoStatus(absl::StrCat("posix_spawn ", options.binary), error);
  std::move(close_read_ends).Cancel();
  return std::unique_ptr<PluginProcess>(new PluginProcess(options, pid, out_pipe[0], err_pipe[0]));
}

absl::StatusOr<std::unique_ptr<PluginProcess>> PluginProcess::Start(const LaunchOptions& options) {
  absl::StatusOr<std::unique_ptr<PluginProcess>> plugin = Spawn(options);
  if (!plugin.ok()) return plugin.status();
  PluginProcess& process = **plugin;
  const absl::Time deadline = absl::Now() + options.handshake_timeout;
  absl::StatusOr<Handshake> handshake = process.ReadHandshake(deadline);
  if (!handshake.ok()) {
    process.WaitForExit(absl::Milliseconds(200));
    return absl::Status(
        handshake.status().code(),
        absl::StrCat(handshake.status().message(), "; plugin ", process.DescribeExit(),
                     "; stderr:\n", absl::StrJoin(process.StderrLines(), "\n")));
  }
  if (absl::Status connected = process.Connect(deadline); !connected.ok()) return connected;
  absl::StatusOr<ServingStatus> health = process.Health("plugin", absl::Seconds(5));
  if (!health.ok()) return health.status();
  if (*health != ServingStatus::kServing) {
    return absl::FailedPreconditionError(absl::StrCat("health: service \"plugin\" reported status ",
                                                      static_cast<int>(*health),
                                                      ", want SERVING (1)"));
  }
  return plugin;
}

PluginProcess::PluginProcess(LaunchOptions options, pid_t pid, int stdout_fd, int stderr_fd)
    : options_(std::move(options)),
      pid_(pid),
      output_(std::make_unique<ProcessOutput>(stdout_fd, stderr_fd)) {}

PluginProcess::~PluginProcess() {
  // Channels first: their threads must not outlive the process they talk to by much.
  driver_.reset();
  base_.reset();
  stdio_.reset();
  controller_.reset();
  channel_.reset();
  Kill();
  output_->Stop();
}

absl::StatusOr<std::string> PluginProcess::ReadHandshakeLine(absl::Time deadline) {
  return output_->WaitForFirstLine(deadline, kHandshakeLineLimit);
}

absl::StatusOr<Handshake> PluginProcess::ReadHandshake(absl::Time deadline) {
  absl::StatusOr<std::string> line = ReadHandshakeLine(deadline);
  if (!line.ok()) return line.status();
  const std::vector<absl::string_view> fields = absl::StrSplit(*line, '|');
  if (fields.size() >= 4 && fields[2] == "unix") announced_socket_ = std::string(fields[3]);
  const std::vector<int> offered = ParseOfferedVersions(options_.protocol_versions.value_or(""));
  absl::StatusOr<Handshake> handshake = ParseHandshake(*line, offered);
  if (handshake.ok()) handshake_ = *handshake;
  return handshake;
}

absl::Status PluginProcess::Connect(absl::Time deadline) {
  if (!handshake_) return absl::FailedPreconditionError("connect: no handshake read yet");
  grpc::ChannelArguments args;
  // The Go host allows messages up to 2^31-1 bytes in both directions.
  args.SetMaxReceiveMessageSize(INT_MAX);
  args.SetMaxSendMessageSize(INT_MAX);
  // A private channel per plugin, as each Go client has its own connection.
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  const std::string target = GrpcTarget(*handshake_);
  channel_ = grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args);
  if (!channel_->WaitForConnected(absl::ToChronoTime(deadline))) {
    return absl::UnavailableError(absl::StrCat("connect: channel to ", target,
                                               " not ready before the deadline (state ",
                                               static_cast<int>(channel_->GetState(false)), ")"));
  }
  controller_ = plugin::GRPCController::NewStub(channel_);
  stdio_ = plugin::GRPCStdio::NewStub(channel_);
  base_ = base_proto::BasePlugin::NewStub(channel_);
  driver_ = driver_proto::Driver::NewStub(channel_);
  return absl::OkStatus();
}

absl::StatusOr<ServingStatus> PluginProcess::Health(absl::string_view service,
                                                    absl::Duration timeout) {
  if (!channel_) return absl::FailedPreconditionError("health: not connected");
  return CheckHealth(channel_, service, timeout);
}

bool PluginProcess::Reap(bool block) {
  if (exit_status_) return true;
  int status = 0;
  pid_t got;
  do {
    got = waitpid(pid_, &status, block ? 0 : WNOHANG);
  } while (got < 0 && errno == EINTR);
  if (got == pid_) {
    exit_status_ = status;
    return true;
  }
  if (got < 0) {
    // ECHILD: someone else reaped it; record an impossible status rather than wait forever.
    exit_status_ = -1;
    return true;
  }
  return false;
}

bool PluginProcess::running() { return !Reap(false); }

bool PluginProcess::WaitForExit(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  // Polling waitpid keeps this portable (no pidfd on the BSDs); 5 ms steps keep it prompt.
  while (!Reap(false)) {
    if (absl::Now() >= deadline) return false;
    absl::SleepFor(absl::Milliseconds(5));
  }
  return true;
}

absl::Status PluginProcess::Signal(int signal_number) {
  if (Reap(false)) {
    return absl::FailedPreconditionError(
        absl::StrCat("signal ", signal_number, ": plugin already ", DescribeExit()));
  }
  if (kill(pid_, signal_number) != 0) return ErrnoStatus("kill", errno);
  return absl::OkStatus();
}

std::string PluginProcess::DescribeExit() const {
  if (!exit_status_) return "still running";
  const int status = *exit_status_;
  if (status == -1) return "reaped elsewhere (status unknown)";
  if (WIFEXITED(status)) return absl::StrCat("exited with code ", WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return absl::StrCat("killed by signal ", WTERMSIG(status));
  return absl::StrCat("ended with wait status ", status);
}

ShutdownReport PluginProcess::Shutdown(absl::Duration grace) {
  ShutdownReport report;
  const absl::Time start = absl::Now();
  if (controller_) {
    grpc::ClientContext context;
    SetDeadline(&context, absl::Seconds(5));
    plugin::Empty request;
    plugin::Empty response;
    report.rpc =
        ToStatus(controller_->Shutdown(&context, request, &response), "GRPCController/Shutdown");
  } else {
    report.rpc = absl::FailedPreconditionError("GRPCController/Shutdown: not connected");
  }
  report.exited_in_grace = WaitForExit(grace);
  // No socket cleanup here: tests check that the plugin removed it itself.
  if (!report.exited_in_grace) KillWithoutCleanup();
  report.time_to_exit = absl::Now() - start;
  return report;
}

void PluginProcess::KillWithoutCleanup() {
  if (Reap(false)) return;
  kill(pid_, SIGKILL);
  // SIGKILL cannot be caught; a blocking wait ends once the kernel has torn it down.
  Reap(true);
}

void PluginProcess::Kill() {
  KillWithoutCleanup();
  RemoveLeftoverSocket();
}

void PluginProcess::RemoveLeftoverSocket() {
  if (announced_socket_.empty()) return;
  const std::string& path = announced_socket_;
  struct stat st;
  if (lstat(path.c_str(), &st) != 0 || !S_ISSOCK(st.st_mode)) return;
  unlink(path.c_str());
  // Only succeeds when the directory is empty, i.e. it was the plugin's private one.
  const size_t slash = path.rfind('/');
  if (slash != std::string::npos && slash > 0) rmdir(path.substr(0, slash).c_str());
}

}  // namespace carp_exec::test_host
