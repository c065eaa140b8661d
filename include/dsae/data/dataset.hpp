#pragma once
// The on-disk dataset format shared by dMelodies and URMP, its writer and its loader.
//
//   DIR/manifest.json            header (dataset, feature config, generator settings),
//                                "instruments", "splits" {name: {count, features, shape}},
//                                "items": one object per item, in split order
//   DIR/<split>/features.npy     N x T x F float32 log-mel (T = 251, F = 80)
//   DIR/<split>/wav/*.wav        optional listening copies (item field "wav")
//   DIR/<split>/lengths.npy      optional: N integers, the valid frames of each sequence
//                                (1 <= length <= T; frames past it are padding, ignored)
//   DIR/<split>/labels.npy       optional: N x K (or N) integers, K labels per sequence,
//                                named by the manifest's "label_names" (default label0..)
//
// "items" may be absent for a dataset of one's own (no per-item metadata); dMelodies and
// URMP write them.
//
// Every item has "split", "index" (row in its split's features.npy) and "instrument";
// dMelodies items add "row" (dataset row index), "factors" {tonic, octave, ...} and
// "pitches" (MIDI pitch per slot, -1 = rest); URMP items add the source file and segment.
//
// Public API (namespace dsae::data; needs nlohmann_json):
//   item_label, split_data, dataset      loaded arrays + labels (xtensor)
//   load_dataset(dir)                    validated load; errors name the file
//   holds_dataset(dir)                   a manifest or any <split>/features.npy exists
//   check_output_dir(dir, overwrite)     refuses a folder that is not ours, or ours unless asked
//   dataset_output(dir, overwrite)       lock + build beside + atomic swap (dsae-data)
//   write_dataset(dir, header, features, items)   features before manifest, atomic renames
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>

#include <nlohmann/json.hpp>
#include <xtensor/xtensor.hpp>

#include "../io/files.hpp"
#include "../io/run_dir.hpp"
#include "npy.hpp"

namespace dsae::data {

inline constexpr const char* dataset_format = "dsae-dataset-v1";
inline constexpr std::array<const char*, 3> known_splits{"train", "val", "test"};

// Labels of one item. Fields a dataset does not have stay at their defaults (-1 / empty).
struct item_label {
  std::string split;
  std::size_t index = 0;            // row in the split's feature array
  std::string instrument;           // "violin", "trumpet"
  int instrument_id = -1;           // index into dataset::instruments
  std::int64_t row = -1;            // dMelodies row index
  std::array<int, 9> factors{-1, -1, -1, -1, -1, -1, -1, -1, -1};  // dMelodies factor indices
  std::vector<int> pitches;         // dMelodies: MIDI pitch per slot, -1 = rest
  nlohmann::json raw;               // the full manifest entry
};

struct split_data {
  xt::xtensor<float, 3> features;   // N x T x F
  std::vector<item_label> labels;   // N (default item_labels when the manifest has no items)
  std::vector<std::int64_t> lengths;         // N, or empty = every sequence has T frames
  xt::xtensor<std::int64_t, 2> label_values; // N x K from labels.npy (K = 0 without one)

  std::size_t size() const { return features.shape(0); }
  // N instrument ids.
  xt::xtensor<int, 1> instrument_ids() const {
    xt::xtensor<int, 1> out = xt::zeros<int>({labels.size()});
    for (std::size_t i = 0; i < labels.size(); ++i) out(i) = labels[i].instrument_id;
    return out;
  }
  // N x 9 dMelodies factor indices (-1 where absent).
  xt::xtensor<int, 2> factor_matrix() const {
    xt::xtensor<int, 2> out = xt::zeros<int>({labels.size(), std::size_t(9)});
    for (std::size_t i = 0; i < labels.size(); ++i)
      for (std::size_t k = 0; k < 9; ++k) out(i, k) = labels[i].factors[k];
    return out;
  }
};

struct dataset {
  std::filesystem::path dir;
  nlohmann::json manifest;
  std::vector<std::string> instruments;
  std::vector<std::string> label_names;  // K names of split_data::label_values' columns
  std::map<std::string, split_data> splits;

