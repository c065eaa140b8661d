#include <boost/test/unit_test.hpp>

#include "common.hpp"

#include <csignal>
#include <cstring>
#include <sys/resource.h>

using namespace dsae::io;
using namespace dsae_test_io;
namespace fs = std::filesystem;

namespace {

// True when `what` names the expected problem (and the source, when given).
auto message_has(std::string needle, std::string source = "") {
  return [needle, source](const std::exception& e) {
    const std::string w = e.what();
    const bool ok = w.find(needle) != std::string::npos && (source.empty() || w.find(source) != std::string::npos);
    if (!ok) BOOST_TEST_MESSAGE("unexpected message: " << w);
    return ok;
  };
}

// A file image from a literal header (padded to 8) and `data_size` bytes of data.
std::vector<std::byte> image(std::string json, std::size_t data_size) {
  json.append((8 - json.size() % 8) % 8, ' ');
  std::vector<std::byte> out(8 + json.size() + data_size, std::byte{0x5a});
  const std::uint64_t n = json.size();
  std::memcpy(out.data(), &n, 8);
  std::memcpy(out.data() + 8, json.data(), json.size());
  return out;
}

void check_same(const safetensors_file& a, const safetensors_file& b) {
  BOOST_TEST(a.metadata() == b.metadata());
  BOOST_REQUIRE_EQUAL(a.tensors().size(), b.tensors().size());
  for (const auto& [name, t] : a.tensors()) {
    BOOST_TEST_CONTEXT("tensor " << name) {
      const tensor& u = b.at(name);
      BOOST_TEST((t.type == u.type));
      BOOST_TEST(t.shape == u.shape, boost::test_tools::per_element());
      BOOST_TEST((t.bytes == u.bytes));
    }
  }
}

}  // namespace

BOOST_AUTO_TEST_SUITE(safetensors)

BOOST_AUTO_TEST_CASE(round_trip_preserves_everything) {
  const auto dir = fresh_dir("round_trip");
  const auto path = dir / "a.safetensors";
  const auto f = sample_file();
  write_safetensors(path, f);
  BOOST_TEST(!fs::exists(dir / "a.safetensors.tmp"));
  const auto g = read_safetensors(path);
  check_same(f, g);
  BOOST_TEST(g.source() == path.string());

  // typed access gives back the values that went in
  const auto m = g.get_matrix<double>("matrix_f64", convert::exact, 3, 4);
  BOOST_TEST(m(2, 3) == 11 * 0.25 - 1.0);
  BOOST_TEST(m(1, 0) == 4 * 0.25 - 1.0);
  const auto mt = g.get_matrix<float>("matrix_f32");  // stored from a column-major matrix
  BOOST_TEST(mt.rows() == 4);
  BOOST_TEST(mt(3, 1) == float(m(1, 3) * 0.5));
  BOOST_TEST(g.get_scalar<double>("scalar_f64") == 3.5);
  BOOST_TEST(g.at("scalar_f64").shape.empty());
  BOOST_TEST(g.get_vector<std::int64_t>("ints_i64")[3] == std::int64_t(1) << 40);
  BOOST_TEST(g.get_vector<std::uint8_t>("bytes_u8", convert::exact, std::vector<std::int64_t>{2, 2})[1] == 255);
  BOOST_TEST(g.get_matrix<float>("empty_f32").rows() == 0);
  BOOST_TEST(g.metadata_value("note") == "caf\xc3\xa9 \"quoted\"\n");

  // format details: 8-byte aligned header, larger elements first so data is aligned
  const auto raw = slurp(path);
  std::uint64_t n = 0;
  std::memcpy(&n, raw.data(), 8);
  BOOST_TEST(n % 8 == 0);
  BOOST_TEST(raw.size() == 8 + n + (12 + 1 + 4) * 8 + (12 + 5) * 4 + 4);
  const std::string header(raw.data() + 8, n);
  BOOST_TEST(header.find("\"__metadata__\":{\"format\":\"pt\",\"note\":\"caf\xc3\xa9 \\\"quoted\\\"\\n\"}") !=
             std::string::npos);
  BOOST_TEST(header.find("\"matrix_f64\":{\"dtype\":\"F64\",\"shape\":[3,4],\"data_offsets\":[") != std::string::npos);
  BOOST_TEST(header.find("\"scalar_f64\":{\"dtype\":\"F64\",\"shape\":[],") != std::string::npos);
  BOOST_TEST(header.find_first_not_of(' ', header.rfind('}') + 1) == std::string::npos);

  // in-memory path agrees with the file path
  const auto bytes = serialize_safetensors(f);
  BOOST_TEST(bytes.size() == raw.size());
  BOOST_TEST(std::memcmp(bytes.data(), raw.data(), raw.size()) == 0);
}

