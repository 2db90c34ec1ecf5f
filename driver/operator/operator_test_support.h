#pragma once
// Shared pieces of the operator tests: running a command in-process with its output captured,
// and a fake OpenBSD node (tests/fakes/{ifconfig,sysctl} keeping state in a temp dir).

#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "driver/failover/temp_dir_for_test.h"
#include "driver/operator/operator_cli.h"

namespace carp_exec::operator_cli::testing {

struct Ran {
  int code = -1;
  std::string out;
  std::string err;
};

inline Ran RunCli(const std::vector<std::string>& args) {
  char* out_text = nullptr;
  char* err_text = nullptr;
  size_t out_size = 0, err_size = 0;
  FILE* out = open_memstream(&out_text, &out_size);
  FILE* err = open_memstream(&err_text, &err_size);
  Ran ran;
  ran.code = RunCommand(args, out, err);
  fclose(out);
  fclose(err);
  ran.out.assign(out_text, out_size);
  ran.err.assign(err_text, err_size);
  free(out_text);
  free(err_text);
  return ran;
}

inline void WriteText(const std::string& path, const std::string& text) {
  std::ofstream(path) << text;
}

inline std::string ReadText(const std::string& path) {
  std::ifstream in(path);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

inline bool Exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

// T/bin/{ifconfig,sysctl} → the fakes, state in T/node: carp1 with 192.0.2.10 in groups carp
// and edge, a peer at demote 0 / advskew 100, so this node is MASTER until demoted.
// T/state is the plugin state dir the commands use.
class FakeNode {
 public:
  FakeNode() {
    bin_ = dir_.path() + "/bin";
    node_ = dir_.path() + "/node";
    state_dir_ = dir_.path() + "/state";
    ::mkdir(bin_.c_str(), 0700);
    ::mkdir(node_.c_str(), 0700);
    for (const char* tool : {"ifconfig", "sysctl"}) {
      const std::string link = absl::StrCat(bin_, "/", tool);
      if (::symlink(absl::StrCat(CARP_FAKES_DIR, "/", tool).c_str(), link.c_str()) != 0) abort();
      WriteText(link + ".dir", node_);
    }
    WriteText(node_ + "/iface.carp1", "inet=192.0.2.10 groups=\"carp edge\"\n");
    WriteText(node_ + "/group.edge", "0\n");
  }

  const std::string& path() const { return dir_.path(); }
  const std::string& state_dir() const { return state_dir_; }
  std::string node_file(const std::string& name) const { return node_ + "/" + name; }
  std::string ifconfig() const { return bin_ + "/ifconfig"; }
  std::string sysctl() const { return bin_ + "/sysctl"; }
  std::string ledger() const { return state_dir_ + "/failover/ledger"; }
  std::string log() const { return ReadText(node_ + "/log"); }
  int group_count() const { return atoi(ReadText(node_ + "/group.edge").c_str()); }

  // `check`/`status` arguments for this node: the README's example plus the fakes' paths.
  std::vector<std::string> Args(const std::string& command,
                                std::vector<std::string> extra = {}) const {
    std::vector<std::string> args = {command,
                                     "--backend=openbsd-carp",
                                     "--group=edge",
                                     "--interfaces=carp1",
                                     "--vip=192.0.2.10",
                                     "--ifconfig_path=" + ifconfig(),
                                     "--sysctl_path=" + sysctl(),
                                     "--state-dir",
                                     state_dir_};
    // An extra --key=value replaces the default one of the same key.
    for (const std::string& flag : extra) {
      const std::string key = flag.substr(0, flag.find('='));
      auto same = std::find_if(args.begin() + 1, args.end(), [&](const std::string& arg) {
        return arg.find('=') != std::string::npos && arg.substr(0, arg.find('=')) == key;
      });
      if (same != args.end()) {
        *same = flag;
      } else {
        args.push_back(flag);
      }
    }
    return args;
  }

 private:
  failover::TempDirForTest dir_;
  std::string bin_, node_, state_dir_;
};

}  // namespace carp_exec::operator_cli::testing
