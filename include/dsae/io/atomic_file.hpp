#pragma once
// Crash-safe file replacement: every file a dsae command writes goes through here.
//
//   atomic_file f(path);      // creates path + ".tmp" (O_EXCL | O_NOFOLLOW: a stale file or a
//                             // planted link of that name is unlinked, never followed)
//   f.write(bytes, n); ...    // full writes, EINTR retried; ENOSPC/EIO throw
//   f.commit();               // fsync, close, rename over path, fsync the folder
//   write_file_atomic(path, text)   // the same in one call
//
// ensures: after commit() `path` holds exactly the bytes written; if anything fails
// (or the process is killed) before the rename, `path` keeps its old content (or stays
// absent) and the error names `path` and the OS reason. A destroyed, uncommitted
// atomic_file removes its temporary. POSIX only.
//
// Fault injection (tests only): DSAE_FAULT_INJECT="kill:N" sends SIGKILL to the process at
// the N-th step (open, each write, fsync, rename, folder fsync) counted over all atomic
// files of the process; "enospc:N" makes the N-th step fail as a full disk would. Read once
// from the environment; without it each step costs one branch.
#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <string_view>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "files.hpp"

namespace dsae::io {

namespace detail {
struct fault_plan {
  enum kind_t { none, kill, enospc } kind = none;
  long long at = 0;
  long long count = 0;
};
inline fault_plan& fault_state() {
  static fault_plan p = [] {
    fault_plan q;
    if (const char* s = std::getenv("DSAE_FAULT_INJECT")) {
      const std::string v(s);
      const auto colon = v.find(':');
      if (colon != std::string::npos) {
        const std::string k = v.substr(0, colon);
        q.at = std::atoll(v.c_str() + colon + 1);
        if (k == "kill") q.kind = fault_plan::kill;
        else if (k == "enospc") q.kind = fault_plan::enospc;
      }
    }
    return q;
  }();
  return p;
}
// Counts one I/O step; returns false when the step must fail with ENOSPC.
inline bool fault_step() {
  fault_plan& p = fault_state();
  if (p.kind == fault_plan::none) return true;
  if (++p.count != p.at) return true;
  if (p.kind == fault_plan::kill) ::kill(::getpid(), SIGKILL);
  errno = ENOSPC;
  return false;
}
inline std::runtime_error io_error(const std::string& path, const std::string& what, int err) {
  std::string m = "'" + path + "': " + what + ": " + std::strerror(err);
  if (err == ENOSPC || err == EDQUOT) m += " (the disk is full; the previous file, if any, is unchanged)";
  else if (err == EROFS || err == EACCES || err == EPERM) m += " (the folder is not writable)";
  return std::runtime_error(m);
}
}  // namespace detail

// fsync of a folder, so that a rename in it survives a power loss. Best effort.
inline void fsync_dir(const std::filesystem::path& dir) {
  const std::string d = dir.empty() ? std::string(".") : dir.string();
  const int fd = ::open(d.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
}

class atomic_file {
 public:
  explicit atomic_file(std::filesystem::path path) : m_path(std::move(path)), m_tmp(m_path.string() + ".tmp") {
    errno = 0;
    if (detail::fault_step())
      m_fd = open_exclusive(m_tmp);
    if (m_fd < 0) throw detail::io_error(m_path.string(), "cannot create temporary file '" + m_tmp + "'", errno);
  }
  atomic_file(const atomic_file&) = delete;
  atomic_file& operator=(const atomic_file&) = delete;
  ~atomic_file() { abandon(); }

  const std::filesystem::path& path() const noexcept { return m_path; }
  // The temporary's descriptor, for writers that take one (libsndfile); -1 after commit.
  int fd() const noexcept { return m_fd; }

  // requires: not committed. Throws (and removes the temporary) on a failed write.
  void write(const void* data, std::size_t size) {
    const auto* p = static_cast<const char*>(data);
    while (size > 0) {
      ssize_t w = -1;
      if (detail::fault_step()) w = ::write(m_fd, p, size);
      if (w < 0) {
        if (errno == EINTR) continue;
        const int err = errno;
        abandon();
        throw detail::io_error(m_path.string(), "write failed (to '" + m_tmp + "')", err);
      }
      p += w;
      size -= std::size_t(w);
    }
  }
  void write(std::string_view s) { write(s.data(), s.size()); }

  // fsync + close + rename + folder fsync. ensures: path holds the new content.
  void commit() {
    if (m_fd < 0) throw std::logic_error("atomic_file: commit after failure or twice ('" + m_path.string() + "')");
    if (!detail::fault_step() || ::fsync(m_fd) != 0) {
      const int err = errno;
      abandon();
      throw detail::io_error(m_path.string(), "fsync of '" + m_tmp + "' failed", err);
    }
    const int fd = m_fd;
    m_fd = -1;
    if (::close(fd) != 0) {
      const int err = errno;
      ::unlink(m_tmp.c_str());
      throw detail::io_error(m_path.string(), "close of '" + m_tmp + "' failed", err);
    }
    if (!detail::fault_step() || std::rename(m_tmp.c_str(), m_path.c_str()) != 0) {
      const int err = errno;
      ::unlink(m_tmp.c_str());
      throw detail::io_error(m_path.string(), "rename from '" + m_tmp + "' failed", err);
    }
    if (detail::fault_step()) fsync_dir(m_path.parent_path());
  }

 private:
  void abandon() noexcept {
    if (m_fd >= 0) {
      ::close(m_fd);
      m_fd = -1;
      ::unlink(m_tmp.c_str());
    }
  }
  std::filesystem::path m_path;
  std::string m_tmp;
  int m_fd = -1;
};

// Replaces `path` by `content` atomically (see atomic_file).
inline void write_file_atomic(const std::filesystem::path& path, std::string_view content) {
  atomic_file f(path);
  f.write(content);
  f.commit();
}

}  // namespace dsae::io
