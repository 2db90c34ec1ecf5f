// ParseAddressDump against a recorded RTM_GETADDR dump (testdata/linux-rtm-getaddr-dump.hex,
// recorded by testdata/record-netlink-dump), hostile variants of it, and, as root,
// ReadKernelAddresses in a network namespace of this test's own (cxnl<pid>, deleted at the
// end) compared with what `ip -o addr show` prints there. Linux only.

#include "fingerprint/netlink_addresses.h"

#if defined(__linux__)

#include <fcntl.h>
#include <linux/netlink.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "fingerprint/command_runner.h"
#include "fingerprint/linux_ip.h"
#include "fingerprint/testdata_reader.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace carp_exec::fingerprint {
namespace {

using ::testing::HasSubstr;

// The recv() buffers of the fixture, in order ("# --- buffer" starts each).
std::vector<std::string> FixtureBuffers() {
  std::vector<std::string> buffers;
  for (absl::string_view line : absl::StrSplit(ReadTestdata("linux-rtm-getaddr-dump.hex"), '\n')) {
    if (absl::StartsWith(line, "# --- buffer")) buffers.emplace_back();
    line = line.substr(0, line.find('#'));
    for (absl::string_view word : absl::StrSplit(line, ' ', absl::SkipWhitespace())) {
      uint32_t value = 0;
      EXPECT_TRUE(absl::SimpleHexAtoi(word, &value) && value < 256) << word;
      if (!buffers.empty()) buffers.back().push_back(static_cast<char>(value));
    }
  }
  return buffers;
}

uint32_t Field32(const std::string& bytes, size_t at) {
  uint32_t value = 0;
  std::memcpy(&value, bytes.data() + at, sizeof(value));
  return value;
}

// nlmsg_pid of the first message: the recording socket's port id.
uint32_t FixturePort(const std::vector<std::string>& buffers) { return Field32(buffers[0], 12); }

bool Has(const std::vector<KernelAddress>& list, absl::string_view address, uint32_t ifindex,
         absl::string_view label) {
  return std::any_of(list.begin(), list.end(), [&](const KernelAddress& a) {
    return a.address == address && a.ifindex == ifindex && a.label == label;
  });
}

TEST(NetlinkAddressesTest, RecordedDumpGivesEveryAddressOfBothFamilies) {
  const std::vector<std::string> buffers = FixtureBuffers();
  ASSERT_EQ(buffers.size(), 2u);
  ASSERT_EQ(buffers[0].size(), 548u);
  const uint32_t port = FixturePort(buffers);

  absl::StatusOr<AddressDumpChunk> first = ParseAddressDump(buffers[0], 1, port);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_FALSE(first->done);
  EXPECT_FALSE(first->interrupted);
  ASSERT_EQ(first->addresses.size(), 7u);
  EXPECT_TRUE(Has(first->addresses, "127.0.0.1", 1, "lo"));
  EXPECT_TRUE(Has(first->addresses, "192.0.2.10", 3, "vip0"));
  EXPECT_TRUE(Has(first->addresses, "192.0.2.20", 3, "vip0:ka"));  // IFA_LABEL, IPv4 only
  EXPECT_TRUE(Has(first->addresses, "::1", 1, ""));
  EXPECT_TRUE(Has(first->addresses, "2001:db8::10", 3, ""));
  int inet6 = 0;
  for (const KernelAddress& a : first->addresses) {
    if (a.family == "inet6") ++inet6;
    if (a.address == "2001:db8::10") EXPECT_EQ(a.prefix_length, 64);
    if (a.address == "192.0.2.10") EXPECT_EQ(a.prefix_length, 24);
  }
  EXPECT_EQ(inet6, 4);  // ::1, 2001:db8::10 and the two veth ends' fe80:: addresses

  absl::StatusOr<AddressDumpChunk> last = ParseAddressDump(buffers[1], 1, port);
  ASSERT_TRUE(last.ok()) << last.status();
  EXPECT_TRUE(last->done);
  EXPECT_TRUE(last->addresses.empty());
}

TEST(NetlinkAddressesTest, MessagesOfAnotherRequestAreSkipped) {
  const std::vector<std::string> buffers = FixtureBuffers();
  const uint32_t port = FixturePort(buffers);
  for (const auto& [seq, pid] : {std::pair<uint32_t, uint32_t>{2, port}, {1, port + 1}}) {
    absl::StatusOr<AddressDumpChunk> other = ParseAddressDump(buffers[0], seq, pid);
    ASSERT_TRUE(other.ok()) << other.status();
    EXPECT_TRUE(other->addresses.empty());
    absl::StatusOr<AddressDumpChunk> end = ParseAddressDump(buffers[1], seq, pid);
    ASSERT_TRUE(end.ok());
    EXPECT_FALSE(end->done);  // not our NLMSG_DONE
  }
}

TEST(NetlinkAddressesTest, InterruptedDumpIsReported) {
  const std::vector<std::string> buffers = FixtureBuffers();
  std::string bytes = buffers[0];
  bytes[6] = static_cast<char>(bytes[6] | NLM_F_DUMP_INTR);  // nlmsg_flags of the first message
  absl::StatusOr<AddressDumpChunk> chunk = ParseAddressDump(bytes, 1, FixturePort(buffers));
  ASSERT_TRUE(chunk.ok()) << chunk.status();
  EXPECT_TRUE(chunk->interrupted);
}

TEST(NetlinkAddressesTest, ErrorsAreReported) {
  const std::vector<std::string> buffers = FixtureBuffers();
  const uint32_t port = FixturePort(buffers);
  // NLMSG_DONE carrying -EPERM, then an NLMSG_ERROR carrying it.
  std::string done = buffers[1];
  const int eperm = -1;
  std::memcpy(done.data() + 16, &eperm, sizeof(eperm));
  absl::StatusOr<AddressDumpChunk> failed = ParseAddressDump(done, 1, port);
  EXPECT_FALSE(failed.ok());
  EXPECT_THAT(std::string(failed.status().message()), HasSubstr("Operation not permitted"));
  std::string error = done;
  error[4] = NLMSG_ERROR;
  failed = ParseAddressDump(error, 1, port);
  EXPECT_FALSE(failed.ok());
  EXPECT_THAT(std::string(failed.status().message()), HasSubstr("refused"));
  // An IPv4 address attribute of 5 bytes.
  std::string odd = buffers[0];
  odd[24] = 9;  // rta_len of the first message's IFA_ADDRESS (8 → 9)
  failed = ParseAddressDump(odd, 1, port);
  EXPECT_FALSE(failed.ok());
  // A message longer than the buffer.
  std::string long_message = buffers[0];
  long_message[1] = 0x10;  // nlmsg_len 76 → 4172
  failed = ParseAddressDump(long_message, 1, port);
  EXPECT_FALSE(failed.ok());
  EXPECT_THAT(std::string(failed.status().message()), HasSubstr("does not fit"));
}

TEST(NetlinkAddressesTest, EveryTruncationAndByteFlipIsSafe) {
  const std::vector<std::string> buffers = FixtureBuffers();
  const uint32_t port = FixturePort(buffers);
  const std::string& bytes = buffers[0];
  for (size_t n = 0; n <= bytes.size(); ++n) {
    absl::StatusOr<AddressDumpChunk> chunk = ParseAddressDump(bytes.substr(0, n), 1, port);
    if (chunk.ok()) EXPECT_LE(chunk->addresses.size(), 7u);
  }
  for (size_t i = 0; i < bytes.size(); ++i) {
    for (unsigned char value : {0x00, 0x01, 0x7f, 0xff}) {
      std::string flipped = bytes;
      flipped[i] = static_cast<char>(value);
      absl::StatusOr<AddressDumpChunk> chunk = ParseAddressDump(flipped, 1, port);
      if (chunk.ok()) EXPECT_LE(chunk->addresses.size(), 7u);
    }
  }
}

// As root: the in-process dump and iproute2 agree, in a namespace of this test's own.
class NetlinkAddressesNetnsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root to create a network namespace";
    name_ = absl::StrCat("cxnl", ::getpid());
    ASSERT_TRUE(Ip({"netns", "add", name_})) << "ip netns add " << name_;
    created_ = true;
    ASSERT_TRUE(InNamespace({"link", "set", "lo", "up"}));
    ASSERT_TRUE(InNamespace({"link", "add", "vip0", "type", "veth", "peer", "name", "vip1"}));
    ASSERT_TRUE(InNamespace({"link", "set", "vip0", "up"}));
    ASSERT_TRUE(InNamespace({"addr", "add", "192.0.2.10/24", "dev", "vip0"}));
    ASSERT_TRUE(InNamespace({"addr", "add", "192.0.2.20/24", "dev", "vip0", "label", "vip0:ka"}));
    ASSERT_TRUE(InNamespace({"addr", "add", "10.9.8.7", "peer", "10.9.8.1", "dev", "vip1"}));
    ASSERT_TRUE(InNamespace({"addr", "add", "2001:db8::10/64", "dev", "vip0", "nodad"}));
  }
  void TearDown() override {
    if (created_) Ip({"netns", "del", name_});
  }

  bool Ip(std::vector<std::string> args, std::string* out = nullptr) {
    args.insert(args.begin(), "/sbin/ip");
    absl::StatusOr<CommandResult> result = runner_.Run(args, absl::Seconds(10));
    if (out != nullptr && result.ok()) *out = result->out;
    return result.ok() && result->Succeeded();
  }
  bool InNamespace(std::vector<std::string> args, std::string* out = nullptr) {
    args.insert(args.begin(), {"-n", name_});
    return Ip(std::move(args), out);
  }

  // ReadKernelAddresses from a thread that joined the namespace.
  absl::StatusOr<std::vector<IpAddressEntry>> ReadInNamespace(
      const std::vector<std::string>& interfaces) {
    absl::StatusOr<std::vector<IpAddressEntry>> read = absl::InternalError("not run");
    std::thread([&] {
      const int ns = ::open(absl::StrCat("/run/netns/", name_).c_str(), O_RDONLY | O_CLOEXEC);
      if (ns < 0 || ::setns(ns, CLONE_NEWNET) != 0) {
        read = absl::InternalError("cannot join the namespace");
      } else {
        read = ReadKernelAddresses(interfaces, absl::Seconds(5));
      }
      if (ns >= 0) ::close(ns);
    }).join();
    return read;
  }

  static std::vector<std::string> Texts(const std::vector<IpAddressEntry>& entries) {
    std::vector<std::string> texts;
    texts.reserve(entries.size());
    for (const IpAddressEntry& e : entries) {
      texts.push_back(absl::StrCat(e.interface, " ", e.family, " ", e.address));
    }
    std::sort(texts.begin(), texts.end());
    return texts;
  }

  void ExpectSameAsIp(const std::vector<std::string>& interfaces) {
    std::vector<std::string> args = {"-o", "addr", "show"};
    if (!interfaces.empty()) args.insert(args.end(), {"dev", interfaces[0]});
    std::string out;
    ASSERT_TRUE(InNamespace(args, &out));
    absl::StatusOr<std::vector<IpAddressEntry>> printed = ParseIpAddrOnelineEntries(out);
    ASSERT_TRUE(printed.ok()) << printed.status();
    absl::StatusOr<std::vector<IpAddressEntry>> dumped = ReadInNamespace(interfaces);
    ASSERT_TRUE(dumped.ok()) << dumped.status();
    EXPECT_EQ(Texts(*dumped), Texts(*printed)) << out;
  }

  SystemCommandRunner runner_;
  std::string name_;
  bool created_ = false;
};

