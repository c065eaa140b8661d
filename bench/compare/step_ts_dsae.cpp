#include "step_runner.hpp"
namespace dsae::bench {
step_result run_ts_dsae_noreg(const step_options& o) { return run_variant<model::policy::ts_dsae_noreg>(o); }
step_result run_ts_dsae(const step_options& o) { return run_variant<model::policy::ts_dsae>(o); }
}  // namespace dsae::bench
