// Must not compile: a decoder in the global-encoder slot. The error names
// global_encoder_slot (checked by check.cmake).
#include <dsae/backend/cpu.hpp>
#include <dsae/model/variants.hpp>

using namespace dsae;
using namespace dsae::objective;
using wrong = model::sequential_vae<cpu<float>, model::factorised_decoder, model::factorised_local_encoder,
                                    model::factorised_decoder, transition_prior<model::lstm_transition>,
                                    standard_normal, one_stage, reconstruction<>>;
int main() { wrong m; }
