#pragma once
// In-process FluidSynth rendering of monophonic slot melodies (dMelodies, spec/data.md).
//
// Public API (namespace dsae::audio):
//   default_soundfont_path            MuseScore General (Debian: musescore-general-soundfont)
//   render_config                     sample rate, slot length, velocity, reverb, soundfont
//   gm_preset, gm_violin, gm_trumpet  General MIDI bank/program pairs
//   fluid_session                     one loaded soundfont + render(slots, preset) -> samples
//   render_melodies(...)              many melodies on all cores -> N x samples (xtensor)
//
// Rendering rules (all from spec/data.md): every slot is one eighth note of slot_frames
// frames; before each slot the previous note gets its note-off *before* the next note-on
// (a repeated pitch is otherwise cut); a fresh synthesizer per melody that shares the
// session's loaded soundfont (a reset synthesizer keeps state, e.g. a click on the
// trumpet's first note); stereo output downmixed to mono, then peak-normalised to 1.
//
// Threading: FluidSynth's sample/preset reference counts are plain ints, so a loaded
// soundfont must not be used by two threads at once. A fluid_session is therefore
// single-threaded; render_melodies creates one session per worker thread (the soundfont
// is loaded once per worker, with dynamic sample loading and the used presets pinned).
// Output does not depend on the thread count or on the order of rendering.
#include <fluidsynth.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include <xtensor/xtensor.hpp>

#include "../detail/parallel.hpp"

#ifdef _OPENMP
#include <omp.h>
#endif

namespace dsae::audio {

inline constexpr const char* default_soundfont_path = "/usr/share/sounds/sf3/MuseScore_General.sf3";
inline constexpr const char* soundfont_debian_package = "musescore-general-soundfont";

// A General MIDI preset (bank, program).
struct gm_preset {
  int bank = 0;
  int program = 0;
  friend bool operator==(const gm_preset&, const gm_preset&) = default;
};
inline constexpr gm_preset gm_violin{0, 40};
inline constexpr gm_preset gm_trumpet{0, 56};

// requires: sample_rate > 0, slot_frames > 0, 1 <= velocity <= 127, 1 <= polyphony <= 65535.
struct render_config {
  double sample_rate = 16000.0;
  int slot_frames = 4000;   // 0.25 s at 16 kHz = one eighth note at 120 bpm
  int velocity = 90;
  bool reverb = true;       // FluidSynth's default reverb
  int polyphony = 64;       // voices per synth: a monophonic line with release tails needs
                            // < 16; FluidSynth's 256 only makes every fresh synth slower
  std::string soundfont = default_soundfont_path;
  std::vector<gm_preset> pinned{gm_violin, gm_trumpet};  // presets kept loaded
};

namespace detail {

inline void quiet_fluid_logs() {
  static std::once_flag once;
  std::call_once(once, [] {
    // Keep FLUID_PANIC and FLUID_ERR on stderr; drop warnings/info/debug chatter.
    fluid_set_log_function(FLUID_WARN, nullptr, nullptr);
    fluid_set_log_function(FLUID_INFO, nullptr, nullptr);
    fluid_set_log_function(FLUID_DBG, nullptr, nullptr);
  });
}

inline void validate(const render_config& c) {
  if (!(c.sample_rate > 0) || c.slot_frames <= 0 || c.velocity < 1 || c.velocity > 127 ||
      c.polyphony < 1 || c.polyphony > 65535)
    throw std::invalid_argument("render_config: need sample_rate > 0, slot_frames > 0, "
                                "velocity in 1..127 (got sample_rate=" +
                                std::to_string(c.sample_rate) + ", slot_frames=" +
                                std::to_string(c.slot_frames) + ", velocity=" +
                                std::to_string(c.velocity) + ")");
}

}  // namespace detail

// Throws std::runtime_error naming the Debian package when the soundfont file is missing.
inline void require_soundfont(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec))
    throw std::runtime_error("soundfont not found: '" + path +
                             "' (install the Debian package " + soundfont_debian_package +
                             ", or pass another .sf2/.sf3 file)");
}