  bool has(const std::string& split) const { return splits.count(split) != 0; }
  // requires: has(name). Throws std::out_of_range naming the split otherwise.
  const split_data& split(const std::string& name) const {
    auto it = splits.find(name);
    if (it == splits.end())
      throw std::out_of_range("dataset '" + dir.string() + "' has no split '" + name + "'");
    return it->second;
  }
  const split_data& train() const { return split("train"); }
  const split_data& val() const { return split("val"); }
};

inline constexpr std::array<const char*, 9> dmelodies_factor_names{
    "tonic", "octave", "scale", "rhythm_bar1", "rhythm_bar2",
    "arp_chord1", "arp_chord2", "arp_chord3", "arp_chord4"};

// True when dir holds a manifest or any known split's features.npy.
inline bool holds_dataset(const std::filesystem::path& dir) {
  std::error_code ec;
  if (std::filesystem::exists(dir / "manifest.json", ec)) return true;
  for (const char* s : known_splits)
    if (std::filesystem::exists(dir / s / "features.npy", ec)) return true;
  return false;
}

// Names dsae-data writes into a dataset folder; nothing else may be in one it replaces.
inline bool is_dataset_entry(const std::string& name) {
  if (name == "manifest.json" || name == ".lock") return true;
  for (const char* s : known_splits)
    if (name == s) return true;
  return false;
}

// Whether dir/manifest.json carries the marker dsae-data writes ("format": dsae-dataset-v1).
inline bool has_dataset_marker(const std::filesystem::path& dir) {
  try {
    const auto j = nlohmann::json::parse(io::read_regular_file(dir / "manifest.json", io::max_json_bytes));
    return j.is_object() && j.contains("format") && j["format"].is_string() && j["format"] == dataset_format;
  } catch (const std::exception&) {
    return false;
  }
}

// Validates an output folder without creating or changing anything. Accepts a folder that
// is absent or empty (a .lock of ours aside), or one that holds a dataset (recognised by
// its manifest's marker) and nothing else when overwrite. Throws std::runtime_error naming
// the folder and what is wrong otherwise.
inline void check_output_dir(const std::filesystem::path& dir, bool overwrite) {
  namespace fs = std::filesystem;
  if (dir.empty()) throw std::runtime_error("--out: the output folder name is empty");
  std::error_code ec;
  const auto st = fs::status(dir, ec);
  if (!fs::exists(st)) return;
  if (!fs::is_directory(st)) throw std::runtime_error("output '" + dir.string() + "' exists and is not a folder");
  std::vector<std::string> foreign;
  bool any = false;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const std::string n = e.path().filename().string();
    if (n == ".lock") continue;
    any = true;
    if (!is_dataset_entry(n)) foreign.push_back(n);
  }
  if (ec) throw std::runtime_error("cannot list output folder '" + dir.string() + "': " + ec.message());
  if (!any) return;
  const bool marked = has_dataset_marker(dir);
  if (!foreign.empty() || !marked) {
    std::string list;
    for (std::size_t i = 0; i < foreign.size() && i < 5; ++i) list += (i ? ", " : "") + foreign[i];
    throw std::runtime_error("output folder '" + dir.string() + "' is not empty and is not a dataset written by "
                             "dsae-data (" + (foreign.empty() ? std::string("no manifest.json with \"format\": \"") +
                             dataset_format + "\"" : "it holds " + list) + "); choose a new or empty --out"
                             " (nothing in it is removed, even with --overwrite)");
  }
  if (!overwrite)
    throw std::runtime_error("output folder '" + dir.string() +
                             "' already holds a dataset (manifest.json); pass --overwrite to replace it");
}