BOOST_AUTO_TEST_CASE(rewrite_replaces_content) {
  const auto dir = fresh_dir("rewrite");
  const auto path = dir / "c.safetensors";
  safetensors_file f;
  f.put_vector("w", std::vector<double>{1, 2, 3});
  write_safetensors(path, f);
  f.put_vector("w", std::vector<double>{4, 5});
  f.put_scalar("step", std::int64_t{7});
  write_safetensors(path, f);
  const auto g = read_safetensors(path);
  BOOST_TEST(g.get_vector<double>("w") == std::vector<double>({4, 5}), boost::test_tools::per_element());
  BOOST_TEST(g.get_scalar<std::int64_t>("step") == 7);
}

BOOST_AUTO_TEST_CASE(eigen_helpers_check_shapes_and_convert_on_request) {
  safetensors_file f("ckpt.safetensors");
  Eigen::Matrix<float, 2, 3, Eigen::RowMajor> a;
  a << 1.5f, -2.f, 3.f, 4.f, 5.f, 0.125f;
  f.put_matrix("a", a);
  const Eigen::MatrixXd d = a.cast<double>();
  f.put_matrix("d_as_f32", d, dtype::f32);
  BOOST_TEST((f.at("d_as_f32").type == dtype::f32));

  BOOST_CHECK_EXCEPTION(f.get_matrix<double>("a"), std::runtime_error,
                        message_has("dtype F32, requested F64", "ckpt.safetensors"));
  const auto ad = f.get_matrix<double>("a", convert::float_cast);
  BOOST_TEST(ad(1, 2) == 0.125);
  BOOST_TEST((ad.cast<float>() - a).cwiseAbs().maxCoeff() == 0.f);
  const auto back = f.get_vector<double>("d_as_f32", convert::float_cast);
  BOOST_TEST(back[3] == 4.0);

  BOOST_CHECK_EXCEPTION(f.get_matrix<float>("a", convert::exact, 3, 2), std::runtime_error,
                        message_has("shape [2, 3], expected a matrix [3, 2]", "tensor 'a'"));
  BOOST_CHECK_EXCEPTION(f.get_vector<float>("a", convert::exact, std::vector<std::int64_t>{6}), std::runtime_error,
                        message_has("shape [2, 3], expected [6]"));
  BOOST_CHECK_EXCEPTION((void)f.get_scalar<float>("a"), std::runtime_error, message_has("expected a scalar"));
  BOOST_CHECK_EXCEPTION(f.get_vector<float>("missing"), std::runtime_error,
                        message_has("tensor 'missing': no such tensor", "ckpt.safetensors"));
  // integers never convert silently
  f.put_vector("i", std::vector<std::int32_t>{1, 2});
  BOOST_CHECK_EXCEPTION(f.get_vector<std::int64_t>("i", convert::float_cast), std::runtime_error,
                        message_has("dtype I32, requested I64"));

  // bad puts
  tensor bad{dtype::f64, {2, 2}, std::vector<std::byte>(24)};
  BOOST_CHECK_EXCEPTION(f.put("bad", bad), std::invalid_argument, message_has("needs 32 bytes, got 24"));
  BOOST_CHECK_THROW(f.put_vector("x", std::vector<float>{1, 2, 3}, {2, 2}), std::invalid_argument);
  BOOST_CHECK_THROW(f.put_vector("__metadata__", std::vector<float>{1}), std::invalid_argument);
  BOOST_CHECK_THROW(f.put_vector("", std::vector<float>{1}), std::invalid_argument);
  BOOST_CHECK_THROW(f.put_vector("i64_as_f32", std::vector<std::int64_t>{1}, {}, dtype::f32), std::invalid_argument);
  BOOST_CHECK_THROW((void)f.metadata_value("nope"), std::runtime_error);
}

