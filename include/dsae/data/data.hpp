#pragma once
// dsae data umbrella header (link dsae::xtensor and nlohmann_json): .npy I/O and the
// dataset format (DIR/manifest.json + DIR/<split>/features.npy) with its loader.
#include "dataset.hpp"
#include "npy.hpp"
