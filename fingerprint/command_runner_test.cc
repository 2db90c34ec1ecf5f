// SystemCommandRunner against real /bin/sh children: exit codes, signals, the deadline kill
// (also of children that ignore SIGTERM or close their output), the output cap, descriptor and
// environment hygiene, and that nothing is left unreaped.

#include "fingerprint/command_runner.h"

#include <dirent.h>
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

#if defined(__linux__)
#include <sys/prctl.h>
#elif defined(__FreeBSD__)
#include <sys/procctl.h>
#endif

namespace carp_exec::fingerprint {
namespace {

using ::testing::HasSubstr;

// Generous: only reached when a child misbehaves on purpose; a healthy run ends long before.
constexpr absl::Duration kLong = absl::Seconds(30);
// Deadline for the tests that expect a kill; the children sleep for 1000 s, so a missing kill
// shows up as a ctest timeout, not as a silent pass.
constexpr absl::Duration kShort = absl::Milliseconds(300);

std::vector<std::string> Sh(const std::string& script) { return {"/bin/sh", "-c", script}; }

int CountOpenFds() {
  int count = 0;
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) return -1;
  while (dirent* entry = readdir(dir)) count += entry->d_name[0] != '.' ? 1 : 0;
  closedir(dir);
  return count;
}

// Makes orphans of our children (the "stray" cases) reparent to this process, so the tests can
// reap and check them deterministically instead of leaving them to PID 1. Linux has
// PR_SET_CHILD_SUBREAPER, FreeBSD PROC_REAP_ACQUIRE (FreeBSD sys/sys/procctl.h); OpenBSD has no
// such facility (its sys/sys/prctl.h and procctl.h do not exist), so there it returns false.
bool BecomeSubreaper() {
#if defined(__linux__)
  return prctl(PR_SET_CHILD_SUBREAPER, 1) == 0;
#elif defined(__FreeBSD__)
  return procctl(P_PID, getpid(), PROC_REAP_ACQUIRE, nullptr) == 0;
#else
  return false;
#endif
}

class CommandRunnerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { subreaper_ = BecomeSubreaper(); }
  // The cases that wait for a grandchild need it to be reparented to us.
  static bool SkipWithoutSubreaper() { return !subreaper_; }
  static inline bool subreaper_ = false;
  void TearDown() override {
    // Every child Run started must have been reaped by Run itself.
    int status = 0;
    pid_t leftover = waitpid(-1, &status, WNOHANG);
    EXPECT_LE(leftover, 0) << "unreaped child " << leftover << " left behind";
  }
  SystemCommandRunner runner_;
};

TEST_F(CommandRunnerTest, CapturesOutputAndExitStatus) {
  auto result = runner_.Run(Sh("printf 'out\\n'; printf 'err\\n' >&2; exit 3"), kLong);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->exit_code, 3);
  EXPECT_EQ(result->term_signal, 0);
  EXPECT_FALSE(result->timed_out);
  EXPECT_FALSE(result->Succeeded());
  EXPECT_EQ(result->out, "out\n");
  EXPECT_EQ(result->err, "err\n");
  EXPECT_EQ(DescribeCommandResult(*result), "exited with status 3: \"err\"");

  auto ok = runner_.Run(Sh("exit 0"), kLong);
  ASSERT_TRUE(ok.ok());
  EXPECT_TRUE(ok->Succeeded());
}

TEST_F(CommandRunnerTest, CountsTheProcessesItStarts) {
  const uint64_t before = ProcessesSpawned();
  ASSERT_TRUE(runner_.Run(Sh("exit 0"), kLong).ok());
  ASSERT_TRUE(runner_.Run(Sh("exit 1"), kLong).ok());  // a failing tool was still started
  EXPECT_EQ(ProcessesSpawned(), before + 2);
  EXPECT_FALSE(runner_.Run({"/nonexistent/tool"}, kLong).ok());  // never started
  EXPECT_EQ(ProcessesSpawned(), before + 2);
}

TEST_F(CommandRunnerTest, ReportsDeathBySignal) {
  auto result = runner_.Run(Sh("kill -TERM $$; sleep 1000"), kLong);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->exit_code, -1);
  EXPECT_EQ(result->term_signal, SIGTERM);
  EXPECT_FALSE(result->timed_out);
  EXPECT_THAT(DescribeCommandResult(*result), HasSubstr("killed by signal 15"));
}

