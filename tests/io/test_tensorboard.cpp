// io/tensorboard.hpp: CRC-32C and protobuf encoding checked against known answers and a
// small decoder of our own, the file created exclusively (never through a link), buffering,
// and write errors reported. tensorboard_readback.py checks the files with TensorBoard itself.
#include <boost/test/unit_test.hpp>

#include <dsae/io/tensorboard.hpp>

#include "common.hpp"

#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <fcntl.h>
#include <unistd.h>

using namespace dsae::io;
using namespace dsae_test_io;
namespace fs = std::filesystem;

namespace {

// A decoder independent of the writer: records, then protobuf fields.
struct field {
  std::uint32_t number = 0;
  std::uint32_t wire = 0;
  std::uint64_t integer = 0;  // varint, fixed64 or fixed32 bits
  std::string bytes;          // length-delimited
};

std::uint64_t get_le(const std::string& s, std::size_t at, int n) {
  if (at + std::size_t(n) > s.size()) throw std::runtime_error("truncated little-endian field");
  std::uint64_t v = 0;
  for (int i = 0; i < n; ++i) v |= std::uint64_t(static_cast<unsigned char>(s[at + std::size_t(i)])) << (8 * i);
  return v;
}

std::uint64_t get_varint(const std::string& s, std::size_t& at) {
  std::uint64_t v = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (at >= s.size()) throw std::runtime_error("truncated varint");
    const auto b = static_cast<unsigned char>(s[at++]);
    v |= std::uint64_t(b & 0x7F) << shift;
    if (!(b & 0x80)) return v;
  }
  throw std::runtime_error("varint longer than 10 bytes");
}

std::vector<field> parse_message(const std::string& s) {
  std::vector<field> out;
  std::size_t at = 0;
  while (at < s.size()) {
    const std::uint64_t key = get_varint(s, at);
    field f;
    f.number = std::uint32_t(key >> 3);
    f.wire = std::uint32_t(key & 7);
    if (f.wire == 0) f.integer = get_varint(s, at);
    else if (f.wire == 1) f.integer = get_le(s, at, 8), at += 8;
    else if (f.wire == 5) f.integer = get_le(s, at, 4), at += 4;
    else if (f.wire == 2) {
      const std::uint64_t n = get_varint(s, at);
      if (n > s.size() - at) throw std::runtime_error("truncated bytes field");
      f.bytes = s.substr(at, n);
      at += n;
    } else
      throw std::runtime_error("unexpected wire type " + std::to_string(f.wire));
    out.push_back(std::move(f));
  }
  return out;
}

// The records of an event file, each CRC checked.
std::vector<std::string> parse_records(const std::string& file) {
  std::vector<std::string> out;
  std::size_t at = 0;
  while (at < file.size()) {
    const std::uint64_t n = get_le(file, at, 8);
    if (std::uint32_t(get_le(file, at + 8, 4)) != detail::masked_crc32c(file.substr(at, 8)))
      throw std::runtime_error("length crc mismatch");
    if (n > file.size() - at - 16) throw std::runtime_error("truncated record");
    std::string data = file.substr(at + 12, n);
    if (std::uint32_t(get_le(file, at + 12 + n, 4)) != detail::masked_crc32c(data))
      throw std::runtime_error("data crc mismatch");
    out.push_back(std::move(data));
    at += 16 + n;
  }
  return out;
}

struct event {
  std::optional<double> wall_time;
  std::int64_t step = 0;
  std::optional<std::string> file_version;
  std::vector<std::pair<std::string, float>> values;
};

