#include "driver/tasks/exec_task.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "driver/tasks/exec_io_loop.h"
#include "driver/tasks/monotonic_time.h"
#include "gtest/gtest.h"

namespace carp_exec::tasks {
namespace {

ExecRequest Shell(const std::string& script) {
  ExecRequest request;
  request.command.argv = {"/bin/sh", "-c", script};
  request.command.env = {{"PATH", "/usr/bin:/bin"}, {"GREETING", "hello task"}};
  return request;
}

// True once `pid` is gone or a zombie nobody reaped yet (it cannot run any more).
bool ProcessDead(pid_t pid) {
  if (kill(pid, 0) != 0 && errno == ESRCH) return true;
  std::ifstream stat(absl::StrCat("/proc/", pid, "/stat"));
  std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  const size_t close = text.rfind(')');
  return close != std::string::npos && close + 2 < text.size() && text[close + 2] == 'Z';
}

TEST(RunExecTest, MergesStderrIntoStdoutInOrder) {
  auto result = RunExec(Shell("echo out; echo err >&2; echo out2; exit 3"));
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->stdout_bytes, "out\nerr\nout2\n");
  EXPECT_EQ(result->stderr_bytes, "");
  EXPECT_EQ(result->exit_code, 3);
  EXPECT_FALSE(result->timed_out);
}

TEST(RunExecTest, SeparateStreams) {
  ExecRequest request = Shell("echo out; echo err >&2");
  request.output = ExecRequest::Output::kSeparate;
  auto result = RunExec(request);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->stdout_bytes, "out\n");
  EXPECT_EQ(result->stderr_bytes, "err\n");
  EXPECT_EQ(result->exit_code, 0);
}

TEST(RunExecTest, UsesTaskEnvironmentAndWorkDir) {
  char dir_template[] = "/tmp/carp-exec-XXXXXX";
  ASSERT_NE(mkdtemp(dir_template), nullptr);
  setenv("CARP_PLUGIN_ONLY", "leaked", 1);
  ExecRequest request = Shell("pwd; echo \"$GREETING\"; echo \"${CARP_PLUGIN_ONLY:-unset}\"");
  request.command.work_dir = dir_template;
  auto result = RunExec(request);
  rmdir(dir_template);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->stdout_bytes, absl::StrCat(dir_template, "\nhello task\nunset\n"));
}

TEST(RunExecTest, StatLikeUpstreamChecklist) {
  ExecRequest ok;
  ok.command.argv = {"stat", "/tmp"};
  ok.command.env = {{"PATH", "/usr/bin:/bin"}};
  auto found = RunExec(ok);
  ASSERT_TRUE(found.ok()) << found.status();
  EXPECT_EQ(found->exit_code, 0);
  EXPECT_GT(found->stdout_bytes.size(), 100u);

  ExecRequest missing = ok;
  missing.command.argv = {"stat", "/this/path/does/not/exist"};
  auto result = RunExec(missing);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_NE(result->exit_code, 0);
  EXPECT_NE(result->stdout_bytes.find("No such file or directory"), std::string::npos)
      << result->stdout_bytes;
}

TEST(RunExecTest, SignalledIs128PlusN) {
  auto result = RunExec(Shell("kill -TERM $$"));
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->exit_code, 128 + SIGTERM);
  EXPECT_EQ(result->signal, SIGTERM);
}

TEST(RunExecTest, KeepsOnlyTheTail) {
  ExecRequest request = Shell("i=0; while [ $i -lt 2000 ]; do echo line$i; i=$((i+1)); done");
  request.max_output_bytes = 100;
  auto result = RunExec(request);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->stdout_bytes.size(), 100u);
  EXPECT_TRUE(absl::EndsWith(result->stdout_bytes, "line1999\n"));
  EXPECT_TRUE(result->output_truncated);
}

