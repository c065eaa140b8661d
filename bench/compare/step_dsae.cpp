#include "step_runner.hpp"
namespace dsae::bench {
step_result run_dsae(const step_options& o) { return run_variant<model::policy::dsae>(o); }
step_result run_dsae_f(const step_options& o) { return run_variant<model::policy::dsae_f>(o); }
}  // namespace dsae::bench
