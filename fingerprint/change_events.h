#pragma once
// Wake-ups for the hand-over's confirmation. A ChangeEventSource returns from Wait() as soon as
// the kernel (or keepalived's notify hook) reports something that may change what the
// NodeObserver sees, so the caller re-checks the full condition at once instead of sleeping
// out its poll interval. It only says "look again": the observation stays the proof, and the
// poll at poll_interval stays the safety net for anything a source misses.
//
//  Linux          a NETLINK_ROUTE socket joined to RTMGRP_LINK, RTMGRP_IPV4_IFADDR and
//                 RTMGRP_IPV6_IFADDR (keepalived adds and removes the VIP: RTM_NEWADDR /
//                 RTM_DELADDR), plus inotify on the directory of `state_file` when it is set
//                 (the notify hook writes or renames it there).
//  OpenBSD        a PF_ROUTE socket: RTM_IFINFO (carp MASTER is link up, BACKUP link down:
//                 ip_carp.c carp_set_state), RTM_NEWADDR / RTM_DELADDR, RTM_DESYNC.
//  FreeBSD        a PF_ROUTE socket: as OpenBSD, plus RTM_ADD / RTM_DELETE (a vhid's state
//                 change adds or removes its addresses' local routes: carp_addroute/delroute).
// Parsing of the BSD messages: fingerprint/route_messages.h.

#include <memory>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "fingerprint/node_observer.h"

namespace carp_exec::fingerprint {

// At most this many reads of one descriptor per wake-up: a flood of messages (routing churn on a
// busy router) cannot keep Wait from checking its deadline, so its waiter can always stop and be
// joined. What is left stays queued in the kernel and is read on the next round.
inline constexpr int kMaxReadsPerDrain = 64;

class ChangeEventSource {
 public:
  virtual ~ChangeEventSource() = default;

  // Returns true as soon as a relevant change has been reported since the source was opened or
  // since the last Wait that returned true (changes are never lost between waits: they queue in
  // the kernel socket), false when `deadline` passes first or `interrupt_fd` (when >= 0; the
  // caller's WakePipe, fingerprint/unique_fd.h) is readable, which the source never reads: an
  // owner that must stop its waiting thread wakes it at once instead of waiting out the
  // deadline. A source error (buffer overrun) counts as a change. Not thread-safe: one waiter.
  virtual bool Wait(absl::Time deadline, int interrupt_fd) = 0;

  // "netlink+inotify", "route socket": for task events and logs.
  virtual absl::string_view Describe() const = 0;
};

// Opens this platform's source for `options` (backend and state_file). Open it *before* the
// change it should report (the demotion), so nothing slips between. Unimplemented where the
// platform has no source; other errors name the failed call.
absl::StatusOr<std::unique_ptr<ChangeEventSource>> OpenChangeEventSource(
    const ObserverOptions& options);

}  // namespace carp_exec::fingerprint
