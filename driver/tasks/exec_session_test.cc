#include "driver/tasks/exec_session.h"

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <functional>
#include <optional>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "driver/mutex_lock.h"
#include "gtest/gtest.h"

namespace carp_exec::tasks {
namespace {

constexpr absl::Duration kPatience = absl::Seconds(10);

// Collects what a session reports; every wait is bounded.
class Collector {
 public:
  ExecSessionCallbacks Callbacks() {
    ExecSessionCallbacks callbacks;
    callbacks.on_stdout = [this](absl::string_view data) {
      carp_exec::MutexLock lock(mu_);
      stdout_.append(data.data(), data.size());
    };
    callbacks.on_stderr = [this](absl::string_view data) {
      carp_exec::MutexLock lock(mu_);
      stderr_.append(data.data(), data.size());
    };
    callbacks.on_exit = [this](const ExecExit& exit) {
      carp_exec::MutexLock lock(mu_);
      exit_ = exit;
      ++exits_;
    };
    return callbacks;
  }

  bool WaitForExit(absl::Duration timeout = kPatience) {
    carp_exec::MutexLock lock(mu_);
    return mu_.AwaitWithTimeout(absl::Condition(this, &Collector::ExitedLocked), timeout);
  }
  bool WaitForStdout(absl::string_view text, absl::Duration timeout = kPatience) {
    carp_exec::MutexLock lock(mu_);
    wanted_ = std::string(text);
    return mu_.AwaitWithTimeout(absl::Condition(this, &Collector::HasWantedLocked), timeout);
  }

  std::string out() {
    carp_exec::MutexLock lock(mu_);
    return stdout_;
  }
  std::string err() {
    carp_exec::MutexLock lock(mu_);
    return stderr_;
  }
  ExecExit exit() {
    carp_exec::MutexLock lock(mu_);
    return exit_.value_or(ExecExit{-100, 0, absl::UnknownError("no exit")});
  }
  int exits() {
    carp_exec::MutexLock lock(mu_);
    return exits_;
  }

 private:
  bool ExitedLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return exit_.has_value(); }
  bool HasWantedLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return absl::StrContains(stdout_, wanted_);
  }

  absl::Mutex mu_;
  std::string stdout_ ABSL_GUARDED_BY(mu_);
  std::string stderr_ ABSL_GUARDED_BY(mu_);
  std::optional<ExecExit> exit_ ABSL_GUARDED_BY(mu_);
  int exits_ ABSL_GUARDED_BY(mu_) = 0;
  std::string wanted_ ABSL_GUARDED_BY(mu_);
};

ExecSessionOptions Shell(const std::string& script, bool tty) {
  ExecSessionOptions options;
  options.command.argv = {"/bin/sh", "-c", script};
  options.command.env = {{"PATH", "/usr/bin:/bin"}, {"TERM", "xterm"}};
  options.tty = tty;
  return options;
}

TEST(ExecSessionTest, NoTtyExactStreamsAndExitCode) {
  Collector collector;
  auto session = ExecSession::Start(
      Shell("echo hello stdout; echo hello stderr >&2; exit 43", false), collector.Callbacks());
  ASSERT_TRUE(session.ok()) << session.status();
  ASSERT_TRUE(collector.WaitForExit());
  EXPECT_EQ(collector.out(), "hello stdout\n");
  EXPECT_EQ(collector.err(), "hello stderr\n");
  EXPECT_EQ(collector.exit().exit_code, 43);
  EXPECT_TRUE(collector.exit().error.ok());
  session->reset();
  EXPECT_EQ(collector.exits(), 1);
}

TEST(ExecSessionTest, NoTtyStdinPassedThenClosed) {
  Collector collector;
  auto session =
      ExecSession::Start(Shell("echo hello from command; cat", false), collector.Callbacks());
  ASSERT_TRUE(session.ok()) << session.status();
  (*session)->WriteStdin("hello from stdin\n");
  (*session)->CloseStdin();
  ASSERT_TRUE(collector.WaitForExit());
  EXPECT_EQ(collector.out(), "hello from command\nhello from stdin\n");
  EXPECT_EQ(collector.exit().exit_code, 0);
}

