#pragma once
// The paper's methods (model::method::dsae, ...; model::policy is the earlier
// spelling) are compositions of priors, loss terms and a schedule: see
// model/variants.hpp.
#include "variants.hpp"
