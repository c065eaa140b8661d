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
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "files.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

namespace dsae::io {

// The marker dsae-train writes into config.json ("format") to recognise its run folders.
inline constexpr const char* run_format = "dsae-run-v1";
inline constexpr const char* run_lock_name = ".lock";

class run_lock {
 public:
  // requires: dir exists or can be created. Throws std::runtime_error naming dir and the
  // holder ("process PID on host HOST") when another process holds the lock, and naming the
  // real reason when the folder or the lock file cannot be made (read-only parent, ...).
  // The lock file must be a regular file with one link: a symbolic or hard link planted at
  // dir/.lock (pointing at someone's thesis) is refused, never opened for writing.
  explicit run_lock(const std::filesystem::path& dir, const std::string& purpose = "write") : m_dir(dir) {
    if (dir.empty()) throw std::runtime_error("cannot " + purpose + " '': the folder name is empty");
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec)
      throw std::runtime_error("cannot " + purpose + " '" + dir.string() + "': cannot create the folder: " +
                               ec.message());
    const std::string p = (dir / run_lock_name).string();
    auto fail = [&](const std::string& why) {
      if (m_fd >= 0) ::close(m_fd);
      m_fd = -1;
      throw std::runtime_error("cannot " + purpose + " '" + dir.string() + "': its lock file '" + p + "' " + why);
    };
    for (int attempt = 0;; ++attempt) {
      m_fd = ::open(p.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
      if (m_fd < 0)
        fail(errno == ELOOP ? std::string("is a symbolic link; remove it (dsae never writes through links)")
                            : "cannot be opened: " + std::string(std::strerror(errno)));
      struct stat st {};
      if (::fstat(m_fd, &st) != 0) fail("cannot be examined: " + std::string(std::strerror(errno)));
      if (!S_ISREG(st.st_mode)) fail("is not a regular file");
      if (st.st_nlink != 1) fail("has " + std::to_string(st.st_nlink) + " hard links; remove it");
      if (::flock(m_fd, LOCK_EX | LOCK_NB) != 0) {
        const int err = errno;
        std::string holder(256, '\0');
        const ssize_t n = ::pread(m_fd, holder.data(), holder.size(), 0);
        holder.resize(n > 0 ? std::size_t(n) : 0);
        while (!holder.empty() && (holder.back() == '\n' || holder.back() == '\0')) holder.pop_back();
        if (err != EWOULDBLOCK) fail("cannot be locked: " + std::string(std::strerror(err)));
        ::close(m_fd);
        m_fd = -1;
        const auto sp = holder.find(' ');
        const std::string who = sp == std::string::npos ? "another process"
                                                        : "process " + holder.substr(0, sp) + " on host " +
                                                              holder.substr(sp + 1);
        throw std::runtime_error("'" + dir.string() + "' is in use by " + who + " (lock " + p +
                                 "); wait for it to finish or stop it first");
      }
      // The name may have been replaced between open and flock: the lock is only valid on
      // the file that dir/.lock names now.
      struct stat now {};
      if (::lstat(p.c_str(), &now) == 0 && now.st_ino == st.st_ino && now.st_dev == st.st_dev) break;
      ::close(m_fd);
      m_fd = -1;
      if (attempt >= 3) fail("keeps being replaced by another process");
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

// Whether `config` (a run folder's config.json) carries the marker dsae-train writes:
// a top-level "format": "dsae-run-v1". Parsed as JSON (a string that merely contains the
// marker text is not one), read as a regular file of bounded size.
// run_marker_problem: empty when it does, else why not (for the refusal message).
inline std::string run_marker_problem(const std::filesystem::path& config) {
  std::string text;
  try {
    text = read_regular_file(config, max_json_bytes);  // a FIFO or /dev/zero is named, not read
  } catch (const std::exception& e) {
    return e.what();
  }
  const auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded()) return "'" + config.string() + "' is corrupt (not valid JSON)";
  if (j.is_object() && j.contains("format") && j["format"].is_string() && j["format"] == run_format) return {};
  return "'" + config.string() + "' has no \"format\": \"" + std::string(run_format) + "\"";
}
inline bool has_run_marker(const std::filesystem::path& config) { return run_marker_problem(config).empty(); }

// A folder is one of our runs only when its config.json holds the marker (no guessing from
// keys: a PyTorch run's config.json has "method" too). It counts as empty when it holds
// none of the run's file names (other files, e.g. the experiment driver's train.log, a .lock
// or *.tmp, are never touched), and as foreign when it holds one of them without the
// marker: writing would replace a file that dsae did not write.
inline folder_kind run_folder_kind(const std::filesystem::path& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const auto st = fs::symlink_status(dir, ec);
  if (!fs::exists(st)) return folder_kind::absent_or_empty;
  if (!fs::is_directory(fs::status(dir, ec))) return folder_kind::foreign;
  bool empty = true;
  for (const auto& f : run_file_names())
    if (fs::exists(fs::symlink_status(dir / f, ec))) empty = false;
  if (empty) return folder_kind::absent_or_empty;
  return has_run_marker(dir / "config.json") ? folder_kind::run : folder_kind::foreign;
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