TEST(RunExecTest, TimeoutKillsTheWholeGroup) {
  // The background sleep would keep stdout open for 30 s if only the shell were killed.
  ExecRequest request = Shell("sleep 30 & echo $!; wait");
  request.timeout = absl::Milliseconds(300);
  const absl::Time started = absl::Now();
  auto result = RunExec(request);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_LT(absl::Now() - started, absl::Seconds(10));
  EXPECT_TRUE(result->timed_out);
  EXPECT_EQ(result->exit_code, 128 + SIGKILL);
  pid_t background = 0;
  ASSERT_TRUE(absl::SimpleAtoi(absl::StripAsciiWhitespace(result->stdout_bytes), &background))
      << result->stdout_bytes;
  // SIGKILL was queued before RunExec returned; give the kernel a bounded moment to act.
  const absl::Time give_up = absl::Now() + absl::Seconds(5);
  while (!ProcessDead(background) && absl::Now() < give_up) absl::SleepFor(absl::Milliseconds(10));
  EXPECT_TRUE(ProcessDead(background));
}

TEST(RunExecTest, BackgroundChildDoesNotHoldTheResult) {
  ExecRequest request = Shell("(trap '' HUP; exec sleep 30) & echo $!; echo main done");
  request.drain_after_exit = absl::Milliseconds(100);
  const absl::Time started = absl::Now();
  auto result = RunExec(request);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_LT(absl::Now() - started, absl::Seconds(10));
  EXPECT_EQ(result->exit_code, 0);
  EXPECT_TRUE(absl::EndsWith(result->stdout_bytes, "main done\n"));
  pid_t background = 0;
  if (absl::SimpleAtoi(result->stdout_bytes.substr(0, result->stdout_bytes.find('\n')),
                       &background)) {
    kill(background, SIGKILL);
  }
}

TEST(RunExecTest, StartErrorsNameTheProblem) {
  ExecRequest missing;
  missing.command.argv = {"no-such-command-carp"};
  missing.command.env = {{"PATH", "/usr/bin:/bin"}};
  auto result = RunExec(missing);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(result.status().message().find("no-such-command-carp"), absl::string_view::npos);

  ExecRequest bad_dir = Shell("true");
  bad_dir.command.work_dir = "/nonexistent/carp/dir";
  result = RunExec(bad_dir);
  ASSERT_FALSE(result.ok());
  EXPECT_NE(result.status().message().find("/nonexistent/carp/dir"), absl::string_view::npos)
      << result.status();

  ExecRequest empty;
  EXPECT_EQ(RunExec(empty).status().code(), absl::StatusCode::kInvalidArgument);
}

// Issue 9: exec lookups follow the task's rules. A relative command may not climb out of the
// work dir; an empty PATH entry is the work dir, not the plugin's cwd.
TEST(RunExecTest, LookupsStayBeneathTheWorkDir) {
  char dir_template[] = "/tmp/carp-exec-XXXXXX";
  ASSERT_NE(mkdtemp(dir_template), nullptr);
  const std::string dir = dir_template;
  ASSERT_EQ(mkdir((dir + "/task").c_str(), 0755), 0);
  for (const std::string& file : {dir + "/task/here", dir + "/outside"}) {
    std::ofstream(file) << "#!/bin/sh\necho ran " << file << "\n";
    ASSERT_EQ(chmod(file.c_str(), 0755), 0);
  }
  ASSERT_EQ(symlink("../outside", (dir + "/task/link").c_str()), 0);
  ExecRequest request;
  request.command.env = {{"PATH", ":/usr/bin:/bin"}};
  request.command.work_dir = dir + "/task";
  for (const char* escape : {"../outside", "./link"}) {
    request.command.argv = {escape};
    auto refused = RunExec(request);
    EXPECT_EQ(refused.status().code(), absl::StatusCode::kPermissionDenied) << escape;
  }
  request.command.argv = {"here"};
  auto found = RunExec(request);
  ASSERT_TRUE(found.ok()) << found.status();
  EXPECT_EQ(found->stdout_bytes, absl::StrCat("ran ", dir, "/task/here\n"));
  // The plugin's cwd holds "outside"; an empty PATH entry must not find it there.
  char cwd[4096];
  ASSERT_NE(getcwd(cwd, sizeof(cwd)), nullptr);
  ASSERT_EQ(chdir(dir.c_str()), 0);
  request.command.argv = {"outside"};
  EXPECT_EQ(RunExec(request).status().code(), absl::StatusCode::kNotFound);
  ASSERT_EQ(chdir(cwd), 0);
  for (const char* name : {"task/here", "task/link", "outside", "task"}) {
    (void)!unlink((dir + "/" + name).c_str());
  }
  rmdir((dir + "/task").c_str());
  rmdir(dir.c_str());
}

