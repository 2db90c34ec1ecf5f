// ExecTask (script checks) and ExecTaskStreaming (`nomad alloc exec`) inside a running task
// (protocol reference §6.2; checklist §8.8, §8.9; issue 3).

#include <signal.h>
#include <sys/stat.h>

#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "gtest/gtest.h"
#include "tests/conformance/lifecycle_support.h"

namespace carp_exec::conformance {
namespace {

using test_host::SetDeadline;

struct StreamResult {
  grpc::Status status;
  std::string stdout_data;
  std::string stderr_data;
  bool stdout_closed = false;
  bool stderr_closed = false;
  bool exited = false;
  bool exited_was_last = true;
  int exit_code = -1;
};

class TaskExecTest : public LifecycleTest {
 protected:
  void SetUp() override {
    LifecycleTest::SetUp();
    if (HasFatalFailure()) return;
    task_config_ = StartScript("exec sleep 1000");
  }

  grpc::Status Exec(std::vector<std::string> command, absl::Duration timeout,
                    drivers::ExecTaskResponse* response) {
    drivers::ExecTaskRequest request;
    request.set_task_id(task_config_.id());
    for (std::string& arg : command) request.add_command(std::move(arg));
    *request.mutable_timeout() = ToProtoDuration(timeout);
    grpc::ClientContext context;
    SetDeadline(&context, timeout + absl::Seconds(30));
    return plugin_->driver().ExecTask(&context, request, response);
  }

  // Runs one streaming exec: setup, then `requests` in order, then reads to the end.
  StreamResult Stream(std::vector<std::string> command, bool tty,
                      const std::vector<drivers::ExecTaskStreamingRequest>& requests,
                      bool send_setup = true, absl::Duration limit = absl::Seconds(60)) {
    StreamResult result;
    grpc::ClientContext context;
    // Like the Nomad client, the stream is not half-closed while the command runs.
    SetDeadline(&context, limit);
    auto stream = plugin_->driver().ExecTaskStreaming(&context);
    if (send_setup) {
      drivers::ExecTaskStreamingRequest setup;
      setup.mutable_setup()->set_task_id(task_config_.id());
      for (std::string& arg : command) setup.mutable_setup()->add_command(std::move(arg));
      setup.mutable_setup()->set_tty(tty);
      stream->Write(setup);
    }
    for (const drivers::ExecTaskStreamingRequest& request : requests) stream->Write(request);
    drivers::ExecTaskStreamingResponse response;
    while (stream->Read(&response)) {
      if (result.exited) result.exited_was_last = false;
      if (response.has_stdout()) {
        result.stdout_data += response.stdout().data();
        result.stdout_closed |= response.stdout().close();
      }
      if (response.has_stderr()) {
        result.stderr_data += response.stderr().data();
        result.stderr_closed |= response.stderr().close();
      }
      if (response.exited()) {
        result.exited = true;
        result.exit_code = response.result().exit_code();
      }
    }
    stream->WritesDone();
    result.status = stream->Finish();
    return result;
  }

  static drivers::ExecTaskStreamingRequest Stdin(const std::string& data, bool close = false) {
    drivers::ExecTaskStreamingRequest request;
    request.mutable_stdin()->set_data(data);
    request.mutable_stdin()->set_close(close);
    return request;
  }
  static drivers::ExecTaskStreamingRequest TtySize(int height, int width) {
    drivers::ExecTaskStreamingRequest request;
    request.mutable_tty_size()->set_height(height);
    request.mutable_tty_size()->set_width(width);
    return request;
  }