// One loaded soundfont and the settings for fresh per-melody synthesizers.
// Not thread-safe: use one session per thread (see the header comment).
class fluid_session {
 public:
  // requires: a readable soundfont at cfg.soundfont; ensures: cfg.pinned presets loaded.
  explicit fluid_session(render_config cfg) : m_cfg(std::move(cfg)) {
    detail::validate(m_cfg);
    require_soundfont(m_cfg.soundfont);
    detail::quiet_fluid_logs();
    m_settings = new_fluid_settings();
    if (!m_settings) throw std::runtime_error("fluid_session: new_fluid_settings failed");
    fluid_settings_setnum(m_settings, "synth.sample-rate", m_cfg.sample_rate);
    fluid_settings_setint(m_settings, "synth.reverb.active", m_cfg.reverb ? 1 : 0);
    fluid_settings_setint(m_settings, "synth.chorus.active", 0);
    fluid_settings_setint(m_settings, "synth.dynamic-sample-loading", 1);
    fluid_settings_setint(m_settings, "synth.threadsafe-api", 0);
    fluid_settings_setint(m_settings, "synth.cpu-cores", 1);
    fluid_settings_setint(m_settings, "synth.polyphony", m_cfg.polyphony);
    m_host = new_fluid_synth(m_settings);
    if (!m_host) {
      delete_fluid_settings(m_settings);
      throw std::runtime_error("fluid_session: new_fluid_synth failed");
    }
    const int id = fluid_synth_sfload(m_host, m_cfg.soundfont.c_str(), 0);
    if (id == FLUID_FAILED) {
      release();
      throw std::runtime_error("fluid_session: FluidSynth could not load soundfont '" +
                               m_cfg.soundfont + "' (corrupt file? reinstall " +
                               soundfont_debian_package + ")");
    }
    m_sfont = fluid_synth_get_sfont_by_id(m_host, id);
    for (const gm_preset& p : m_cfg.pinned) {
      if (fluid_synth_pin_preset(m_host, id, p.bank, p.program) != FLUID_OK) {
        release();
        throw std::runtime_error("fluid_session: soundfont '" + m_cfg.soundfont +
                                 "' has no preset bank " + std::to_string(p.bank) +
                                 " program " + std::to_string(p.program));
      }
    }
  }
  fluid_session(const fluid_session&) = delete;
  fluid_session& operator=(const fluid_session&) = delete;
  ~fluid_session() { release(); }

  const render_config& config() const { return m_cfg; }

  // Renders one melody: slots[i] is a MIDI pitch (0..127) or -1 for a rest.
  // requires: every slot in -1..127; ensures: returns slots.size()*slot_frames mono
  // samples, peak-normalised to max |x| = 1 (all-zero output stays zero).
  std::vector<float> render(std::span<const int> slots, gm_preset preset) const {
    std::vector<float> out(slots.size() * static_cast<std::size_t>(m_cfg.slot_frames));
    render_into(slots, preset, out);
    return out;
  }

  // As render(), writing into out (size slots.size()*slot_frames).
  void render_into(std::span<const int> slots, gm_preset preset, std::span<float> out) const {
    const std::size_t frames = static_cast<std::size_t>(m_cfg.slot_frames);
    if (out.size() != slots.size() * frames)
      throw std::invalid_argument("fluid_session::render_into: output has " +
                                  std::to_string(out.size()) + " samples, expected " +
                                  std::to_string(slots.size() * frames));
    for (std::size_t i = 0; i < slots.size(); ++i)
      if (slots[i] < -1 || slots[i] > 127)
        throw std::invalid_argument("fluid_session::render: slot " + std::to_string(i) +
                                    " has pitch " + std::to_string(slots[i]) +
                                    ", expected -1 (rest) or a MIDI pitch 0..127");
    fluid_synth_t* synth = new_fluid_synth(m_settings);
    if (!synth) throw std::runtime_error("fluid_session: new_fluid_synth failed");
    struct guard {
      fluid_synth_t* s;
      fluid_sfont_t* f;
      ~guard() {
        fluid_synth_remove_sfont(s, f);  // the session owns the soundfont, not this synth
        delete_fluid_synth(s);
      }
    } g{synth, m_sfont};
    // Adding a soundfont re-selects every channel's preset; point all channels at the
    // (pinned) target preset first, or FluidSynth would load piano and drum-kit samples
    // for the idle channels (1.5 s per melody) and unload them again on removal.
    for (int c = 0, nc = fluid_synth_count_midi_channels(synth); c < nc; ++c) {
      fluid_synth_set_channel_type(synth, c, CHANNEL_TYPE_MELODIC);
      fluid_synth_bank_select(synth, c, preset.bank);
      fluid_synth_program_change(synth, c, preset.program);
    }
    const int sfid = fluid_synth_add_sfont(synth, m_sfont);
    if (sfid == FLUID_FAILED ||
        fluid_synth_program_select(synth, 0, sfid, preset.bank, preset.program) != FLUID_OK)
      throw std::runtime_error("fluid_session: cannot select bank " +
                               std::to_string(preset.bank) + " program " +
                               std::to_string(preset.program) + " in '" + m_cfg.soundfont +
                               "'");
    std::vector<float> left(frames), right(frames);
    int playing = -1;
    for (std::size_t i = 0; i < slots.size(); ++i) {
      // note-off of the previous note strictly before the next note-on.
      if (playing >= 0) fluid_synth_noteoff(synth, 0, playing);
      playing = -1;
      if (slots[i] >= 0) {
        fluid_synth_noteon(synth, 0, slots[i], m_cfg.velocity);
        playing = slots[i];
      }
      if (fluid_synth_write_float(synth, static_cast<int>(frames), left.data(), 0, 1,
                                  right.data(), 0, 1) != FLUID_OK)
        throw std::runtime_error("fluid_session: fluid_synth_write_float failed");
      float* dst = out.data() + i * frames;
      for (std::size_t k = 0; k < frames; ++k) dst[k] = 0.5f * (left[k] + right[k]);
    }
    float peak = 0.f;
    for (float v : out) peak = std::max(peak, std::abs(v));
    if (peak > 0.f)
      for (float& v : out) v /= peak;
  }