TEST_F(CommandRunnerTest, ChildGetsDefaultSignalsAndAnEmptyMask) {
  // The plugin may ignore SIGINT and block SIGTERM in its threads; a tool must not inherit that.
  struct sigaction ignore {
  }, previous{};
  ignore.sa_handler = SIG_IGN;
  sigaction(SIGINT, &ignore, &previous);
  sigset_t block, old_mask;
  sigemptyset(&block);
  sigaddset(&block, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &block, &old_mask);
  auto by_int = runner_.Run(Sh("kill -INT $$; sleep 1000"), kLong);
  auto by_term = runner_.Run(Sh("kill -TERM $$; sleep 1000"), kLong);
  pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
  sigaction(SIGINT, &previous, nullptr);
  ASSERT_TRUE(by_int.ok());
  ASSERT_TRUE(by_term.ok());
  EXPECT_EQ(by_int->term_signal, SIGINT);
  EXPECT_EQ(by_term->term_signal, SIGTERM);
}

TEST_F(CommandRunnerTest, DeadlineKillsAChildThatIgnoresSigterm) {
  auto result = runner_.Run(Sh("trap '' TERM; echo $$; exec sleep 1000"), kShort);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_TRUE(result->timed_out);
  EXPECT_EQ(result->term_signal, SIGKILL);
  EXPECT_FALSE(result->Succeeded());
  EXPECT_THAT(DescribeCommandResult(*result), HasSubstr("timed out"));
  int pid = 0;
  ASSERT_TRUE(absl::SimpleAtoi(absl::StripAsciiWhitespace(result->out), &pid)) << result->out;
  // Reaped by Run: the pid no longer exists at all (not even as a zombie).
  EXPECT_EQ(kill(pid, 0), -1);
  EXPECT_EQ(errno, ESRCH);
}

TEST_F(CommandRunnerTest, DeadlineKillsTheWholeProcessGroup) {
  if (SkipWithoutSubreaper()) GTEST_SKIP() << "no subreaper on this system";
  auto result = runner_.Run(Sh("sleep 1000 & echo $!; wait"), kShort);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_TRUE(result->timed_out);
  int grandchild = 0;
  ASSERT_TRUE(absl::SimpleAtoi(absl::StripAsciiWhitespace(result->out), &grandchild));
  int status = 0;
  ASSERT_EQ(waitpid(grandchild, &status, 0), grandchild);  // reparented to us (subreaper)
  EXPECT_TRUE(WIFSIGNALED(status));
  EXPECT_EQ(WTERMSIG(status), SIGKILL);
}

TEST_F(CommandRunnerTest, StrayHoldingThePipeDoesNotHoldRunAfterTheChildExits) {
  if (SkipWithoutSubreaper()) GTEST_SKIP() << "no subreaper on this system";
  // The child exits at once; its background process keeps stdout open. Run must return with
  // the child's real status (not wait for the deadline) and kill the stray.
  auto result = runner_.Run(Sh("sleep 1000 & echo $!; exit 4"), kLong);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->exit_code, 4);
  EXPECT_FALSE(result->timed_out);
  int stray = 0;
  ASSERT_TRUE(absl::SimpleAtoi(absl::StripAsciiWhitespace(result->out), &stray));
  int status = 0;
  ASSERT_EQ(waitpid(stray, &status, 0), stray);
  EXPECT_TRUE(WIFSIGNALED(status));
}

TEST_F(CommandRunnerTest, ChildThatClosesItsOutputIsStillBounded) {
  auto result = runner_.Run(Sh("exec >&- 2>&-; exec sleep 1000"), kShort);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_TRUE(result->timed_out);
  EXPECT_EQ(result->term_signal, SIGKILL);
}

TEST_F(CommandRunnerTest, OutputIsCappedAndTheRestDrained) {
  SystemCommandRunner small(1000);
  // 200 kB on each stream: more than a pipe buffer, so the child would block if not drained.
  auto result =
      small.Run(Sh("head -c 200000 /dev/zero; head -c 200000 /dev/zero >&2; exit 0"), kLong);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->exit_code, 0);
  EXPECT_EQ(result->out.size(), 1000u);
  EXPECT_EQ(result->err.size(), 1000u);
  EXPECT_TRUE(result->output_truncated);

  auto big = runner_.Run(Sh("head -c 3000000 /dev/zero"), kLong);
  ASSERT_TRUE(big.ok());
  EXPECT_EQ(big->out.size(), SystemCommandRunner::kDefaultOutputCap);
  EXPECT_TRUE(big->output_truncated);

  auto exact = small.Run(Sh("head -c 1000 /dev/zero"), kLong);
  ASSERT_TRUE(exact.ok());
  EXPECT_FALSE(exact->output_truncated);
}

TEST_F(CommandRunnerTest, StdinIsDevNull) {
  auto result = runner_.Run({"/bin/cat"}, kLong);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->exit_code, 0);
  EXPECT_EQ(result->out, "");
}

TEST_F(CommandRunnerTest, EnvironmentIsOnlyPathAndCLocale) {
  setenv("CARP_TEST_SECRET", "leak", 1);
  auto result = runner_.Run({"/usr/bin/env"}, kLong);
  unsetenv("CARP_TEST_SECRET");
  ASSERT_TRUE(result.ok()) << result.status();
  std::vector<std::string> lines = absl::StrSplit(result->out, '\n', absl::SkipEmpty());
  std::sort(lines.begin(), lines.end());
  EXPECT_THAT(lines,
              ::testing::ElementsAre("LANG=C", "LC_ALL=C", "PATH=/usr/sbin:/usr/bin:/sbin:/bin"));
}