// The work dir is entered as the exec user: a root-only directory is refused to nobody.
TEST(RunExecTest, WorkDirIsEnteredAfterTheUserSwitch) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to change users";
  char dir_template[] = "/tmp/carp-exec-XXXXXX";
  ASSERT_NE(mkdtemp(dir_template), nullptr);  // 0700 root
  ExecRequest request = Shell("pwd");
  request.command.work_dir = dir_template;
  ExecIdentity nobody;
  nobody.uid = 65534;
  nobody.gid = 65534;
  request.command.user = nobody;
  auto result = RunExec(request);
  rmdir(dir_template);
  ASSERT_FALSE(result.ok());
  EXPECT_NE(result.status().message().find("chdir"), absl::string_view::npos) << result.status();
}

TEST(RunExecTest, ForeignUserWithoutRootIsRefused) {
  if (geteuid() == 0) GTEST_SKIP() << "running as root: identity changes are allowed";
  ExecRequest request = Shell("true");
  request.command.user = ExecIdentity{geteuid() + 1, getegid(), {}};
  auto result = RunExec(request);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), absl::StatusCode::kPermissionDenied);
}

TEST(RunExecTest, RunsAsGivenUserWhenRoot) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to change identity";
  ExecRequest request = Shell("id -u; id -g");
  request.command.user = ExecIdentity{65534, 65534, {}};
  auto result = RunExec(request);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->stdout_bytes, "65534\n65534\n");
}

// The loop without pidfd (OpenBSD/FreeBSD): exit noticed by polling waitpid.
TEST(ChildIoLoopTest, PollingForExitWithoutPidFd) {
  int out[2];
  ASSERT_EQ(pipe2(out, O_CLOEXEC), 0);
  const int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  ExecCommand command;
  command.argv = {"/bin/sh", "-c", "echo one; sleep 0.1; echo two; exit 7"};
  auto pid = SpawnInNewSession(command, ChildStdio{null_fd, out[1], out[1], -1});
  close(out[1]);
  close(null_fd);
  ASSERT_TRUE(pid.ok()) << pid.status();
  fcntl(out[0], F_SETFL, O_NONBLOCK);
  ChildIoLoop loop(*pid, false, out[0], -1, -1, -1);
  loop.set_poll_for_exit(true);
  std::string output;
  ChildIoLoop::Hooks hooks;
  hooks.on_stdout = [&output](absl::string_view data) { output.append(data.data(), data.size()); };
  const ChildIoLoop::Outcome outcome = loop.Run(hooks);
  ASSERT_TRUE(outcome.error.ok()) << outcome.error;
  EXPECT_EQ(NomadExitCode(outcome.wait_status), 7);
  EXPECT_EQ(output, "one\ntwo\n");
}

TEST(ChildIoLoopTest, DeadlineWhilePollingForExit) {
  int out[2];
  ASSERT_EQ(pipe2(out, O_CLOEXEC), 0);
  const int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  ExecCommand command;
  command.argv = {"/bin/sh", "-c", "sleep 30"};
  auto pid = SpawnInNewSession(command, ChildStdio{null_fd, out[1], out[1], -1});
  close(out[1]);
  close(null_fd);
  ASSERT_TRUE(pid.ok()) << pid.status();
  fcntl(out[0], F_SETFL, O_NONBLOCK);
  ChildIoLoop loop(*pid, false, out[0], -1, -1, -1);
  loop.set_poll_for_exit(true);
  loop.set_deadline(MonotonicNow() + absl::Milliseconds(100));
  const ChildIoLoop::Outcome outcome = loop.Run({});
  EXPECT_TRUE(outcome.timed_out);
  EXPECT_EQ(NomadExitCode(outcome.wait_status), 128 + SIGKILL);
}

}  // namespace
}  // namespace carp_exec::tasks
