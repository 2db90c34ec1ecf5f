// The spawn signal state (spawn_signals.h): the reset set never names SIGKILL or SIGSTOP (on
// OpenBSD that makes every posix_spawn child exit 127), and a child spawned with it really
// starts with every other signal at its default action and nothing blocked, even when the
// parent ignores or blocks some. The test binary is its own child: with --report-signals it
// prints the signals whose disposition is not SIG_DFL or that are blocked, then exits 0.
#include "driver/tasks/spawn_signals.h"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstring>
#include <string>

#include "gtest/gtest.h"

namespace carp_exec::tasks {
namespace {

std::string g_self;  // this test binary, absolute (argv[0] as ctest runs it)

TEST(SpawnDefaultSignalsTest, NeverAsksTheKernelToResetKillOrStop) {
  const sigset_t set = SpawnDefaultSignals();
  EXPECT_FALSE(sigismember(&set, SIGKILL));
  EXPECT_FALSE(sigismember(&set, SIGSTOP));
}

TEST(SpawnDefaultSignalsTest, ResetsEveryOtherSignal) {
  const sigset_t set = SpawnDefaultSignals();
  for (int signo = 1; signo < NSIG; ++signo) {
    if (signo == SIGKILL || signo == SIGSTOP) continue;
    // glibc keeps two real-time signals for its threads (32 and 33) and refuses to name them.
    sigset_t probe;
    sigemptyset(&probe);
    if (sigaddset(&probe, signo) != 0) continue;
    EXPECT_TRUE(sigismember(&set, signo)) << "signal " << signo << " (" << strsignal(signo) << ")";
  }
}

void OnSignal(int) {}

// Spawns the report mode with the attributes under test; returns what it printed and its status.
std::string SpawnReport(int* status) {
  int out[2];
  EXPECT_EQ(pipe(out), 0);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  EXPECT_EQ(SetSpawnSignalDefaults(&attr, POSIX_SPAWN_SETPGROUP), 0);
  std::string mode = "--report-signals";
  char* argv[] = {g_self.data(), mode.data(), nullptr};
  char* envp[] = {nullptr};
  pid_t pid = -1;
  const int rc = posix_spawn(&pid, g_self.c_str(), &actions, &attr, argv, envp);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  close(out[1]);
  EXPECT_EQ(rc, 0) << strerror(rc);
  std::string text;
  char buf[512];
  for (ssize_t n; (n = read(out[0], buf, sizeof(buf))) > 0;) text.append(buf, n);
  close(out[0]);
  EXPECT_EQ(waitpid(pid, status, 0), pid);
  return text;
}

TEST(SpawnSignalDefaultsTest, ChildStartsWithDefaultsAndEmptyMaskWhateverTheParentHad) {
  // What a plugin thread may carry: an ignored signal (inherited across exec unless reset), a
  // caught one, blocked ones.
  struct sigaction ignore {
  }, catcher{}, old_usr1{}, old_hup{};
  ignore.sa_handler = SIG_IGN;
  catcher.sa_handler = OnSignal;
  sigaction(SIGUSR1, &ignore, &old_usr1);
  sigaction(SIGHUP, &catcher, &old_hup);
  sigset_t block, old_mask;
  sigemptyset(&block);
  sigaddset(&block, SIGUSR2);
  sigaddset(&block, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &block, &old_mask);

  int status = 0;
  const std::string report = SpawnReport(&status);

  pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
  sigaction(SIGUSR1, &old_usr1, nullptr);
  sigaction(SIGHUP, &old_hup, nullptr);

  // 127 is what OpenBSD's posix_spawn child exits with when a reset fails.
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "child status " << status;
  EXPECT_EQ(report, "") << "signals not at default or blocked in the child:\n" << report;
}

int ReportSignals() {
  sigset_t mask;
  sigprocmask(SIG_SETMASK, nullptr, &mask);
  for (int signo = 1; signo < NSIG; ++signo) {
    if (signo == SIGKILL || signo == SIGSTOP) continue;
    struct sigaction current {};
    if (sigaction(signo, nullptr, &current) == 0 && current.sa_handler != SIG_DFL) {
      std::printf("signal %d (%s): disposition is not SIG_DFL\n", signo, strsignal(signo));
    }
    if (sigismember(&mask, signo) == 1) {
      std::printf("signal %d (%s): blocked\n", signo, strsignal(signo));
    }
  }
  return 0;
}

}  // namespace
}  // namespace carp_exec::tasks

int main(int argc, char** argv) {
  if (argc == 2 && std::strcmp(argv[1], "--report-signals") == 0) {
    return carp_exec::tasks::ReportSignals();
  }
  carp_exec::tasks::g_self = argv[0];
  testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