event parse_event(const std::string& data) {
  event e;
  for (const auto& f : parse_message(data)) {
    if (f.number == 1 && f.wire == 1) e.wall_time = std::bit_cast<double>(f.integer);
    else if (f.number == 2 && f.wire == 0) e.step = std::int64_t(f.integer);
    else if (f.number == 3 && f.wire == 2) e.file_version = f.bytes;
    else if (f.number == 5 && f.wire == 2) {
      for (const auto& v : parse_message(f.bytes)) {
        if (v.number != 1 || v.wire != 2) throw std::runtime_error("unexpected Summary field");
        std::pair<std::string, float> tv{"", std::numeric_limits<float>::quiet_NaN()};
        bool has_value = false;
        for (const auto& g : parse_message(v.bytes)) {
          if (g.number == 1 && g.wire == 2) tv.first = g.bytes;
          else if (g.number == 2 && g.wire == 5) tv.second = std::bit_cast<float>(std::uint32_t(g.integer)), has_value = true;
          else throw std::runtime_error("unexpected Value field");
        }
        if (!has_value) throw std::runtime_error("Value without simple_value");
        e.values.push_back(tv);
      }
    } else
      throw std::runtime_error("unexpected Event field " + std::to_string(f.number));
  }
  return e;
}

std::vector<event> read_events(const fs::path& p) {
  const auto bytes = slurp(p);
  std::vector<event> out;
  for (const auto& r : parse_records(std::string(bytes.begin(), bytes.end()))) out.push_back(parse_event(r));
  return out;
}

std::string hex(const std::string& s) {
  static const char* d = "0123456789abcdef";
  std::string h;
  for (unsigned char c : s) h += {d[c >> 4], d[c & 15]};
  return h;
}

bool same_bits(float a, float b) { return std::bit_cast<std::uint32_t>(a) == std::bit_cast<std::uint32_t>(b); }

}  // namespace

BOOST_AUTO_TEST_SUITE(io_tensorboard)

// Known answers: RFC 3720 (iSCSI) B.4 and the usual "123456789" check value.
BOOST_AUTO_TEST_CASE(crc32c_known_answers) {
  BOOST_TEST(detail::crc32c("123456789") == 0xE3069283u);
  BOOST_TEST(detail::crc32c("") == 0u);
  BOOST_TEST(detail::crc32c(std::string(32, '\0')) == 0x8A9136AAu);
  BOOST_TEST(detail::crc32c(std::string(32, '\xff')) == 0x62A8AB43u);
  std::string up, down;
  for (int i = 0; i < 32; ++i) up += char(i), down += char(31 - i);
  BOOST_TEST(detail::crc32c(up) == 0x46DD794Eu);
  BOOST_TEST(detail::crc32c(down) == 0x113FDB5Cu);
  // The mask: ((c >> 15) | (c << 17)) + 0xa282ead8, modulo 2^32.
  const std::uint32_t c = 0xE3069283u;
  BOOST_TEST(detail::masked_crc32c("123456789") == std::uint32_t(((c >> 15) | (c << 17)) + 0xa282ead8u));
}

BOOST_AUTO_TEST_CASE(varints_round_trip) {
  const std::map<std::uint64_t, std::string> known = {
      {0, "00"}, {1, "01"}, {127, "7f"}, {128, "8001"}, {300, "ac02"}, {16384, "808001"},
      {~std::uint64_t(0), "ffffffffffffffffff01"}};
  for (const auto& [v, h] : known) {
    std::string s;
    detail::put_varint(s, v);
    BOOST_TEST(hex(s) == h, "varint of " << v);
  }
  for (std::uint64_t v : {std::uint64_t(0), std::uint64_t(1) << 7, (std::uint64_t(1) << 14) - 1, std::uint64_t(1) << 35,
                          std::uint64_t(1) << 63, std::uint64_t(-5), std::uint64_t(0x0123456789abcdefULL)}) {
    std::string s;
    detail::put_varint(s, v);
    std::size_t at = 0;
    BOOST_TEST(get_varint(s, at) == v);
    BOOST_TEST(at == s.size());
  }
  // A key, a fixed64 double, a fixed32 float and a string, decoded back.
  std::string m;
  detail::put_int64(m, 2, -3);
  detail::put_double(m, 1, 0.1);
  detail::put_float(m, 2, 0.1f);
  detail::put_bytes(m, 3, std::string(200, 'x'));  // a two-byte length
  const auto f = parse_message(m);
  BOOST_TEST_REQUIRE(f.size() == 4u);
  BOOST_TEST(std::int64_t(f[0].integer) == -3);
  BOOST_TEST(std::bit_cast<double>(f[1].integer) == 0.1);
  BOOST_TEST(same_bits(std::bit_cast<float>(std::uint32_t(f[2].integer)), 0.1f));
  BOOST_TEST(f[3].bytes == std::string(200, 'x'));
  BOOST_TEST(hex(m.substr(0, 1)) == "10");  // field 2, varint
  BOOST_TEST(hex(m.substr(11, 1)) == "09");  // field 1, fixed64
}

