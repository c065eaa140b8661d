#pragma once
// WAV (and any libsndfile format) I/O as float, plus libsamplerate resampling.
//
// Public API (namespace dsae::audio):
//   wav_data                       samples (frames x channels, float) + sample_rate
//   read_wav(path)                 any channel count; throws std::runtime_error naming the
//                                  file when it is missing, unreadable or corrupt
//   read_wav_mono(path, channel)   one channel as a vector (URMP: left channel)
//   write_wav(path, samples, sr)   frames x channels, 32-bit float WAV
//   write_wav_mono(path, x, sr, subtype)  mono; subtype float (default) or PCM 16
//   resample(x, from, to)          libsamplerate (SRC_SINC_BEST_QUALITY by default)
#include <samplerate.h>
#include <sndfile.h>

#include <cmath>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include <xtensor/xtensor.hpp>

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

// requires: a readable sound file at path. ensures: frames x channels samples in [-1, 1]
// for integer formats (float files are returned as stored).
inline wav_data read_wav(const std::string& path) {
  SF_INFO info{};
  SNDFILE* f = sf_open(path.c_str(), SFM_READ, &info);
  if (!f)
    throw std::runtime_error("read_wav: cannot read '" + path + "': " + sf_strerror(nullptr));
  detail::sndfile_closer closer{f};
  if (info.channels < 1 || info.samplerate < 1 || info.frames < 0)
    throw std::runtime_error("read_wav: '" + path + "' has an invalid header (channels=" +
                             std::to_string(info.channels) +
                             ", rate=" + std::to_string(info.samplerate) + ")");
  wav_data w;
  w.sample_rate = info.samplerate;
  const std::size_t frames = static_cast<std::size_t>(info.frames);
  const std::size_t ch = static_cast<std::size_t>(info.channels);
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
  SNDFILE* f = sf_open(path.c_str(), SFM_WRITE, &info);
  if (!f)
    throw std::runtime_error("write_wav: cannot write '" + path + "': " + sf_strerror(nullptr));
  detail::sndfile_closer closer{f};
  // No PEAK chunk: it carries a timestamp, and dataset files must be byte-reproducible.
  sf_command(f, SFC_SET_ADD_PEAK_CHUNK, nullptr, SF_FALSE);
  if (subtype != SF_FORMAT_FLOAT) sf_command(f, SFC_SET_CLIPPING, nullptr, SF_TRUE);
  const sf_count_t n = static_cast<sf_count_t>(samples.shape(0));
  if (sf_writef_float(f, samples.data(), n) != n)
    throw std::runtime_error("write_wav: short write to '" + path + "': " + sf_strerror(f));
}

inline void write_wav_mono(const std::string& path, std::span<const float> x, int sample_rate,
                           int subtype = SF_FORMAT_FLOAT) {
  xt::xtensor<float, 2> s = xt::zeros<float>({x.size(), std::size_t(1)});
  std::copy(x.begin(), x.end(), s.data());
  write_wav(path, s, sample_rate, subtype);
}

// Resamples a mono signal with libsamplerate. requires: rates > 0.
// ensures: about x.size()*to/from samples (libsamplerate's count).
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
