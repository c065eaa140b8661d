#pragma once
// dsae datasets umbrella header (link dsae::audio and nlohmann_json): dMelodies and URMP.
#include "dmelodies.hpp"
#include "urmp.hpp"