BOOST_AUTO_TEST_CASE(records_round_trip) {
  const auto d = fresh_dir("tb_round_trip") / "tb";  // absent: the writer creates it
  fs::path file;
  {
    tensorboard_writer tb(d);
    file = tb.path();
    BOOST_TEST(file.parent_path() == d);
    BOOST_TEST(file.filename().string().starts_with("events.out.tfevents."));
    BOOST_TEST(file.filename().string().ends_with(".dsae"));
    tb.scalar("loss/train", 0.1, 3, 1234.5);
    tb.scalars(-7, {{"a", 1.0}, {"b\xc3\xa9", -2.5e-3}, {std::string(300, 't'), 1e30}}, 99.0);
    std::vector<std::pair<std::string, double>> dyn = {{"nan", std::nan("")},
                                                       {"inf", std::numeric_limits<double>::infinity()},
                                                       {"big", 1e300}};
    tb.scalars(std::int64_t(1) << 40, dyn, 100.0);
    tb.flush();
  }
  const auto ev = read_events(file);
  BOOST_TEST_REQUIRE(ev.size() == 4u);
  BOOST_TEST(ev[0].file_version.value_or("") == "brain.Event:2");
  BOOST_TEST(ev[0].values.empty());
  BOOST_TEST(std::abs(ev[0].wall_time.value_or(0) - tensorboard_writer::now()) < 60.0);
  BOOST_TEST(ev[1].wall_time.value_or(0) == 1234.5);
  BOOST_TEST(ev[1].step == 3);
  BOOST_TEST_REQUIRE(ev[1].values.size() == 1u);
  BOOST_TEST(ev[1].values[0].first == "loss/train");
  BOOST_TEST(same_bits(ev[1].values[0].second, 0.1f));
  BOOST_TEST(ev[2].step == -7);
  BOOST_TEST_REQUIRE(ev[2].values.size() == 3u);
  BOOST_TEST(ev[2].values[1].first == "b\xc3\xa9");
  BOOST_TEST(same_bits(ev[2].values[1].second, -2.5e-3f));
  BOOST_TEST(ev[2].values[2].first == std::string(300, 't'));
  BOOST_TEST(same_bits(ev[2].values[2].second, 1e30f));
  BOOST_TEST(ev[3].step == std::int64_t(1) << 40);
  BOOST_TEST_REQUIRE(ev[3].values.size() == 3u);
  BOOST_TEST(std::isnan(ev[3].values[0].second));
  BOOST_TEST(ev[3].values[1].second == std::numeric_limits<float>::infinity());
  BOOST_TEST(ev[3].values[2].second == std::numeric_limits<float>::infinity());  // beyond float32
  // An empty tag is refused and nothing of that event is buffered.
  tensorboard_writer tb(d);
  BOOST_TEST(throws_with([&] { tb.scalars(1, {{"ok", 1.0}, {"", 2.0}}); }, "empty tag"));
  tb.flush();
  BOOST_TEST(read_events(tb.path()).size() == 1u);
}

// Records stay in memory until flush(), 64 KiB of them, or the destructor.
BOOST_AUTO_TEST_CASE(buffering) {
  const auto d = fresh_dir("tb_buffer");
  fs::path file;
  std::uintmax_t start = 0;
  int n = 0;
  {
    tensorboard_writer tb(d);
    file = tb.path();
    start = fs::file_size(file);
    BOOST_TEST(start > 0u);  // the version record is on disk at once
    tb.scalar("x", 1.0, 0);
    BOOST_TEST(fs::file_size(file) == start);
    while (fs::file_size(file) == start && n < 100000) tb.scalar("loss/" + std::to_string(n % 7), n, n), ++n;
    BOOST_TEST(fs::file_size(file) > tensorboard_writer::buffer_bytes);
    BOOST_TEST(n < 10000);
    tb.scalar("last", 2.0, n);
  }
  const auto ev = read_events(file);
  BOOST_TEST(ev.size() == std::size_t(n) + 3);  // version, "x", n values, "last"
  BOOST_TEST(ev.back().values.at(0).first == "last");
}

