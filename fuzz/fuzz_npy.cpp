// libFuzzer target: the .npy readers (data/npy.hpp: float32/float64 features, integer
// lengths and labels) on arbitrary file images.
// Property: a clean error (std::runtime_error) or an array whose size matches the image.
#include <dsae/data/npy.hpp>

#include <cstdint>
#include <cstdlib>
#include <string_view>

template <std::size_t N>
static void one(std::string_view img) {
  try {
    const auto a = dsae::data::load_npy_float<N>(img, "fuzz.npy");
    if (a.size() * 4 > img.size()) std::abort();  // never more data than bytes
  } catch (const std::runtime_error&) {
  }
  try {
    const auto a = dsae::data::load_npy_int<N>(img, "fuzz.npy");
    if (a.size() > img.size()) std::abort();  // at least one byte per element
  } catch (const std::runtime_error&) {
  }
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view img(reinterpret_cast<const char*>(data), size);
  one<1>(img);
  one<2>(img);
  one<3>(img);
  return 0;
}