TEST(ExecSessionTest, NoTtySttyFailsAndResizeIsRefused) {
  Collector collector;
  auto session = ExecSession::Start(Shell("stty size", false), collector.Callbacks());
  ASSERT_TRUE(session.ok()) << session.status();
  EXPECT_EQ((*session)->Resize({100, 100}).code(), absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(collector.WaitForExit());
  EXPECT_EQ(collector.exit().exit_code, 1);
  EXPECT_TRUE(absl::StartsWith(collector.err(), "stty:")) << collector.err();
  EXPECT_EQ(collector.out(), "");
}

TEST(ExecSessionTest, TtyInitialSizeThenResize) {
  Collector collector;
  ExecSessionOptions options = Shell("stty size; read line; stty size", true);
  options.initial_size = TerminalSize{50, 40};
  auto session = ExecSession::Start(options, collector.Callbacks());
  ASSERT_TRUE(session.ok()) << session.status();
  ASSERT_TRUE(collector.WaitForStdout("50 40\r\n")) << collector.out();
  ASSERT_TRUE((*session)->Resize({100, 100}).ok());
  (*session)->WriteStdin("\n");  // applied after the resize: commands keep their order
  ASSERT_TRUE(collector.WaitForExit());
  EXPECT_EQ(collector.out(), "50 40\r\n\r\n100 100\r\n");
  EXPECT_EQ(collector.exit().exit_code, 0);
}

TEST(ExecSessionTest, TtyMergesStreamsWithCrLf) {
  Collector collector;
  auto session = ExecSession::Start(
      Shell("echo hello stdout; echo hello stderr >&2; exit 43", true), collector.Callbacks());
  ASSERT_TRUE(session.ok()) << session.status();
  ASSERT_TRUE(collector.WaitForExit());
  EXPECT_EQ(collector.out(), "hello stdout\r\nhello stderr\r\n");
  EXPECT_EQ(collector.err(), "");
  EXPECT_EQ(collector.exit().exit_code, 43);
}

TEST(ExecSessionTest, TtyStdinIsEchoed) {
  Collector collector;
  auto session = ExecSession::Start(Shell("head -n1", true), collector.Callbacks());
  ASSERT_TRUE(session.ok()) << session.status();
  (*session)->WriteStdin("hello from stdin\n");
  ASSERT_TRUE(collector.WaitForExit());
  // Once from the terminal's echo, once from head.
  EXPECT_EQ(collector.out(), "hello from stdin\r\nhello from stdin\r\n");
  EXPECT_EQ(collector.exit().exit_code, 0);
}

TEST(ExecSessionTest, TtyCloseStdinEndsInputAfterFullLine) {
  Collector collector;
  auto session = ExecSession::Start(Shell("cat", true), collector.Callbacks());
  ASSERT_TRUE(session.ok()) << session.status();
  (*session)->WriteStdin("hello\n");
  (*session)->CloseStdin();
  ASSERT_TRUE(collector.WaitForExit());
  EXPECT_EQ(collector.out(), "hello\r\nhello\r\n");
  EXPECT_EQ(collector.exit().exit_code, 0);
}

TEST(ExecSessionTest, TtyCloseStdinEndsInputAfterPartialLine) {
  Collector collector;
  auto session = ExecSession::Start(Shell("cat", true), collector.Callbacks());
  ASSERT_TRUE(session.ok()) << session.status();
  (*session)->WriteStdin("abc");
  (*session)->CloseStdin();
  ASSERT_TRUE(collector.WaitForExit());
  EXPECT_EQ(collector.out(), "abcabc");  // the echo, then cat's copy
  EXPECT_EQ(collector.exit().exit_code, 0);
}

TEST(ExecSessionTest, TtyBackgroundChildDoesNotHoldTheStream) {
  Collector collector;
  // The child ignores SIGHUP, so only our drain rule can end the session before it exits.
  auto session = ExecSession::Start(
      Shell("(trap '' HUP; exec sleep 30) & echo \"bg $!\"; echo from main", true),
      collector.Callbacks());
  ASSERT_TRUE(session.ok()) << session.status();
  const bool exited = collector.WaitForExit();
  const std::string out = collector.out();
  const size_t start = out.find("bg ");
  pid_t background = 0;
  if (start != std::string::npos &&
      absl::SimpleAtoi(out.substr(start + 3, out.find('\r', start) - start - 3), &background)) {
    kill(background, SIGKILL);
  }
  ASSERT_TRUE(exited) << "the background sleep kept the session open";
  EXPECT_TRUE(absl::EndsWith(out, "from main\r\n")) << out;
  EXPECT_EQ(collector.exit().exit_code, 0);
}

TEST(ExecSessionTest, SignalledIs128PlusN) {
  Collector collector;
  auto session = ExecSession::Start(Shell("kill -KILL $$", false), collector.Callbacks());
  ASSERT_TRUE(session.ok()) << session.status();
  ASSERT_TRUE(collector.WaitForExit());
  EXPECT_EQ(collector.exit().exit_code, 128 + SIGKILL);
  EXPECT_EQ(collector.exit().signal, SIGKILL);
}

TEST(ExecSessionTest, DestroyingKillsARunningCommand) {
  Collector collector;
  auto session = ExecSession::Start(Shell("sleep 30", true), collector.Callbacks());
  ASSERT_TRUE(session.ok()) << session.status();
  const absl::Time started = absl::Now();
  session->reset();  // joins: on_exit has run when this returns
  EXPECT_LT(absl::Now() - started, kPatience);
  EXPECT_EQ(collector.exits(), 1);
  EXPECT_EQ(collector.exit().exit_code, 128 + SIGKILL);
}

TEST(ExecSessionTest, TerminateKillsTheGroup) {
  Collector collector;
  auto session = ExecSession::Start(Shell("sleep 30 & sleep 30", false), collector.Callbacks());
  ASSERT_TRUE(session.ok()) << session.status();
  (*session)->Terminate();
  // Both sleeps die, so both pipes reach EOF and the session ends on its own.
  ASSERT_TRUE(collector.WaitForExit());
  EXPECT_EQ(collector.exit().exit_code, 128 + SIGKILL);
}

TEST(ExecSessionTest, PausedOutputIsHeldUntilResumed) {
  Collector collector;
  auto session = ExecSession::Start(Shell("read line; echo hi", false), collector.Callbacks());
  ASSERT_TRUE(session.ok()) << session.status();
  (*session)->SetOutputPaused(true);
  (*session)->WriteStdin("go\n");
  EXPECT_FALSE(collector.WaitForExit(absl::Milliseconds(300)));
  EXPECT_EQ(collector.out(), "");
  (*session)->SetOutputPaused(false);
  ASSERT_TRUE(collector.WaitForExit());
  EXPECT_EQ(collector.out(), "hi\n");
}

TEST(ExecSessionTest, OnExitMayDestroyTheSession) {
  std::unique_ptr<ExecSession> owned;
  absl::Mutex mu;
  bool destroyed = false;
  ExecSessionCallbacks callbacks;
  callbacks.on_exit = [&](const ExecExit&) {
    carp_exec::MutexLock lock(mu);
    owned.reset();
    destroyed = true;
  };
  {
    carp_exec::MutexLock lock(mu);
    auto session = ExecSession::Start(Shell("true", false), callbacks);
    ASSERT_TRUE(session.ok()) << session.status();
    owned = *std::move(session);
  }
  carp_exec::MutexLock lock(mu);
  EXPECT_TRUE(mu.AwaitWithTimeout(absl::Condition(&destroyed), kPatience));
  EXPECT_EQ(owned, nullptr);
}

TEST(ExecSessionTest, TtyBelongsToTheCommandsUser) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to change identity";
  Collector collector;
  ExecSessionOptions options = Shell("id -u; stat -c %u \"$(tty)\"", true);
  options.command.user = ExecIdentity{65534, 65534, {}};
  auto session = ExecSession::Start(options, collector.Callbacks());
  ASSERT_TRUE(session.ok()) << session.status();
  ASSERT_TRUE(collector.WaitForExit());
  EXPECT_EQ(collector.out(), "65534\r\n65534\r\n");
}