  drivers::TaskConfig task_config_;
};

TEST_F(TaskExecTest, ExecStatSucceedsWithOutput) {
  drivers::ExecTaskResponse response;
  const grpc::Status status = Exec({"/usr/bin/stat", "/tmp"}, absl::Seconds(10), &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.result().exit_code(), 0);
  EXPECT_GT(response.stdout().size(), 100u) << response.stdout();
}

TEST_F(TaskExecTest, ExecOfAMissingFileFailsWithTheReason) {
  drivers::ExecTaskResponse response;
  const grpc::Status status =
      Exec({"/usr/bin/stat", "/no/such/carp/file"}, absl::Seconds(10), &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_NE(response.result().exit_code(), 0);
  EXPECT_TRUE(absl::StrContains(response.stdout() + response.stderr(), "No such file or directory"))
      << "stdout: " << response.stdout() << " stderr: " << response.stderr();
}

TEST_F(TaskExecTest, ExecRunsWithTheTaskEnvironmentAndDir) {
  drivers::ExecTaskResponse response;
  ASSERT_TRUE(
      Exec({"/bin/sh", "-c", "echo \"$NOMAD_TASK_NAME\"; pwd"}, absl::Seconds(10), &response).ok());
  EXPECT_EQ(response.result().exit_code(), 0);
  EXPECT_EQ(response.stdout(), task_->task_name() + "\n" + task_->task_dir() + "\n");
}

TEST_F(TaskExecTest, ExecIsBoundedByItsTimeout) {
  drivers::ExecTaskResponse response;
  const absl::Time start = absl::Now();
  const grpc::Status status =
      Exec({"/bin/sh", "-c", "exec sleep 1000"}, absl::Seconds(1), &response);
  // Either an error or a failed result; never a success, and never the full sleep.
  EXPECT_TRUE(!status.ok() || response.result().exit_code() != 0 ||
              response.result().signal() != 0);
  EXPECT_LT(absl::Now() - start, absl::Seconds(25));
}

TEST_F(TaskExecTest, StreamingSeparatesStdoutAndStderrAndReturnsTheExitCode) {
  const StreamResult result =
      Stream({"/bin/sh", "-c", "echo hello; echo world >&2; exit 43"}, false, {});
  ASSERT_TRUE(result.status.ok()) << result.status.error_message();
  EXPECT_EQ(result.stdout_data, "hello\n");
  EXPECT_EQ(result.stderr_data, "world\n");
  EXPECT_TRUE(result.stdout_closed);
  EXPECT_TRUE(result.stderr_closed);
  EXPECT_TRUE(result.exited);
  EXPECT_TRUE(result.exited_was_last);
  EXPECT_EQ(result.exit_code, 43);
}

TEST_F(TaskExecTest, StreamingPassesStdinUntilClosed) {
  const StreamResult result = Stream({"/bin/cat"}, false, {Stdin("abc"), Stdin("def", true)});
  ASSERT_TRUE(result.status.ok()) << result.status.error_message();
  EXPECT_EQ(result.stdout_data, "abcdef");
  EXPECT_EQ(result.exit_code, 0);
}

TEST_F(TaskExecTest, StreamingIgnoresEmptyHeartbeats) {
  const StreamResult result = Stream({"/bin/cat"}, false,
                                     {drivers::ExecTaskStreamingRequest(), Stdin("x"),
                                      drivers::ExecTaskStreamingRequest(), Stdin("", true)});
  ASSERT_TRUE(result.status.ok()) << result.status.error_message();
  EXPECT_EQ(result.stdout_data, "x");
}

TEST_F(TaskExecTest, StreamingWithoutTtyHasNoTerminal) {
  const StreamResult result = Stream({"/bin/sh", "-c", "stty size"}, false, {Stdin("", true)});
  ASSERT_TRUE(result.status.ok()) << result.status.error_message();
  EXPECT_EQ(result.exit_code, 1);
}

TEST_F(TaskExecTest, StreamingSignalledCommandExitsWith128PlusSignal) {
  const StreamResult result = Stream({"/bin/sh", "-c", "kill -TERM $$"}, false, {});
  ASSERT_TRUE(result.status.ok()) << result.status.error_message();
  EXPECT_EQ(result.exit_code, 128 + SIGTERM);
}

TEST_F(TaskExecTest, StreamingTtyUsesCrLfAndAppliesResizesInOrder) {
  const StreamResult result = Stream({"/bin/sh", "-c", "read line; stty size; echo done"}, true,
                                     {TtySize(50, 40), TtySize(100, 100), Stdin("go\n")});
  ASSERT_TRUE(result.status.ok()) << result.status.error_message();
  EXPECT_TRUE(absl::StrContains(result.stdout_data, "100 100\r\n")) << result.stdout_data;
  EXPECT_TRUE(absl::StrContains(result.stdout_data, "done\r\n")) << result.stdout_data;
  EXPECT_EQ(result.stderr_data, "") << "a tty merges stderr into stdout";
  EXPECT_EQ(result.exit_code, 0);
}

TEST_F(TaskExecTest, StreamingTtyEndsAlthoughABackgroundChildHoldsTheTerminal) {
  const StreamResult result = Stream({"/bin/sh", "-c", "sleep 1000 & echo started"}, true, {});
  ASSERT_TRUE(result.status.ok()) << result.status.error_message();
  EXPECT_TRUE(result.exited);
  EXPECT_TRUE(absl::StrContains(result.stdout_data, "started")) << result.stdout_data;
}

TEST_F(TaskExecTest, StreamingFilesAreVisibleOnTheHost) {
  const StreamResult result =
      Stream({"/bin/sh", "-c", "mktemp \"$NOMAD_ALLOC_DIR/tmp/exec.XXXXXX\""}, false, {});
  ASSERT_TRUE(result.status.ok()) << result.status.error_message();
  std::string path = result.stdout_data;
  if (!path.empty() && path.back() == '\n') path.pop_back();
  struct stat st;
  EXPECT_EQ(stat(path.c_str(), &st), 0) << "fs isolation NONE: " << path;
}

TEST_F(TaskExecTest, StreamingWithoutSetupFirstIsAnError) {
  const StreamResult result = Stream({}, false, {Stdin("x", true)}, false, absl::Seconds(10));
  EXPECT_FALSE(result.status.ok() && result.exited && result.exit_code == 0)
      << "a stream without setup ran something";
}

TEST_F(TaskExecTest, ExecInAnUnknownTaskIsAnError) {
  drivers::ExecTaskRequest request;
  request.set_task_id(task_->NewTaskId());
  request.add_command("/bin/true");
  *request.mutable_timeout() = ToProtoDuration(absl::Seconds(5));
  grpc::ClientContext context;
  SetDeadline(&context, absl::Seconds(30));
  drivers::ExecTaskResponse response;
  EXPECT_FALSE(plugin_->driver().ExecTask(&context, request, &response).ok());
}

}  // namespace
}  // namespace carp_exec::conformance