// The output of a dataset build: checked (check_output_dir), locked like a run folder
// (out/.lock, one writer at a time), built in a sibling temporary folder and swapped in at
// commit() in one atomic rename (renameat2 RENAME_EXCHANGE): until then the old dataset is
// untouched, whatever fails (a bad soundfont, a kill, a full disk). A build folder left by a
// killed build (it holds our marker file) is removed by the next build of the same --out.
class dataset_output {
 public:
  dataset_output(std::filesystem::path out, bool overwrite) : m_out(std::move(out)) {
    namespace fs = std::filesystem;
    if (!m_out.empty() && !m_out.has_filename()) m_out = m_out.parent_path();  // "dir/"
    check_output_dir(m_out, overwrite);  // before anything is created
    m_lock.emplace(m_out, "write the dataset");
    check_output_dir(m_out, overwrite);  // again, now that nobody else writes it
    const fs::path parent = m_out.parent_path().empty() ? fs::path(".") : m_out.parent_path();
    const std::string prefix = "." + m_out.filename().string() + ".dsae-build-";
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(parent, ec)) {  // leftovers of killed builds
      const std::string n = e.path().filename().string();
      if (n.rfind(prefix, 0) == 0 && !fs::is_symlink(e.symlink_status()) &&
          fs::is_regular_file(fs::symlink_status(e.path() / build_marker)))
        fs::remove_all(e.path(), ec);
    }
    std::string tmpl = (parent / (prefix + "XXXXXX")).string();
    if (!::mkdtemp(tmpl.data()))
      throw std::runtime_error("cannot create a build folder next to '" + m_out.string() + "': " +
                               std::strerror(errno));
    m_build = tmpl;
    // The marker first, created directly (a kill must not leave an unmarked build folder).
    const int fd = io::open_exclusive((m_build / build_marker).string());
    if (fd < 0) throw std::runtime_error("cannot create '" + (m_build / build_marker).string() + "': " + std::strerror(errno));
    ::close(fd);
  }
  dataset_output(const dataset_output&) = delete;
  dataset_output& operator=(const dataset_output&) = delete;
  ~dataset_output() {
    std::error_code ec;
    if (!m_build.empty()) std::filesystem::remove_all(m_build, ec);
  }
  // Where the build writes (manifest, splits, WAVs).
  const std::filesystem::path& build_dir() const noexcept { return m_build; }
  const std::filesystem::path& out() const noexcept { return m_out; }

  // Swaps the finished build in for the old content (atomic), then removes the old content.
  void commit() {
    std::filesystem::remove(m_build / build_marker);
    io::fsync_dir(m_build);
    if (::renameat2(AT_FDCWD, m_build.c_str(), AT_FDCWD, m_out.c_str(), RENAME_EXCHANGE) != 0) {
      if (errno != EINVAL && errno != ENOSYS)
        throw std::runtime_error("cannot move the new dataset into '" + m_out.string() + "' (from '" +
                                 m_build.string() + "'): " + std::strerror(errno) + "; the old content is unchanged");
      // A file system without RENAME_EXCHANGE (some NFS): two renames, old content aside first.
      std::string old = m_build.string() + "-old-XXXXXX";
      if (!::mkdtemp(old.data()) || std::rename(m_out.c_str(), old.c_str()) != 0)
        throw std::runtime_error("cannot move the old dataset in '" + m_out.string() + "' aside: " +
                                 std::strerror(errno) + "; it is unchanged");
      if (std::rename(m_build.c_str(), m_out.c_str()) != 0) {
        const int err = errno;
        std::rename(old.c_str(), m_out.c_str());
        throw std::runtime_error("cannot move the new dataset into '" + m_out.string() + "': " + std::strerror(err));
      }
      std::filesystem::remove_all(old);
      m_build.clear();
    }
    io::fsync_dir(m_out.parent_path().empty() ? std::filesystem::path(".") : m_out.parent_path());
    // m_build now holds the old dataset (and the lock file we still hold): ours to remove.
  }

 private:
  static constexpr const char* build_marker = ".dsae-build";
  std::filesystem::path m_out, m_build;
  std::optional<io::run_lock> m_lock;
};

// Old entry point, kept for callers that write in place: checks and creates dir.
inline void prepare_output_dir(const std::filesystem::path& dir, bool overwrite) {
  check_output_dir(dir, overwrite);
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) throw std::runtime_error("cannot create output folder '" + dir.string() + "': " + ec.message());
}

