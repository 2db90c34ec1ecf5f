// Every parser against input it was not written for: truncated fixtures, mutated fixtures,
// random bytes, huge numbers and lines. The contract is "never crash, error or value, and an
// error message of bounded size"; run under ASan/UBSan to make "never crash" strict.

#include <gtest/gtest.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "fingerprint/freebsd_carp.h"
#include "fingerprint/keepalived_state.h"
#include "fingerprint/linux_ip.h"
#include "fingerprint/openbsd_carp.h"
#include "fingerprint/testdata_reader.h"

namespace carp_exec::fingerprint {
namespace {

struct Parser {
  const char* name;
  std::function<absl::Status(absl::string_view)> parse;
};

const std::vector<Parser>& Parsers() {
  static const auto* parsers = new std::vector<Parser>{
      {"openbsd", [](absl::string_view in) { return ParseOpenBsdIfconfig(in).status(); }},
      {"openbsd-list", [](absl::string_view in) { return ParseOpenBsdIfconfigList(in).status(); }},
      {"openbsd-demote", [](absl::string_view in) { return ParseOpenBsdDemoteCount(in).status(); }},
      {"freebsd", [](absl::string_view in) { return ParseFreeBsdIfconfig(in).status(); }},
      {"freebsd-list", [](absl::string_view in) { return ParseFreeBsdIfconfigList(in).status(); }},
      {"freebsd-demotion", [](absl::string_view in) { return ParseFreeBsdDemotion(in).status(); }},
      {"ip", [](absl::string_view in) { return ParseIpAddrOnelineEntries(in).status(); }},
      {"state-file", [](absl::string_view in) { return ParseStateFile(in).status(); }},
  };
  return *parsers;
}

const char* const kFixtures[] = {
    "freebsd-ifconfig-vtnet1-backup.txt",
    "freebsd-ifconfig-vtnet1-master.txt",
    "freebsd-sysctl-carp-demotion-0.txt",
    "freebsd-sysctl-carp-demotion-240.txt",
    "linux-ip-addr-backup.txt",
    "linux-ip-addr-master.txt",
    "linux-keepalived-data-excerpt.txt",
    "linux-keepalived-json.txt",
    "linux-notify-state.txt",
    "openbsd-ifconfig-carp0-backup-demoted.txt",
    "openbsd-ifconfig-carp0-init.txt",
    "openbsd-ifconfig-carp0-master.txt",
    "openbsd-ifconfig-carp1-backup-unicast-peer.txt",
    "openbsd-ifconfig-carp2-carpnodes-balancing.txt",
    "openbsd-ifconfig-g-carp-0.txt",
    "openbsd-ifconfig-g-carp-50.txt",
};

// Runs every parser on `input`; an error message must stay short whatever the input.
void RunAll(absl::string_view input) {
  for (const Parser& parser : Parsers()) {
    absl::Status status = parser.parse(input);
    if (!status.ok()) {
      ASSERT_LT(status.message().size(), 1000u) << parser.name;
    }
  }
}

TEST(ParserHostileInputTest, FixturesParseWithTheirOwnParser) {
  // Guards the fixture copies themselves: a fixture that no parser accepts would make the
  // truncation test below vacuous.
  int accepted = 0;
  for (const char* fixture : kFixtures) {
    std::string text = ReadTestdata(fixture);
    ASSERT_EQ(text.rfind("<missing", 0), std::string::npos) << fixture;
    for (const Parser& parser : Parsers()) accepted += parser.parse(text).ok() ? 1 : 0;
  }
  EXPECT_GE(accepted, 14);
}

TEST(ParserHostileInputTest, EveryTruncationOfEveryFixture) {
  for (const char* fixture : kFixtures) {
    std::string text = ReadTestdata(fixture);
    for (size_t cut = 0; cut <= text.size(); ++cut) {
      RunAll(absl::string_view(text).substr(0, cut));
      if (HasFatalFailure()) return;
    }
  }
}

TEST(ParserHostileInputTest, TruncatedCarpLineIsAnErrorNotAWrongState) {
  std::string text = ReadTestdata("openbsd-ifconfig-carp0-master.txt");
  size_t vhid = text.find("vhid 1");
  ASSERT_NE(vhid, std::string::npos);
  // Cut right after "vhid": the line is incomplete, so no vhid can be reported.
  EXPECT_FALSE(ParseOpenBsdIfconfig(text.substr(0, vhid + 4)).ok());
}

TEST(ParserHostileInputTest, HugeNumbersAndOddWhitespace) {
  const std::vector<std::string> inputs = {
      "carp0: flags=8843<UP> mtu 1500\n\tcarp: MASTER carpdev vio0 vhid 1 advbase "
      "18446744073709551616 advskew 0\n",
      "carp0: flags=8843<UP> mtu 1500\n\tcarp: MASTER carpdev vio0 vhid -1\n",
      "carp0: flags=8843<UP> mtu 1500\n\tcarp: MASTER carpdev vio0 vhid +1\n",
      "carp0: flags=8843<UP> mtu 1500\n\tcarp: MASTER carpdev vio0 vhid 0x1\n",
      "carp0: flags=8843<UP> mtu 1500\n \t \tcarp:\t\tMASTER \t carpdev\tvio0 vhid\t1\n",
      "carp: carp demote count 2147483648\n",
      "carp: carp demote count 000000000000000000001\n",
      "net.inet.carp.demotion: -2147483649\n",
      "net.inet.carp.demotion: 2147483647\n",
      "2: eth0\tinet\t10.0.0.1/99999999999999999\n",
      "\t\t\t\n\r\n\r\r\n",
      std::string("carp0: flags=8843<UP> mtu 1500\n\tcarp: MA\0STER vhid 1\n", 47),
      std::string(1 << 20, 'x'),
      std::string(1 << 20, '\n'),
      std::string(1 << 16, '\t') + "carp: MASTER",
  };
  for (const std::string& input : inputs) {
    RunAll(input);
    if (HasFatalFailure()) return;
  }
  // Spot checks on what must be refused or accepted.
  EXPECT_FALSE(ParseOpenBsdIfconfig(inputs[0]).ok());
  EXPECT_FALSE(ParseOpenBsdIfconfig(inputs[1]).ok());
  EXPECT_FALSE(ParseOpenBsdIfconfig(inputs[2]).ok());
  EXPECT_FALSE(ParseOpenBsdIfconfig(inputs[3]).ok());
  EXPECT_TRUE(ParseOpenBsdIfconfig(inputs[4]).ok());
  EXPECT_FALSE(ParseOpenBsdDemoteCount(inputs[5]).ok());
  EXPECT_EQ(*ParseOpenBsdDemoteCount(inputs[6]), 1);
  EXPECT_FALSE(ParseFreeBsdDemotion(inputs[7]).ok());
  EXPECT_EQ(*ParseFreeBsdDemotion(inputs[8]), 2147483647);
  EXPECT_FALSE(ParseIpAddrOneline(inputs[12]).ok());
}

// Deterministic pseudo-random inputs built from the tokens the parsers look for, so the fuzzing
// reaches deep branches instead of failing on the first byte.
TEST(ParserHostileInputTest, RandomTokenSoup) {
  const std::vector<std::string> tokens = {"carp0:",
                                           "vtnet1:",
                                           "flags=8843<UP>",
                                           "carp:",
                                           "state",
                                           "MASTER",
                                           "BACKUP",
                                           "INIT",
                                           "FAULT",
                                           "vhid",
                                           "advbase",
                                           "advskew",
                                           "carpdev",
                                           "balancing",
                                           "carppeer",
                                           "peer",
                                           "inet",
                                           "inet6",
                                           "192.0.2.10",
                                           "fe80::1%carp0",
                                           "2001:db8::1/64",
                                           "10.0.0.1/24",
                                           "groups:",
                                           "status:",
                                           "1",
                                           "0",
                                           "255",
                                           "256",
                                           "-1",
                                           "99999999999999",
                                           "2:",
                                           "eth0",
                                           "demote",
                                           "count",
                                           "net.inet.carp.demotion:",
                                           "INSTANCE",
                                           "\t",
                                           "\t\t",
                                           " ",
                                           "\n",
                                           "\r",
                                           "\\",
                                           "",
                                           std::string(1, '\0'),
                                           "\xff\xfe"};
  uint64_t seed = 0x9e3779b97f4a7c15ULL;
  auto next = [&seed]() {
    seed ^= seed << 13;
    seed ^= seed >> 7;
    seed ^= seed << 17;
    return seed;
  };
  for (int round = 0; round < 20000; ++round) {
    std::string input;
    int count = static_cast<int>(next() % 40);
    for (int i = 0; i < count; ++i) {
      absl::StrAppend(&input, tokens[next() % tokens.size()]);
      if (next() % 3 != 0) input.push_back(next() % 4 == 0 ? '\n' : ' ');
    }
    RunAll(input);
    if (HasFatalFailure()) return;
  }
}

TEST(ParserHostileInputTest, MutatedFixtures) {
  uint64_t seed = 12345;
  auto next = [&seed]() {
    seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
    return seed >> 33;
  };
  for (const char* fixture : kFixtures) {
    const std::string original = ReadTestdata(fixture);
    for (int round = 0; round < 300 && !original.empty(); ++round) {
      std::string text = original;
      int edits = 1 + static_cast<int>(next() % 4);
      for (int e = 0; e < edits; ++e) {
        size_t at = next() % text.size();
        switch (next() % 4) {
          case 0:
            text[at] = static_cast<char>(next() % 256);
            break;
          case 1:
            text.erase(at, 1 + next() % 8);
            break;
          case 2:
            text.insert(at, std::string(1 + next() % 3, "\t \n9:"[next() % 5]));
            break;
          default:
            text.insert(at, "99999999999999999999");
            break;
        }
        if (text.empty()) text.push_back('x');  // push_back: GCC 12 -Wrestrict misfires on = "x"
      }
      RunAll(text);
      if (HasFatalFailure()) return;
    }
  }
}

TEST(ParserHostileInputTest, ErrorQuotesAreEscapedAndCut) {
  std::string line = "carp0: flags=8843<UP> mtu 1500\n\tcarp: \x1b[31mEVIL" + std::string(500, 'A');
  auto status = ParseOpenBsdIfconfig(line);
  ASSERT_FALSE(status.ok());
  std::string message(status.status().message());
  EXPECT_EQ(message.find('\x1b'), std::string::npos) << "control bytes must be escaped";
  EXPECT_NE(message.find("..."), std::string::npos) << "long lines must be cut";
  EXPECT_LT(message.size(), 400u);
}

}  // namespace
}  // namespace carp_exec::fingerprint