// O_EXCL | O_NOFOLLOW: a link planted at the would-be name is neither followed nor removed;
// the writer takes the next suffix. Two writers in one folder never share a file.
BOOST_AUTO_TEST_CASE(never_follows_a_planted_link) {
  const auto d = fresh_dir("tb_planted");
  { std::ofstream(d / "victim") << "precious"; }
  const auto t = std::int64_t(tensorboard_writer::now());
  // Every name this process could pick within the next seconds.
  for (std::int64_t s = t - 1; s <= t + 3; ++s)
    fs::create_symlink(d / "victim", d / detail::event_file_name(s, detail::host_name(), long(::getpid())));
  {
    tensorboard_writer a(d);
    tensorboard_writer b(d);
    BOOST_TEST(a.path().filename().string().ends_with(".dsae.1"));
    BOOST_TEST(b.path() != a.path());
    BOOST_TEST(!fs::is_symlink(a.path()));
    a.scalar("x", 1.0, 1);
    b.scalar("y", 2.0, 1);
  }
  const auto v = slurp(d / "victim");
  BOOST_TEST(std::string(v.begin(), v.end()) == "precious");
  int links = 0;
  for (const auto& e : fs::directory_iterator(d)) links += fs::is_symlink(e.symlink_status());
  BOOST_TEST(links == 5);
}

BOOST_AUTO_TEST_CASE(folder_checks) {
  const auto d = fresh_dir("tb_folder");
  { std::ofstream(d / "file") << "x"; }
  BOOST_TEST(throws_with([&] { tensorboard_writer tb(d / "file"); }, "is a file, not a folder"));
  // Only the named folder is created, not its parents.
  BOOST_TEST(throws_with([&] { tensorboard_writer tb(d / "no" / "such"); }, "No such file or directory"));
  BOOST_TEST(!fs::exists(d / "no"));
  // A dangling link at the folder's name is refused rather than created through.
  fs::create_symlink(d / "elsewhere", d / "dangling");
  BOOST_TEST(throws_with([&] { tensorboard_writer tb(d / "dangling"); }, "dangling"));
  BOOST_TEST(!fs::exists(d / "elsewhere"));
}

// A full disk: the writer's descriptor is pointed at /dev/full (found through /proc/self/fd,
// so the library needs no test hook); the error names the file, the destructor does not throw.
BOOST_AUTO_TEST_CASE(write_errors_are_reported) {
  const int full = ::open("/dev/full", O_WRONLY | O_CLOEXEC);
  if (full < 0 || !fs::is_directory("/proc/self/fd")) {
    BOOST_TEST_MESSAGE("SKIPPED: /dev/full or /proc/self/fd not available");
    if (full >= 0) ::close(full);
    return;
  }
  const auto d = fresh_dir("tb_full");
  auto tb = std::make_unique<tensorboard_writer>(d);
  int fd = -1;
  for (const auto& e : fs::directory_iterator("/proc/self/fd")) {
    std::error_code ec;
    const auto target = fs::read_symlink(e.path(), ec);
    if (!ec && target == fs::absolute(tb->path())) fd = std::stoi(e.path().filename().string());
  }
  BOOST_TEST_REQUIRE(fd >= 0);
  BOOST_TEST_REQUIRE(::dup2(full, fd) == fd);
  ::close(full);
  tb->scalar("x", 1.0, 1);
  BOOST_TEST(throws_with([&] { tb->flush(); }, tb->path().filename().string()));
  BOOST_TEST(throws_with([&] { tb->flush(); }, "No space left on device"));  // still buffered, retried
  BOOST_CHECK_NO_THROW(tb.reset());
}

BOOST_AUTO_TEST_SUITE_END()
