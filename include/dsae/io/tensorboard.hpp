#pragma once
// tensorboard_writer: scalar curves in TensorBoard's event-file format, written by dsae
// itself (no TensorFlow, no protobuf library; docs/tensorboard.md).
//
//   dsae::io::tensorboard_writer tb(run_dir / "tb");     // creates the folder and
//                                                        // events.out.tfevents.<s>.<host>.<pid>.dsae
//   tb.scalar("loss/train", 0.25, epoch);                // one tag, one value
//   tb.scalars(epoch, {{"loss/val", 0.3}, {"f1", 0.9}}); // several values in one event
//   tb.flush();                                          // write + fdatasync (e.g. once per epoch)
//
// Records are buffered in memory and written on flush(), when the buffer passes 64 KiB, and
// by the destructor. Values are stored as float32 (TensorBoard's simple_value); NaN and Inf
// are written as they are. Errors (ENOSPC, EIO, a refused folder) are std::runtime_error
// naming the file; after a failed write the unwritten records stay buffered and the next
// flush() retries them. Not thread-safe: one writer per thread or a lock around it. POSIX only.
//
// The file is an append stream that TensorBoard reads while it grows, so it is not written
// through atomic_file (temp + rename); instead it is created with O_EXCL | O_NOFOLLOW: it
// never truncates an existing file or writes through a link, and a name that is taken
// (another writer in the same second, or a planted link) gets a suffix .1, .2, ...
#include <array>
#include <bit>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <initializer_list>
#include <iostream>
#include <ranges>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "files.hpp"

namespace dsae::io {

namespace detail {

// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum of TFRecord framing.
inline constexpr std::array<std::uint32_t, 256> crc32c_table = [] {
  std::array<std::uint32_t, 256> t{};
  for (std::uint32_t i = 0; i < 256; ++i) {
    std::uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1u) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
    t[i] = c;
  }
  return t;
}();

inline std::uint32_t crc32c(const void* data, std::size_t size) noexcept {
  const auto* p = static_cast<const unsigned char*>(data);
  std::uint32_t c = 0xFFFFFFFFu;
  for (std::size_t i = 0; i < size; ++i) c = crc32c_table[(c ^ p[i]) & 0xFFu] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}
inline std::uint32_t crc32c(std::string_view s) noexcept { return crc32c(s.data(), s.size()); }

// TFRecord stores a rotated and offset CRC, so that a CRC over data that itself holds CRCs
// stays well distributed.
inline std::uint32_t masked_crc32c(std::string_view s) noexcept {
  const std::uint32_t c = crc32c(s);
  return ((c >> 15) | (c << 17)) + 0xa282ead8u;
}

// Protobuf wire format, the few pieces an Event of scalars needs.
enum class wire : std::uint32_t { varint = 0, fixed64 = 1, bytes = 2, fixed32 = 5 };

inline void put_varint(std::string& out, std::uint64_t v) {
  while (v >= 0x80) {
    out.push_back(char((v & 0x7Fu) | 0x80u));
    v >>= 7;
  }
  out.push_back(char(v));
}
inline void put_key(std::string& out, std::uint32_t field, wire w) {
  put_varint(out, (std::uint64_t(field) << 3) | std::uint32_t(w));
}
inline void put_le(std::string& out, std::uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(char((v >> (8 * i)) & 0xFFu));
}
inline void put_double(std::string& out, std::uint32_t field, double v) {
  put_key(out, field, wire::fixed64);
  put_le(out, std::bit_cast<std::uint64_t>(v), 8);
}
inline void put_float(std::string& out, std::uint32_t field, float v) {
  put_key(out, field, wire::fixed32);
  put_le(out, std::bit_cast<std::uint32_t>(v), 4);
}
// int64 fields are varints of the two's complement (a negative step takes 10 bytes).
inline void put_int64(std::string& out, std::uint32_t field, std::int64_t v) {
  put_key(out, field, wire::varint);
  put_varint(out, std::uint64_t(v));
}
inline void put_bytes(std::string& out, std::uint32_t field, std::string_view v) {
  put_key(out, field, wire::bytes);
  put_varint(out, v.size());
  out.append(v);
}

// Field numbers of tensorboard/compat/proto/event.proto and summary.proto.
namespace event_field {
inline constexpr std::uint32_t wall_time = 1, step = 2, file_version = 3, summary = 5;
}
namespace summary_field {
inline constexpr std::uint32_t value = 1;
}
namespace value_field {
inline constexpr std::uint32_t tag = 1, simple_value = 2;
}

// One TFRecord: [u64 length][masked crc of the length][data][masked crc of the data], LE.
inline void put_record(std::string& out, std::string_view data) {
  std::string len;
  put_le(len, data.size(), 8);
  out += len;
  put_le(out, masked_crc32c(len), 4);
  out.append(data);
  put_le(out, masked_crc32c(data), 4);
}

// The file name TensorBoard recognises ("tfevents" in it), unique per host, process and
// second; ".dsae" says who wrote it. Characters a file name should not hold become '_'.
inline std::string event_file_name(std::int64_t unix_seconds, std::string_view host, long pid) {
  std::string h(host.empty() ? std::string_view("localhost") : host);
  for (char& c : h)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.')) c = '_';
  return "events.out.tfevents." + std::to_string(unix_seconds) + "." + h + "." + std::to_string(pid) + ".dsae";
}

inline std::string host_name() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0) return "localhost";
  return buf;
}

}  // namespace detail

