#include "driver/host/plugin_host.h"

#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "driver/host/go_plugin_services.h"
#include "driver/host/handshake.h"
#include "driver/host/memory_release.h"
#include "driver/log/hclog.h"

namespace carp_exec::host {
namespace {

constexpr char kModule[] = "carp_exec";
// Self-pipe that turns SIGTERM and GRPCController.Shutdown into a wake-up of Run().
int g_shutdown_pipe[2] = {-1, -1};

void OnSigint(int) {}
void OnSigterm(int) { PluginHost::RequestShutdown(); }

// A socket name nobody else in the directory uses. go-plugin names its socket like a
// temporary file (server.go, serverListener_unix: os.CreateTemp(dir, "plugin")), so two
// plugins sharing PLUGIN_UNIX_SOCKET_DIR never meet; gRPC unlinks whatever sits at the path
// it binds, so the name must be free: 64 random bits, and a name already present is skipped.
absl::StatusOr<std::string> FreshSocketPath(const std::string& dir) {
  for (int attempt = 0; attempt < 16; ++attempt) {
    uint64_t id = 0;
    if (::getentropy(&id, sizeof(id)) != 0) {
      // No entropy source: pid and time are still unique among live processes.
      id = (static_cast<uint64_t>(::getpid()) << 32) ^
           static_cast<uint64_t>(absl::ToUnixNanos(absl::Now())) ^ static_cast<uint64_t>(attempt);
    }
    std::string path = absl::StrCat(dir, "/plugin", absl::Hex(id, absl::kZeroPad16), ".sock");
    struct stat st;
    if (::lstat(path.c_str(), &st) != 0 && errno == ENOENT) return path;
  }
  return absl::InternalError(absl::StrCat("cannot find a free socket name in ", dir,
                                          " after 16 tries; check what fills the directory"));
}

std::string TempDirBase() {
  if (const char* d = std::getenv("PLUGIN_UNIX_SOCKET_DIR"); d != nullptr && *d != '\0') return d;
  if (const char* d = std::getenv("TMPDIR"); d != nullptr && *d != '\0') return d;
  return "/tmp";
}

}  // namespace

void InstallPluginSignalHandlers() {
  struct sigaction sa {};
  sigemptyset(&sa.sa_mask);
  sa.sa_handler = OnSigint;
  sigaction(SIGINT, &sa, nullptr);
  sa.sa_handler = OnSigterm;
  sigaction(SIGTERM, &sa, nullptr);
  sa.sa_handler = SIG_IGN;
  sigaction(SIGPIPE, &sa, nullptr);
}

void PluginHost::RequestShutdown() {
  if (g_shutdown_pipe[1] >= 0) {
    const char c = 'x';
    [[maybe_unused]] ssize_t n = ::write(g_shutdown_pipe[1], &c, 1);
  }
}

PluginHost::PluginHost() {
  if (g_shutdown_pipe[0] < 0) {
    if (::pipe(g_shutdown_pipe) == 0) {
      for (int fd : g_shutdown_pipe) {
        ::fcntl(fd, F_SETFD, FD_CLOEXEC);
        ::fcntl(fd, F_SETFL, O_NONBLOCK);
      }
    }
  }
}

PluginHost::~PluginHost() { RemoveSocket(); }

void PluginHost::AddService(grpc::Service* service) { services_.push_back(service); }
void PluginHost::OnStopServing(std::function<void()> fn) { on_stop_serving_ = std::move(fn); }
void PluginHost::OnShutdown(std::function<void()> fn) { on_shutdown_ = std::move(fn); }

absl::Status PluginHost::MakeSocketDir() {
  std::string base = TempDirBase();
  if (std::getenv("PLUGIN_UNIX_SOCKET_DIR") != nullptr) {
    socket_dir_ = base;
    own_socket_dir_ = false;
  } else {
    std::string tmpl = absl::StrCat(base, "/carp_exec-XXXXXX");
    if (::mkdtemp(tmpl.data()) == nullptr) {
      return absl::InternalError(absl::StrCat("cannot create the plugin socket directory under ",
                                              base, ": ", std::strerror(errno),
                                              "; set TMPDIR to a writable directory"));
    }
    socket_dir_ = tmpl;  // mkdtemp makes it 0700.
    own_socket_dir_ = true;
  }
  absl::StatusOr<std::string> path = FreshSocketPath(socket_dir_);
  if (!path.ok()) return path.status();
  socket_path_ = *std::move(path);
  return CheckUnixSocketPath(socket_path_);
}

absl::Status PluginHost::SecureSocket() {
  // The mode was set at creation (Run's umask around bind); this only checks that the path is
  // the socket we bound (lstat: never follows a symlink) and records its inode.
  struct stat st;
  if (::lstat(socket_path_.c_str(), &st) != 0 || !S_ISSOCK(st.st_mode) ||
      st.st_uid != ::geteuid() || (st.st_mode & 07777) != kSocketMode) {
    return absl::InternalError(absl::StrCat("the plugin socket ", socket_path_,
                                            " is missing, not a socket we own, or not mode 0600 "
                                            "after bind; another process is using the directory"));
  }
  socket_dev_ = st.st_dev;
  socket_ino_ = st.st_ino;
  return absl::OkStatus();
}

absl::Status PluginHost::ShareSocketWithGroup(gid_t gid) {
  // Neither call follows a symlink (lchown; fchmodat with AT_SYMLINK_NOFOLLOW), and the path
  // must still be the inode SecureSocket recorded, before and after.
  auto same_socket = [this] {
    struct stat st;
    return ::lstat(socket_path_.c_str(), &st) == 0 && S_ISSOCK(st.st_mode) &&
           st.st_dev == socket_dev_ && st.st_ino == socket_ino_;
  };
  if (!same_socket()) {
    return absl::InternalError(absl::StrCat("the plugin socket ", socket_path_,
                                            " was replaced after bind; not sharing it"));
  }
  if (::lchown(socket_path_.c_str(), static_cast<uid_t>(-1), gid) != 0 ||
      ::fchmodat(AT_FDCWD, socket_path_.c_str(), kGroupSocketMode, AT_SYMLINK_NOFOLLOW) != 0) {
    return absl::InternalError(absl::StrCat("cannot give the plugin socket ", socket_path_,
                                            " to group ", gid,
                                            " with mode 0660: ", std::strerror(errno)));
  }
  if (!same_socket()) {
    return absl::InternalError(
        absl::StrCat("the plugin socket ", socket_path_, " was replaced while sharing it"));
  }
  return absl::OkStatus();
}

void PluginHost::RemoveSocket() {
  // Only the socket this process bound: a file someone put at the path since is left alone.
  struct stat st;
  if (!socket_path_.empty() && ::lstat(socket_path_.c_str(), &st) == 0 && S_ISSOCK(st.st_mode) &&
      st.st_dev == socket_dev_ && st.st_ino == socket_ino_ && socket_ino_ != 0) {
    ::unlink(socket_path_.c_str());
  }
  if (own_socket_dir_ && !socket_dir_.empty()) ::rmdir(socket_dir_.c_str());
  socket_path_.clear();
  socket_dir_.clear();
}

int PluginHost::Run() {
  const VersionChoice version = NegotiateAppProtocol(std::getenv("PLUGIN_PROTOCOL_VERSIONS"));
  if (!version.warning.empty()) log::Warn(kModule, version.warning);

  if (absl::Status s = MakeSocketDir(); !s.ok()) {
    log::Error(kModule, std::string(s.message()));
    RemoveSocket();
    return 1;
  }

  GoPluginServices go_plugin;
  grpc::EnableDefaultHealthCheckService(true);
  grpc::ServerBuilder builder;
  builder.AddListeningPort(absl::StrCat("unix:", socket_path_), grpc::InsecureServerCredentials());
  // Nomad's client sends and accepts up to 2^31-1 bytes (go-plugin grpc_client.go); we accept
  // kMaxReceiveMessageBytes (plugin_host.h says why) and may send as much as the client takes.
  builder.SetMaxReceiveMessageSize(static_cast<int>(kMaxReceiveMessageBytes));
  builder.SetMaxSendMessageSize(INT_MAX);
  for (grpc::Service* s : services_) builder.RegisterService(s);
  go_plugin.RegisterWith(builder);
  // The socket gets kSocketMode at creation: bind applies the umask (Linux af_unix.c
  // unix_bind_bsd, uipc_usrreq.c: OpenBSD unp_bind, FreeBSD uipc_bindat), so there is no window
  // with a wider mode and no chmod by path (which a symlink could redirect). The umask is the
  // process's; it is restored at once, and nothing else creates files during startup.
  const mode_t old_umask = ::umask(0777 & ~kSocketMode);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  ::umask(old_umask);
  if (server == nullptr) {
    log::Error(kModule, "cannot serve gRPC on the plugin socket",
               {{"socket", socket_path_}, {"fix", "check that the directory is writable"}});
    RemoveSocket();
    return 1;
  }
  if (absl::Status s = SecureSocket(); !s.ok()) {
    log::Error(kModule, std::string(s.message()));
    server->Shutdown();
    RemoveSocket();
    return 1;
  }
  if (const char* group = std::getenv("PLUGIN_UNIX_SOCKET_GROUP"); group != nullptr && *group) {
    gid_t gid = 0;
    if (!absl::SimpleAtoi(group, &gid)) {
      struct group* g = ::getgrnam(group);
      gid = g != nullptr ? g->gr_gid : static_cast<gid_t>(-1);
    }
    if (gid == static_cast<gid_t>(-1)) {
      log::Warn(kModule, "cannot hand the plugin socket to PLUGIN_UNIX_SOCKET_GROUP",
                {{"group", group}, {"socket", socket_path_}, {"error", "no such group"}});
    } else if (absl::Status s = ShareSocketWithGroup(gid); !s.ok()) {
      log::Warn(kModule, "cannot hand the plugin socket to PLUGIN_UNIX_SOCKET_GROUP",
                {{"group", group}, {"socket", socket_path_}, {"error", s.message()}});
    }
  }
  server->GetHealthCheckService()->SetServingStatus("plugin", true);

  // Nothing may precede the handshake on stdout, and nothing may follow it: the host reads
  // stdout with a 64 KiB line limit and stops reading on a longer line, then the pipe fills.
  const std::string line = HandshakeLine(version.version, "unix", socket_path_);
  std::fwrite(line.data(), 1, line.size(), stdout);
  std::fflush(stdout);
  if (int devnull = ::open("/dev/null", O_WRONLY | O_CLOEXEC); devnull >= 0) {
    ::dup2(devnull, STDOUT_FILENO);
    ::close(devnull);
  }
  log::Debug(kModule, "plugin serving", {{"socket", socket_path_}});

  const int release_ms = static_cast<int>(absl::ToInt64Milliseconds(kMemoryReleaseInterval));
  for (;;) {
    pollfd pfd{g_shutdown_pipe[0], POLLIN, 0};
    const int n = ::poll(&pfd, 1, release_ms);
    if (n > 0) break;
    if (n == 0) ReleaseFreedMemory();
    if (n < 0 && errno != EINTR) break;
  }
  log::Debug(kModule, "plugin shutting down; tasks keep running under their supervisors");
  go_plugin.CloseStreams();
  if (on_stop_serving_) on_stop_serving_();
  // Waits for every call to finish (OnDone run), cancelling what is left at the deadline.
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::milliseconds(500));
  if (on_shutdown_) on_shutdown_();
  RemoveSocket();
  return 0;
}

}  // namespace carp_exec::host
