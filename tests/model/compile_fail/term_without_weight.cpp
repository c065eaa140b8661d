// Must not compile: a loss term without a weight (a policy-like struct). The
// error names loss_term (checked by check.cmake).
#include <dsae/backend/cpu.hpp>
#include <dsae/model/variants.hpp>

using namespace dsae;
using namespace dsae::objective;
struct beta_only {
  static constexpr double beta = 4;  // not a weight: silently ignored before, refused now
  static constexpr const char* name = "beta_only";
};
using wrong = model::sequential_vae<cpu<float>, model::global_encoder, model::factorised_local_encoder,
                                    model::factorised_decoder, transition_prior<model::lstm_transition>,
                                    standard_normal, one_stage, reconstruction<>, beta_only>;
int main() { wrong m; }
