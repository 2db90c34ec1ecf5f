#pragma once
// When a (replacement) guarded task is serving: the task's `ready { http tcp interval timeout }`
// block, checked one attempt at a time. Only what a health endpoint on this node needs: an HTTP
// GET (plain HTTP/1.1, no TLS) answered with 2xx, and/or a TCP connect that is accepted.
//
// The coordinator repeats attempts every `interval` until `timeout`; each attempt is bounded by
// its own timeout so a hung endpoint cannot stall the coordinator's worker.

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "driver/config/task_config.h"
#include "driver/config/value_parsers.h"

namespace carp_exec::failover {

struct ProbeResult {
  bool ready = false;
  // What was seen, for events: "http://127.0.0.1:8080/ping 200", "127.0.0.1:443 accepted",
  // "http://127.0.0.1:8080/ping: connection refused".
  std::string detail;
};

// One attempt of a ready check. Implementations must be callable from the coordinator's worker
// thread; tests substitute a scripted one.
class ReadyProber {
 public:
  virtual ~ReadyProber() = default;
  // Runs every configured check once (http, then tcp); ready only if all pass.
  virtual ProbeResult Probe(const config::ReadyCheck& check, absl::Duration attempt_timeout) = 0;
};

// The real thing: sockets, with `attempt_timeout` covering resolve + connect + exchange.
class SocketReadyProber final : public ReadyProber {
 public:
  ProbeResult Probe(const config::ReadyCheck& check, absl::Duration attempt_timeout) override;
};

// GET `url.target` from url.address with "Connection: close" and returns the status code of
// the response's status line. Errors name the URL and what failed (resolve, connect, timeout,
// not an HTTP response).
absl::StatusOr<int> HttpGetStatus(const config::HttpProbeUrl& url, absl::Duration timeout);

// Connects to `address` and closes again. OK when the connection was accepted.
absl::Status TcpConnectCheck(const config::HostPort& address, absl::Duration timeout);

// How long one attempt (each of http and tcp) may take: half the interval, but at least
// kMinAttemptTimeout (a healthy endpoint on a busy node must not fail for being a little slow)
// and at most kMaxAttemptTimeout (attempts run on the coordinator's single worker, so a hung
// endpoint delays other failover work by at most this much per check).
inline constexpr absl::Duration kMinAttemptTimeout = absl::Milliseconds(250);
inline constexpr absl::Duration kMaxAttemptTimeout = absl::Seconds(2);
absl::Duration AttemptTimeout(const config::ReadyCheck& check);

// When the next attempt starts, counted from the end of the last one: `interval`, but at least
// kAttemptSpacing times the last attempt's duration, so slow or hanging endpoints keep one job's
// share of the failover worker at about 1/(kAttemptSpacing+1) whatever its interval.
inline constexpr int kAttemptSpacing = 10;
absl::Duration NextAttemptDelay(absl::Duration interval, absl::Duration last_attempt);

// The ready block as the opaque bytes the task store keeps across plugin restarts
// (tasks::LaunchSpec::ready / PersistedTask::ready), and back. An empty string means "no ready
// block" both ways. Decoding re-validates with the config parsers; errors name the bad line.
std::string EncodeReadyCheck(const std::optional<config::ReadyCheck>& check);
absl::StatusOr<std::optional<config::ReadyCheck>> DecodeReadyCheck(absl::string_view bytes);

}  // namespace carp_exec::failover
