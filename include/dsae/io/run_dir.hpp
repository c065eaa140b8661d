#pragma once
// Run folders: the lock that keeps a second writer out, and the checks that keep dsae's
// commands from writing into a folder that is not one of their runs.
//
//   run_lock lock(dir);          // flock(LOCK_EX|LOCK_NB) on dir/.lock, held until destroyed
//   run_folder_state(dir)        empty / ours (with which files) / foreign
//   remove_run_files(dir)        the files a run consists of, derived ones included
//
// The lock is a kernel lock on an open file (flock), not a PID file: the kernel drops it
// when the holder exits however it exits (kill -9, OOM, a requeued cluster task), so a
// leftover dir/.lock never blocks anyone. The file holds "pid host" of the holder for the
// message the second process prints. (flock works on local file systems and, since Linux
// 2.6.12, on NFS, where it is emulated with fcntl byte-range locks.)
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

namespace dsae::io {

// The marker dsae-train writes into config.json ("format") to recognise its run folders.
inline constexpr const char* run_format = "dsae-run-v1";
inline constexpr const char* run_lock_name = ".lock";

class run_lock {
 public:
  // requires: dir exists (or can be created). Throws std::runtime_error naming dir and the
  // holder ("process PID on host HOST") when another process holds the lock.
  explicit run_lock(const std::filesystem::path& dir, const std::string& purpose = "write") : m_dir(dir) {
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    const std::string p = (dir / run_lock_name).string();
    m_fd = ::open(p.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (m_fd < 0)
      throw std::runtime_error("cannot " + purpose + " '" + dir.string() + "': cannot open its lock file '" + p +
                               "': " + std::strerror(errno));
    if (::flock(m_fd, LOCK_EX | LOCK_NB) != 0) {
      const int err = errno;
      std::string holder(256, '\0');
      const ssize_t n = ::pread(m_fd, holder.data(), holder.size(), 0);
      holder.resize(n > 0 ? std::size_t(n) : 0);
      while (!holder.empty() && (holder.back() == '\n' || holder.back() == '\0')) holder.pop_back();
      ::close(m_fd);
      m_fd = -1;
      if (err != EWOULDBLOCK)
        throw std::runtime_error("cannot lock '" + p + "': " + std::strerror(err));
      const auto sp = holder.find(' ');
      const std::string who = sp == std::string::npos ? "another process"
                                                      : "process " + holder.substr(0, sp) + " on host " +
                                                            holder.substr(sp + 1);
      throw std::runtime_error("'" + dir.string() + "' is in use by " + who + " (lock " + p +
                               "); wait for it to finish or stop it first");
    }
    char host[256] = {};
    ::gethostname(host, sizeof host - 1);
    const std::string me = std::to_string(::getpid()) + " " + host + "\n";
    if (::ftruncate(m_fd, 0) == 0) {
      [[maybe_unused]] const ssize_t w = ::pwrite(m_fd, me.data(), me.size(), 0);
    }
  }
  run_lock(const run_lock&) = delete;
  run_lock& operator=(const run_lock&) = delete;
  ~run_lock() {
    if (m_fd >= 0) ::close(m_fd);  // releases the flock
  }
  const std::filesystem::path& dir() const noexcept { return m_dir; }

 private:
  std::filesystem::path m_dir;
  int m_fd = -1;
};

// Files a dsae-train run folder consists of (eval.json and examples/ are dsae-eval's).
inline const std::vector<std::string>& run_file_names() {
  static const std::vector<std::string> v{"config.json", "metrics.jsonl", "checkpoint.safetensors",
                                          "best.safetensors", "final.json", "eval.json", "examples"};
  return v;
}

enum class folder_kind { absent_or_empty, run, foreign };

// A folder is one of our runs when its config.json says "format": "dsae-run-v1" (or, for
// runs written before the marker existed, has dsae-train's "method" and "stage1_epochs"
// keys). It counts as empty when it holds none of the run's file names (other files, e.g.
// the experiment driver's train.log, a .lock or *.tmp, are never touched), and as foreign
// when it holds one of them without being one of our runs: writing would replace a file
// that dsae did not write.
inline folder_kind run_folder_kind(const std::filesystem::path& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::exists(dir, ec)) return folder_kind::absent_or_empty;
  if (!fs::is_directory(dir, ec)) return folder_kind::foreign;
  bool empty = true;
  for (const auto& f : run_file_names())
    if (fs::exists(dir / f, ec)) empty = false;
  if (empty) return folder_kind::absent_or_empty;
  std::ifstream in(dir / "config.json");
  const std::string text((std::istreambuf_iterator<char>(in)), {});
  const bool marker = text.find(std::string("\"format\": \"") + run_format + "\"") != std::string::npos;
  const bool legacy = text.find("\"method\"") != std::string::npos && text.find("\"stage1_epochs\"") != std::string::npos;
  return marker || legacy ? folder_kind::run : folder_kind::foreign;
}

// Removes the run's files (and their temporaries). Never touches anything else.
inline void remove_run_files(const std::filesystem::path& dir) {
  std::error_code ec;
  for (const auto& f : run_file_names()) {
    std::filesystem::remove_all(dir / f, ec);
    std::filesystem::remove(dir / (f + ".tmp"), ec);
  }
}

}  // namespace dsae::io
