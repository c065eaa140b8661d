#pragma once
// What every dsae command does with a path it did not create itself (docs/reliability.md,
// threat model: a shared scratch folder, where another user may plant links and FIFOs).
//
//   open_exclusive(path)                 creates path with O_EXCL | O_NOFOLLOW (a stale file or
//                                        link of that name is unlinked first, never followed)
//   read_regular_file(path, cap, what)   the bytes of a regular file of at most cap bytes;
//                                        FIFOs, devices and folders are refused without blocking
//   require_regular_file(path, what)     the same check for readers that stream a file
//   require_own_folder(root, sub)        sub is a real folder (no link) inside root, or absent
//
// Errors are std::runtime_error naming the path and the reason.
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <string>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace dsae::io {

// Largest JSON file a command reads (config.json, manifest.json): far above real ones
// (a 30,000-item manifest is ~10 MB), far below "read /dev/zero until memory runs out".
inline constexpr std::uintmax_t max_json_bytes = std::uintmax_t(256) << 20;

namespace detail {
inline std::string file_kind(mode_t m) {
  if (S_ISDIR(m)) return "a folder";
  if (S_ISFIFO(m)) return "a FIFO";
  if (S_ISCHR(m) || S_ISBLK(m)) return "a device";
  if (S_ISSOCK(m)) return "a socket";
  if (S_ISLNK(m)) return "a symbolic link";
  return "not a regular file";
}
}  // namespace detail

// Creates `path` for writing, exclusively: never follows a symbolic link and never truncates
// a file someone else put there. A leftover of that name (a temporary of a killed run, or a
// planted link) is unlinked first: unlink removes the name, not a link's target.
// Returns the descriptor; sets errno and returns -1 on failure.
inline int open_exclusive(const std::string& path, mode_t mode = 0644) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0) {
    if (S_ISDIR(st.st_mode)) {
      errno = EISDIR;
      return -1;
    }
    ::unlink(path.c_str());
  }
  return ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
}

// Throws unless `path` is (or links to) a regular file. `what` prefixes the message.
inline void require_regular_file(const std::filesystem::path& path, const std::string& what) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0)
    throw std::runtime_error(what + "'" + path.string() + "': " +
                             (errno == ENOENT ? std::string("file not found") : std::strerror(errno)));
  if (!S_ISREG(st.st_mode))
    throw std::runtime_error(what + "'" + path.string() + "': is " + detail::file_kind(st.st_mode) +
                             ", not a regular file");
}

// The content of a regular file of at most `cap` bytes. Opened with O_NONBLOCK so that a
// FIFO cannot hang the command; the type is checked on the open descriptor (no race).
inline std::string read_regular_file(const std::filesystem::path& path, std::uintmax_t cap,
                                     const std::string& what = "") {
  const std::string p = path.string();
  const int fd = ::open(p.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0)
    throw std::runtime_error(what + "'" + p + "': " +
                             (errno == ENOENT ? std::string("file not found") : std::strerror(errno)));
  struct closer {
    int fd;
    ~closer() { ::close(fd); }
  } c{fd};
  struct stat st {};
  if (::fstat(fd, &st) != 0) throw std::runtime_error(what + "'" + p + "': " + std::strerror(errno));
  if (!S_ISREG(st.st_mode))
    throw std::runtime_error(what + "'" + p + "': is " + detail::file_kind(st.st_mode) + ", not a regular file");
  if (std::uintmax_t(st.st_size) > cap)
    throw std::runtime_error(what + "'" + p + "': " + std::to_string(st.st_size) + " bytes, more than the " +
                             std::to_string(cap) + " bytes allowed for this file");
  std::string out(std::size_t(st.st_size), '\0');
  std::size_t got = 0;
  while (got < out.size()) {
    const ssize_t r = ::read(fd, out.data() + got, out.size() - got);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) throw std::runtime_error(what + "'" + p + "': read failed: " + std::strerror(errno));
    if (r == 0) break;  // shrank meanwhile: what is there is parsed (and refused if torn)
    got += std::size_t(r);
  }
  out.resize(got);
  return out;
}

// `root / sub` must be absent or a real folder (not a link to one): every file a command
// writes below root then stays inside root. Creates it when absent.
inline std::filesystem::path require_own_folder(const std::filesystem::path& root, const std::string& sub) {
  const std::filesystem::path p = root / sub;
  struct stat st {};
  if (::lstat(p.c_str(), &st) == 0) {
    if (!S_ISDIR(st.st_mode))
      throw std::runtime_error("'" + p.string() + "': is " + detail::file_kind(st.st_mode) +
                               ", expected a folder this command writes; refusing to write through it");
    return p;
  }
  if (::mkdir(p.c_str(), 0755) != 0 && errno != EEXIST)
    throw std::runtime_error("cannot create '" + p.string() + "': " + std::strerror(errno));
  return p;
}

}  // namespace dsae::io
