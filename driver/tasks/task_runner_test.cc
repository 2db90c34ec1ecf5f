// TaskRunner with real supervisors and real /bin/sh tasks under a temporary state dir.
#include "driver/tasks/task_runner.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <csignal>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "driver/mutex_lock.h"
#include "driver/tasks/launch_resolution.h"
#include "driver/tasks/state_dir.h"
#include "driver/tasks/task_errors.h"
#include "driver/tasks/task_test_support.h"
#include "gtest/gtest.h"

namespace carp_exec::tasks {
namespace {

using testing::MakeRunner;
using testing::ReadFileOrEmpty;
using testing::ShellTask;
using testing::TempDir;
using testing::WaitExit;
using testing::WaitForFile;

class TaskRunnerTest : public ::testing::Test {
 protected:
  TaskRunnerTest() : runner_(MakeRunner(dir_.Sub("state"))) {}
  ~TaskRunnerTest() override {
    // A failed assertion may leave a task running; tests clean up after themselves.
    for (const TaskProcessInfo& task : runner_->RunningProcesses()) {
      (void)runner_->Destroy(task.task_id, /*force=*/true);
    }
  }

  LaunchSpec Shell(const std::string& id, const std::string& script) {
    return ShellTask(id, script, dir_.path());
  }

  TempDir dir_;
  std::unique_ptr<TaskRunner> runner_;
};

TEST_F(TaskRunnerTest, ReportsExitCodesAndSignals) {
  struct Case {
    std::string script;
    int exit_code;
    int signal;
  } cases[] = {{"exit 0", 0, 0}, {"exit 3", 3, 0}, {"kill -TERM $$", 128 + SIGTERM, SIGTERM}};
  int n = 0;
  for (const Case& c : cases) {
    std::string id = absl::StrCat("alloc/exit/", n++);
    absl::StatusOr<StartedTask> started = runner_->Start(Shell(id, c.script));
    ASSERT_TRUE(started.ok()) << started.status();
    EXPECT_GT(started->pid, 0);
    absl::StatusOr<ExitResult> result = WaitExit(*runner_, id);
    ASSERT_TRUE(result.ok()) << result.status();
    EXPECT_EQ(result->exit_code, c.exit_code) << c.script;
    EXPECT_EQ(result->signal, c.signal) << c.script;
    EXPECT_EQ(result->err, "");
  }
}

TEST_F(TaskRunnerTest, EveryWaiterGetsTheExitAndCancelledOnesDoNot) {
  ASSERT_EQ(mkfifo(dir_.Sub("gate").c_str(), 0600), 0);  // the task blocks until we write
  ASSERT_TRUE(runner_->Start(Shell("w", "read line < ./gate; exit 5")).ok());
  int called = 0;
  absl::Mutex mu;
  WaitHandle cancelled = runner_->Wait("w", [&](absl::StatusOr<ExitResult>) {
    carp_exec::MutexLock lock(mu);
    called += 100;
  });
  EXPECT_TRUE(runner_->CancelWait(cancelled));
  EXPECT_FALSE(runner_->CancelWait(cancelled));
  for (int i = 0; i < 3; ++i) {
    runner_->Wait("w", [&](absl::StatusOr<ExitResult> r) {
      carp_exec::MutexLock lock(mu);
      if (r.ok() && r->exit_code == 5) ++called;
    });
  }
  int gate = open(dir_.Sub("gate").c_str(), O_WRONLY);
  ASSERT_GE(gate, 0);
  ASSERT_EQ(write(gate, "go\n", 3), 3);
  close(gate);
  ASSERT_TRUE(WaitExit(*runner_, "w").ok());
  carp_exec::MutexLock lock(mu);
  EXPECT_EQ(called, 3);
}

TEST_F(TaskRunnerTest, SignalReachesATrappingScript) {
  ASSERT_TRUE(runner_
                  ->Start(Shell("sig",
                                "trap 'echo got-usr1 > trapped; exit 3' USR1; touch ready; "
                                "while :; do sleep 1; done"))
                  .ok());
  ASSERT_TRUE(WaitForFile(dir_.Sub("ready")));
  ASSERT_TRUE(runner_->Signal("sig", SIGUSR1).ok());
  absl::StatusOr<ExitResult> result = WaitExit(*runner_, "sig");
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(result->exit_code, 3);
  EXPECT_EQ(ReadFileOrEmpty(dir_.Sub("trapped")), "got-usr1\n");
  absl::Status again = runner_->Signal("sig", SIGUSR1);
  EXPECT_EQ(again.code(), absl::StatusCode::kFailedPrecondition) << again;
}

TEST_F(TaskRunnerTest, StopEscalatesToSigkillAndKillsTheWholeGroup) {
  ASSERT_TRUE(
      runner_
          ->Start(Shell("stubborn",
                        "trap '' TERM INT; sh -c 'trap \"\" TERM INT; echo $$ > grandchild; "
                        "exec sleep 1000' & while [ ! -s grandchild ]; do :; done; "
                        "touch ready; wait"))
          .ok());
  ASSERT_TRUE(WaitForFile(dir_.Sub("ready")));
  pid_t grandchild = 0;
  ASSERT_TRUE(absl::SimpleAtoi(absl::StripAsciiWhitespace(ReadFileOrEmpty(dir_.Sub("grandchild"))),
                               &grandchild));
  ASSERT_TRUE(testing::ProcessAlive(grandchild));
  EXPECT_TRUE(testing::StopAndWait(*runner_, "stubborn", absl::Milliseconds(300), SIGTERM).ok());
  absl::StatusOr<TaskStatus> status = runner_->Inspect("stubborn");
  ASSERT_TRUE(status.ok());
  EXPECT_EQ(status->state, TaskState::kExited);
  EXPECT_EQ(status->result.signal, SIGKILL);
  EXPECT_TRUE(testing::WaitForProcessGone(grandchild));
}

TEST_F(TaskRunnerTest, StopWithSignalThatEndsTheTaskAndZeroTimeout) {
  ASSERT_TRUE(runner_->Start(Shell("int", "touch ready; while :; do sleep 1; done")).ok());
  ASSERT_TRUE(WaitForFile(dir_.Sub("ready")));
  EXPECT_TRUE(testing::StopAndWait(*runner_, "int", absl::Seconds(5), SIGINT).ok());
  EXPECT_EQ(runner_->Inspect("int")->result.signal, SIGINT);
  // Stopping an exited task succeeds at once.
  EXPECT_TRUE(testing::StopAndWait(*runner_, "int", absl::Seconds(5), SIGINT).ok());

  ASSERT_TRUE(runner_->Start(Shell("kill", "trap '' INT TERM; while :; do sleep 1; done")).ok());
  EXPECT_TRUE(testing::StopAndWait(*runner_, "kill", absl::ZeroDuration(), SIGINT).ok());
  EXPECT_EQ(runner_->Inspect("kill")->result.signal, SIGKILL);
}

TEST_F(TaskRunnerTest, DestroyRules) {
  ASSERT_TRUE(runner_->Start(Shell("d", "while :; do sleep 1; done")).ok());
  absl::Status refused = runner_->Destroy("d", /*force=*/false);
  EXPECT_EQ(refused.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(absl::StrContains(refused.message(), "cannot destroy running task")) << refused;
  pid_t pid = runner_->Inspect("d")->pid;
  std::string state_dir = TaskStateDir(dir_.Sub("state"), "d");
  ASSERT_TRUE(WaitForFile(state_dir + "/pid.pb"));
  EXPECT_TRUE(runner_->Destroy("d", /*force=*/true).ok());
  EXPECT_FALSE(testing::ProcessAlive(pid));
  EXPECT_NE(access(state_dir.c_str(), F_OK), 0) << "state dir left behind";
  EXPECT_EQ(runner_->Inspect("d").status().code(), absl::StatusCode::kNotFound);
  absl::Status unknown = runner_->Destroy("d", true);
  EXPECT_EQ(unknown.code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(absl::StrContains(unknown.message(), "\"d\"")) << unknown;

  ASSERT_TRUE(runner_->Start(Shell("e", "exit 0")).ok());
  ASSERT_TRUE(WaitExit(*runner_, "e").ok());
  EXPECT_TRUE(runner_->Destroy("e", /*force=*/false).ok());
}

TEST_F(TaskRunnerTest, UnknownIdsAreNotFound) {
  EXPECT_EQ(WaitExit(*runner_, "nope").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(runner_->Signal("nope", SIGHUP).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(testing::StopAndWait(*runner_, "nope", absl::Seconds(1), SIGINT).code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(runner_->Inspect("nope").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(runner_->ProcessOf("nope").status().code(), absl::StatusCode::kNotFound);
  EXPECT_FALSE(runner_->CancelWait(12345));
}

TEST_F(TaskRunnerTest, DuplicateIdIsRefused) {
  ASSERT_TRUE(runner_->Start(Shell("dup", "exit 0")).ok());
  EXPECT_EQ(runner_->Start(Shell("dup", "exit 0")).status().code(),
            absl::StatusCode::kAlreadyExists);
}

TEST_F(TaskRunnerTest, StartErrorsArePreciseAndClassified) {
  LaunchSpec missing = Shell("missing", "");
  missing.command = "/nonexistent/bin/tool";
  absl::Status status = runner_->Start(missing).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(absl::StrContains(status.message(), "no such command")) << status;
  EXPECT_FALSE(IsRecoverable(status));

  ASSERT_EQ(close(open(dir_.Sub("plain").c_str(), O_CREAT | O_WRONLY, 0644)), 0);
  LaunchSpec not_exec = Shell("notexec", "");
  not_exec.command = dir_.Sub("plain");
  status = runner_->Start(not_exec).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kPermissionDenied) << status;

  LaunchSpec bad_dir = Shell("baddir", "exit 0");
  bad_dir.work_dir = dir_.Sub("no-such-dir");
  status = runner_->Start(bad_dir).status();
  EXPECT_TRUE(absl::StrContains(status.message(), "work_dir")) << status;
  EXPECT_FALSE(IsRecoverable(status));

  ASSERT_EQ(mkfifo(dir_.Sub("noreader").c_str(), 0600), 0);
  LaunchSpec no_reader = Shell("fifo", "exit 0");
  no_reader.stdout_path = dir_.Sub("noreader");
  status = runner_->Start(no_reader).status();
  EXPECT_TRUE(IsRecoverable(status)) << status;
  EXPECT_TRUE(absl::StrContains(status.message(), "no reader")) << status;

  LaunchSpec user = Shell("user", "exit 0");
  user.user = "no-such-user-carp";
  status = runner_->Start(user).status();
  EXPECT_TRUE(absl::StrContains(status.message(), "unknown user")) << status;

  // Failed starts leave nothing behind and free the id.
  EXPECT_EQ(testing::CountEntries(TasksRoot(dir_.Sub("state"))), 0);
  EXPECT_TRUE(runner_->Start(Shell("fifo", "exit 0")).ok());
}

TEST_F(TaskRunnerTest, DeniedUserIsRefused) {
  TaskRunnerOptions options = testing::TestOptions(dir_.Sub("state2"));
  options.denied_uids = IdRanges({{getuid(), getuid()}});
  absl::StatusOr<std::unique_ptr<TaskRunner>> runner = TaskRunner::Create(options);
  ASSERT_TRUE(runner.ok());
  absl::Status status = (*runner)->Start(Shell("denied", "exit 0")).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kPermissionDenied) << status;
  EXPECT_TRUE(absl::StrContains(status.message(), "denied_host_uids")) << status;
}

TEST_F(TaskRunnerTest, OutputGoesToFifosEnvAndWorkDirAreExact) {
  std::string out = dir_.Sub("out.fifo"), err = dir_.Sub("err.fifo");
  ASSERT_EQ(mkfifo(out.c_str(), 0600), 0);
  ASSERT_EQ(mkfifo(err.c_str(), 0600), 0);
  int out_read = open(out.c_str(), O_RDONLY | O_NONBLOCK);
  int err_read = open(err.c_str(), O_RDONLY | O_NONBLOCK);
  ASSERT_GE(out_read, 0);
  ASSERT_GE(err_read, 0);
  ASSERT_EQ(mkdir(dir_.Sub("work").c_str(), 0700), 0);
  LaunchSpec spec =
      Shell("io", "echo hello; echo oops >&2; pwd; echo \"foo=$FOO home=${HOME-unset}\"");
  spec.stdout_path = out;
  spec.stderr_path = err;
  spec.work_dir = dir_.Sub("work");
  spec.env["FOO"] = "bar baz";
  ASSERT_TRUE(runner_->Start(spec).ok());
  ASSERT_EQ(WaitExit(*runner_, "io")->exit_code, 0);
  char buf[4096];
  ssize_t n = read(out_read, buf, sizeof(buf));
  ASSERT_GT(n, 0);
  EXPECT_EQ(std::string(buf, n),
            absl::StrCat("hello\n", dir_.Sub("work"), "\nfoo=bar baz home=unset\n"));
  n = read(err_read, buf, sizeof(buf));
  ASSERT_GT(n, 0);
  EXPECT_EQ(std::string(buf, n), "oops\n");
  close(out_read);
  close(err_read);
}

TEST_F(TaskRunnerTest, SignalDispositionsAreResetInTheTask) {
  // The supervisor ignores SIGINT; the task must not inherit that.
  ASSERT_TRUE(runner_->Start(Shell("reset", "kill -INT $$; exit 0")).ok());
  absl::StatusOr<ExitResult> result = WaitExit(*runner_, "reset");
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(result->signal, SIGINT);
}

TEST_F(TaskRunnerTest, InspectAndProcessInfo) {
  ASSERT_TRUE(runner_->Start(Shell("insp", "while :; do sleep 1; done")).ok());
  absl::StatusOr<TaskStatus> running = runner_->Inspect("insp");
  ASSERT_TRUE(running.ok());
  EXPECT_EQ(running->state, TaskState::kRunning);
  EXPECT_GT(running->started_at, absl::UnixEpoch());
  absl::StatusOr<TaskProcessInfo> info = runner_->ProcessOf("insp");
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->pid, running->pid);
  EXPECT_EQ(info->pgid, running->pid);
  EXPECT_EQ(getpgid(info->pid), info->pid);
  EXPECT_NE(getsid(info->supervisor_pid), getsid(0)) << "supervisor must leave our session";
  EXPECT_EQ(runner_->RunningProcesses().size(), 1u);
  ASSERT_TRUE(testing::StopAndWait(*runner_, "insp", absl::ZeroDuration(), SIGKILL).ok());
  absl::StatusOr<TaskStatus> exited = runner_->Inspect("insp");
  EXPECT_EQ(exited->state, TaskState::kExited);
  EXPECT_GE(exited->completed_at, exited->started_at);
  EXPECT_TRUE(runner_->RunningProcesses().empty());
}

TEST_F(TaskRunnerTest, DropsPrivilegesToTheTaskUser) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to change users";
  if (!ResolveUser("nobody", {}, {}).ok()) GTEST_SKIP() << "no user nobody here";
  std::string out = dir_.Sub("whoami");
  ASSERT_EQ(mkfifo(out.c_str(), 0600), 0);
  const int out_read = open(out.c_str(), O_RDONLY | O_NONBLOCK);
  ASSERT_GE(out_read, 0);
  // The output FIFO is opened by the supervisor before the switch, so 0600 root is fine.
  LaunchSpec spec = Shell("nobody", "id -u; id -g; echo \"$USER $LOGNAME $HOME\"; pwd");
  spec.user = "nobody";
  spec.work_dir = "/";
  spec.stdout_path = out;
  ASSERT_TRUE(runner_->Start(spec).ok());
  ASSERT_EQ(WaitExit(*runner_, "nobody")->exit_code, 0);
  absl::StatusOr<state::Credentials> nobody = ResolveUser("nobody", {}, {});
  ASSERT_TRUE(nobody.ok());
  char buf[4096];
  const ssize_t n = read(out_read, buf, sizeof(buf));
  close(out_read);
  ASSERT_GT(n, 0);
  EXPECT_EQ(std::string(buf, static_cast<size_t>(n)),
            absl::StrCat(nobody->uid(), "\n", nobody->gid(), "\nnobody nobody ", nobody->home(),
                         "\n/\n"));
}

// Issue 9: the work dir is entered as the task user, not as root: a root-only directory is
// refused to nobody with the work_dir error.
TEST_F(TaskRunnerTest, WorkDirIsEnteredAfterDroppingPrivileges) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to change users";
  if (!ResolveUser("nobody", {}, {}).ok()) GTEST_SKIP() << "no user nobody here";
  ASSERT_EQ(mkdir(dir_.Sub("root-only").c_str(), 0700), 0);
  LaunchSpec spec = Shell("rootonly", "exit 0");
  spec.user = "nobody";
  spec.work_dir = dir_.Sub("root-only");
  absl::Status status = runner_->Start(spec).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kPermissionDenied) << status;
  EXPECT_TRUE(absl::StrContains(status.message(), "work_dir")) << status;
}

// Issue 9: a symlink or a regular file where Nomad's log FIFO should be is refused; root never
// appends task output to what it points at.
TEST_F(TaskRunnerTest, OutputPathThatIsNotAFifoIsRefused) {
  std::string victim = dir_.Sub("victim");
  ASSERT_EQ(close(open(victim.c_str(), O_CREAT | O_WRONLY, 0600)), 0);
  ASSERT_EQ(symlink(victim.c_str(), dir_.Sub("link.fifo").c_str()), 0);
  LaunchSpec linked = Shell("linked", "echo owned");
  linked.stdout_path = dir_.Sub("link.fifo");
  absl::Status status = runner_->Start(linked).status();
  EXPECT_TRUE(absl::StrContains(status.message(), "is a symlink")) << status;
  EXPECT_FALSE(IsRecoverable(status));
  LaunchSpec plain = Shell("plain", "echo owned");
  plain.stderr_path = victim;
  status = runner_->Start(plain).status();
  EXPECT_TRUE(absl::StrContains(status.message(), "not a FIFO")) << status;
  EXPECT_EQ(ReadFileOrEmpty(victim), "");
}

#if defined(__linux__)
std::string OomScoreAdjOf(pid_t pid) {
  return std::string(
      absl::StripAsciiWhitespace(ReadFileOrEmpty(absl::StrCat("/proc/", pid, "/oom_score_adj"))));
}

TEST_F(TaskRunnerTest, TaskGetsItsOomScoreAdj) {
  LaunchSpec spec = Shell("alloc/oom/500", "exec sleep 1000");
  spec.oom_score_adj = 500;
  absl::StatusOr<StartedTask> started = runner_->Start(spec);
  ASSERT_TRUE(started.ok()) << started.status();
  EXPECT_EQ(OomScoreAdjOf(started->pid), "500");
}

// raw_exec writes the value even when it is the default 0, so a task does not inherit the
// agent's own adjustment. Lowering the value back needs root.
TEST_F(TaskRunnerTest, DefaultOomScoreAdjDoesNotInheritThePlugins) {
  if (geteuid() != 0) GTEST_SKIP() << "lowering oom_score_adj needs root";
  const std::string own = "/proc/self/oom_score_adj";
  const std::string before = std::string(absl::StripAsciiWhitespace(ReadFileOrEmpty(own)));
  auto write_own = [&own](const std::string& value) {
    const int fd = open(own.c_str(), O_WRONLY | O_CLOEXEC);
    const bool ok =
        fd >= 0 && write(fd, value.data(), value.size()) == static_cast<ssize_t>(value.size());
    if (fd >= 0) close(fd);
    return ok;
  };
  ASSERT_TRUE(write_own("300"));
  absl::StatusOr<StartedTask> started = runner_->Start(Shell("alloc/oom/0", "exec sleep 1000"));
  ASSERT_TRUE(write_own(before));
  ASSERT_TRUE(started.ok()) << started.status();
  EXPECT_EQ(OomScoreAdjOf(started->pid), "0");
}
#endif

}  // namespace
}  // namespace carp_exec::tasks
