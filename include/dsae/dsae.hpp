#pragma once
// Umbrella header of the dsae core (Eigen + Random123 only): backends,
// modules, models and training.
#include "backend/concept.hpp"
#include "model/variants.hpp"
#include "backend/cpu.hpp"
#include "nn/gaussian_head.hpp"
#include "nn/linear.hpp"
#include "nn/lstm.hpp"
#include "nn/masked_mean.hpp"
#include "nn/mlp.hpp"
#include "nn/mse.hpp"
#include "nn/parameters.hpp"
#include "nn/tanh.hpp"
#include "prob/gaussian.hpp"
#include "prob/philox.hpp"
#include "train/adam.hpp"