class tensorboard_writer {
 public:
  // Records are written once this many bytes are buffered (TensorBoard sees them then).
  static constexpr std::size_t buffer_bytes = std::size_t(64) << 10;

  // Seconds since the Unix epoch, the default wall_time of an event.
  static double now() {
    return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  }

  // requires: `dir` is absent (its parent must exist; only `dir` itself is created) or a
  //           folder (a link to a folder is followed: the user named it).
  // ensures: path() is a new, empty-but-for-the-version-record event file in `dir`, already
  //          on disk; no existing file was opened, truncated or written through a link.
  // throws: std::runtime_error naming the folder or file and the reason.
  explicit tensorboard_writer(const std::filesystem::path& dir) {
    const std::string d = dir.string();
    struct stat st {};
    if (::stat(d.c_str(), &st) != 0) {
      if (errno != ENOENT) throw open_error(d, "cannot use the folder", errno);
      if (::mkdir(d.c_str(), 0755) != 0 && errno != EEXIST) throw open_error(d, "cannot create the folder", errno);
      if (::stat(d.c_str(), &st) != 0) throw open_error(d, "cannot use the folder", errno);
    }
    if (!S_ISDIR(st.st_mode))
      throw std::runtime_error("TensorBoard folder '" + d + "': is " +
                               (S_ISREG(st.st_mode) ? std::string("a file") : detail::file_kind(st.st_mode)) +
                               ", not a folder");
    const double t = now();
    const std::string base =
        detail::event_file_name(std::int64_t(t), detail::host_name(), long(::getpid()));
    // EEXIST covers a planted link too (O_EXCL never follows one): take the next suffix.
    for (int n = 0; n < 1000 && m_fd < 0; ++n) {
      m_path = dir / (n == 0 ? base : base + "." + std::to_string(n));
      m_fd = ::open(m_path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
      if (m_fd < 0 && errno != EEXIST) throw open_error(m_path.string(), "cannot create the event file", errno);
    }
    if (m_fd < 0) throw open_error(m_path.string(), "cannot create the event file (1000 names taken)", EEXIST);
    // The version record first, on disk at once: an empty or torn start is not an event file.
    std::string event;
    detail::put_double(event, detail::event_field::wall_time, t);
    detail::put_bytes(event, detail::event_field::file_version, "brain.Event:2");
    detail::put_record(m_buffer, event);
    try {
      flush();
    } catch (...) {
      // Ours, and no event file without its version record; removed only while the name
      // still is the file we created (someone may have renamed it meanwhile).
      struct stat mine {}, named {};
      if (::fstat(m_fd, &mine) == 0 && ::lstat(m_path.c_str(), &named) == 0 && mine.st_dev == named.st_dev &&
          mine.st_ino == named.st_ino)
        ::unlink(m_path.c_str());
      ::close(m_fd);
      throw;
    }
  }

  tensorboard_writer(const tensorboard_writer&) = delete;
  tensorboard_writer& operator=(const tensorboard_writer&) = delete;
  tensorboard_writer& operator=(tensorboard_writer&&) = delete;
  tensorboard_writer(tensorboard_writer&& o) noexcept
      : m_path(std::move(o.m_path)), m_buffer(std::move(o.m_buffer)), m_fd(std::exchange(o.m_fd, -1)) {}

  // ensures: buffered records are written and synced; a failure is reported on stderr,
  //          never thrown (call flush() first to handle it).
  ~tensorboard_writer() {
    if (m_fd < 0) return;
    try {
      flush();
    } catch (const std::exception& e) {
      std::cerr << "dsae: " << e.what();
      if (!m_buffer.empty()) std::cerr << " (" << m_buffer.size() << " bytes of events lost)";
      std::cerr << '\n';
    }
    ::close(m_fd);
  }

  // The event file this writer appends to.
  const std::filesystem::path& path() const noexcept { return m_path; }

  // requires: tag is not empty.
  // ensures: one Event {wall_time, step, summary {value {tag, float(value)}}} is buffered;
  //          written now if the buffer passed buffer_bytes (then a write error throws).
  void scalar(std::string_view tag, double value, std::int64_t step, double wall_time = now()) {
    scalars(step, {{tag, value}}, wall_time);
  }

  // requires: every tag is not empty.
  // ensures: one Event holding one Value per pair, in order; buffered as in scalar().
  void scalars(std::int64_t step, std::initializer_list<std::pair<std::string_view, double>> values,
               double wall_time = now()) {
    scalars<decltype(values)>(step, values, wall_time);
  }
  // The same for any range of (tag, value) pairs: a std::map<std::string, double>, a
  // std::vector<std::pair<std::string, double>>, ...
  template <std::ranges::input_range Range>
  void scalars(std::int64_t step, const Range& values, double wall_time = now()) {
    std::string summary;
    for (const auto& [tag, value] : values) {
      const std::string_view t(tag);
      if (t.empty()) throw std::invalid_argument("tensorboard_writer: empty tag ('" + m_path.string() + "')");
      std::string v;
      detail::put_bytes(v, detail::value_field::tag, t);
      detail::put_float(v, detail::value_field::simple_value, static_cast<float>(value));
      detail::put_bytes(summary, detail::summary_field::value, v);
    }
    std::string event;
    detail::put_double(event, detail::event_field::wall_time, wall_time);
    detail::put_int64(event, detail::event_field::step, step);
    detail::put_bytes(event, detail::event_field::summary, summary);
    detail::put_record(m_buffer, event);
    if (m_buffer.size() > buffer_bytes) write_buffer();
  }

  // ensures: every buffered record is written and fdatasync'ed.
  // throws: std::runtime_error naming the file (the records not written stay buffered).
  void flush() {
    write_buffer();
    int r;
    do r = ::fdatasync(m_fd);
    while (r != 0 && errno == EINTR);
    if (r != 0) throw io_error("fdatasync failed", errno);
  }

 private:
  // Full writes, EINTR retried; what was written leaves the buffer even when a later part
  // fails, so a retry continues the record stream exactly where it stopped.
  void write_buffer() {
    std::size_t done = 0;
    while (done < m_buffer.size()) {
      const ssize_t w = ::write(m_fd, m_buffer.data() + done, m_buffer.size() - done);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) {
        const int err = w < 0 ? errno : EIO;
        m_buffer.erase(0, done);
        throw io_error("write failed", err);
      }
      done += std::size_t(w);
    }
    m_buffer.clear();
  }
  std::runtime_error io_error(const std::string& what, int err) const {
    std::string m = "TensorBoard event file '" + m_path.string() + "': " + what + ": " + std::strerror(err);
    if (err == ENOSPC || err == EDQUOT) m += " (the disk is full)";
    return std::runtime_error(m);
  }
  static std::runtime_error open_error(const std::string& path, const std::string& what, int err) {
    return std::runtime_error("TensorBoard '" + path + "': " + what + ": " + std::strerror(err));
  }

  std::filesystem::path m_path;
  std::string m_buffer;
  int m_fd = -1;
};

}  // namespace dsae::io
