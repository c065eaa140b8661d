#pragma once
// Helpers shared by the audio tests: a temporary folder and a few rendered clips.
#include <dsae/audio/render.hpp>

#include <filesystem>
#include <string>
#include <unistd.h>
#include <vector>

namespace dsae_test {

// A fresh folder under the system temp dir, removed at destruction.
struct temp_dir {
  std::filesystem::path path;
  explicit temp_dir(const std::string& tag) {
    path = std::filesystem::temp_directory_path() /
           ("dsae_" + tag + "_" + std::to_string(::getpid()));
    std::filesystem::remove_all(path);
    std::filesystem::create_directories(path);
  }
  ~temp_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

// C major I-IV-V-I arpeggios with a repeated G4 (slots 12, 13) and rests.
inline const std::vector<std::vector<int>>& test_melodies() {
  static const std::vector<std::vector<int>> m{
      {60, 64, 67, 65, 69, 72, -1, -1, 67, 71, 74, 60, 64, 67, -1, -1},
      {67, 64, -1, -1, 60, 65, 69, 72, -1, -1, 74, 71, 67, 67, 64, 60},
      {72, 69, 65, 60, -1, 64, 67, -1, 74, 71, 67, -1, 60, 64, 67, 60}};
  return m;
}

// The test melodies rendered with violin then trumpet (rows 0..2 violin, 3..5 trumpet).
inline const xt::xtensor<float, 2>& rendered_clips() {
  static const xt::xtensor<float, 2> clips = [] {
    std::vector<std::vector<int>> mel;
    std::vector<dsae::audio::gm_preset> pre;
    for (auto p : {dsae::audio::gm_violin, dsae::audio::gm_trumpet})
      for (const auto& m : test_melodies()) {
        mel.push_back(m);
        pre.push_back(p);
      }
    return dsae::audio::render_melodies(mel, pre, dsae::audio::render_config{});
  }();
  return clips;
}

}  // namespace dsae_test