// Writes DIR/<split>/features.npy for every entry of features, then DIR/manifest.json =
// header + "format" + "splits" + "items". requires: every item has a "split" naming a key
// of features, and each split has exactly features[split].shape(0) items, in row order.
// The writer sets each item's "index". Output bytes depend only on the inputs.
inline void write_dataset(const std::filesystem::path& dir, nlohmann::json header,
                          const std::map<std::string, xt::xtensor<float, 3>>& features,
                          nlohmann::json items) {
  namespace fs = std::filesystem;
  if (!items.is_array()) throw std::invalid_argument("write_dataset: items must be a JSON array");
  std::map<std::string, std::size_t> seen;
  for (auto& it : items) {
    if (!it.contains("split") || !it["split"].is_string())
      throw std::invalid_argument("write_dataset: an item has no \"split\" field");
    const std::string s = it["split"];
    if (!features.count(s))
      throw std::invalid_argument("write_dataset: item split '" + s + "' has no feature array");
    it["index"] = seen[s]++;
  }
  nlohmann::json splits = nlohmann::json::object();
  for (const auto& [name, f] : features) {
    if (seen[name] != f.shape(0))
      throw std::invalid_argument("write_dataset: split '" + name + "' has " +
                                  std::to_string(f.shape(0)) + " feature rows but " +
                                  std::to_string(seen[name]) + " items");
    std::error_code ec;
    fs::create_directories(dir / name, ec);
    if (ec) throw std::runtime_error("cannot create '" + (dir / name).string() + "': " + ec.message());
    save_npy<3>((dir / name / "features.npy").string(), f);
    splits[name] = {{"count", f.shape(0)},
                    {"features", name + "/features.npy"},
                    {"shape", {f.shape(0), f.shape(1), f.shape(2)}},
                    {"dtype", "float32"}};
  }
  header["format"] = dataset_format;
  header["splits"] = splits;
  // Header keys one per line, items one per line: diff-able and quick to parse.
  std::ostringstream os;
  os << "{\n";
  for (auto it = header.begin(); it != header.end(); ++it)
    os << "  " << nlohmann::json(it.key()).dump() << ": " << it.value().dump() << ",\n";
  os << "  \"items\": [";
  for (std::size_t i = 0; i < items.size(); ++i)
    os << (i ? ",\n    " : "\n    ") << items[i].dump();
  os << "\n  ]\n}\n";
  io::write_file_atomic(dir / "manifest.json", os.str());
}

