// libFuzzer target: the dataset manifest parser (data/dataset.hpp: JSON + item indexing).
// The split row counts come from the manifest itself (capped: in load_dataset they are
// checked against the features.npy files first). Property: a clean error (runtime_error or
// nlohmann::json::exception, which load_dataset turns into a named error) or every row
// labelled exactly once.
#include <dsae/data/dataset.hpp>

#include <cstdint>
#include <cstdlib>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    const auto m = nlohmann::json::parse(data, data + size);
    if (!m.is_object()) return 0;
    std::map<std::string, std::size_t> rows;
    const auto& splits = m.at("splits");
    for (auto it = splits.begin(); it != splits.end(); ++it) {
      // The loader's own count reader (a count of -1 used to read as 2^64 - 1).
      const std::size_t n = dsae::data::detail::json_count(it.value(), "count", dsae::data::detail::max_items,
                                                           "fuzz/manifest.json");
      if (n > 4096) return 0;
      rows[it.key()] = n;
    }
    const auto instruments = m.value("instruments", std::vector<std::string>{});
    const auto labels = dsae::data::detail::index_items(m.at("items"), rows, instruments, "fuzz/manifest.json");
    for (const auto& [name, l] : labels) {
      if (l.size() != rows[name]) std::abort();
      for (std::size_t i = 0; i < l.size(); ++i)
        if (l[i].index != i || l[i].split != name) std::abort();
    }
  } catch (const std::runtime_error&) {
  } catch (const nlohmann::json::exception&) {
  }
  return 0;
}