BOOST_AUTO_TEST_CASE(hand_written_headers_parse) {
  // whitespace, key order, escapes, surrogate pairs and an empty object are all valid JSON
  auto img = image(
      " { \"b\\u00e9\\ud83d\\ude00\" : { \"shape\" : [ 2 ] , \"data_offsets\" : [0, 8],\n\t\"dtype\":\"I32\" },"
      "\"__metadata__\":{\"k\\/\":\"v\\t\"}, \"z\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[8,8]}}",
      8);
  const auto f = parse_safetensors(img, "hand.st");
  BOOST_TEST(f.contains("b\xc3\xa9\xf0\x9f\x98\x80"));
  BOOST_TEST(f.metadata_value("k/") == "v\t");
  BOOST_TEST(f.at("z").numel() == 0);
  const auto e = parse_safetensors(image("{}", 0), "empty.st");
  BOOST_TEST(e.tensors().empty());
}

BOOST_AUTO_TEST_CASE(corrupt_images_give_named_errors) {
  const std::string src = "bad.safetensors";
  auto check = [&](const std::vector<std::byte>& img, const std::string& needle) {
    BOOST_TEST_CONTEXT("expecting: " << needle) {
      BOOST_CHECK_EXCEPTION(parse_safetensors(img, src), std::runtime_error, message_has(needle, src));
    }
  };
  const std::string ok_entry = R"("a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]})";

  check(std::vector<std::byte>(5), "shorter than the 8-byte header length");
  auto huge = image("{}", 0);
  const std::uint64_t big = std::uint64_t(1) << 40;
  std::memcpy(huge.data(), &big, 8);
  check(huge, "exceeds the limit");
  auto past = image("{" + ok_entry + "}", 8);
  const std::uint64_t too_long = past.size();
  std::memcpy(past.data(), &too_long, 8);
  check(past, "runs past the end of the file");

  check(image("[" + ok_entry + "]", 8), "must be a JSON object");
  check(image("{" + ok_entry + ",}", 8), "expected a string");
  check(image("{" + ok_entry, 8), "expected ',' or '}'");
  check(image("{" + ok_entry + "}x", 8), "unexpected bytes after the header");
  check(image("{" + ok_entry + "," + ok_entry + "}", 16), "duplicate tensor name 'a'");
  check(image(R"({"a":{"dtype":"F31","shape":[2],"data_offsets":[0,8]}})", 8), "unknown dtype 'F31'");
  check(image(R"({"a":{"dtype":"F32","shape":[2]}})", 8), "needs dtype, shape and data_offsets");
  check(image(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8],"x":1}})", 8), "unexpected key 'x'");
  check(image(R"({"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", 8), "negative number");
  check(image(R"({"a":{"dtype":"F32","shape":[2.0],"data_offsets":[0,8]}})", 8), "fraction/exponent");
  check(image(R"({"a":{"dtype":"F32","shape":[02],"data_offsets":[0,8]}})", 8), "leading zero");
  check(image(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8,9]}})", 8), "exactly 2 entries");
  check(image(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}})", 8), "reversed");
  check(image(R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", 8), "needs 12 bytes but data_offsets span 8");
  check(image(R"({"a":{"dtype":"F32","shape":[99999999999,99999999999,99999999999],"data_offsets":[0,8]}})", 8),
        "overflows");
  check(image(R"({"__metadata__":{"k":1}})", 0), "must be a string");
  check(image(R"({"__metadata__":{"k":"a\qb"}})", 0), "bad escape");
  check(image("{\"__metadata__\":{\"k\":\"a\nb\"}}", 0), "raw control character");
  check(image(R"({"__metadata__":{"k":"\ud800"}})", 0), "unpaired high surrogate");
  check(image("{\"__metadata__\":{\"k\":\"\xff\"}}", 0), "not valid UTF-8");
  check(image(R"({"__metadata__":{"k":"v","k":"w"}})", 0), "duplicate metadata key 'k'");
  // offsets
  check(image(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
              12),
        "overlaps the previous tensor");
  check(image(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})", 12), "gap in the data buffer before tensor 'a'");
  check(image("{" + ok_entry + "}", 7), "file truncated: tensor data needs 8 bytes, only 7 present");
  check(image("{" + ok_entry + "}", 9), "1 trailing bytes after the last tensor");
}

BOOST_AUTO_TEST_CASE(corrupt_files_name_the_file) {
  const auto dir = fresh_dir("corrupt");
  const auto good = serialize_safetensors(sample_file());
  const auto path = dir / "trunc.safetensors";
  for (std::size_t cut : {std::size_t(1), std::size_t(17), good.size() - 9, good.size() - 3}) {
    BOOST_TEST_CONTEXT("cut at " << cut) {
      spit(path, std::vector<std::byte>(good.begin(), good.begin() + std::ptrdiff_t(cut)));
      BOOST_CHECK_EXCEPTION(read_safetensors(path), std::runtime_error, message_has("safetensors '" + path.string() + "'"));
    }
  }
  spit(path, std::vector<std::byte>(good.begin(), good.end() - 3));
  BOOST_CHECK_EXCEPTION(read_safetensors(path), std::runtime_error, message_has("file truncated", path.string()));
  // flipping a header byte into a structural character is caught
  auto flipped = good;
  flipped[8] = std::byte{'['};
  spit(path, flipped);
  BOOST_CHECK_EXCEPTION(read_safetensors(path), std::runtime_error, message_has("invalid JSON header at byte 0"));
  BOOST_CHECK_EXCEPTION(read_safetensors(dir / "missing.safetensors"), std::runtime_error,
                        message_has("cannot open for reading", "missing.safetensors"));
}

BOOST_AUTO_TEST_SUITE(atomic_write)

BOOST_AUTO_TEST_CASE(blocked_temporary_leaves_old_file) {
  const auto dir = fresh_dir("atomic_block");
  const auto path = dir / "ckpt.safetensors";
  write_safetensors(path, sample_file());
  const auto before = slurp(path);
  // something that cannot be opened as a file sits where the temporary goes
  fs::create_directories(dir / "ckpt.safetensors.tmp" / "child");
  safetensors_file next;
  next.put_vector("w", std::vector<float>(100, 1.f));
  BOOST_CHECK_EXCEPTION(write_safetensors(path, next), std::runtime_error,
                        message_has("cannot create temporary file", path.string()));
  BOOST_TEST((slurp(path) == before));
  BOOST_TEST(fs::is_directory(dir / "ckpt.safetensors.tmp" / "child"));  // not ours, not removed
  BOOST_CHECK_EXCEPTION(write_safetensors(dir / "no_such_dir" / "x.safetensors", next), std::runtime_error,
                        message_has("x.safetensors"));
}

BOOST_AUTO_TEST_CASE(failure_mid_write_leaves_old_file) {
  // Simulate a full disk: a file size limit makes write() fail part-way (EFBIG).
  const auto dir = fresh_dir("atomic_efbig");
  const auto path = dir / "ckpt.safetensors";
  write_safetensors(path, sample_file());
  const auto before = slurp(path);

  safetensors_file big;
  big.put_vector("w", std::vector<double>(1 << 16, 0.5));  // 512 KiB
  rlimit old{};
  BOOST_REQUIRE(getrlimit(RLIMIT_FSIZE, &old) == 0);
  const auto old_handler = std::signal(SIGXFSZ, SIG_IGN);
  rlimit lim = old;
  lim.rlim_cur = 64 * 1024;
  BOOST_REQUIRE(setrlimit(RLIMIT_FSIZE, &lim) == 0);
  bool threw = false;
  std::string what;
  try {
    write_safetensors(path, big);
  } catch (const std::runtime_error& e) {
    threw = true;
    what = e.what();
  }
  setrlimit(RLIMIT_FSIZE, &old);
  std::signal(SIGXFSZ, old_handler);
  BOOST_TEST(threw);
  BOOST_TEST(what.find("write failed") != std::string::npos, what);
  BOOST_TEST(what.find(path.string()) != std::string::npos, what);
  BOOST_TEST((slurp(path) == before));
  BOOST_TEST(!fs::exists(dir / "ckpt.safetensors.tmp"));
  check_same(sample_file(), read_safetensors(path));
  // without the limit the same write goes through
  write_safetensors(path, big);
  BOOST_TEST(read_safetensors(path).get_vector<double>("w")[12345] == 0.5);
}

BOOST_AUTO_TEST_CASE(stale_temporary_from_a_crash_is_harmless) {
  const auto dir = fresh_dir("atomic_stale");
  const auto path = dir / "ckpt.safetensors";
  write_safetensors(path, sample_file());
  // a crash after a partial write leaves only the temporary broken
  const auto good = serialize_safetensors(sample_file());
  spit(dir / "ckpt.safetensors.tmp", std::vector<std::byte>(good.begin(), good.begin() + 40));
  check_same(sample_file(), read_safetensors(path));
  safetensors_file next;
  next.put_scalar("epoch", std::int64_t{3});
  write_safetensors(path, next);
  BOOST_TEST(!fs::exists(dir / "ckpt.safetensors.tmp"));
  BOOST_TEST(read_safetensors(path).get_scalar<std::int64_t>("epoch") == 3);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE_END()