namespace detail {
// A JSON number that must be a whole number in [0, hi] (a count or an index): get<size_t>
// would turn -1 into 18446744073709551615 and 2.5 into 2.
inline std::size_t json_count(const nlohmann::json& j, const char* key, std::size_t hi, const std::string& where) {
  const auto& x = j.at(key);
  if (!x.is_number_unsigned() || x.get<std::uint64_t>() > hi)
    throw std::runtime_error(where + ": \"" + key + "\" must be a whole number from 0 to " + std::to_string(hi) +
                             ", got " + x.dump().substr(0, 40));
  return std::size_t(x.get<std::uint64_t>());
}
inline constexpr std::size_t max_items = std::size_t(1) << 40;
// A whole number in [lo, hi] (JSON keeps 3e21 as a float: get<int>() of it is undefined
// behaviour, found by fuzz_manifest).
inline std::int64_t json_int(const nlohmann::json& x, std::int64_t lo, std::int64_t hi, const std::string& what,
                             const std::string& where) {
  const bool ok = (x.is_number_integer() && !x.is_number_unsigned() && x.get<std::int64_t>() >= lo &&
                   x.get<std::int64_t>() <= hi) ||
                  (x.is_number_unsigned() && x.get<std::uint64_t>() <= std::uint64_t(std::max<std::int64_t>(hi, 0)) &&
                   std::int64_t(x.get<std::uint64_t>()) >= lo);
  if (!ok)
    throw std::runtime_error(where + ": " + what + " must be a whole number from " + std::to_string(lo) + " to " +
                             std::to_string(hi) + ", got " + x.dump().substr(0, 40));
  return x.is_number_unsigned() ? std::int64_t(x.get<std::uint64_t>()) : x.get<std::int64_t>();
}

inline item_label parse_item(const nlohmann::json& it, const std::vector<std::string>& instruments,
                             const std::string& where) {
  item_label l;
  l.raw = it;
  l.split = it.at("split").get<std::string>();
  l.index = json_count(it, "index", max_items, where);
  if (it.contains("instrument")) {
    l.instrument = it["instrument"].get<std::string>();
    for (std::size_t k = 0; k < instruments.size(); ++k)
      if (instruments[k] == l.instrument) l.instrument_id = static_cast<int>(k);
    if (l.instrument_id < 0)
      throw std::runtime_error(where + ": item instrument '" + l.instrument +
                               "' is not in the manifest's \"instruments\"");
  }
  if (it.contains("row")) l.row = json_int(it["row"], 0, std::int64_t(max_items), "item \"row\"", where);
  if (it.contains("factors"))
    for (std::size_t k = 0; k < 9; ++k)
      l.factors[k] = int(json_int(it["factors"].at(dmelodies_factor_names[k]), -1, 1 << 20,
                                  std::string("factor \"") + dmelodies_factor_names[k] + "\"", where));
  if (it.contains("pitches")) {
    const auto& p = it["pitches"];
    if (!p.is_array()) throw std::runtime_error(where + ": item \"pitches\" must be an array");
    for (const auto& x : p) l.pitches.push_back(int(json_int(x, -1, 127, "a MIDI pitch (-1 = rest)", where)));
  }
  return l;
}
// Places every manifest item at (split, index). requires: rows[split] = the split's feature
// rows. Throws std::runtime_error naming `where` for an unknown split, an index out of
// range, an index used twice (labels would silently be wrong), or a row without an item.
inline std::map<std::string, std::vector<item_label>> index_items(const nlohmann::json& items,
                                                                  const std::map<std::string, std::size_t>& rows,
                                                                  const std::vector<std::string>& instruments,
                                                                  const std::string& where) {
  if (!items.is_array()) throw std::runtime_error(where + ": \"items\" must be an array");
  std::map<std::string, std::vector<item_label>> out;
  std::map<std::string, std::vector<std::size_t>> owner;  // item number + 1 per row, 0 = none
  for (const auto& [name, n] : rows) {
    out[name].resize(n);
    owner[name].assign(n, 0);
  }
  for (std::size_t k = 0; k < items.size(); ++k) {
    item_label l = parse_item(items[k], instruments, where);
    auto sit = out.find(l.split);
    if (sit == out.end()) throw std::runtime_error(where + ": item of unknown split '" + l.split + "'");
    if (l.index >= sit->second.size())
      throw std::runtime_error(where + ": item index " + std::to_string(l.index) + " out of range for split '" +
                               l.split + "'");
    auto& o = owner[l.split][l.index];
    if (o != 0)
      throw std::runtime_error(where + ": items " + std::to_string(o - 1) + " and " + std::to_string(k) +
                               " both claim index " + std::to_string(l.index) + " of split '" + l.split + "'");
    o = k + 1;
    sit->second[l.index] = std::move(l);
  }
  for (const auto& [name, own] : owner)
    for (std::size_t i = 0; i < own.size(); ++i)
      if (own[i] == 0)
        throw std::runtime_error(where + ": split '" + name + "' has " + std::to_string(own.size()) +
                                 " feature rows but row " + std::to_string(i) + " has no item");
  return out;
}
// lengths.npy of a split: N integers in 1..T.
inline std::vector<std::int64_t> load_lengths(const std::string& path, std::size_t n, std::size_t frames) {
  const auto a = load_npy_int<1>(path);
  if (a.size() != n)
    throw std::runtime_error(path + ": " + std::to_string(a.size()) + " lengths for " + std::to_string(n) +
                             " sequences");
  for (std::size_t i = 0; i < n; ++i)
    if (a(i) < 1 || std::uint64_t(a(i)) > frames)
      throw std::runtime_error(path + ": sequence " + std::to_string(i) + " has length " + std::to_string(a(i)) +
                               ", expected 1.." + std::to_string(frames) + " (the frames of its features)");
  return {a.begin(), a.end()};
}
// labels.npy of a split: N or N x K integers.
inline xt::xtensor<std::int64_t, 2> load_labels(const std::string& path, std::size_t n) {
  xt::xtensor<std::int64_t, 2> out;
  const auto dims = [&] {
    const auto file_size = checked_file_size(path);
    std::ifstream in(path, std::ios::binary);
    return read_npy_header(in, file_size, path).shape.size();
  }();
  if (dims == 1) {
    const auto a = load_npy_int<1>(path);
    out = xt::xtensor<std::int64_t, 2>::from_shape({a.size(), std::size_t(1)});
    std::copy(a.begin(), a.end(), out.begin());
  } else {
    out = load_npy_int<2>(path);  // names any other rank in its error
  }
  if (out.shape(0) != n)
    throw std::runtime_error(path + ": labels for " + std::to_string(out.shape(0)) + " sequences, the features have " +
                             std::to_string(n));
  if (out.shape(1) == 0 || out.shape(1) > 64)
    throw std::runtime_error(path + ": " + std::to_string(out.shape(1)) + " labels per sequence, expected 1..64");
  for (std::size_t i = 0; i < out.shape(0); ++i)
    for (std::size_t k = 0; k < out.shape(1); ++k)
      if (out(i, k) < 0 || out(i, k) > std::int64_t(1) << 30)
        throw std::runtime_error(path + ": label " + std::to_string(k) + " of sequence " + std::to_string(i) + " is " +
                                 std::to_string(out(i, k)) + ", expected a class index 0..2^30");
  return out;
}
inline void check_valid_frames_finite(const xt::xtensor<float, 3>& x, const std::vector<std::int64_t>& lengths,
                                      const std::string& path) {
  const std::size_t N = x.shape(0), T = x.shape(1), F = x.shape(2);
  for (std::size_t i = 0; i < N; ++i) {
    const std::size_t len = lengths.empty() ? T : std::size_t(lengths[i]);
    const float* p = x.data() + i * T * F;
    for (std::size_t k = 0; k < len * F; ++k)
      if (!std::isfinite(p[k]))
        throw std::runtime_error(path + ": sequence " + std::to_string(i) + " frame " + std::to_string(k / F) +
                                 " feature " + std::to_string(k % F) + " is NaN or Inf" +
                                 (lengths.empty() ? std::string(" (padding? give the lengths in lengths.npy)")
                                                  : std::string(" (inside its length)")));
  }
}
// The manifest's "label_names" (K strings), or label0..; every split with labels has K columns.
inline std::vector<std::string> label_names(const dataset& ds, const std::string& where) {
  std::size_t k = 0;
  bool any = false;
  for (const auto& [name, sd] : ds.splits) {
    if (sd.label_values.size() == 0) continue;
    if (any && sd.label_values.shape(1) != k)
      throw std::runtime_error(where + ": split '" + name + "' has " + std::to_string(sd.label_values.shape(1)) +
                               " labels per sequence, another split " + std::to_string(k));
    k = sd.label_values.shape(1);
    any = true;
  }
  std::vector<std::string> names;
  if (ds.manifest.contains("label_names")) {
    const auto& j = ds.manifest["label_names"];
    if (!j.is_array() || !std::all_of(j.begin(), j.end(), [](const auto& e) { return e.is_string(); }))
      throw std::runtime_error(where + ": \"label_names\" must be an array of strings");
    names = j.get<std::vector<std::string>>();
    if (names.size() != k)
      throw std::runtime_error(where + ": \"label_names\" names " + std::to_string(names.size()) +
                               " labels, labels.npy has " + std::to_string(k) + " per sequence");
  } else {
    for (std::size_t i = 0; i < k; ++i) names.push_back("label" + std::to_string(i));
  }
  return names;
}
}  // namespace detail

