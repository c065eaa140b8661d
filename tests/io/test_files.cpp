// Issue 19: numbers parsed in one place, files created exclusively, special files refused,
// run locks that refuse planted links, exceptions inside OpenMP regions.
#include <boost/test/unit_test.hpp>

#include <dsae/detail/parallel.hpp>
#include <dsae/io/atomic_file.hpp>
#include <dsae/io/files.hpp>
#include <dsae/io/numbers.hpp>
#include <dsae/io/run_dir.hpp>

#include "common.hpp"

#include <chrono>
#include <cstdint>
#include <limits>
#include <new>
#include <stdexcept>
#include <sys/stat.h>
#include <unistd.h>

using namespace dsae::io;
using namespace dsae_test_io;
namespace fs = std::filesystem;

namespace {
std::string slurp_text(const fs::path& p) {
  const auto v = slurp(p);
  return {v.begin(), v.end()};
}
void put(const fs::path& p, const std::string& s) {
  std::ofstream(p, std::ios::binary | std::ios::trunc) << s;
}
}  // namespace

BOOST_AUTO_TEST_SUITE(io_files)

// Item 8: "010" is ten (CLI11 and strtol with base 0 read eight), "-1" never wraps.
BOOST_AUTO_TEST_CASE(numbers_are_strictly_decimal_and_ranged) {
  BOOST_TEST(parse_integer<long long>("010", 1, 100, "z") == 10);
  BOOST_TEST(parse_integer<std::uint64_t>("18446744073709551615", 0, std::numeric_limits<std::uint64_t>::max(), "s") ==
             std::numeric_limits<std::uint64_t>::max());
  for (const char* bad : {"-1", "0x10", "+1", " 1", "1 ", "1.0", "1e3", "", "-", "18446744073709551616"})
    BOOST_TEST(!check_integer<std::uint64_t>(bad, 0, std::numeric_limits<std::uint64_t>::max(), "a seed").empty(),
               "accepted: '" << bad << "'");
  BOOST_TEST(parse_integer<long long>("-3", -5, 5, "x") == -3);
  BOOST_TEST(!check_integer<long long>("-3", 0, 5, "x").empty());
  BOOST_TEST(check_integer<long long>("0", 1, 5, "a positive integer") ==
             "must be a positive integer (1 to 5), got '0'");
  BOOST_TEST(parse_real("1e-3", 0, 1, "r") == 1e-3);
  for (const char* bad : {"nan", "inf", "-inf", "0x1p3", "1e999", "1,5", "+1"})
    BOOST_TEST(!check_real(bad, -1e300, 1e300, "r").empty(), "accepted: '" << bad << "'");
}

// Item 2: a link planted at the temporary's name is replaced, its target never written.
BOOST_AUTO_TEST_CASE(atomic_file_never_writes_through_a_planted_link) {
  const auto d = fresh_dir("planted");
  put(d / "victim", "precious");
  fs::create_symlink(d / "victim", d / "out.json.tmp");
  write_file_atomic(d / "out.json", "new");
  BOOST_TEST(slurp_text(d / "victim") == "precious");
  BOOST_TEST(slurp_text(d / "out.json") == "new");
  BOOST_TEST(!fs::exists(fs::symlink_status(d / "out.json.tmp")));
  // A folder at the temporary's name is not removed: the write fails instead.
  fs::create_directory(d / "dir.json.tmp");
  BOOST_TEST(throws_with([&] { write_file_atomic(d / "dir.json", "x"); }, "dir.json"));
  BOOST_TEST(fs::is_directory(d / "dir.json.tmp"));
}

// Item 2: run_lock refuses a symbolic or hard link at dir/.lock instead of truncating its target.
BOOST_AUTO_TEST_CASE(run_lock_refuses_links) {
  const auto d = fresh_dir("lock");
  put(d / "thesis.tex", "my thesis");
  fs::create_directories(d / "a");
  fs::create_symlink(d / "thesis.tex", d / "a" / ".lock");
  BOOST_TEST(throws_with([&] { run_lock l(d / "a"); }, "symbolic link"));
  fs::create_directories(d / "b");
  fs::create_hard_link(d / "thesis.tex", d / "b" / ".lock");
  BOOST_TEST(throws_with([&] { run_lock l(d / "b"); }, "hard links"));
  BOOST_TEST(slurp_text(d / "thesis.tex") == "my thesis");
  { run_lock ok(d / "c"); }
  BOOST_TEST(fs::is_regular_file(d / "c" / ".lock"));
  BOOST_TEST(throws_with([&] { run_lock l(""); }, "empty"));
}

