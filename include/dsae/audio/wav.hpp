#pragma once
// WAV (and any libsndfile format) I/O as float, plus libsamplerate resampling.
//
// Public API (namespace dsae::audio):
//   wav_data                       samples (frames x channels, float) + sample_rate
//   read_wav(path)                 any channel count; throws std::runtime_error naming the
//                                  file when it is missing, unreadable or corrupt
//   read_wav_memory(bytes, source)  the same from a file image in memory
//   check_riff_complete(...)       a RIFF data chunk that runs past the end = truncated
//   read_wav_mono(path, channel)   one channel as a vector (URMP: left channel)
//   write_wav(path, samples, sr)   frames x channels, 32-bit float WAV
//   write_wav_mono(path, x, sr, subtype)  mono; subtype float (default) or PCM 16
//   resample(x, from, to)          libsamplerate (SRC_SINC_BEST_QUALITY by default)
#include <samplerate.h>
#include <sndfile.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include <xtensor/xtensor.hpp>

#include "../io/atomic_file.hpp"

namespace dsae::audio {

struct wav_data {
  xt::xtensor<float, 2> samples;  // frames x channels
  int sample_rate = 0;
  std::size_t frames() const { return samples.shape(0); }
  std::size_t channels() const { return samples.shape(1); }
};

namespace detail {
struct sndfile_closer {
  SNDFILE* f;
  ~sndfile_closer() {
    if (f) sf_close(f);
  }
};
}  // namespace detail

// RIFF/WAVE files: the declared "data" chunk must fit in the file. libsndfile clamps a data
// chunk that runs past the end of the file to the bytes present, which would let a
// truncated recording through silently. bytes: the file's first bytes (at least the
// chunk headers up to "data"); file_size: the whole file's size. Other formats pass.
inline void check_riff_complete(std::span<const unsigned char> bytes, std::uint64_t file_size,
                                const std::string& path) {
  auto u32 = [&](std::size_t at) {
    return std::uint32_t(bytes[at]) | (std::uint32_t(bytes[at + 1]) << 8) | (std::uint32_t(bytes[at + 2]) << 16) |
           (std::uint32_t(bytes[at + 3]) << 24);
  };
  if (bytes.size() < 12 || std::memcmp(bytes.data(), "RIFF", 4) != 0 || std::memcmp(bytes.data() + 8, "WAVE", 4) != 0)
    return;
  std::uint64_t at = 12;
  for (int k = 0; k < 4096 && at + 8 <= bytes.size(); ++k) {
    const std::uint32_t size = u32(std::size_t(at) + 4);
    if (std::memcmp(bytes.data() + at, "data", 4) == 0) {
      // 0 and 0xFFFFFFFF: "unknown length" of streamed writers; libsndfile then reads to the end.
      if (size != 0 && size != 0xFFFFFFFFu && at + 8 + size > file_size)
        throw std::runtime_error("read_wav: '" + path + "' is truncated: its data chunk declares " +
                                 std::to_string(size) + " bytes, the file holds " +
                                 std::to_string(file_size - at - 8));
      return;
    }
    at += 8 + std::uint64_t(size) + (size & 1u);
  }
}

namespace detail {
// Reads an opened sound file; path names it in errors.
inline wav_data read_opened(SNDFILE* f, const SF_INFO& info, const std::string& path) {
  detail::sndfile_closer closer{f};
  if (info.channels < 1 || info.channels > 4096 || info.samplerate < 1 || info.frames < 0)
    throw std::runtime_error("read_wav: '" + path + "' has an invalid header (channels=" +
                             std::to_string(info.channels) +
                             ", rate=" + std::to_string(info.samplerate) + ")");
  wav_data w;
  w.sample_rate = info.samplerate;
  const std::size_t frames = static_cast<std::size_t>(info.frames);
  const std::size_t ch = static_cast<std::size_t>(info.channels);
  // libsndfile derives frames from the bytes present, so frames x channels is bounded by
  // the file size (x 8 at most for 4-bit formats).
  w.samples = xt::zeros<float>({frames, ch});
  const sf_count_t got = sf_readf_float(f, w.samples.data(), info.frames);
  if (got != info.frames)
    throw std::runtime_error("read_wav: '" + path + "' is truncated or corrupt: read " +
                             std::to_string(got) + " of " + std::to_string(info.frames) +
                             " frames (" + sf_strerror(f) + ")");
  for (float v : w.samples)
    if (!std::isfinite(v))
      throw std::runtime_error("read_wav: '" + path + "' contains NaN or Inf samples");
  return w;
}

struct memory_file {
  std::span<const unsigned char> bytes;
  sf_count_t pos = 0;
};
inline sf_count_t mem_size(void* u) { return sf_count_t(static_cast<memory_file*>(u)->bytes.size()); }
inline sf_count_t mem_seek(sf_count_t off, int whence, void* u) {
  auto* m = static_cast<memory_file*>(u);
  const sf_count_t base = whence == SEEK_CUR ? m->pos : whence == SEEK_END ? mem_size(u) : 0;
  const sf_count_t p = base + off;
  if (p < 0 || p > mem_size(u)) return -1;
  return m->pos = p;
}
inline sf_count_t mem_read(void* dst, sf_count_t n, void* u) {
  auto* m = static_cast<memory_file*>(u);
  const sf_count_t k = std::max<sf_count_t>(0, std::min(n, mem_size(u) - m->pos));
  if (k) std::memcpy(dst, m->bytes.data() + m->pos, std::size_t(k));
  m->pos += k;
  return k;
}
inline sf_count_t mem_write(const void*, sf_count_t, void*) { return 0; }
inline sf_count_t mem_tell(void* u) { return static_cast<memory_file*>(u)->pos; }
}  // namespace detail

// requires: a readable sound file at path. ensures: frames x channels samples in [-1, 1]
// for integer formats (float files are returned as stored). Throws std::runtime_error
// naming the file when it is missing, unreadable, truncated or corrupt.
inline wav_data read_wav(const std::string& path) {
  io::require_regular_file(path, "read_wav: ");  // a FIFO would block, a device never end
  {
    std::ifstream in(path, std::ios::binary);
    std::error_code ec;
    const auto size = std::filesystem::file_size(path, ec);
    if (in && !ec) {
      std::vector<unsigned char> head(std::size_t(std::min<std::uintmax_t>(size, 1 << 16)));
      in.read(reinterpret_cast<char*>(head.data()), std::streamsize(head.size()));
      head.resize(std::size_t(in.gcount()));
      check_riff_complete(head, size, path);
    }
  }
  SF_INFO info{};
  SNDFILE* f = sf_open(path.c_str(), SFM_READ, &info);
  if (!f)
    throw std::runtime_error("read_wav: cannot read '" + path + "': " + sf_strerror(nullptr));
  return detail::read_opened(f, info, path);
}

// The same from a whole file image in memory (fuzz targets, archives). source names it.
inline wav_data read_wav_memory(std::span<const unsigned char> bytes, const std::string& source) {
  check_riff_complete(bytes, bytes.size(), source);
  detail::memory_file m{bytes, 0};
  SF_VIRTUAL_IO io{detail::mem_size, detail::mem_seek, detail::mem_read, detail::mem_write, detail::mem_tell};
  SF_INFO info{};
  SNDFILE* f = sf_open_virtual(&io, SFM_READ, &info, &m);
  if (!f) throw std::runtime_error("read_wav: cannot read '" + source + "': " + sf_strerror(nullptr));
  return detail::read_opened(f, info, source);
}

// One channel of a sound file. requires: channel < number of channels.
inline std::vector<float> read_wav_mono(const std::string& path, std::size_t channel,
                                        int* sample_rate = nullptr) {
  const wav_data w = read_wav(path);
  if (channel >= w.channels())
    throw std::runtime_error("read_wav_mono: '" + path + "' has " +
                             std::to_string(w.channels()) + " channel(s), asked for channel " +
                             std::to_string(channel));
  std::vector<float> out(w.frames());
  for (std::size_t i = 0; i < out.size(); ++i) out[i] = w.samples(i, channel);
  if (sample_rate) *sample_rate = w.sample_rate;
  return out;
}

// Writes frames x channels samples. subtype: SF_FORMAT_FLOAT or SF_FORMAT_PCM_16 (WAV).
// requires: sample_rate > 0, at least one channel.
inline void write_wav(const std::string& path, const xt::xtensor<float, 2>& samples,
                      int sample_rate, int subtype = SF_FORMAT_FLOAT) {
  if (sample_rate <= 0 || samples.shape(1) < 1)
    throw std::invalid_argument("write_wav: '" + path + "': need sample_rate > 0 and >= 1 "
                                "channel (got rate " + std::to_string(sample_rate) + ", " +
                                std::to_string(samples.shape(1)) + " channels)");
  SF_INFO info{};
  info.samplerate = sample_rate;
  info.channels = static_cast<int>(samples.shape(1));
  info.format = SF_FORMAT_WAV | subtype;
  // Through io::atomic_file (temporary created with O_EXCL | O_NOFOLLOW, fsync, rename): a
  // crash or a full disk never leaves a half-written WAV at path, and a link planted at the
  // temporary's name is never followed.
  io::atomic_file out(path);
  {
    SNDFILE* f = sf_open_fd(out.fd(), SFM_WRITE, &info, SF_FALSE);
    if (!f)
      throw std::runtime_error("write_wav: cannot write '" + path + "': " + sf_strerror(nullptr));
    detail::sndfile_closer closer{f};
    // No PEAK chunk: it carries a timestamp, and dataset files must be byte-reproducible.
    sf_command(f, SFC_SET_ADD_PEAK_CHUNK, nullptr, SF_FALSE);
    if (subtype != SF_FORMAT_FLOAT) sf_command(f, SFC_SET_CLIPPING, nullptr, SF_TRUE);
    const sf_count_t n = static_cast<sf_count_t>(samples.shape(0));
    if (sf_writef_float(f, samples.data(), n) != n)
      throw std::runtime_error("write_wav: short write to '" + path + "' (disk full?): " + sf_strerror(f));
    closer.f = nullptr;
    if (sf_close(f) != 0) throw std::runtime_error("write_wav: cannot finish '" + path + "' (disk full?)");
  }
  out.commit();
}

inline void write_wav_mono(const std::string& path, std::span<const float> x, int sample_rate,
                           int subtype = SF_FORMAT_FLOAT) {
  xt::xtensor<float, 2> s = xt::zeros<float>({x.size(), std::size_t(1)});
  std::copy(x.begin(), x.end(), s.data());
  write_wav(path, s, sample_rate, subtype);
}

// Resamples a mono signal with libsamplerate. requires: rates > 0.
// ensures: about x.size()*to/from samples (libsamplerate's count).
// libsamplerate converts between rates whose ratio lies in [1/256, 256].
inline constexpr double max_resample_ratio = 256.0;
// Throws std::runtime_error naming `source` when from_rate cannot be resampled to to_rate.
inline void check_resample_rates(double from_rate, double to_rate, const std::string& source) {
  if (!(from_rate > 0) || !(to_rate > 0) || to_rate / from_rate > max_resample_ratio ||
      from_rate / to_rate > max_resample_ratio)
    throw std::runtime_error("'" + source + "': sample rate " + std::to_string(from_rate) +
                             " Hz cannot be resampled to " + std::to_string(to_rate) +
                             " Hz (the ratio must lie within 1/256 to 256)");
}

inline std::vector<float> resample(std::span<const float> x, double from_rate, double to_rate,
                                   int converter = SRC_SINC_BEST_QUALITY) {
  if (!(from_rate > 0) || !(to_rate > 0))
    throw std::invalid_argument("resample: rates must be > 0 (got " + std::to_string(from_rate) +
                                " -> " + std::to_string(to_rate) + ")");
  if (from_rate == to_rate || x.empty()) return std::vector<float>(x.begin(), x.end());
  const double ratio = to_rate / from_rate;
  std::vector<float> out(static_cast<std::size_t>(std::ceil(double(x.size()) * ratio)) + 16);
  SRC_DATA d{};
  d.data_in = x.data();
  d.input_frames = static_cast<long>(x.size());
  d.data_out = out.data();
  d.output_frames = static_cast<long>(out.size());
  d.src_ratio = ratio;
  d.end_of_input = 1;
  if (const int err = src_simple(&d, converter, 1); err != 0)
    throw std::runtime_error(std::string("resample: libsamplerate error: ") + src_strerror(err));
  out.resize(static_cast<std::size_t>(d.output_frames_gen));
  return out;
}

}  // namespace dsae::audio
