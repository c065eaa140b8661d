#pragma once
// The evaluation metrics of docs/evaluation.md in one include: LDA (scikit-learn
// parity), F1 / confusion / accuracy, the swap protocol, raw pitch accuracy
// (mir_eval parity) and the Frechet distance between Gaussian fits. Eigen only.
#include "dsae/eval/f1.hpp"
#include "dsae/eval/frechet.hpp"
#include "dsae/eval/lda.hpp"
#include "dsae/eval/rpa.hpp"
#include "dsae/eval/swap.hpp"
