// dsae::thrust: a GEMM on the Thrust backend (OMP device system under g++)
// equals cpu<double>'s on the same inputs.
#include "../common/gemm_vs_cpu.hpp"

int main() { return gemm_vs_cpu("thrust (OMP)"); }