TEST_F(CommandRunnerTest, NoDescriptorReachesTheChildOrLeaksInTheParent) {
  int inheritable = open("/dev/null", O_RDONLY);  // deliberately without O_CLOEXEC
  ASSERT_GE(inheritable, 0);
  const int before = CountOpenFds();
  // Probe fd numbers one by one: listing /proc/$$/fd would itself open a descriptor.
  auto result = runner_.Run(Sh("n=0; while [ $n -lt 1024 ]; do [ -e /proc/$$/fd/$n ] && echo $n; "
                               "n=$((n+1)); done; true"),
                            kLong);
  ASSERT_TRUE(result.ok()) << result.status();
  std::vector<std::string> fds = absl::StrSplit(result->out, '\n', absl::SkipEmpty());
  EXPECT_THAT(fds, ::testing::ElementsAre("0", "1", "2"));
  for (int i = 0; i < 50; ++i) ASSERT_TRUE(runner_.Run(Sh("exit 0"), kLong).ok());
  ASSERT_TRUE(runner_.Run({"/nonexistent/tool"}, kLong).status().code() ==
              absl::StatusCode::kNotFound);
  EXPECT_EQ(CountOpenFds(), before);
  close(inheritable);
}

TEST_F(CommandRunnerTest, ChildLeadsItsOwnProcessGroup) {
  auto result = runner_.Run(Sh("echo $$ $(ps -o pgid= -p $$ 2>/dev/null || cut -d' ' -f5 "
                               "/proc/$$/stat)"),
                            kLong);
  ASSERT_TRUE(result.ok()) << result.status();
  std::vector<std::string> words =
      absl::StrSplit(result->out, absl::ByAnyChar(" \n"), absl::SkipEmpty());
  ASSERT_EQ(words.size(), 2u) << result->out;
  EXPECT_EQ(words[0], words[1]);
}

TEST_F(CommandRunnerTest, StartFailuresAreErrors) {
  EXPECT_EQ(runner_.Run({}, kLong).status().code(), absl::StatusCode::kInvalidArgument);
  auto missing = runner_.Run({"/nonexistent/ifconfig", "carp0"}, kLong);
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(missing.status().message(), HasSubstr("/nonexistent/ifconfig"));
  EXPECT_FALSE(runner_.Run({"/tmp"}, kLong).ok());
  EXPECT_FALSE(runner_.Run({"no-such-tool-carp-exec"}, kLong).ok());
}

TEST_F(CommandRunnerTest, BareNamesUseTheFixedPath) {
  auto result = runner_.Run({"sh", "-c", "echo ok"}, kLong);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->out, "ok\n");
}

TEST_F(CommandRunnerTest, CheckExecutable) {
  EXPECT_TRUE(runner_.CheckExecutable("/bin/sh").ok());
  EXPECT_TRUE(runner_.CheckExecutable("sh").ok());
  EXPECT_EQ(runner_.CheckExecutable("/nonexistent/ifconfig").code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(runner_.CheckExecutable("/tmp").message(), HasSubstr("directory"));
  char path[] = "/tmp/carp_fingerprint_noexec_XXXXXX";
  int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  close(fd);
  chmod(path, 0644);
  absl::Status status = runner_.CheckExecutable(path);
  unlink(path);
  // root may execute nothing without an x bit either: access(X_OK) checks for one.
  EXPECT_FALSE(status.ok());
}

TEST_F(CommandRunnerTest, IgnoredSigchldIsAnErrorNotAHang) {
  // With SIGCHLD ignored the kernel reaps children itself; Run must say so, not wait or guess.
  struct sigaction ignore {
  }, previous{};
  ignore.sa_handler = SIG_IGN;
  sigaction(SIGCHLD, &ignore, &previous);
  auto result = runner_.Run(Sh("exit 0"), kLong);
  sigaction(SIGCHLD, &previous, nullptr);
  ASSERT_FALSE(result.ok());
  EXPECT_THAT(result.status().message(), HasSubstr("SIGCHLD"));
}

TEST_F(CommandRunnerTest, ConcurrentRuns) {
  std::vector<std::thread> threads;
  std::vector<int> failures(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([this, t, &failures] {
      for (int i = 0; i < 10; ++i) {
        std::string want = absl::StrCat(t, "-", i);
        auto result = runner_.Run({"/bin/echo", want}, kLong);
        if (!result.ok() || result->out != want + "\n") ++failures[t];
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_THAT(failures, ::testing::Each(0));
}

}  // namespace
}  // namespace carp_exec::fingerprint
