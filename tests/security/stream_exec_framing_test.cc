// The exec stream's framing, fuzzed with a fixed seed against the real plugin: sessions made
// of random request sequences (no setup, a second setup, stdin after close, terminal sizes out
// of range, control bytes typed into a tty, heartbeats, early exits). Whatever arrives, every
// call must end by itself or at its deadline, a well-formed session must report an exit, the
// plugin must stay healthy, and no command may be left running.

#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "gtest/gtest.h"
#include "tests/conformance/lifecycle_support.h"

namespace carp_exec::conformance {
namespace {

using Request = drivers::ExecTaskStreamingRequest;
using Response = drivers::ExecTaskStreamingResponse;

constexpr int kSessions = 40;
// Issue 9. CARP_FRAMING_SEED=N explores other sequences; CI keeps this one.
constexpr uint32_t kSeed = 9;

uint32_t Seed() {
  const char* env = std::getenv("CARP_FRAMING_SEED");
  uint32_t seed = kSeed;
  if (env != nullptr && !absl::SimpleAtoi(env, &seed)) seed = kSeed;
  return seed;
}

class StreamExecFramingTest : public LifecycleTest {};

Request RandomRequest(std::mt19937& random, const std::string& task_id) {
  Request request;
  switch (random() % 6) {
    case 0: {
      std::string data(random() % 4096, '\0');
      for (char& c : data) c = static_cast<char>(random() % 256);  // ^C, ^Z, ^D, ESC, NUL...
      request.mutable_stdin()->set_data(data);
      break;
    }
    case 1:
      request.mutable_stdin()->set_close(true);
      break;
    case 2:
      request.mutable_tty_size()->set_height(static_cast<int32_t>(random()));
      request.mutable_tty_size()->set_width(static_cast<int32_t>(random()));
      break;
    case 3:
      request.mutable_setup()->set_task_id(task_id);
      request.mutable_setup()->add_command("/bin/cat");
      break;
    case 4:
      request.mutable_stdin()->set_data(std::string(64 * 1024, 'z'));
      break;
    default:
      break;  // heartbeat
  }
  return request;
}

TEST_F(StreamExecFramingTest, RandomRequestSequencesNeverWedgeThePlugin) {
  const std::string task_id = StartScript("exec sleep 1000").id();
  std::mt19937 random(Seed());
  const std::vector<std::vector<std::string>> commands = {
      {"/bin/cat"}, {"/usr/bin/head", "-c", "100"}, {"/bin/sh", "-c", "exit 3"}};
  int exits = 0, deadlines = 0, refused = 0;
  for (int session = 0; session < kSessions; ++session) {
    grpc::ClientContext context;
    test_host::SetDeadline(&context, absl::Seconds(5));
    auto stream = plugin_->driver().ExecTaskStreaming(&context);
    const bool with_setup = random() % 8 != 0;
    if (with_setup) {
      Request setup;
      setup.mutable_setup()->set_task_id(task_id);
      for (const std::string& arg : commands[random() % commands.size()]) {
        setup.mutable_setup()->add_command(arg);
      }
      setup.mutable_setup()->set_tty(random() % 2 == 0);
      if (random() % 2 == 0) {
        setup.mutable_tty_size()->set_height(static_cast<int32_t>(random() % 300));
        setup.mutable_tty_size()->set_width(static_cast<int32_t>(random() % 300));
      }
      stream->Write(setup);
    }
    // Drawn before writing, so a write refused early does not shift later sessions.
    std::vector<Request> requests(random() % 40);
    for (Request& request : requests) request = RandomRequest(random, task_id);
    // Without a setup the first message must be something else (a setup drawn at random
    // would make it a valid session).
    if (!with_setup && !requests.empty() && requests.front().has_setup()) {
      requests.front() = Request();
      requests.front().mutable_stdin()->set_data("x");
    }
    for (const Request& request : requests) {
      if (!stream->Write(request)) break;
    }
    Request close;
    close.mutable_stdin()->set_close(true);
    stream->Write(close);
    Response response;
    bool exited = false;
    while (stream->Read(&response)) exited |= response.exited();
    const grpc::Status status = stream->Finish();
    if (exited) ++exits;
    if (status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) ++deadlines;
    if (status.error_code() == grpc::StatusCode::INVALID_ARGUMENT) ++refused;
    if (!with_setup) {
      EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
          << "session " << session << ": " << status.error_message();
    } else {
      // Either the command ended (EOF, ^C, head's own exit) or a ^Z stopped it and the
      // deadline ended the call; never any other outcome.
      EXPECT_TRUE(exited || status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED)
          << "session " << session << ": " << status.error_code() << " " << status.error_message();
    }
    absl::StatusOr<test_host::ServingStatus> health = plugin_->Health();
    ASSERT_TRUE(health.ok()) << "after session " << session << ": " << health.status();
  }
  std::printf("%d sessions: %d exited, %d hit the deadline, %d refused (no setup)\n", kSessions,
              exits, deadlines, refused);
  EXPECT_GT(exits, kSessions / 2) << "the sequences hardly ever reached a command's exit";
  // Only the task itself (sh exec'd into sleep) may be left: every exec'd command is gone.
  for (int i = 0; i < 100 && TaskProcesses().size() > 1; ++i)
    absl::SleepFor(absl::Milliseconds(50));
  EXPECT_EQ(TaskProcesses().size(), 1u) << "an exec session's command outlived its call";
}

}  // namespace
}  // namespace carp_exec::conformance