TEST(ExecSessionTest, StartErrors) {
  Collector collector;
  ExecSessionOptions missing = Shell("true", false);
  missing.command.argv = {"no-such-command-carp"};
  EXPECT_EQ(ExecSession::Start(missing, collector.Callbacks()).status().code(),
            absl::StatusCode::kNotFound);
  ExecSessionOptions empty;
  EXPECT_EQ(ExecSession::Start(empty, collector.Callbacks()).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(collector.exits(), 0);
}

// Stdin flow control (issue 9): a child that never reads stdin makes WriteStdin ask the
// caller to wait once kStdinPendingCap bytes are pending (plus what the kernel pipe took),
// and the wait ends exactly once: when the child drains, or when the session ends.
struct ReadySignal {
  absl::Mutex mu;
  int count ABSL_GUARDED_BY(mu) = 0;
  bool WaitFor(int n, absl::Duration timeout) {
    carp_exec::MutexLock lock(mu);
    auto reached = [this, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) { return count >= n; };
    return mu.AwaitWithTimeout(absl::Condition(&reached), timeout);
  }
  int Count() {
    carp_exec::MutexLock lock(mu);
    return count;
  }
};

// Writes 64 KiB chunks until WriteStdin says wait (or `limit` bytes); returns the bytes given.
size_t WriteUntilBlocked(ExecSession& session, size_t limit) {
  const std::string chunk(64 * 1024, 'x');
  size_t given = 0;
  while (given < limit) {
    given += chunk.size();
    if (!session.WriteStdin(chunk)) break;
  }
  return given;
}

TEST(ExecSessionTest, StdinIntoAChildThatNeverReadsStopsAtTheCap) {
  Collector collector;
  ReadySignal ready;
  ExecSessionCallbacks callbacks = collector.Callbacks();
  callbacks.on_stdin_ready = [&ready] {
    carp_exec::MutexLock lock(ready.mu);
    ++ready.count;
  };
  auto session = ExecSession::Start(Shell("exec sleep 1000", false), std::move(callbacks));
  ASSERT_TRUE(session.ok()) << session.status();
  // A pipe takes at most 1 MiB (Linux pipe-max-size default); the rest must stop at the cap.
  const size_t limit = size_t{256} << 20;
  const size_t given = WriteUntilBlocked(**session, limit);
  EXPECT_LT(given, ExecSession::kStdinPendingCap + (size_t{1} << 20) + 64 * 1024)
      << "WriteStdin never asked to wait";
  (*session)->Terminate();
  ASSERT_TRUE(collector.WaitForExit());
  EXPECT_TRUE(ready.WaitFor(1, kPatience)) << "the blocked writer was never released";
  session->reset();
  EXPECT_EQ(ready.Count(), 1);
}

TEST(ExecSessionTest, StdinReadyFollowsWhenTheChildDrainsAndNothingIsLost) {
  Collector collector;
  ReadySignal ready;
  ExecSessionCallbacks callbacks = collector.Callbacks();
  callbacks.on_stdin_ready = [&ready] {
    carp_exec::MutexLock lock(ready.mu);
    ++ready.count;
  };
  // The child reads nothing until the test writes to a FIFO, then counts all of stdin.
  std::string dir = "/tmp/carp-exec-session-XXXXXX";
  ASSERT_NE(mkdtemp(dir.data()), nullptr);
  const std::string fifo = dir + "/go";
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  auto session =
      ExecSession::Start(Shell("read go < " + fifo + "; exec wc -c", false), std::move(callbacks));
  ASSERT_TRUE(session.ok()) << session.status();
  const size_t limit = size_t{64} << 20;
  size_t total = WriteUntilBlocked(**session, limit);
  EXPECT_LT(total, limit) << "WriteStdin never asked to wait";
  EXPECT_EQ(ready.Count(), 0) << "released while the child read nothing";
  const int go = open(fifo.c_str(), O_WRONLY);  // returns once the child opened its end
  ASSERT_GE(go, 0);
  ASSERT_EQ(write(go, "go\n", 3), 3);
  close(go);
  ASSERT_TRUE(ready.WaitFor(1, kPatience)) << "no on_stdin_ready once the child drained";
  // From here on, every "wait" must be followed by exactly one release.
  int waits = 1;
  const std::string chunk(64 * 1024, 'y');
  for (int i = 0; i < 256; ++i) {
    total += chunk.size();
    if (!(*session)->WriteStdin(chunk)) {
      ++waits;
      ASSERT_TRUE(ready.WaitFor(waits, kPatience)) << "no release after wait " << waits;
    }
  }
  (*session)->CloseStdin();
  ASSERT_TRUE(collector.WaitForExit());
  EXPECT_EQ(collector.out(), absl::StrCat(total, "\n"));
  EXPECT_EQ(ready.Count(), waits);
  unlink(fifo.c_str());
  rmdir(dir.c_str());
}

}  // namespace
}  // namespace carp_exec::tasks
