// Must not compile: a local encoder given as the transition of the z prior.
// The error names transition_slot (checked by check.cmake).
#include <dsae/backend/cpu.hpp>
#include <dsae/model/variants.hpp>

using namespace dsae;
using namespace dsae::objective;
using wrong = model::sequential_vae<cpu<float>, model::global_encoder, model::factorised_local_encoder,
                                    model::factorised_decoder, transition_prior<model::factorised_local_encoder>,
                                    standard_normal, one_stage, reconstruction<>>;
int main() { wrong m; }