TEST_F(NetlinkAddressesNetnsTest, DumpEqualsIpAddrShow) {
  ExpectSameAsIp({});
  ExpectSameAsIp({"vip0"});
  ExpectSameAsIp({"vip1"});  // point-to-point: the local address, not the peer
  absl::StatusOr<std::vector<IpAddressEntry>> vip1 = ReadInNamespace({"vip1"});
  ASSERT_TRUE(vip1.ok());
  EXPECT_THAT(Texts(*vip1), ::testing::Contains("vip1 inet 10.9.8.7"));
  // Removed addresses are gone at the next read (what confirmation relies on).
  ASSERT_TRUE(InNamespace({"addr", "del", "192.0.2.10/24", "dev", "vip0"}));
  ASSERT_TRUE(InNamespace({"addr", "del", "2001:db8::10/64", "dev", "vip0"}));
  ExpectSameAsIp({"vip0"});
  absl::StatusOr<std::vector<IpAddressEntry>> after = ReadInNamespace({"vip0"});
  ASSERT_TRUE(after.ok());
  for (const IpAddressEntry& e : *after) {
    EXPECT_NE(e.address, "192.0.2.10");
    EXPECT_NE(e.address, "2001:db8::10");
  }
}

TEST_F(NetlinkAddressesNetnsTest, MissingInterfaceIsNamed) {
  absl::StatusOr<std::vector<IpAddressEntry>> read = ReadInNamespace({"nosuch9"});
  EXPECT_TRUE(absl::IsNotFound(read.status())) << read.status();
  EXPECT_THAT(std::string(read.status().message()), HasSubstr("\"nosuch9\" does not exist"));
}

}  // namespace
}  // namespace carp_exec::fingerprint

#endif  // __linux__