 private:
  void release() {
    if (m_host) delete_fluid_synth(m_host);  // also frees the loaded soundfont
    if (m_settings) delete_fluid_settings(m_settings);
    m_host = nullptr;
    m_settings = nullptr;
    m_sfont = nullptr;
  }

  render_config m_cfg;
  fluid_settings_t* m_settings = nullptr;
  fluid_synth_t* m_host = nullptr;
  fluid_sfont_t* m_sfont = nullptr;
};

// Renders melodies[i] with presets[i] on `threads` workers (0 = all OpenMP threads).
// requires: melodies.size() == presets.size(), all melodies the same number of slots;
// ensures: N x (slots*slot_frames) float32, row i independent of threads and order.
inline xt::xtensor<float, 2> render_melodies(const std::vector<std::vector<int>>& melodies,
                                             const std::vector<gm_preset>& presets,
                                             const render_config& cfg, int threads = 0) {
  if (melodies.size() != presets.size())
    throw std::invalid_argument("render_melodies: " + std::to_string(melodies.size()) +
                                " melodies but " + std::to_string(presets.size()) + " presets");
  detail::validate(cfg);
  require_soundfont(cfg.soundfont);
  const std::size_t n = melodies.size();
  const std::size_t slots = n ? melodies[0].size() : 0;
  for (std::size_t i = 0; i < n; ++i)
    if (melodies[i].size() != slots)
      throw std::invalid_argument("render_melodies: melody " + std::to_string(i) + " has " +
                                  std::to_string(melodies[i].size()) + " slots, expected " +
                                  std::to_string(slots));
  const std::size_t len = slots * static_cast<std::size_t>(cfg.slot_frames);
  xt::xtensor<float, 2> out = xt::zeros<float>({n, len});
  if (n == 0) return out;
  dsae::detail::exception_slot errors;  // a throw inside the region must not abort
  [[maybe_unused]] int nthreads = 1;
#ifdef _OPENMP
  nthreads = dsae::detail::worker_threads(threads, n);  // one synthesizer per thread
#else
  (void)threads;
#endif
#pragma omp parallel num_threads(nthreads)
  {
    std::unique_ptr<fluid_session> session;
    errors.run([&] { session = std::make_unique<fluid_session>(cfg); });
#pragma omp for schedule(dynamic, 8)
    for (std::ptrdiff_t i = 0; i < static_cast<std::ptrdiff_t>(n); ++i) {
      if (!session) continue;
      errors.run([&] {
        session->render_into(melodies[static_cast<std::size_t>(i)],
                             presets[static_cast<std::size_t>(i)],
                             std::span<float>(out.data() + static_cast<std::size_t>(i) * len, len));
      });
    }
  }
  errors.rethrow();
  return out;
}

}  // namespace dsae::audio
