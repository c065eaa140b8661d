#pragma once
// dsae::audio umbrella header (link dsae::audio): WAV I/O and resampling, log-mel and its
// inverse (Griffin-Lim), the pitch trackers (CREPE, YIN-family), FluidSynth rendering.
#include "crepe.hpp"
#include "features.hpp"
#include "pitch.hpp"
#include "pitch_tracker.hpp"
#include "vggish.hpp"
#include "render.hpp"
#include "wav.hpp"
