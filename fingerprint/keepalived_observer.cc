// NodeObserver for keepalived (Linux VRRP): the kernel's address list is the primary signal
// (a netlink dump, or `ip -o addr show` with observe_via = "tool"), the notify hook's state
// file the secondary one (failover-testbed.md §3).

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "fingerprint/keepalived_state.h"
#include "fingerprint/linux_ip.h"
#include "fingerprint/netlink_addresses.h"
#include "fingerprint/observer_backends.h"
#include "fingerprint/parse_text.h"

namespace carp_exec::fingerprint {
namespace {

// What the state file said, if anything usable.
struct StateFileReading {
  std::optional<VrrpState> state;  // set when present, fresh and parsed
  std::string note;                // "state file MASTER", "state file missing", ...
};

class KeepalivedObserver final : public NodeObserver {
 public:
  KeepalivedObserver(ObserverOptions options, CommandRunner* runner)
      : options_(std::move(options)), runner_(runner) {}

  absl::StatusOr<Observation> Observe() override {
    absl::StatusOr<std::vector<IpAddressEntry>> addresses = ReadAddresses();
    if (!addresses.ok()) return addresses.status();
    absl::StatusOr<StateFileReading> file = ReadStateFile();
    if (!file.ok()) return file.status();

    Observation observation;
    std::vector<std::string> held_on;
    for (const std::string& vip : options_.vips) {
      auto it = std::find_if(addresses->begin(), addresses->end(),
                             [&](const IpAddressEntry& e) { return e.address == vip; });
      if (it == addresses->end()) continue;
      observation.vips_held.push_back(vip);
      held_on.push_back(absl::StrCat(vip, " on ", it->interface));
    }
    observation.holds_vip = !observation.vips_held.empty();

    std::string source;
    if (!options_.vips.empty() && !observation.holds_vip) {
      // Kernel truth first: with none of the VIPs on the node it no longer answers for them,
      // whatever the notify hook has written so far. FAULT (also STOP/DELETED) and INIT from
      // the file are kept: they say more than "not held" (no peer is known to serve). MASTER
      // from the file means the VIP moved and keepalived's hook has not run yet: leaving MASTER,
      // keepalived removes the addresses first and then runs the notify hooks
      // (keepalived/vrrp/vrrp.c, vrrp_state_leave_master: vrrp_restore_interface, then
      // send_instance_notifies). A FAULT takes the same path, so for those few ms a FAULT is
      // seen as BACKUP; either way the node no longer answers for the VIP.
      observation.state = VrrpState::kBackup;
      if (!file->state) {
        source = options_.state_file.empty() ? std::string("derived from vip")
                                             : absl::StrCat("derived from vip, ", file->note);
      } else if (*file->state == VrrpState::kFault || *file->state == VrrpState::kInit) {
        observation.state = *file->state;
        source = file->note;
      } else if (*file->state == VrrpState::kMaster) {
        source = absl::StrCat(file->note, ", no vip held: moved, the notify hook has not run yet");
      } else {
        source = file->note;
      }
    } else if (file->state) {
      observation.state = *file->state;
      source = file->note;
      // The kernel is the truth: an address this node still has is an address it answers for.
      if (observation.holds_vip && observation.state != VrrpState::kMaster) {
        observation.state = VrrpState::kMaster;
        absl::StrAppend(&source, ", overruled: a vip is held");
      }
    } else if (!options_.vips.empty()) {
      observation.state = VrrpState::kMaster;  // a vip is held (the branch above took none held)
      source = options_.state_file.empty() ? std::string("derived from vip")
                                           : absl::StrCat("derived from vip, ", file->note);
    } else {
      source = file->note;
    }

    observation.detail =
        absl::StrCat("keepalived ", VrrpStateName(observation.state), " (", source, ")");
    if (!options_.vips.empty()) {
      absl::StrAppend(&observation.detail, "; ",
                      DescribeVips(options_.vips, observation.vips_held));
      if (!held_on.empty())
        absl::StrAppend(&observation.detail, " (", absl::StrJoin(held_on, ", "), ")");
    }
    return observation;
  }