// Loads and validates DIR (manifest + every split it lists). Throws std::runtime_error
// naming the file for: missing/corrupt manifest, missing or invalid features.npy
// (see load_features), item counts or shapes that disagree with the manifest.
inline dataset load_dataset(const std::filesystem::path& dir) {
  namespace fs = std::filesystem;
  dataset ds;
  ds.dir = dir;
  const fs::path mpath = dir / "manifest.json";
  const std::string where = mpath.string();
  std::string text;
  try {
    text = io::read_regular_file(mpath, io::max_json_bytes);  // no FIFO, no /dev/zero
  } catch (const std::runtime_error& e) {
    throw std::runtime_error(std::string(e.what()) + " (is '" + dir.string() + "' a dsae dataset folder?)");
  }
  try {
    ds.manifest = nlohmann::json::parse(text);
  } catch (const std::exception& e) {
    throw std::runtime_error(where + ": not valid JSON: " + e.what());
  }
  try {
    if (ds.manifest.value("format", std::string()) != dataset_format)
      throw std::runtime_error(where + ": \"format\" is not '" + dataset_format + "'");
    ds.instruments = ds.manifest.value("instruments", std::vector<std::string>{});
    const auto& splits = ds.manifest.at("splits");
    std::size_t T = 0, F = 0;
    bool first = true;
    for (auto it = splits.begin(); it != splits.end(); ++it) {
      const std::string name = it.key();
      const std::string rel = it.value().at("features").get<std::string>();
      const std::filesystem::path relp(rel);
      if (rel.empty() || relp.is_absolute() || std::find(relp.begin(), relp.end(), "..") != relp.end())
        throw std::runtime_error(where + ": split '" + name + "' features path '" + rel +
                                 "' must be a relative path inside the dataset folder");
      split_data sd;
      sd.features = load_features((dir / rel).string(), false);  // finiteness: below, valid frames only
      const std::size_t count = detail::json_count(it.value(), "count", detail::max_items, where);
      if (sd.features.shape(0) != count)
        throw std::runtime_error((dir / rel).string() + ": has " +
                                 std::to_string(sd.features.shape(0)) + " rows, manifest says " +
                                 std::to_string(count));
      if (!first && (sd.features.shape(1) != T || sd.features.shape(2) != F))
        throw std::runtime_error((dir / rel).string() + ": frames x bins " +
                                 std::to_string(sd.features.shape(1)) + " x " +
                                 std::to_string(sd.features.shape(2)) +
                                 " differ from the other splits' " + std::to_string(T) + " x " +
                                 std::to_string(F));
      T = sd.features.shape(1);
      F = sd.features.shape(2);
      if (T == 0 || F == 0)
        throw std::runtime_error((dir / rel).string() + ": " + std::to_string(T) + " frames x " + std::to_string(F) +
                                 " bins; a dataset needs at least one of each");
      first = false;
      sd.labels.resize(count);
      const fs::path side = (dir / rel).parent_path();
      if (std::error_code ec; fs::exists(fs::symlink_status(side / "lengths.npy", ec)))
        sd.lengths = detail::load_lengths((side / "lengths.npy").string(), count, T);
      if (std::error_code ec; fs::exists(fs::symlink_status(side / "labels.npy", ec)))
        sd.label_values = detail::load_labels((side / "labels.npy").string(), count);
      // Padding may hold anything (NaN included): only valid frames must be finite.
      detail::check_valid_frames_finite(sd.features, sd.lengths, (dir / rel).string());
      ds.splits.emplace(name, std::move(sd));
    }
    std::map<std::string, std::size_t> rows;
    for (const auto& [name, sd] : ds.splits) rows[name] = sd.labels.size();
    if (ds.manifest.contains("items")) {
      auto labels = detail::index_items(ds.manifest.at("items"), rows, ds.instruments, where);
      for (auto& [name, l] : labels) ds.splits[name].labels = std::move(l);
    }
    ds.label_names = detail::label_names(ds, where);
  } catch (const nlohmann::json::exception& e) {
    throw std::runtime_error(where + ": malformed manifest: " + e.what());
  }
  return ds;
}

}  // namespace dsae::data
