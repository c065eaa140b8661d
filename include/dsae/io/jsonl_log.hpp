#pragma once
// jsonl_log: the trainer's metrics.jsonl, one JSON object per epoch, kept complete on disk.
//
// Every append rewrites the whole file through io/atomic_file (temp + fsync + rename), so
// a kill or a full disk leaves either the old or the new complete file, never a torn
// line (a few MB for thousands of epochs: cheap next to an epoch). open(path, keep_below)
// keeps only the lines of epochs < keep_below, i.e. those the checkpoint already covers:
// a resumed run rewrites the lines of the epochs it redoes, so the log matches the
// checkpoint whatever moment a previous process died at.
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "atomic_file.hpp"

namespace dsae::io {

class jsonl_log {
 public:
  // requires: the folder of path exists. Lines that are not one of ours ({"epoch": N, ...})
  // or are torn (an older writer) are dropped.
  void open(const std::filesystem::path& path, std::int64_t keep_below) {
    m_path = path;
    m_text.clear();
    std::error_code ec;
    // A regular file only (a FIFO planted at the name would hang the run).
    std::istringstream in(std::filesystem::exists(std::filesystem::symlink_status(path, ec))
                              ? read_regular_file(path, std::uintmax_t(1) << 32)
                              : std::string());
    std::string line;
    bool dropped = false;
    while (std::getline(in, line)) {
      const std::int64_t e = epoch_of(line);
      if (e >= 0 && e < keep_below) m_text += line + '\n';
      else dropped = true;
    }
    if (dropped) write_file_atomic(m_path, m_text);
  }
  bool is_open() const noexcept { return !m_path.empty(); }
  // Appends one line (no newline inside) and makes it durable.
  void append(const std::string& line) {
    const std::size_t old = m_text.size();
    m_text += line;
    m_text += '\n';
    try {
      write_file_atomic(m_path, m_text);
    } catch (...) {
      m_text.resize(old);
      throw;
    }
  }
  const std::string& text() const noexcept { return m_text; }

  // The "epoch" of a line written by the trainer, or -1 for anything else.
  static std::int64_t epoch_of(const std::string& line) {
    static const std::string key = "{\"epoch\": ";
    if (line.size() < key.size() + 2 || line.compare(0, key.size(), key) != 0 || line.back() != '}') return -1;
    std::int64_t e = 0;
    std::size_t i = key.size(), digits = 0;
    for (; i < line.size() && line[i] >= '0' && line[i] <= '9' && digits < 12; ++i, ++digits) e = e * 10 + (line[i] - '0');
    if (digits == 0 || i >= line.size() || line[i] != ',') return -1;
    return e;
  }

 private:
  std::filesystem::path m_path;
  std::string m_text;
};

}  // namespace dsae::io
