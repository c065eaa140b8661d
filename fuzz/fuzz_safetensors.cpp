// libFuzzer target: the safetensors parser (io/safetensors.hpp).
// Property: a clean error, or a file whose serialisation parses back to the same tensors.
#include <dsae/io/safetensors.hpp>

#include <cstdint>
#include <cstdlib>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const std::byte> img(reinterpret_cast<const std::byte*>(data), size);
  try {
    const auto f = dsae::io::parse_safetensors(img, "fuzz.safetensors");
    const auto again = dsae::io::parse_safetensors(dsae::io::serialize_safetensors(f), "round trip");
    if (again.tensors().size() != f.tensors().size() || again.metadata() != f.metadata()) std::abort();
    for (const auto& [name, t] : f.tensors()) {
      const auto& u = again.at(name);
      if (u.type != t.type || u.shape != t.shape || u.bytes != t.bytes) std::abort();
    }
  } catch (const std::runtime_error&) {
  }
  return 0;
}
