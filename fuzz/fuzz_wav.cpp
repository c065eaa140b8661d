// libFuzzer target: the WAV reader (audio/wav.hpp: RIFF completeness check + libsndfile).
// Property: a clean error or samples that are finite with a consistent shape.
#include <dsae/audio/wav.hpp>

#include <cmath>
#include <cstdint>
#include <cstdlib>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    const auto w = dsae::audio::read_wav_memory({data, size}, "fuzz.wav");
    if (w.sample_rate < 1 || w.channels() < 1) std::abort();
    for (float v : w.samples)
      if (!std::isfinite(v)) std::abort();
  } catch (const std::runtime_error&) {
  }
  return 0;
}
