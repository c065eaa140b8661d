#pragma once
// dsae::audio umbrella header (link dsae::audio): WAV I/O and resampling, log-mel and its
// inverse (Griffin-Lim), the YIN-family pitch tracker, FluidSynth rendering.
#include "features.hpp"
#include "pitch.hpp"
#include "render.hpp"
#include "wav.hpp"