// Item 7: a FIFO is refused at once (no hang), a device is refused, a big file is capped.
BOOST_AUTO_TEST_CASE(special_files_are_refused_without_blocking) {
  const auto d = fresh_dir("special");
  BOOST_REQUIRE(::mkfifo((d / "fifo").c_str(), 0644) == 0);
  const auto t0 = std::chrono::steady_clock::now();
  BOOST_TEST(throws_with([&] { read_regular_file(d / "fifo", 1000); }, "a FIFO"));
  const double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  BOOST_TEST(waited < 5.0);
  BOOST_TEST(throws_with([&] { read_regular_file("/dev/zero", 1000); }, "a device"));
  BOOST_TEST(throws_with([&] { require_regular_file(d / "fifo", "x: "); }, "not a regular file"));
  put(d / "big", std::string(2000, 'x'));
  BOOST_TEST(throws_with([&] { read_regular_file(d / "big", 1000); }, "2000 bytes"));
  BOOST_TEST(read_regular_file(d / "big", 2000).size() == 2000u);
  BOOST_TEST(throws_with([&] { read_regular_file(d / "missing", 10); }, "file not found"));
}

// Item 2: a folder a command writes into must not be a link out of the folder it owns.
BOOST_AUTO_TEST_CASE(own_folder_is_not_a_link) {
  const auto d = fresh_dir("own");
  fs::create_directories(d / "elsewhere");
  fs::create_directories(d / "run");
  fs::create_directory_symlink(d / "elsewhere", d / "run" / "examples");
  BOOST_TEST(throws_with([&] { require_own_folder(d / "run", "examples"); }, "refusing to write through it"));
  BOOST_TEST(require_own_folder(d / "run", "fresh") == d / "run" / "fresh");
  BOOST_TEST(fs::is_directory(d / "run" / "fresh"));
}

// Item 1: only the marker makes a folder a run; keys of another tool's config do not.
BOOST_AUTO_TEST_CASE(run_folder_is_recognised_by_its_marker_only) {
  const auto d = fresh_dir("marker");
  put(d / "config.json", R"({"method": "dsae", "stage1_epochs": 3})");
  BOOST_TEST((run_folder_kind(d) == folder_kind::foreign));
  put(d / "config.json", R"({"note": "\"format\": \"dsae-run-v1\""})");
  BOOST_TEST((run_folder_kind(d) == folder_kind::foreign));
  put(d / "config.json", R"({"format": "dsae-run-v1", "method": "dsae"})");
  BOOST_TEST((run_folder_kind(d) == folder_kind::run));
}

// Item 5: an exception inside an OpenMP region is rethrown after it (it used to abort).
BOOST_AUTO_TEST_CASE(exceptions_leave_parallel_regions_as_errors) {
  dsae::detail::exception_slot errors;
  int ran = 0;
#pragma omp parallel for reduction(+ : ran)
  for (int i = 0; i < 64; ++i)
    errors.run([&] {
      ++ran;
      if (i == 7) throw std::runtime_error("item 7 failed");
    });
  BOOST_TEST(ran >= 1);
  BOOST_TEST(throws_with([&] { errors.rethrow(); }, "item 7 failed"));
  errors.rethrow();  // once only
  BOOST_TEST(throws_with(
      [] {
        dsae::detail::parallel_rows(1 << 20, 1.0, [](dsae::index_t b, dsae::index_t) {
          if (b >= 0) throw std::bad_alloc();
        });
      },
      "bad_alloc"));
  BOOST_TEST(dsae::detail::worker_threads(4096, 10) <= 10);
  BOOST_TEST(dsae::detail::worker_threads(0, 0) == 1);
}

BOOST_AUTO_TEST_SUITE_END()