  absl::Status CheckUsable() override {
    if (!options_.observe_in_kernel) {
      absl::Status tool =
          CheckTool(runner_, "ip_path", options_.ip_path, "iproute2's ip (e.g. /sbin/ip)");
      if (!tool.ok()) return tool;
    }
    absl::StatusOr<std::vector<IpAddressEntry>> addresses = ReadAddresses();
    if (!addresses.ok()) return addresses.status();
    if (options_.state_file.empty()) return absl::OkStatus();
    absl::StatusOr<StateFileReading> file = ReadStateFile();
    if (!file.ok()) return file.status();
    if (file->state) return absl::OkStatus();
    // Missing is normal before keepalived's first notify; a missing directory is a typo.
    const size_t slash = options_.state_file.rfind('/');
    // "/state" lives in "/"; keep at least the leading slash.
    const std::string dir =
        slash == std::string::npos ? std::string() : options_.state_file.substr(0, slash + 1);
    struct stat info {};
    if (dir.empty() || stat(dir.c_str(), &info) != 0 || !S_ISDIR(info.st_mode)) {
      return absl::FailedPreconditionError(absl::StrCat(
          "failover: state_file ", QuoteForMessage(options_.state_file),
          " is not in an existing directory; give the absolute path the notify hook writes"));
    }
    return absl::OkStatus();
  }

 private:
  absl::StatusOr<std::vector<IpAddressEntry>> ReadAddresses() const {
    // observe_via = "kernel": one netlink dump, no fork (fingerprint/netlink_addresses.h).
    if (options_.observe_in_kernel) {
      return ReadKernelAddresses(options_.interfaces, options_.command_timeout);
    }
    std::vector<std::vector<std::string>> commands;
    if (options_.interfaces.empty()) {
      commands.push_back({options_.ip_path, "-o", "addr", "show"});
    }
    for (const std::string& name : options_.interfaces) {
      commands.push_back({options_.ip_path, "-o", "addr", "show", "dev", name});
    }
    std::vector<IpAddressEntry> all;
    for (const auto& argv : commands) {
      absl::StatusOr<std::string> out =
          RunForOutput(runner_, argv, options_.command_timeout,
                       "check the interface exists and fix failover interfaces / ip_path");
      if (!out.ok()) return out.status();
      absl::StatusOr<std::vector<IpAddressEntry>> entries = ParseIpAddrOnelineEntries(*out);
      if (!entries.ok()) return entries.status();
      all.insert(all.end(), entries->begin(), entries->end());
    }
    return all;
  }

  // A missing or stale file is not an error (the state is then derived); an unreadable or
  // unparseable one is, because it means the hook or the path is wrong.
  absl::StatusOr<StateFileReading> ReadStateFile() const {
    StateFileReading reading;
    if (options_.state_file.empty()) {
      reading.note = "no state_file";
      return reading;
    }
    const std::string& path = options_.state_file;
    // O_NONBLOCK: a FIFO at this path must not hang the observer.
    int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd < 0) {
      int error = errno;
      if (error == ENOENT) {
        reading.note = "state file missing";
        return reading;
      }
      return absl::FailedPreconditionError(
          absl::StrCat("failover: cannot open state_file ", QuoteForMessage(path), ": ",
                       std::strerror(error), "; let the plugin read the notify hook's file"));
    }
    struct stat info {};
    std::string contents;
    bool regular = fstat(fd, &info) == 0 && S_ISREG(info.st_mode);
    if (regular) {
      char buffer[4096];
      ssize_t n;
      while ((n = read(fd, buffer, sizeof(buffer))) > 0 && contents.size() < 4096) {
        contents.append(buffer, static_cast<size_t>(n));
      }
    }
    close(fd);
    if (!regular) {
      return absl::FailedPreconditionError(
          absl::StrCat("failover: state_file ", QuoteForMessage(path),
                       " is not a regular file; point it at the notify hook's state file"));
    }
    absl::Time modified =
        absl::FromUnixSeconds(info.st_mtim.tv_sec) + absl::Nanoseconds(info.st_mtim.tv_nsec);
    absl::Duration age = options_.now() - modified;
    if (options_.state_file_max_age > absl::ZeroDuration() && age > options_.state_file_max_age) {
      reading.note = absl::StrCat("state file stale, written ",
                                  absl::FormatDuration(absl::Trunc(age, absl::Seconds(1))), " ago");
      return reading;
    }
    absl::StatusOr<VrrpState> state = ParseStateFile(contents);
    if (!state.ok()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "failover: state_file ", QuoteForMessage(path), ": ", state.status().message()));
    }
    reading.state = *state;
    reading.note = absl::StrCat("state file ", VrrpStateName(*state));
    return reading;
  }

  const ObserverOptions options_;
  CommandRunner* const runner_;
};

}  // namespace

std::unique_ptr<NodeObserver> MakeKeepalivedObserver(ObserverOptions options,
                                                     CommandRunner* runner) {
  return std::make_unique<KeepalivedObserver>(std::move(options), runner);
}

}  // namespace carp_exec::fingerprint
